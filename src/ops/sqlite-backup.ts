import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What a backup copied: the log's last position and that event's id at the moment of the copy. */
export interface BackupResult {
  readonly file: string;
  readonly bytes: number;
  readonly pages: number;
  readonly headPosition: number;
  readonly headEventId: string | null;
  /** Times the copy started over because the server wrote to the store during it. */
  readonly restarts: number;
  /** Seconds spent copying (the backup API, the copy made durable) and checking the copy. */
  readonly seconds: { readonly copy: number; readonly check: number };
}

/**
 * Bytes copied per step of the backup API: 64 MB. Each step is one read transaction of the source
 * (in WAL mode it never blocks the server's writer), and between steps the progress bar moves; a
 * step boundary is also where a write of the server makes the copy start over, so fewer, larger
 * steps restart less.
 */
const STEP_BYTES = 64 * 1024 * 1024;
/** After this many restarts (a busy server writing all the time) the rest is copied in one step: the writer is not blocked by it (WAL). */
const MAX_RESTARTS = 2;

export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

/** The log's last event in an open events file. */
function head(db: Database.Database): { position: number; eventId: string | null } {
  const row = db.prepare('SELECT position, event_id AS eventId FROM events ORDER BY position DESC LIMIT 1').get() as { position: number; eventId: string } | undefined;
  return row ? { position: row.position, eventId: row.eventId } : { position: 0, eventId: null };
}

/**
 * A consistent online copy of the SQLite event store `source` (which a running server may be writing)
 * into `target` (which must not exist), through SQLite's online backup API. Written to `target.partial`
 * first, then checked: it has every page copied, it holds every event from 1 to its last position
 * (a walk of the log's whole table), and its last event is the one the source holds at that position;
 * with `fullCheck` also `PRAGMA quick_check` (every page and index: about as long again as the copy on
 * a 1 GB store, which is why it is an option; `restore` always runs the full integrity check and the
 * hash chain). Then renamed into place; the file is readable by its owner only from its creation.
 * `onProgress` gets pages copied and the total.
 */
export async function backupStore(
  source: string,
  target: string,
  onProgress: (done: number, total: number) => void = () => undefined,
  options: { readonly fullCheck?: boolean } = {},
): Promise<BackupResult> {
  if (!fs.existsSync(source)) throw new BackupError(`${source}: no event store here (set DATA_DIR to the server's)`);
  if (fs.existsSync(target)) throw new BackupError(`${target} exists; choose a new file name (a backup never overwrites)`);
  const partial = `${target}.partial`;
  fs.rmSync(partial, { force: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  // The source's pages read through a memory map rather than a read call each (4 KB at a time).
  db.pragma('mmap_size = 2147483648');
  let restarts = 0;
  let lastRemaining = Infinity;
  const began = performance.now();
  try {
    db.prepare('SELECT 1 FROM events LIMIT 1').get();
    // Created here, empty and readable by its owner only, before a page of the log is in it (SQLite takes an empty file for an empty database).
    fs.closeSync(fs.openSync(partial, 'wx', 0o600));
    const stepPages = Math.max(1, Math.floor(STEP_BYTES / (db.pragma('page_size', { simple: true }) as number)));
    const result = await db.backup(partial, {
      progress: ({ totalPages, remainingPages }) => {
        if (remainingPages > lastRemaining) restarts++;
        lastRemaining = remainingPages;
        onProgress(totalPages - remainingPages, totalPages);
        return restarts >= MAX_RESTARTS ? totalPages : stepPages;
      },
    });
    onProgress(result.totalPages, result.totalPages);
    const copied = performance.now();
    const copy = new Database(partial, { readonly: true, fileMustExist: true });
    let last: { position: number; eventId: string | null };
    try {
      const pages = copy.pragma('page_count', { simple: true }) as number;
      if (pages !== result.totalPages) throw new BackupError(`the copy has ${pages} pages, not the ${result.totalPages} copied; nothing was kept`);
      last = head(copy);
      // The log is append-only and positions are rowids: events 1..head are all there. Counting them walks every leaf page of the log's table.
      const count = copy.prepare('SELECT count(*) FROM events').pluck().get() as number;
      if (count !== last.position) throw new BackupError(`the copy holds ${count} events up to position ${last.position}; nothing was kept`);
      if (options.fullCheck) {
        const check = copy.pragma('quick_check', { simple: true });
        if (check !== 'ok') throw new BackupError(`the copy failed its integrity check (${String(check)}); nothing was kept`);
      }
    } finally {
      copy.close();
    }
    const inSource = db.prepare('SELECT event_id AS eventId FROM events WHERE position = ?').get(last.position) as { eventId: string } | undefined;
    if (last.position > 0 && inSource?.eventId !== last.eventId) {
      throw new BackupError(`the copy's last event (position ${last.position}) is not the store's; nothing was kept`);
    }
    fs.renameSync(partial, target);
    const checked = performance.now();
    return {
      file: path.resolve(target),
      bytes: fs.statSync(target).size,
      pages: result.totalPages,
      headPosition: last.position,
      headEventId: last.eventId,
      restarts,
      seconds: { copy: (copied - began) / 1000, check: (checked - copied) / 1000 },
    };
  } catch (error) {
    fs.rmSync(partial, { force: true });
    throw error;
  } finally {
    db.close();
  }
}

/** `PRAGMA integrity_check` of a backup file, opened read-only; the problems it names, or none. */
export function integrityProblems(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const problems = rows.map((r) => r.integrity_check).filter((r) => r !== 'ok');
    db.prepare('SELECT position FROM events LIMIT 1').get();
    return problems;
  } finally {
    db.close();
  }
}
