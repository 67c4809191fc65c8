import { Worker } from 'node:worker_threads';
import type { ExpectedRevision } from '../event-store';
import type { Synchronous } from './sqlite-schema';

/** One append as the writer thread receives it: ids lower-cased, data and metadata already JSON text. */
export interface WriteRequest {
  readonly streamId: string;
  readonly expected: ExpectedRevision;
  readonly events: readonly { readonly id: string; readonly type: string; readonly data: string; readonly metadata: string }[];
}

/** Why one append of a batch was refused; the batch's other appends are committed regardless. */
export type WriteRefusal =
  | { readonly kind: 'wrong_expected_version'; readonly streamId: string; readonly expected: ExpectedRevision; readonly actual: number | 'no_stream' }
  | { readonly kind: 'duplicate_event_id'; readonly eventId: string; readonly streamId: string }
  /** Not the append's own fault (the file could not be written): the caller hears that the store is unavailable. */
  | { readonly kind: 'failed'; readonly message: string };

export type WriteOutcome =
  /** `firstPosition`: where the append's events start (consecutive from it); absent when they are not consecutive (a retry of events stored by several appends). */
  | { readonly ok: true; readonly nextExpectedRevision: number; readonly position: number; readonly firstPosition?: number }
  | { readonly ok: false; readonly refusal: WriteRefusal };

/** The writer's answer to one batch, sent once its transaction is committed (fsynced, with synchronous=FULL) or rolled back. */
export type CommitReply =
  | {
      readonly ok: true;
      readonly outcomes: readonly WriteOutcome[];
      /** The log's head when the transaction began. */
      readonly transactionStart: number;
      /** What the transaction stored: each written stream's last revision and position, in order. */
      readonly written: readonly (readonly [streamId: string, revision: number, position: number])[];
    }
  /** Nothing of the batch was stored. */
  | { readonly ok: false; readonly message: string };

export interface SqliteWriterOptions {
  readonly file: string;
  readonly synchronous: Synchronous;
  /** `dev:ino` of the file the store opened: a commit into another file (or none) at that path is refused. */
  readonly identity: string | undefined;
  /** The writer's own automatic checkpoint, a backstop behind the checkpoint thread (see `WalCheckpointer`). */
  readonly backstopPages: number;
}

/**
 * The thread that owns the store's write connection. A commit with `synchronous=FULL` waits for the
 * disk (fsync); done here, that wait no longer stops the process's event loop, which meanwhile serves
 * other requests and gathers the next group of appends. One batch is committed at a time; the answer
 * is sent only once the transaction is committed, so an acknowledged append is on disk.
 */
export class SqliteWriter {
  private worker: Worker | undefined;
  private pending: { resolve: (reply: CommitReply) => void; reject: (error: Error) => void } | undefined;
  private stopping = false;

  constructor(private readonly options: SqliteWriterOptions) {
    this.start();
  }

  /** Commits one batch; the caller sends the next only once this one is answered. */
  commit(batch: readonly WriteRequest[]): Promise<CommitReply> {
    if (this.pending) return Promise.reject(new Error('the SQLite writer is already committing a batch'));
    if (this.stopping) return Promise.reject(new Error('the SQLite writer is stopped'));
    const worker = this.worker ?? this.start();
    return new Promise<CommitReply>((resolve, reject) => {
      this.pending = { resolve, reject };
      // Held while a batch is in hand: a process with nothing else to do waits for its commit.
      worker.ref();
      worker.postMessage({ batch });
    });
  }

