import Database from 'better-sqlite3';
import * as fs from 'node:fs';

/** Marks a file as ours ('TLEV' in ASCII), so a foreign SQLite file is refused rather than altered. */
export const APPLICATION_ID = 0x544c4556;
export const SCHEMA_VERSION = 1;

// The port's error for a store that cannot be opened as it is; kept importable from here for the adapter.
export { isCorruptionError, StoreFileError } from '../event-store';
import { StoreFileError } from '../event-store';

// No index on type: every index is another page written per commit, and readers filter while they scan by position.
const SCHEMA_V1 = `
CREATE TABLE events (
  position  INTEGER PRIMARY KEY,
  stream_id TEXT    NOT NULL,
  revision  INTEGER NOT NULL,
  event_id  TEXT    NOT NULL,
  type      TEXT    NOT NULL,
  data      TEXT    NOT NULL,
  metadata  TEXT    NOT NULL,
  created   INTEGER NOT NULL,
  UNIQUE (stream_id, revision)
);
CREATE UNIQUE INDEX events_by_event_id ON events (event_id);
`;

/**
 * Looks at an existing file read-only before anything writes to it (even switching to WAL writes the
 * header), and refuses a corrupt, foreign or newer file with a clear reason.
 */
export function inspectStoreFile(file: string): 'new' | 'current' {
  if (!fs.existsSync(file) || fs.statSync(file).size === 0) return 'new';
  try {
    fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
  } catch (error) {
    const who = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    throw new StoreFileError(file, `cannot be read and written by this account${who} (${String((error as { code?: unknown }).code ?? error)}); run as the account that owns DATA_DIR`);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[];
    if (applicationId !== APPLICATION_ID) {
      throw new StoreFileError(
        file,
        tables.length === 0 && applicationId === 0
          ? 'is an empty SQLite database that is not a topology-ledger event store'
          : `is not a topology-ledger event store (application_id ${applicationId}, tables: ${tables.join(', ') || 'none'})`,
      );
    }
    if (version > SCHEMA_VERSION) {
      throw new StoreFileError(file, `has schema version ${version}, newer than this build supports (${SCHEMA_VERSION}); upgrade topology-ledger`);
    }
    if (version < 1 || !tables.includes('events')) {
      throw new StoreFileError(file, `has an unknown schema (version ${version}, tables: ${tables.join(', ') || 'none'})`);
    }
    probeStoreFile(db);
    return 'current';
  } catch (error) {
    if (error instanceof StoreFileError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new StoreFileError(file, `cannot be read as a SQLite database (${reason}); it may be corrupt`);
  } finally {
    db?.close();
  }
}

/**
 * Walks both ends of every b-tree of the events table (rows by position, the event-id index and the
 * stream/revision index) and decodes the newest event: a few pages, whatever the log's size, so start
 * stays fast. A flipped byte on these pages is found here; one in the middle of a large log is found
 * when that page is read (a full `PRAGMA quick_check` reads the whole file: about 90 s for 1M events here).
 */
function probeStoreFile(db: Database.Database): void {
  for (const order of ['ASC', 'DESC']) {
    const newest = db.prepare(`SELECT position, data, metadata FROM events ORDER BY position ${order} LIMIT 1`).get() as
      | { data: string; metadata: string }
      | undefined;
    if (newest) {
      JSON.parse(newest.data);
      JSON.parse(newest.metadata);
    }
    db.prepare(`SELECT event_id FROM events INDEXED BY events_by_event_id ORDER BY event_id ${order} LIMIT 1`).get();
    db.prepare(`SELECT stream_id, revision FROM events ORDER BY stream_id ${order}, revision ${order} LIMIT 1`).get();
  }
}

/** An error of SQLite saying the file is damaged or not a database at all. */

export type { Synchronous } from '../../common/sqlite/synchronous';
import type { Synchronous } from '../../common/sqlite/synchronous';

/** Opens (creating when new) the store file with the durability settings the product promises. */
export function openStoreFile(file: string, synchronous: Synchronous): Database.Database {
  const state = inspectStoreFile(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('busy_timeout = 5000');
    if (state === 'new') {
      // Another process may have created it meanwhile: the write lock makes the check and the creation one step.
      db.transaction(() => {
        if ((db.pragma('user_version', { simple: true }) as number) !== 0) return;
        db.exec(SCHEMA_V1);
        db.pragma(`application_id = ${APPLICATION_ID}`);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
