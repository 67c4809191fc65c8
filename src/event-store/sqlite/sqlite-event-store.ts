import type Database from 'better-sqlite3';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { Observable, Subject } from 'rxjs';
import {
  AppendOptions,
  AppendResult,
  DuplicateEventId,
  EventFilter,
  EventStore,
  EventStoreError,
  EventStoreUnavailable,
  EventToAppend,
  ExpectedRevision,
  JsonObject,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StoredEvent,
  StreamNotFound,
  SubscribeToAllOptions,
  WrongExpectedVersion,
  validateAppend,
} from '../event-store';
import { openStoreFile, Synchronous } from './sqlite-schema';
import { WalCheckpointer } from './wal-checkpointer';

export const STORE_FILE_NAME = 'events.sqlite';

export interface SqliteEventStoreOptions {
  /** Directory holding `events.sqlite`; created when missing. */
  readonly dataDir: string;
  readonly synchronous?: Synchronous;
  /** How often a live subscription looks for commits made by another process (ms). */
  readonly pollIntervalMs?: number;
}

/** Rows are read as arrays (better-sqlite3's raw mode): building row objects first costs a third of a full read. */
type EventRow = [position: number, streamId: string, revision: number, id: string, type: string, data: string, metadata: string, created: number];

type StoredRow = [position: number, streamId: string, revision: number, type: string, data: string, metadata: string];

interface PendingAppend {
  readonly streamId: string;
  readonly events: readonly EventToAppend[];
  readonly expected: ExpectedRevision;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { ok: true; result: AppendResult } | { ok: false; error: unknown };

const COLUMNS = 'position, stream_id, revision, event_id, type, data, metadata, created';
const PAGE = 1000;

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row[3],
    streamId: row[1],
    revision: row[2],
    position: row[0],
    type: row[4],
    data: JSON.parse(row[5]) as JsonObject,
    metadata: row[6] === '{}' ? {} : (JSON.parse(row[6]) as JsonObject),
    created: new Date(row[7]),
  };
}

/**
 * The embedded default event store: one SQLite file in WAL mode with `synchronous=FULL`, so an
 * acknowledged append survives a crash or power loss.
 *
 * Appends are group-committed: every append that arrives while the event loop is busy (including
 * during the previous commit, since better-sqlite3 blocks) joins the next transaction. Each keeps its
 * own expected-revision check inside a savepoint, so one failing append does not fail the others.
 */
