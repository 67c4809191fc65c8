import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ALL_PROJECTIONS } from '../../projections';
import { logDigestAt } from '../../projections/audit-digest/audit-digest.query';
import { type AuditEntry, queryAudit } from '../../projections/audit-trail/audit-trail.query';
import { listDrift } from '../../projections/drift/drift.query';
import { findEndpoints } from '../../projections/endpoint-directory/endpoint-directory.query';
import { listMigrations, migrationDetail } from '../../projections/migrations/migrations.query';
import type { TableReader } from '../../projections/runner/projection';
import { projectEvents } from '../../projections/runner/testing';
import { listDeployments, readTopology } from '../../projections/topology/topology.query';
import { verifyLog, type LogVerification } from '../../src/application/log-verification';
import type { RecordedEvent } from '../../src/event-store/event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

/** One event as the SQLite store keeps it: data and metadata as their stored JSON text. */
export interface GoldenRow {
  readonly position: number;
  readonly streamId: string;
  readonly revision: number;
  readonly eventId: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
  /** Milliseconds since the epoch, as stored. */
  readonly created: number;
}

export const GOLDEN_DIR = path.join(__dirname, '..', 'fixtures', 'golden');

/** The events of a store file, exactly as stored, in global order. */
export function dumpStoreFile(file: string): GoldenRow[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT position, stream_id AS streamId, revision, event_id AS eventId, type, data, metadata, created FROM events ORDER BY position').all() as GoldenRow[]).map((r) => ({ ...r }));
  } finally {
    db.close();
  }
}

/** A fresh store holding exactly these rows (stored text, positions and times as they are), read through the product's own adapter. */
export async function withStoreOf<T>(rows: readonly GoldenRow[], use: (store: SqliteEventStore) => Promise<T>): Promise<T> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-golden-'));
  try {
    await new SqliteEventStore({ dataDir }).close();
    const db = new Database(path.join(dataDir, 'events.sqlite'));
    const insert = db.prepare('INSERT INTO events (position, stream_id, revision, event_id, type, data, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (const r of rows) insert.run(r.position, r.streamId, r.revision, r.eventId, r.type, r.data, r.metadata, r.created);
    })();
    db.close();
    const store = new SqliteEventStore({ dataDir });
    try {
      return await use(store);
    } finally {
      await store.close();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Every page of the audit trail, newest first, as `GET /api/audit` pages it. */
function wholeAuditTrail(reader: TableReader): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let cursor: string | null | undefined;
  do {
    const page = queryAudit(reader, { limit: 500, ...(cursor ? { cursor } : {}) });
    entries.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor);
  return entries;
}

export interface Replay {
  readonly verification: LogVerification;
  readonly events: readonly RecordedEvent[];
  /** What the read models answer after the whole log, through their queries. */
  readonly answers: Record<string, unknown>;
}

/** Verifies the log's hash chain on the stored text, then runs every read model over it and asks each its questions. */
export async function replay(rows: readonly GoldenRow[]): Promise<Replay> {
  return withStoreOf(rows, async (store) => {
    const verification = await verifyLog(store);
    const events = await store.readAll();
    const readers = new Map<string, TableReader>(ALL_PROJECTIONS.map((p) => [p.name, projectEvents(p, events)]));
    const reader = (name: string): TableReader => {
      const found = readers.get(name);
      if (found === undefined) throw new Error(`no read model ${name}`);
      return found;
    };
    const topology = reader('topology');
    const deployments = listDeployments(topology).map((d) => d.deployment).sort();
    const migrations = reader('migrations');
    const answers: Record<string, unknown> = {
      topology: Object.fromEntries(deployments.map((d) => [d, readTopology(topology, d)])),
      endpoints: Object.fromEntries(deployments.map((d) => [d, findEndpoints(reader('endpoint_directory'), { deployment: d })])),
      auditTrail: wholeAuditTrail(reader('audit_trail')),
      digest: logDigestAt(reader('audit_digest')),
      migrations: Object.fromEntries(
        deployments.map((d) => [d, listMigrations(migrations, d).map((m) => ({ ...m, detail: migrationDetail(migrations, m.migrationId) }))]),
      ),
      drift: Object.fromEntries(deployments.map((d) => [d, listDrift(reader('drift'), d, true)])),
    };
    return { verification, events, answers: JSON.parse(JSON.stringify(answers)) as Record<string, unknown> };
  });
}
