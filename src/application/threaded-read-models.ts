import type Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Subscription } from 'rxjs';
import type { Projection } from '../../projections/runner/projection';
import { type BatchTiming, ReadModels, type ServingStatus } from '../../projections/runner/projection-runner';
import type { EventStore } from '../event-store/event-store';

/** What the read models' thread is given: where the files are. */
export interface ReadModelsThreadData {
  readonly dataDir: string;
  readonly logFile: string;
}

/** This thread's connection for queries, and the schema under which it has the log attached. */
export interface QueryConnection {
  readonly open: () => Database.Database;
  readonly logSchema: string;
}

/** A build taken over whose tables the thread keeps until this thread says it no longer reads them. */
export interface RetiredBuild {
  readonly name: string;
  readonly generation: number;
}

/** This thread to the read models' thread. */
export type ToReadModelsThread =
  | { readonly kind: 'start' }
  /** The store committed: read on. */
  | { readonly kind: 'wake' }
  | { readonly kind: 'rebuild'; readonly id: number; readonly name: string }
  /** The serving generation's switch is seen here: the retired build's tables may go. */
  | { readonly kind: 'released'; readonly build: RetiredBuild }
  | { readonly kind: 'stop' };

/** The read models' thread to this thread. */
export type FromReadModelsThread =
  /** The file is open, its builds restored: every projection's serving build. */
  | { readonly kind: 'ready'; readonly serving: Readonly<Record<string, ServingStatus>> }
  /** What changed since the last message: the serving builds changed, batches committed, builds retired. */
  | {
      readonly kind: 'progress';
      readonly serving: Readonly<Record<string, ServingStatus>>;
      readonly batches: readonly BatchTiming[];
      readonly retired: readonly RetiredBuild[];
    }
  | { readonly kind: 'rebuilt'; readonly id: number; readonly generation: number }
  | { readonly kind: 'rebuild_failed'; readonly id: number; readonly error: string }
  /** Everything closed: the thread ends. */
  | { readonly kind: 'stopped' };

export interface ThreadedReadModelsOptions {
  /** How long the tables of a build taken over stay for requests that took a reader of it before (ms; a minute by default). */
  readonly retiredTablesGraceMs?: number;
}

/** How long the tables of a build taken over stay for requests that took a reader of it before. */
const RETIRED_TABLES_GRACE_MS = 60_000;
/** How long a thread that said it stopped may take to end before it is ended. */
const EXIT_GRACE_MS = 1_000;

/**
 * The compiled script of the read models' thread. A worker thread runs JavaScript: next to this file
 * when it runs from `dist/`; when this file runs from its TypeScript source (the test runner), from
 * the `dist/` built from the same sources (the tests build it before any suite), since Node cannot load
 * TypeScript in a thread without a loader.
 */
function threadScript(): string {
  if (__filename.endsWith('.js')) return path.join(__dirname, 'read-models-thread.js');
  const built = path.resolve(__dirname, '..', '..', 'dist', 'src', 'application', 'read-models-thread.js');
  if (!fs.existsSync(built)) throw new Error(`the read models' thread runs compiled code, and ${built} is missing: run npm run build`);
  return built;
}

/**
 * The read models with their engine (`ProjectionRunner`) in a thread of its own, which writes the read
 * models' file and reads the log through connections of its own: the batches' transactions and the
 * projections' work stay off this thread's event loop, which answers queries through its own
 * read-only connection. This side keeps a mirror of every projection's serving build, updated by the
 * thread after each committed batch, so that waits, statuses and readers answer at once.
 *
 * A rebuild's take-over: the thread switches the serving generation and keeps the old tables until this
 * side has seen the switch (and so reads the new tables from then on); a start drops any left by a crash.
 * A thread that dies (a crash, an out-of-memory) is not restarted: every projection then shows `failed`
 * with the cause, which is logged once, and the next start of the server starts it again.
 */
export class ThreadedReadModels extends ReadModels {
  protected override readonly readsWaitForTheHead = true;
  private readonly mirror = new Map<string, ServingStatus>();
  private readonly rebuilds = new Map<number, { resolve: (generation: number) => void; reject: (error: Error) => void }>();
  private nextRebuild = 1;
  private readonly wakes: Subscription | undefined;
  /** Why the thread is gone, once it is. */
  private lost: string | undefined;
  private halting = false;
  private readonly exited: Promise<void>;