export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite' as const;
  readonly file: string;
  private readonly db: Database.Database;
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  private readonly committed$ = new Subject<void>();
  private liveSubscribers = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastDataVersion = 0;
  private closed = false;
  private readonly pollIntervalMs: number;
  private readonly checkpointer: WalCheckpointer;
  /** Device and inode of the file opened: a commit into a file no longer at its path would be lost. */
  private readonly identity: string | undefined;
  /** Set while the last commit failed (disk full, file read-only, ...): `ping` reports it until a commit succeeds. */
  private lastCommitFailure: EventStoreUnavailable | undefined;

  private readonly stmt: {
    lastRevision: Database.Statement<[string], { revision: number | null }>;
    byEventId: Database.Statement<[string], { stream_id: string; revision: number; position: number }>;
    eventIdsFrom: Database.Statement<[string, number, number], { event_id: string; position: number }>;
    insert: Database.Statement<[number, string, number, string, string, string, string, number]>;
    head: Database.Statement<[], { position: number | null }>;
    streamExists: Database.Statement<[string], { one: number }>;
    readStreamForwards: Database.Statement<[string, number, number], EventRow>;
    readStreamBackwards: Database.Statement<[string, number, number], EventRow>;
    readAllStored: Database.Statement<[number, number], StoredRow>;
  };
  private readonly groupCommit: (batch: readonly PendingAppend[]) => Outcome[];
  private readonly commitOne: (p: PendingAppend) => AppendResult;
  private nextPosition: number;
  private commits = 0;
  private appends = 0;

  constructor(options: SqliteEventStoreOptions) {
    fs.mkdirSync(options.dataDir, { recursive: true });
    this.file = path.join(options.dataDir, STORE_FILE_NAME);
    this.db = openStoreFile(this.file, options.synchronous ?? 'FULL');
    this.identity = fileIdentity(this.file);
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.checkpointer = new WalCheckpointer(this.db);
    const db = this.db;
    this.stmt = {
      lastRevision: db.prepare('SELECT max(revision) AS revision FROM events WHERE stream_id = ?'),
      byEventId: db.prepare('SELECT stream_id, revision, position FROM events WHERE event_id = ?'),
      eventIdsFrom: db.prepare(
        'SELECT event_id, position FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision LIMIT ?',
      ),
      insert: db.prepare(`INSERT INTO events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      head: db.prepare('SELECT max(position) AS position FROM events'),
      streamExists: db.prepare('SELECT 1 AS one FROM events WHERE stream_id = ? LIMIT 1'),
      readStreamForwards: rawRows(db.prepare(
        `SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`,
      )),
      readStreamBackwards: rawRows(db.prepare(
        `SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
      )),
      readAllStored: db
        .prepare('SELECT position, stream_id, revision, type, data, metadata FROM events WHERE position >= ? ORDER BY position LIMIT ?')
        .raw(true) as unknown as Database.Statement<[number, number], StoredRow>,
    };
    this.nextPosition = 0;
    const appendOne = db.transaction((p: PendingAppend) => this.appendInTransaction(p));
    this.groupCommit = db.transaction((batch: readonly PendingAppend[]) => {
      // Positions come from the file inside the write lock: another process may have appended.
      this.nextPosition = (this.stmt.head.get()?.position ?? 0) + 1;
      return batch.map((p): Outcome => {
        try {
          return { ok: true, result: appendOne(p) }; // nested: runs in a savepoint
        } catch (error) {
          return { ok: false, error };
        }
      });
    }).immediate;
    // A lone append needs no savepoint: its failure rolls back its own transaction.
    this.commitOne = db.transaction((p: PendingAppend) => {
      this.nextPosition = (this.stmt.head.get()?.position ?? 0) + 1;
      return this.appendInTransaction(p);
    }).immediate;
  }

  appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    try {
      validateAppend(streamId, events, options.expectedRevision);
      this.assertOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ streamId, events, expected: options.expectedRevision, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    let outcomes: Outcome[];
    try {
      this.assertFileInPlace();
      outcomes = batch.length === 1 ? this.commitAlone(batch[0]!) : this.groupCommit(batch);
    } catch (error) {
      const failure = new EventStoreUnavailable(`SQLite event store could not commit: ${describe(error)}`, error);
      this.lastCommitFailure = failure;
      for (const p of batch) p.reject(failure);
      return;
    }
    this.lastCommitFailure = undefined;
    this.commits += 1;
    this.appends += batch.length;
    outcomes.forEach((outcome, i) => {
      const p = batch[i]!;
      if (outcome.ok) p.resolve(outcome.result);
      else p.reject(outcome.error);
    });
    this.committed$.next();
  }

  private commitAlone(p: PendingAppend): Outcome[] {
    try {
      return [{ ok: true, result: this.commitOne(p) }];
    } catch (error) {
      if (error instanceof EventStoreError) return [{ ok: false, error }];
      throw error;
    }
  }

  private appendInTransaction(p: PendingAppend): AppendResult {
    const last = this.stmt.lastRevision.get(p.streamId)?.revision ?? null;
    const retry = this.earlierResult(p, last);
    if (retry) return retry;

    const actual = last === null ? 'no_stream' : last;
    const ok =
      p.expected === 'any' ||
      (p.expected === 'no_stream' && last === null) ||
      (p.expected === 'stream_exists' && last !== null) ||
      p.expected === last;
    if (!ok) throw new WrongExpectedVersion(p.streamId, p.expected, actual);

    const created = Date.now();
    let revision = last ?? -1;
    for (const e of p.events) {
      revision += 1;
      const id = e.id.toLowerCase();
      try {
        this.stmt.insert.run(
          this.nextPosition,
          p.streamId,
          revision,
          id,
          e.type,
          JSON.stringify(e.data),
          JSON.stringify(e.metadata ?? {}),
          created,
        );
      } catch (error) {
        if (isUniqueViolation(error) && this.stmt.byEventId.get(id)) throw new DuplicateEventId(id, p.streamId);
        throw error;
      }
      this.nextPosition += 1;
    }
    return { nextExpectedRevision: revision, position: this.nextPosition - 1 };
  }

  /**
   * Idempotency, as EventStoreDB does it: when the first event id is already stored and the whole
   * batch is the same run of events in the same stream, appended at a compatible expected revision,
   * the earlier result is returned and nothing is written.
   */
  private earlierResult(p: PendingAppend, last: number | null): AppendResult | undefined {
    const first = this.stmt.byEventId.get(p.events[0]!.id.toLowerCase());
    if (!first) return undefined;
    if (first.stream_id !== p.streamId) throw new DuplicateEventId(p.events[0]!.id, first.stream_id);
    const stored = this.stmt.eventIdsFrom.all(p.streamId, first.revision, p.events.length);
    const sameRun =
      stored.length === p.events.length && stored.every((row, i) => row.event_id === p.events[i]!.id.toLowerCase());
    const expectedBefore = first.revision - 1;
    const compatible =
      p.expected === 'any' ||
      p.expected === 'stream_exists' ||
      (p.expected === 'no_stream' && expectedBefore === -1) ||
      p.expected === expectedBefore;
    if (!sameRun) throw new DuplicateEventId(p.events[0]!.id, p.streamId);
    if (!compatible) throw new WrongExpectedVersion(p.streamId, p.expected, last === null ? 'no_stream' : last);
    return { nextExpectedRevision: first.revision + p.events.length - 1, position: stored[stored.length - 1]!.position };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const max = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    const rows =
      options.direction === 'backwards'
        ? this.stmt.readStreamBackwards.all(streamId, options.fromRevision ?? Number.MAX_SAFE_INTEGER, max)
        : this.stmt.readStreamForwards.all(streamId, options.fromRevision ?? 0, max);
    if (rows.length === 0 && !this.stmt.streamExists.get(streamId)) throw new StreamNotFound(streamId);
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const backwards = options.direction === 'backwards';
    const from = options.fromPosition ?? (backwards ? Number.MAX_SAFE_INTEGER : 0);
    return this.readAllRows(backwards ? '<=' : '>=', from, options.maxCount ?? Number.MAX_SAFE_INTEGER, options.filter, backwards).map(
      toRecorded,
    );
  }

  async readAllStored(fromPosition: number, maxCount: number): Promise<StoredEvent[]> {
    this.assertOpen();
    return this.stmt.readAllStored.all(fromPosition, maxCount).map((row) => ({
      position: row[0],
      streamId: row[1],
      revision: row[2],
      type: row[3],
      // Text as stored; a cell someone rewrote as a BLOB is read as the UTF-8 text it holds.
      data: typeof row[4] === 'string' ? row[4] : String(row[4]),
      metadata: typeof row[5] === 'string' ? row[5] : String(row[5]),
    }));
  }

  private readonly filteredStatements = new Map<string, Database.Statement<unknown[], EventRow>>();

  private readAllRows(
    op: '>' | '>=' | '<=',
    from: number,
    maxCount: number,
    filter: EventFilter | undefined,
    backwards = false,
  ): EventRow[] {
    const types = filter?.eventTypes ?? [];
    const prefixes = filter?.streamPrefixes ?? [];
    const key = `${op}|${types.length}|${prefixes.length}|${filter?.eventTypes ? 1 : 0}|${filter?.streamPrefixes ? 1 : 0}`;
    let stmt = this.filteredStatements.get(key);
    if (!stmt) {
      const where = [`position ${op} ?`];
      if (filter?.eventTypes) where.push(types.length ? `type IN (${types.map(() => '?').join(', ')})` : '0');
      if (filter?.streamPrefixes) {
        where.push(prefixes.length ? `(${prefixes.map(() => 'substr(stream_id, 1, ?) = ?').join(' OR ')})` : '0');
      }
      stmt = rawRows(this.db.prepare(
        `SELECT ${COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY position ${backwards ? 'DESC' : 'ASC'} LIMIT ?`,
      ));
      this.filteredStatements.set(key, stmt);
    }
    const params: unknown[] = [from, ...types];
    for (const prefix of prefixes) params.push(prefix.length, prefix);
    params.push(maxCount);
    return stmt.all(...params);
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Observable<RecordedEvent> {
    return new Observable<RecordedEvent>((subscriber) => {
      let checkpoint = options.fromPosition ?? 0;
      let pumping = false;
      let wanted = false;
      let timer: NodeJS.Immediate | undefined;
      // Always reading strictly after the last emitted position is what makes the catch-up to live
      // switch free of gaps and duplicates: there is no separate live channel to merge.
      const pump = (): void => {
        if (subscriber.closed) return;
        if (pumping) {
          wanted = true;
          return;
        }
        pumping = true;
        try {
          const rows = this.readAllRows('>', checkpoint, PAGE, options.filter);
          for (const row of rows) {
            if (subscriber.closed) return;
            checkpoint = row[0];
            subscriber.next(toRecorded(row));
          }
          if (rows.length === PAGE) wanted = true;
        } catch (error) {
          subscriber.error(this.closed ? new EventStoreUnavailable('event store closed') : error);
          return;
        } finally {
          pumping = false;
        }
        if (wanted) {
          wanted = false;
          timer = setImmediate(pump);
        }
      };
      const live = this.committed$.subscribe(() => pump());
      this.addLiveSubscriber();
      timer = setImmediate(pump);
      return () => {
        live.unsubscribe();
        if (timer) clearImmediate(timer);
        this.removeLiveSubscriber();
      };
    });
  }

  /** Commits by other processes (the CLI on the same DATA_DIR) are seen through SQLite's data_version. */
  private addLiveSubscriber(): void {
    this.liveSubscribers += 1;
    if (this.pollTimer || this.closed) return;
    this.lastDataVersion = this.db.pragma('data_version', { simple: true }) as number;
    this.pollTimer = setInterval(() => {
      if (this.closed) return;
      const version = this.db.pragma('data_version', { simple: true }) as number;
      if (version !== this.lastDataVersion) {
        this.lastDataVersion = version;
        this.committed$.next();
      }
    }, this.pollIntervalMs);
    this.pollTimer.unref();
  }

  private removeLiveSubscriber(): void {
    this.liveSubscribers -= 1;
    if (this.liveSubscribers === 0 && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
    }
  }

  /** Group commit at work: how many appends shared how many transactions since the store was opened. */
  stats(): { commits: number; appends: number } {
    return { commits: this.commits, appends: this.appends };
  }

  async headPosition(): Promise<number> {
    this.assertOpen();
    return this.stmt.head.get()?.position ?? 0;
  }

  async ping(): Promise<void> {
    this.assertOpen();
    try {
      this.assertFileInPlace();
      this.stmt.head.get();
    } catch (error) {
      throw new EventStoreUnavailable(`SQLite event store unreachable: ${describe(error)}`, error);
    }
    if (this.lastCommitFailure) throw this.lastCommitFailure;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.queue.length > 0) this.flush();
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.committed$.complete();
    await this.checkpointer.stop();
    this.db.close();
  }

  /**
   * SQLite keeps writing to an open file after it was deleted or moved away (its directory removed,
   * say), and everything acknowledged then vanishes with the process. So each commit first checks
   * that the path still leads to the file opened; when it does again (moved back), commits resume.
   */
  private assertFileInPlace(): void {
    if (this.identity === undefined) return;
    const now = fileIdentity(this.file);
    if (now !== this.identity) {
      throw new Error(`${this.file} is no longer the file this process opened (${now === undefined ? 'it is gone' : 'another file is in its place'}); nothing was written`);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailable('event store is closed');
  }
}

function fileIdentity(file: string): string | undefined {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  return stat ? `${stat.dev}:${stat.ino}` : undefined;
}

function rawRows<P extends unknown[]>(statement: Database.Statement<P, unknown>): Database.Statement<P, EventRow> {
  return statement.raw(true) as unknown as Database.Statement<P, EventRow>;
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
