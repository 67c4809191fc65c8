import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ALL_PROJECTIONS } from '../../projections';
import { ProjectionRunner } from '../../projections/runner/projection-runner';
import { openReadModelDatabase } from '../../projections/runner/read-model-store';
import { verifyLog } from '../../src/application/log-verification';
import { READ_MODELS_FILE } from '../../src/application/read-models.module';
import { foldTopology, initialState, type TopologyEvent, type TopologyState } from '../../src/domain';
import type { JsonObject } from '../../src/event-store/event-store';
import { SqliteEventStore, STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';
import { getJson } from '../support/http';
import { dumpReadModelFile } from '../support/read-models';
import type { RunningServer } from '../support/server';
import { topologyViolations } from '../support/topology-invariants';

/** An event as the SQLite file holds it, read straight from the file (not through the product). */
export interface StoredEvent {
  readonly position: number;
  readonly streamId: string;
  readonly revision: number;
  readonly eventId: string;
  readonly type: string;
  readonly data: JsonObject;
  readonly metadata: JsonObject;
  /** Commit time, ms since the epoch. */
  readonly created: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `topo-rel-${prefix}-`));
}

/** Every event of the store in `dataDir`, in log order, through a read-only connection. Every row must parse. */
export function readLog(dataDir: string): StoredEvent[] {
  const db = new Database(path.join(dataDir, STORE_FILE_NAME), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT position, stream_id, revision, event_id, type, data, metadata, created FROM events ORDER BY position').all() as {
      position: number;
      stream_id: string;
      revision: number;
      event_id: string;
      type: string;
      data: string;
      metadata: string;
      created: number;
    }[];
    return rows.map((row) => ({
      position: row.position,
      streamId: row.stream_id,
      revision: row.revision,
      eventId: row.event_id,
      type: row.type,
      data: JSON.parse(row.data) as JsonObject,
      metadata: JSON.parse(row.metadata) as JsonObject,
      created: row.created,
    }));
  } finally {
    db.close();
  }
}

/**
 * The hash chain checked by the product's own verifier (`topo audit verify`): every link of every
 * stream, on the store file in `dataDir` (opened beside a running server, as the CLI may be).
 */
export async function verifyHashChain(dataDir: string): Promise<{ readonly chained: number; readonly problems: string[] }> {
  const store = new SqliteEventStore({ dataDir });
  try {
    const result = await verifyLog(store);
    return { chained: result.chained, problems: result.broken ? [`hash chain broken: ${JSON.stringify(result.broken)}`] : [] };
  } finally {
    await store.close();
  }
}

/** Structural checks of a log: positions strictly increase, revisions count 0, 1, 2, ... per stream. */
export function logShapeProblems(events: readonly StoredEvent[]): string[] {
  const problems: string[] = [];
  const nextRevision = new Map<string, number>();
  let last = 0;
  for (const e of events) {
    if (e.position <= last) problems.push(`position ${e.position} after ${last}`);
    last = e.position;
    const expected = nextRevision.get(e.streamId) ?? 0;
    if (e.revision !== expected) problems.push(`${e.streamId}: revision ${e.revision} where ${expected} was next`);
    nextRevision.set(e.streamId, e.revision + 1);
  }
  return problems;
}

/** Folds every `topology-<deployment>` stream through the domain and checks its invariants after each event. */
/** `every`: check the invariants after every so many events of a stream (and at its end). */
export function replayTopologies(events: readonly StoredEvent[], every = 1): { readonly states: Map<string, TopologyState>; readonly violations: string[] } {
  const states = new Map<string, TopologyState>();
  const violations: string[] = [];
  // Each stream in chunks of `every` events, the invariants checked after each. A chunk that does not
  // apply is replayed event by event, to name the event.
  const CHUNK = Math.max(1, every);
  const pending = new Map<string, StoredEvent[]>();
  const flush = (streamId: string): void => {
    const chunk = pending.get(streamId) ?? [];
    pending.delete(streamId);
    if (chunk.length === 0) return;
    let state = states.get(streamId) ?? initialState();
    try {
      state = foldTopology(chunk.map((e) => ({ type: e.type, data: e.data }) as unknown as TopologyEvent), state);
    } catch {
      for (const e of chunk) {
        try {
          state = foldTopology([{ type: e.type, data: e.data } as unknown as TopologyEvent], state);
        } catch (error) {
          violations.push(`${e.streamId}@${e.revision} ${e.type} does not apply: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
    const last = chunk[chunk.length - 1]!;
    for (const v of topologyViolations(state)) violations.push(`${last.streamId}@${last.revision} ${last.type}: ${v}`);
    states.set(streamId, state);
  };
  for (const e of events) {
    if (!e.streamId.startsWith('topology-')) continue;
    const chunk = pending.get(e.streamId) ?? [];
    chunk.push(e);
    pending.set(e.streamId, chunk);
    if (chunk.length >= CHUNK) flush(e.streamId);
  }
  for (const streamId of [...pending.keys()]) flush(streamId);
  return { states, violations };
}

/** Every row of every read model in `dataDir`, by logical table: what a user can read. */
export function dumpReadModels(dataDir: string): Record<string, unknown[]> {
  return dumpReadModelFile(path.join(dataDir, READ_MODELS_FILE));
}

/**
 * Read models built from nothing: a consistent copy of the event log (SQLite's online backup, so a
 * running server is not disturbed) projected by every projection in this process.
 */
export async function cleanRebuild(dataDir: string): Promise<Record<string, unknown[]>> {
  const copyDir = tempDir('rebuild');
  try {
    const source = new Database(path.join(dataDir, STORE_FILE_NAME), { readonly: true, fileMustExist: true });
    try {
      await source.backup(path.join(copyDir, STORE_FILE_NAME));
    } finally {
      source.close();
    }
    const store = new SqliteEventStore({ dataDir: copyDir, synchronous: 'NORMAL' });
    const db = openReadModelDatabase(path.join(copyDir, READ_MODELS_FILE));
    const runner = new ProjectionRunner(store, db, ALL_PROJECTIONS, { batchSize: 500 });
    runner.start();
    await runner.waitFor(ALL_PROJECTIONS.map((p) => p.name), await store.headPosition(), 120_000);
    runner.stop();
    db.close();
    await store.close();
    return dumpReadModels(copyDir);
  } finally {
    fs.rmSync(copyDir, { recursive: true, force: true });
  }
}

interface ProjectionStatus {
  readonly name: string;
  readonly state: string;
  readonly checkpoint: number;
  readonly headPosition: number;
  readonly rebuild: unknown;
}

/** Resolves once every projection is live at the head of the log. */
export async function waitUntilLive(server: RunningServer, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const reply = await getJson(server.url, '/api/projections');
    const projections = (reply.body as { projections: ProjectionStatus[] }).projections;
    if (projections.every((p) => p.state === 'live' && p.checkpoint === p.headPosition && p.rebuild === null)) return;
    if (projections.some((p) => p.state === 'failed')) throw new Error(`a projection failed: ${JSON.stringify(projections)}`);
    if (Date.now() - start > timeoutMs) throw new Error(`projections not live in time: ${JSON.stringify(projections)}`);
    await sleep(50);
  }
}

/** SIGKILL, resolved once the process is gone. */
export function kill(server: RunningServer): Promise<void> {
  return new Promise((resolve) => {
    if (server.process.exitCode !== null || server.process.signalCode !== null) return resolve();
    server.process.once('exit', () => resolve());
    server.process.kill('SIGKILL');
  });
}

/** A positive number from the environment, or the fallback. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a number > 0 (got ${raw})`);
  return value;
}