  /** Starts the thread and waits until it has opened the read models (restoring or creating each build). */
  static async open(
    store: EventStore,
    projections: readonly Projection[],
    data: ReadModelsThreadData,
    queries: QueryConnection,
    options: ThreadedReadModelsOptions = {},
  ): Promise<ThreadedReadModels> {
    // A young generation of 8 MB rather than V8's default (up to 48 MB here): the thread allocates in
    // small batches, and its default took the server's peak RSS 33 MB higher during a rebuild of
    // 200,000 events (269 against 236 MB) at the same rebuild speed (bench:projections, 2026-12-08).
    const worker = new Worker(threadScript(), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    const ready = await new Promise<Readonly<Record<string, ServingStatus>>>((resolve, reject) => {
      const failed = (error: Error): void => {
        worker.off('message', first);
        reject(new Error(`the read models' thread could not start: ${error.message}`));
      };
      const exit = (code: number): void => failed(new Error(`it exited with code ${code}`));
      const first = (message: FromReadModelsThread): void => {
        if (message.kind !== 'ready') return;
        worker.off('error', failed);
        worker.off('exit', exit);
        worker.off('message', first);
        resolve(message.serving);
      };
      worker.on('message', first);
      worker.once('error', failed);
      worker.once('exit', exit);
    });
    let queryDb: Database.Database;
    try {
      queryDb = queries.open();
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    return new ThreadedReadModels(worker, store, projections, queryDb, queries.logSchema, ready, options.retiredTablesGraceMs ?? RETIRED_TABLES_GRACE_MS);
  }

  private constructor(
    private readonly worker: Worker,
    private readonly store: EventStore,
    projections: readonly Projection[],
    private readonly queryDb: Database.Database,
    logSchema: string,
    ready: Readonly<Record<string, ServingStatus>>,
    private readonly retiredTablesGraceMs: number,
  ) {
    super(projections, () => queryDb, logSchema);
    for (const projection of projections) {
      const serving = ready[projection.name];
      if (!serving) throw new Error(`the read models' thread did not report ${projection.name}`);
      this.mirror.set(projection.name, serving);
    }
    this.exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (message: FromReadModelsThread) => this.receive(message));
    worker.on('error', (error: Error) => this.lose(`the read models' thread failed: ${error.stack ?? error.message}`));
    worker.on('exit', (code) => this.lose(`the read models' thread exited with code ${code}`));
    // Commits by this process: the thread reads on at once (others' it finds by its own poll).
    this.wakes = store.commitNotices?.subscribe(() => this.post({ kind: 'wake' }));
    // The server's own handles keep the process alive; `stop` holds it until the thread has closed.
    worker.unref();
  }

  override start(): void {
    this.post({ kind: 'start' });
  }

  override async rebuild(name: string): Promise<number> {
    this.projection(name);
    if (this.lost !== undefined) throw new Error(`${name} cannot be rebuilt: ${this.lost}`);
    const id = this.nextRebuild++;
    return new Promise<number>((resolve, reject) => {
      this.rebuilds.set(id, { resolve, reject });
      this.post({ kind: 'rebuild', id, name });
    });
  }

  override serving(name: string): ServingStatus {
    const serving = this.mirror.get(name);
    if (!serving) this.projection(name); // throws UnknownProjection
    return serving!;
  }

  protected override headPosition(): Promise<number> {
    return this.store.headPosition();
  }

  /**
   * Closes the query connection (first: a read-only connection cannot fold the write-ahead log back,
   * so the thread's writer must be the last to close), then asks the thread to commit nothing more,
   * close its files and end; resolves once it has ended.
   */
  protected override async halt(): Promise<void> {
    this.halting = true;
    this.wakes?.unsubscribe();
    this.queryDb.close();
    if (this.lost !== undefined) return;
    this.worker.ref();
    this.post({ kind: 'stop' });
    await this.exited;
  }

  private post(message: ToReadModelsThread): void {
    if (this.lost === undefined) this.worker.postMessage(message);
  }

  private receive(message: FromReadModelsThread): void {
    switch (message.kind) {
      case 'progress': {
        const names = Object.keys(message.serving);
        for (const name of names) this.mirror.set(name, message.serving[name]!);
        for (const batch of message.batches) this.batches$.next(batch);
        for (const name of names) this.progress$.next({ name, checkpoint: message.serving[name]!.checkpoint });
        // `reader()` answers from the new generation from now on; a request that took a reader of the
        // old one before an await may still read it for a while: its tables go a minute later (or at
        // the next start, should the server stop before).
        for (const build of message.retired) setTimeout(() => this.post({ kind: 'released', build }), this.retiredTablesGraceMs).unref();
        return;
      }
      case 'rebuilt':
      case 'rebuild_failed': {
        const pending = this.rebuilds.get(message.id);
        this.rebuilds.delete(message.id);
        if (message.kind === 'rebuilt') pending?.resolve(message.generation);
        else pending?.reject(new Error(message.error));
        return;
      }
      case 'stopped':
        // It ends by itself once its handles are closed; should one linger, it is ended.
        setTimeout(() => void this.worker.terminate(), EXIT_GRACE_MS).unref();
        return;
      case 'ready':
        return;
    }
  }

  /** The thread is gone: every projection shows failed with why, and waits for them answer so. */
  private lose(why: string): void {
    if (this.lost !== undefined) return;
    this.lost = why;
    this.wakes?.unsubscribe();
    for (const pending of this.rebuilds.values()) pending.reject(new Error(why));
    this.rebuilds.clear();
    if (this.halting) return;
    console.error(`topology-ledger: ${why}; the read models stay as they were and show failed until the server is restarted`);
    for (const [name, serving] of this.mirror) {
      const failedAt = { position: serving.checkpoint, streamId: '', revision: -1, type: '', error: why };
      this.mirror.set(name, { ...serving, state: 'failed', failedAt });
      this.progress$.next({ name, checkpoint: serving.checkpoint });
    }
  }
}
