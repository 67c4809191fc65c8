import type Database from 'better-sqlite3';
import * as path from 'node:path';
import { Observable, Subject } from 'rxjs';
import {
  AppendOptions,
  AppendResult,
  DuplicateEventId,
  EventStore,
  EventStoreUnavailable,
  EventToAppend,
  ExpectedRevision,
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
import { CommitReply, fileIdentity, fileOutOfPlace, SqliteWriter, WriteRefusal, WriteRequest } from './sqlite-writer';
import { createPrivateDirectory, openPrivately } from './private-files';
import { WalCheckpointer } from './wal-checkpointer';
import { DataVersionWatch, EVENT_COLUMNS, EventRows, followLog, rawRows, toRecorded, type EventRow } from './log-follower';

export const STORE_FILE_NAME = 'events.sqlite';

export interface SqliteEventStoreOptions {
  /** Directory holding `events.sqlite`; created when missing. */
  readonly dataDir: string;
  readonly synchronous?: Synchronous;
  /** How often a live subscription looks for commits made by another process (ms). */
  readonly pollIntervalMs?: number;
}

type StoredRow = [position: number, streamId: string, revision: number, type: string, data: string, metadata: string];

interface PendingAppend {
  readonly streamId: string;
  readonly events: readonly EventToAppend[];
  readonly expected: ExpectedRevision;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

const COLUMNS = EVENT_COLUMNS;
/** Streams whose last revision is remembered (see `knownRevision`); the least recently appended are forgotten beyond it. */
const MAX_KNOWN_STREAMS = 100_000;
/** The writer's own automatic checkpoint mark, a backstop behind the checkpoint thread. */
const BACKSTOP_PAGES = 50_000;

/**
 * The embedded default event store: one SQLite file in WAL mode with `synchronous=FULL`, so an
 * acknowledged append survives a crash or power loss.
 *
 * Appends are group-committed by a writer thread that owns the write connection (`SqliteWriter`):
 * every append that arrives while a commit is under way joins the next transaction, and the commit's
 * wait for the disk does not stop the event loop. Each append keeps its own expected-revision check
 * inside a savepoint, so one failing append does not fail the others. Reads use this thread's own
 * connection, which sees every committed transaction.
 */
export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite' as const;
  readonly file: string;
  private readonly db: Database.Database;
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  /** The batch the writer is committing, if any: one at a time. */
  private writing: Promise<void> | undefined;
  private readonly writer: SqliteWriter;
  private readonly committed$ = new Subject<void>();
  /**
   * Fires once the appends of a commit have been answered (see `notifyCommitted`), and when the
   * data_version poll sees another connection's commit while someone follows the log.
   */
  readonly commitNotices: Observable<void> = this.committed$.asObservable();
  private notifyScheduled = false;
  private readonly watch: DataVersionWatch;
  private readonly rows: EventRows;
  private closed = false;
  private readonly pollIntervalMs: number;
  private readonly checkpointer: WalCheckpointer;
  /** Device and inode of the file opened: a commit into a file no longer at its path would be lost. */
  private readonly identity: string | undefined;
  /** Set while the last commit failed (disk full, file read-only, ...): `ping` reports it until a commit succeeds. */
  private lastCommitFailure: EventStoreUnavailable | undefined;

  private readonly stmt: {
    head: Database.Statement<[], { position: number | null }>;
    streamExists: Database.Statement<[string], { one: number }>;
    readStreamForwards: Database.Statement<[string, number, number], EventRow>;
    readStreamBackwards: Database.Statement<[string, number, number], EventRow>;
    readAllStored: Database.Statement<[number, number], StoredRow>;
  };
  private commits = 0;
  private appends = 0;
  /** The log's head when this store last committed (-1: unknown). While the file's head is still this, nobody else has appended. */
  private knownHead = -1;
  /** Last revision of each stream this store appended to, exact as of `knownHead`. */
  private readonly revisions = new Map<string, number>();

  constructor(options: SqliteEventStoreOptions) {
    createPrivateDirectory(options.dataDir);
    this.file = path.join(options.dataDir, STORE_FILE_NAME);
    const file = this.file;
    this.db = openPrivately(file, () => openStoreFile(file, options.synchronous ?? 'FULL'));
    this.identity = fileIdentity(this.file);
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.checkpointer = new WalCheckpointer(this.db, undefined, BACKSTOP_PAGES);
    this.writer = new SqliteWriter({ file: this.file, synchronous: options.synchronous ?? 'FULL', identity: this.identity, backstopPages: BACKSTOP_PAGES });
    const db = this.db;
    this.rows = new EventRows(db);
    this.watch = new DataVersionWatch(db, this.pollIntervalMs, () => this.committed$.next());
    this.stmt = {
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
    if (this.writing || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.writing = this.write(batch).finally(() => {
      this.writing = undefined;
      // Appends that came during the commit form the next group.
      this.flush();
    });
  }

  private async write(pending: readonly PendingAppend[]): Promise<void> {
    const batch: PendingAppend[] = [];
    const requests: WriteRequest[] = [];
    for (const p of pending) {
      try {
        requests.push({
          streamId: p.streamId,
          expected: p.expected,
          events: p.events.map((e) => ({ id: e.id.toLowerCase(), type: e.type, data: JSON.stringify(e.data), metadata: JSON.stringify(e.metadata ?? {}) })),
        });
        batch.push(p);
      } catch (error) {
        p.reject(error); // not JSON: refused alone
      }
    }
    if (batch.length === 0) return;
    let reply: CommitReply;
    try {
      reply = await this.writer.commit(requests);
    } catch (error) {
      reply = { ok: false, message: describe(error) };
    }
    if (!reply.ok) {
      const failure = new EventStoreUnavailable(`SQLite event store could not commit: ${reply.message}`);
      this.lastCommitFailure = failure;
      this.forgetRevisions();
      for (const p of batch) p.reject(failure);
      return;
    }
    this.lastCommitFailure = undefined;
    this.committed(reply.transactionStart, reply.written);
    this.commits += 1;
    this.appends += batch.length;
    reply.outcomes.forEach((outcome, i) => {
      const p = batch[i]!;
      if (!outcome.ok) p.reject(refusalError(outcome.refusal));
      else if (outcome.firstPosition === undefined) p.resolve({ nextExpectedRevision: outcome.nextExpectedRevision, position: outcome.position });
      else p.resolve({ nextExpectedRevision: outcome.nextExpectedRevision, position: outcome.position, firstPosition: outcome.firstPosition });
    });
    this.notifyCommitted();
  }

  /**
   * Tells the live subscriptions that there is more to read, once the appends just answered have
   * been carried on (their commands answered, the next group decided and handed to the writer):
   * reading the new events for the read models is not on the path of a command.
   */
  private notifyCommitted(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      this.committed$.next();
    });
  }

  /** After a commit: the streams it wrote are known, unless another writer appended since this store's last commit. */
  private committed(transactionStart: number, written: readonly (readonly [string, number, number])[]): void {
    if (transactionStart !== this.knownHead) this.revisions.clear();
    // The last position actually written (a refused append's savepoint leaves its positions unused).
    this.knownHead = written.length > 0 ? written[written.length - 1]![2] : transactionStart;
    for (const [streamId, revision] of written) {
      this.revisions.delete(streamId);
      if (this.revisions.size >= MAX_KNOWN_STREAMS) this.revisions.delete(this.revisions.keys().next().value!);
      this.revisions.set(streamId, revision);
    }
  }

  private forgetRevisions(): void {
    this.revisions.clear();
    this.knownHead = -1;
  }

  /**
   * The stream's last revision, when this store appended to it last and the log's head is still the
   * one this store's last commit left (so no other process has appended since): one look at the
   * head instead of a read of the stream.
   */
  knownRevision(streamId: string): number | undefined {
    if (this.closed || this.knownHead < 0) return undefined;
    const revision = this.revisions.get(streamId);
    if (revision === undefined) return undefined;
    return (this.stmt.head.get()?.position ?? 0) === this.knownHead ? revision : undefined;
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
    return this.rows.read(backwards ? '<=' : '>=', from, options.maxCount ?? Number.MAX_SAFE_INTEGER, options.filter, backwards).map(
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

  subscribeToAll(options: SubscribeToAllOptions = {}): Observable<RecordedEvent> {
    return followLog(this.rows, this.committed$, options, () => this.closed, this.watch);
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
      const misplaced = fileOutOfPlace(this.file, this.identity);
      if (misplaced !== undefined) throw new Error(misplaced);
      this.stmt.head.get();
    } catch (error) {
      throw new EventStoreUnavailable(`SQLite event store unreachable: ${describe(error)}`, error);
    }
    if (this.lastCommitFailure) throw this.lastCommitFailure;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Refuses appends from now on; those already accepted are committed (or refused) first.
    this.closed = true;
    for (;;) {
      if (!this.writing) this.flush();
      if (!this.writing) break;
      await this.writing;
    }
    this.watch.close();
    this.committed$.complete();
    await this.writer.stop();
    await this.checkpointer.stop();
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailable('event store is closed');
  }
}

/** The port's error for an append the writer refused. */
function refusalError(refusal: WriteRefusal): Error {
  switch (refusal.kind) {
    case 'wrong_expected_version':
      return new WrongExpectedVersion(refusal.streamId, refusal.expected, refusal.actual);
    case 'duplicate_event_id':
      return new DuplicateEventId(refusal.eventId, refusal.streamId);
    case 'failed':
      return new EventStoreUnavailable(`SQLite event store could not commit: ${refusal.message}`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