  /** Closes the write connection; call once no commit is pending. */
  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ stop: true });
    await exited;
  }

  private start(): Worker {
    // The thread's source: the functions it calls, then its body.
    const source = `${fileIdentity.toString()}\n${fileOutOfPlace.toString()}\n(${writerThread.toString()})()`;
    const worker = new Worker(source, {
      eval: true,
      workerData: { ...this.options, driver: require.resolve('better-sqlite3') },
    });
    this.worker = worker;
    worker.on('message', (reply: CommitReply) => {
      const pending = this.pending;
      this.pending = undefined;
      if (!this.stopping) worker.unref();
      pending?.resolve(reply);
    });
    // A writer that fails (it cannot open the file, say) fails the batch in hand; the next batch starts another.
    const lost = (error: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(error);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the SQLite writer thread exited (code ${code})`)));
    // Only a batch in hand keeps the process alive (see `commit` and `stop`).
    worker.unref();
    return worker;
  }
}

/** Device and inode of the file at `file`, if any. Runs in the writer thread too: self-contained. */
export function fileIdentity(file: string): string | undefined {
  const stat = (require('node:fs') as typeof import('node:fs')).statSync(file, { throwIfNoEntry: false });
  return stat ? `${stat.dev}:${stat.ino}` : undefined;
}

/**
 * SQLite keeps writing to an open file after it was deleted or moved away (its directory removed,
 * say), and everything acknowledged then vanishes with the process. So each commit first checks
 * that the path still leads to the file opened (`identity`); when it does again (moved back),
 * commits resume. Returns why not, or undefined when it does. Runs in the writer thread too.
 */
export function fileOutOfPlace(file: string, identity: string | undefined): string | undefined {
  if (identity === undefined) return undefined;
  const now = fileIdentity(file);
  if (now === identity) return undefined;
  return `${file} is no longer the file this process opened (${now === undefined ? 'it is gone' : 'another file is in its place'}); nothing was written`;
}

/**
 * Runs in the writer thread, compiled as its own source text: everything it uses is required inside,
 * or is one of the functions put before it (see `SqliteWriter.start`).
 * Appends are group-committed: a batch is one transaction, each append in a savepoint with its own
 * expected-revision check, so one refused append does not fail the others.
 */
function writerThread(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const options = workerData as SqliteWriterOptions & { driver: string };
  const Database = require(options.driver) as typeof import('better-sqlite3');
  const db = new Database(options.file, { fileMustExist: true });
  db.pragma(`synchronous = ${options.synchronous}`);
  db.pragma('busy_timeout = 5000');
  db.pragma(`wal_autocheckpoint = ${options.backstopPages}`);
  const lastRevision = db.prepare<[string], { revision: number | null }>('SELECT max(revision) AS revision FROM events WHERE stream_id = ?');
  const byEventId = db.prepare<[string], { stream_id: string; revision: number; position: number }>('SELECT stream_id, revision, position FROM events WHERE event_id = ?');
  const eventIdsFrom = db.prepare<[string, number, number], { event_id: string; position: number }>(
    'SELECT event_id, position FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision LIMIT ?',
  );
  const insert = db.prepare('INSERT INTO events (position, stream_id, revision, event_id, type, data, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const head = db.prepare<[], { position: number | null }>('SELECT max(position) AS position FROM events');

  class Refused extends Error {
    constructor(readonly refusal: WriteRefusal) {
      super(refusal.kind);
    }
  }
  const wrongVersion = (streamId: string, expected: ExpectedRevision, last: number | null): Refused =>
    new Refused({ kind: 'wrong_expected_version', streamId, expected, actual: last === null ? 'no_stream' : last });

  let nextPosition = 0;
  let transactionStart = 0;
  let written: [string, number, number][] = [];

  const begin = (): void => {
    // Positions come from the file inside the write lock: another process may have appended.
    transactionStart = head.get()?.position ?? 0;
    nextPosition = transactionStart + 1;
    written = [];
  };

  /**
   * Idempotency, as EventStoreDB does it: when the first event id is already stored and the whole
   * batch is the same run of events in the same stream, appended at a compatible expected revision,
   * the earlier result is returned and nothing is written.
   */
  const earlierResult = (p: WriteRequest, last: number | null): WriteOutcome | undefined => {
    const first = byEventId.get(p.events[0]!.id);
    if (!first) return undefined;
    if (first.stream_id !== p.streamId) throw new Refused({ kind: 'duplicate_event_id', eventId: p.events[0]!.id, streamId: first.stream_id });
    const stored = eventIdsFrom.all(p.streamId, first.revision, p.events.length);
    const sameRun = stored.length === p.events.length && stored.every((row, i) => row.event_id === p.events[i]!.id);
    const expectedBefore = first.revision - 1;
    const compatible =
      p.expected === 'any' || p.expected === 'stream_exists' || (p.expected === 'no_stream' && expectedBefore === -1) || p.expected === expectedBefore;
    if (!sameRun) throw new Refused({ kind: 'duplicate_event_id', eventId: p.events[0]!.id, streamId: p.streamId });
    if (!compatible) throw wrongVersion(p.streamId, p.expected, last);
    const firstPosition = stored[0]!.position;
    const position = stored[stored.length - 1]!.position;
    // The earlier result as it was answered: with where it started when its events are consecutive.
    return position - firstPosition === p.events.length - 1
      ? { ok: true, nextExpectedRevision: first.revision + p.events.length - 1, position, firstPosition }
      : { ok: true, nextExpectedRevision: first.revision + p.events.length - 1, position };
  };

  const append = (p: WriteRequest): WriteOutcome => {
    const last = lastRevision.get(p.streamId)?.revision ?? null;
    const retry = earlierResult(p, last);
    if (retry) return retry;
    const ok =
      p.expected === 'any' ||
      (p.expected === 'no_stream' && last === null) ||
      (p.expected === 'stream_exists' && last !== null) ||
      p.expected === last;
    if (!ok) throw wrongVersion(p.streamId, p.expected, last);
    const created = Date.now();
    const firstPosition = nextPosition;
    let revision = last ?? -1;
    for (const e of p.events) {
      revision += 1;
      try {
        insert.run(nextPosition, p.streamId, revision, e.id, e.type, e.data, e.metadata, created);
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        if (code === 'SQLITE_CONSTRAINT_UNIQUE' && byEventId.get(e.id)) throw new Refused({ kind: 'duplicate_event_id', eventId: e.id, streamId: p.streamId });
        throw error;
      }
      nextPosition += 1;
    }
    written.push([p.streamId, revision, nextPosition - 1]);
    return { ok: true, nextExpectedRevision: revision, position: nextPosition - 1, firstPosition };
  };

  const refusalOf = (error: unknown): WriteRefusal =>
    error instanceof Refused ? error.refusal : { kind: 'failed', message: error instanceof Error ? error.message : String(error) };

  const appendInSavepoint = db.transaction(append);
  const groupCommit = db.transaction((batch: readonly WriteRequest[]): WriteOutcome[] => {
    begin();
    return batch.map((p): WriteOutcome => {
      try {
        return appendInSavepoint(p); // nested: runs in a savepoint
      } catch (error) {
        return { ok: false, refusal: refusalOf(error) };
      }
    });
  }).immediate;
  // A lone append needs no savepoint: its refusal rolls back its own transaction.
  const commitOne = db.transaction((p: WriteRequest): WriteOutcome => {
    begin();
    return append(p);
  }).immediate;

  const commit = (batch: readonly WriteRequest[]): CommitReply => {
    try {
      const misplaced = fileOutOfPlace(options.file, options.identity);
      if (misplaced !== undefined) throw new Error(misplaced);
      let outcomes: WriteOutcome[];
      if (batch.length === 1) {
        try {
          outcomes = [commitOne(batch[0]!)];
        } catch (error) {
          if (!(error instanceof Refused)) throw error;
          outcomes = [{ ok: false, refusal: error.refusal }];
          written = [];
        }
      } else {
        outcomes = groupCommit(batch);
      }
      return { ok: true, outcomes, transactionStart, written };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  };

  parentPort!.on('message', (message: { batch?: readonly WriteRequest[]; stop?: true }) => {
    if (message.stop) {
      db.close();
      process.exit(0);
    }
    parentPort!.postMessage(commit(message.batch ?? []));
  });
}
