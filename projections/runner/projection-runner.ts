import type Database from 'better-sqlite3';
import { Subject, Subscription } from 'rxjs';
import { EventStore, EventStoreUnavailable, RecordedEvent } from '../../src/event-store/event-store';
import type { Projection, TableReader } from './projection';
import { ProjectionTables, ReadModelReader, ReadModelWriter } from './read-model-store';

export type ProjectionState = 'catching_up' | 'live' | 'rebuilding' | 'failed' | 'stopped';

export interface FailedEvent {
  readonly position: number;
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
  readonly error: string;
}

export interface ProjectionStatus {
  readonly name: string;
  readonly version: number;
  /** The build that answers queries. */
  readonly generation: number;
  readonly checkpoint: number;
  readonly headPosition: number;
  readonly lagEvents: number;
  readonly lagMs: number;
  readonly state: ProjectionState;
  readonly failedAt: FailedEvent | null;
  /** A build under way beside the serving one (version change or requested rebuild). */
  readonly rebuild: { readonly generation: number; readonly version: number; readonly checkpoint: number } | null;
}

/** Progress of the projections, for `?minPosition=` waits and the console's live view. */
export interface Progress {
  readonly name: string;
  readonly checkpoint: number;
}

/**
 * Where one committed batch's time went, on the thread that wrote it: applying its events to every
 * build it fed (the projections and their SQLite writes), then the `COMMIT` (the WAL's frames written,
 * and SQLite's own checkpoint when the writer met its mark). For the benchmark and diagnostics.
 */
export interface BatchTiming {
  readonly events: number;
  readonly builds: number;
  /** Every build it fed was live (rather than catching up or rebuilding). */
  readonly live: boolean;
  readonly applyMs: number;
  readonly commitMs: number;
}

interface GenerationRow {
  name: string;
  generation: number;
  version: number;
  position: number;
  state: string;
  failed: string | null;
}

/** How long a query without `minPosition` waits for the live read models to reach the log's head (see `readAfter`). */
const FRESH_READ_MS = 1_000;

/** Events per transaction unless `ProjectionRunnerOptions.batchSize` says otherwise. */
export const DEFAULT_BATCH_SIZE = 1000;

/** How long a live feed gathers events before committing them. */
const LIVE_BATCH_MS = 4;

const CATALOG = `
CREATE TABLE IF NOT EXISTS projection_generations (
  name TEXT NOT NULL, generation INTEGER NOT NULL, version INTEGER NOT NULL,
  position INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, failed TEXT, updated_at TEXT NOT NULL,
  PRIMARY KEY (name, generation)
);
CREATE TABLE IF NOT EXISTS projection_active (name TEXT PRIMARY KEY, generation INTEGER NOT NULL);
`;

/** One build of one projection: its tables, checkpoint and subscription. */
class Build {
  readonly tables: ProjectionTables;
  readonly writer: ReadModelWriter;
  checkpoint: number;
  lastCreated = 0;
  state: ProjectionState;
  failedAt: FailedEvent | null = null;
  feed: Feed | undefined;

  constructor(
    db: Database.Database,
    readonly projection: Projection,
    readonly generation: number,
    checkpoint: number,
    state: ProjectionState,
    /** The projection version that built these tables (an older one only answers queries until replaced). */
    readonly version = projection.version,
    logSchema?: string,
  ) {
    this.tables = new ProjectionTables(projection, generation, logSchema);
    for (const statement of this.tables.ddl()) db.exec(statement);
    this.writer = new ReadModelWriter(db, this.tables);
    this.checkpoint = checkpoint;
    this.state = state;
  }
}

/**
 * One subscription to the log feeding several builds, so that projections at the same point read and
 * parse each event once and commit together. Each build skips what it has already processed.
 */
/** How long a batch waits before writing again when the read models' file could not be written. */
const STORAGE_RETRY_MS = 1_000;

/** SQLite's answers for a file it cannot write now (rather than a projection that threw). */
function isStorageTrouble(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED)/.test(code);
}

class Feed {
  subscription: Subscription | undefined;
  buffer: RecordedEvent[] = [];
  flushScheduled = false;
  /** Set while the read models' file cannot be written (disk full, ...): the batch waits for this retry. */
  storageRetry: NodeJS.Timeout | undefined;
  constructor(readonly builds: Build[]) {
    for (const build of builds) build.feed = this;
  }

  remove(build: Build): void {
    const i = this.builds.indexOf(build);
    if (i >= 0) this.builds.splice(i, 1);
    build.feed = undefined;
    if (this.builds.length === 0) this.subscription?.unsubscribe();
  }
}

export interface ProjectionRunnerOptions {
  /** Events per transaction. */
  readonly batchSize?: number;
  /** Connection for queries (sees committed data only); defaults to the writer's. */
  readonly queryDb?: Database.Database;
  /** Wait before resubscribing after the store became unavailable (ms). */
  readonly retryMs?: number;
  /**
   * The schema under which `queryDb` has the SQLite event log attached: tables with `eventBody`
   * (the audit trail) then read each event's data and metadata from the log by position instead of
   * storing a copy. Without it (EventStoreDB, tests) they store the copy.
   */
  readonly logSchema?: string;
}

/** What the engine needs of the log: the event store, or a reader of its file in another thread. */
export type LogSource = Pick<EventStore, 'subscribeToAll' | 'headPosition'>;

/** The serving build of a projection as queries see it (the engine's own, or a thread's mirror of it). */
export interface ServingStatus {
  readonly version: number;
  readonly generation: number;
  readonly checkpoint: number;
  /** When the last event it applied was created (ms since the epoch; 0: none yet). */
  readonly lastCreated: number;
  readonly state: ProjectionState;
  readonly failedAt: FailedEvent | null;
  readonly rebuild: ProjectionStatus['rebuild'];
}

/**
 * The read models as the rest of the product uses them (queries, `?minPosition=` waits, statuses,
 * rebuilds, stop): the engine itself (`ProjectionRunner`, in this thread), or the server's view of the
 * engine running in a thread of its own. What both answer the same way is written here once, from
 * `serving`: the readers (one per serving generation, on the query connection), waits and statuses.
 */
export abstract class ReadModels {
  protected readonly progress$ = new Subject<Progress>();
  /** Emits after every committed batch (and when a build fails). */
  readonly progress = this.progress$.asObservable();
  protected readonly batches$ = new Subject<BatchTiming>();
  /** Emits each committed batch's timing (see `BatchTiming`). */
  readonly batches = this.batches$.asObservable();
  /** The log's head as last seen. */
  protected head = 0;
  private readonly readers = new Map<string, { generation: number; reader: ReadModelReader }>();
  private readonly byName: ReadonlyMap<string, Projection>;
  private readonly onStopped: (() => void | Promise<void>)[] = [];
  private stopping: Promise<void> | undefined;

  protected constructor(
    protected readonly projections: readonly Projection[],
    private readonly queryConnection: () => Database.Database,
    private readonly queryLogSchema: string | undefined,
  ) {
    const byName = new Map<string, Projection>();
    for (const projection of projections) {
      if (byName.has(projection.name)) throw new Error(`two projections are named ${projection.name}`);
      byName.set(projection.name, projection);
    }
    this.byName = byName;
  }

  /** Starts feeding every build from its checkpoint. */
  abstract start(): void;

  /** Builds `name` again from the start into new tables; the current build answers until then. Resolves with the new generation. */
  abstract rebuild(name: string): Promise<number>;

  /** The serving build of `name`; throws UnknownProjection. */
  abstract serving(name: string): ServingStatus;

  /** The log's head now. */
  protected abstract headPosition(): Promise<number>;

  /**
   * Whether a query without `minPosition` waits for the live builds up to the head (`readAfter`): where
   * the head is one local read and the builds are written on another thread. Not for the engine in this
   * thread (with EventStoreDB the head is a round trip to the server per query).
   */
  protected readonly readsWaitForTheHead: boolean = false;

  /** Stops feeding the builds; `stop()` then completes the streams and runs the `onStop` actions. */
  protected abstract halt(): void | Promise<void>;

  /** The projections' names, in the order `statuses` lists them. */
  projectionNames(): string[] {
    return this.projections.map((p) => p.name);
  }

  protected projection(name: string): Projection {
    const projection = this.byName.get(name);
    if (!projection) throw new UnknownProjection(name, [...this.byName.keys()]);
    return projection;
  }

  /** The query side of a projection (the build that currently answers). */
  reader(name: string): TableReader {
    const { generation } = this.serving(name);
    const cached = this.readers.get(name);
    if (cached && cached.generation === generation) return cached.reader;
    const reader = new ReadModelReader(this.queryConnection(), new ProjectionTables(this.projection(name), generation, this.queryLogSchema));
    this.readers.set(name, { generation, reader });
    return reader;
  }

  checkpoint(name: string): number {
    return this.serving(name).checkpoint;
  }

  /** Resolves once the serving build of every named projection has passed `position`; rejects after `timeoutMs`. */
  async waitFor(names: readonly string[], position: number, timeoutMs: number): Promise<void> {
    const behind = (): boolean =>
      names.some((n) => {
        const serving = this.serving(n);
        return serving.checkpoint < position && serving.state !== 'failed';
      });
    if (!behind()) return this.assertNotFailed(names, position);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        subscription.unsubscribe();
        reject(new ProjectionLagging(names.map((n) => this.status(n)), position));
      }, timeoutMs);
      const subscription = this.progress$.subscribe({
        next: () => {
          if (behind()) return;
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve();
        },
        // Stopped meanwhile: they will not move any more.
        complete: () => {
          clearTimeout(timer);
          if (behind()) reject(new ProjectionLagging(names.map((n) => this.status(n)), position));
          else resolve();
        },
      });
    });
    return this.assertNotFailed(names, position);
  }

  /**
   * Before a query of `names`: with `minPosition`, waits until they have passed it (`waitFor`). Without,
   * where `readsWaitForTheHead`, a query still reads the writes made before it arrived: the live builds among them are waited for up
   * to the log's head now, for `FRESH_READ_MS` at most (they are a few milliseconds behind at most:
   * their batches gather for a few milliseconds, and with the SQLite store they are written in a thread
   * of their own), and then it answers what they hold. Builds still catching up, rebuilding towards a new
   * version or failed are not waited for: they would not be there in time.
   */
  async readAfter(names: readonly string[], minPosition: number | undefined, waitMs: number): Promise<void> {
    if (minPosition !== undefined) return this.waitFor(names, minPosition, waitMs);
    if (!this.readsWaitForTheHead) return;
    const live = names.filter((n) => this.serving(n).state === 'live');
    if (live.length === 0) return;
    const head = await this.headPosition();
    try {
      await this.waitFor(live, head, Math.min(waitMs, FRESH_READ_MS));
    } catch (error) {
      if (!(error instanceof ProjectionLagging)) throw error;
    }
  }

  private assertNotFailed(names: readonly string[], position: number): void {
    const failed = names.map((n) => this.status(n)).filter((s) => s.state === 'failed' && s.checkpoint < position);
    if (failed.length) throw new ProjectionLagging(failed, position);
  }

  async statuses(): Promise<ProjectionStatus[]> {
    this.head = await this.headPosition();
    return this.projections.map((p) => this.status(p.name));
  }

  protected status(name: string): ProjectionStatus {
    const serving = this.serving(name);
    const lagEvents = Math.max(0, this.head - serving.checkpoint);
    return {
      name,
      version: serving.version,
      generation: serving.generation,
      checkpoint: serving.checkpoint,
      headPosition: this.head,
      lagEvents,
      lagMs: lagEvents > 0 && serving.lastCreated > 0 ? Math.max(0, Date.now() - serving.lastCreated) : 0,
      state: serving.state,
      failedAt: serving.failedAt,
      rebuild: serving.rebuild,
    };
  }

  /** Runs `action` once the read models have stopped (e.g. to close their databases); `stop()` waits for it. */
  onStop(action: () => void | Promise<void>): void {
    this.onStopped.push(action);
  }

  /**
   * Stops feeding every build. The returned promise settles when the `onStop` actions have finished
   * (with the engine in this thread, their synchronous part has run by the time this returns).
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    const finish = (): Promise<void> => {
      this.progress$.complete();
      this.batches$.complete();
      return Promise.all(this.onStopped.map(async (action) => action())).then(() => undefined);
    };
    const halted = this.halt();
    this.stopping = halted instanceof Promise ? halted.then(finish) : finish();
    return this.stopping;
  }
}

/**
 * Runs projections from the global log into SQLite read models. Each build applies events in
 * batches: the changes and the new checkpoint are committed in one transaction, so a crash at any
 * point neither skips nor repeats an event. A projection whose version changed (or that is asked to
 * rebuild) is built again from the start into new tables while the old build keeps answering; the
 * new one takes over once it has caught up.
 */
export class ProjectionRunner extends ReadModels {
  private readonly builds = new Map<string, { serving: Build; rebuild: Build | undefined }>();
  private readonly batchSize: number;
  private readonly retryMs: number;
  private readonly logSchema: string | undefined;
  private stopped = false;
  /** Set by `retireLater`: who is told of a build taken over, whose tables stay until `dropRetired`. */
  private retiring: ((name: string, generation: number) => void) | undefined;

  constructor(
    private readonly store: LogSource,
    private readonly db: Database.Database,
    projections: readonly Projection[],
    options: ProjectionRunnerOptions = {},
  ) {
    const queryDb = options.queryDb ?? db;
    super(projections, () => queryDb, options.logSchema);
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.retryMs = options.retryMs ?? 1000;
    this.logSchema = options.logSchema;
    if (this.logSchema !== undefined && queryDb === db) throw new Error('the log is attached to the query connection: logSchema needs queryDb');
    db.exec(CATALOG);
    for (const projection of projections) this.builds.set(projection.name, this.open(projection));
  }

  /**
   * A build that takes over from now on keeps the old build's tables (retired) until `dropRetired`:
   * for queries made by another thread, which may still be reading them. `told` hears of each.
   */
  retireLater(told: (name: string, generation: number) => void): void {
    this.retiring = told;
  }

  /** Drops the tables of a retired build (see `retireLater`); those of a serving or rebuilding build are refused. */
  dropRetired(name: string, generation: number): void {
    const entry = this.entry(name);
    if (entry.serving.generation === generation || entry.rebuild?.generation === generation) throw new Error(`${name} generation ${generation} is not retired`);
    this.dropTables(name, generation);
  }

  /** Drops every table of one build of `name`, whatever version created them. */
  private dropTables(name: string, generation: number): void {
    const tables = this.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ?`).pluck().all(`${name}_g${generation}_*`) as string[];
    for (const table of tables) this.db.exec(`DROP TABLE IF EXISTS "${table}"`);
  }

  /** Starts the subscription, from its checkpoint, of every build not fed yet (`rebuild` feeds its own). */
  override start(): void {
    const current: Build[] = [];
    for (const { serving, rebuild } of this.builds.values()) {
      // A build of an older version is not fed: today's code would write tomorrow's rows into it.
      if (serving.version === serving.projection.version && !serving.feed) current.push(serving);
      if (rebuild && !rebuild.feed) this.subscribe(new Feed([rebuild]));
    }
    if (current.length) this.subscribe(new Feed(current));
  }

  /** Builds `name` again from the start into new tables; the current build answers until then. */
  override async rebuild(name: string): Promise<number> {
    const entry = this.entry(name);
    if (entry.rebuild) return entry.rebuild.generation;
    const generation = this.nextGeneration(name);
    const build = new Build(this.db, entry.serving.projection, generation, 0, 'rebuilding', entry.serving.projection.version, this.logSchema);
    if (entry.serving.version !== build.version) entry.serving.feed?.remove(entry.serving);
    this.saveGeneration(build);
    entry.rebuild = build;
    this.subscribe(new Feed([build]));
    return generation;
  }

  override serving(name: string): ServingStatus {
    const { serving, rebuild } = this.entry(name);
    return {
      version: serving.version,
      generation: serving.generation,
      checkpoint: serving.checkpoint,
      lastCreated: serving.lastCreated,
      state: serving.state,
      failedAt: serving.failedAt,
      rebuild: rebuild ? { generation: rebuild.generation, version: rebuild.version, checkpoint: rebuild.checkpoint } : null,
    };
  }

  protected override headPosition(): Promise<number> {
    return this.store.headPosition();
  }

  /** Stops feeding every build at once. */
  protected override halt(): void {
    this.stopped = true;
    for (const { serving, rebuild } of this.builds.values()) {
      for (const build of [serving, rebuild]) {
        if (!build) continue;
        build.feed?.remove(build);
        if (build.state !== 'failed') build.state = 'stopped';
      }
    }
  }

  private entry(name: string): { serving: Build; rebuild: Build | undefined } {
    const entry = this.builds.get(name);
    if (!entry) throw new UnknownProjection(name, [...this.builds.keys()]);
    return entry;
  }

  /** Finds the serving build and any unfinished rebuild; a new version starts a rebuild. */
  private open(projection: Projection): { serving: Build; rebuild: Build | undefined } {
    const rows = this.db.prepare('SELECT * FROM projection_generations WHERE name = ? ORDER BY generation').all(projection.name) as GenerationRow[];
    const active = this.db.prepare('SELECT generation FROM projection_active WHERE name = ?').get(projection.name) as { generation: number } | undefined;
    const activeRow = rows.find((r) => r.generation === active?.generation);
    // A build taken over whose tables were to be dropped later (see `retireLater`), when the process stopped first.
    for (const row of rows) if (row.state === 'retired') this.dropTables(projection.name, row.generation);
    const restore = (row: GenerationRow, state: ProjectionState): Build => {
      const build = new Build(this.db, projection, row.generation, row.position, state, row.version, this.logSchema);
      if (row.state === 'live') this.createIndexes(build);
      if (row.failed) {
        // Retried from its checkpoint on start: projections are deterministic, so it fails again
        // there unless the code was fixed (with a new version) in between.
        build.failedAt = JSON.parse(row.failed) as FailedEvent;
      }
      return build;
    };
    if (!activeRow) {
      const build = new Build(this.db, projection, this.nextGeneration(projection.name), 0, 'catching_up', projection.version, this.logSchema);
      this.saveGeneration(build);
      this.db.prepare('INSERT OR REPLACE INTO projection_active (name, generation) VALUES (?, ?)').run(projection.name, build.generation);
      return { serving: build, rebuild: undefined };
    }
    const serving = restore(activeRow, 'catching_up');
    const pending = rows.find((r) => r.generation > activeRow.generation && r.state !== 'retired');
    if (pending && pending.version === projection.version) return { serving, rebuild: restore(pending, 'rebuilding') };
    if (activeRow.version === projection.version) return { serving, rebuild: undefined };
    const rebuild = new Build(this.db, projection, this.nextGeneration(projection.name), 0, 'rebuilding', projection.version, this.logSchema);
    this.saveGeneration(rebuild);
    return { serving, rebuild };
  }

  /**
   * Folds the write-ahead log back into the file and empties it as a build turns live. A catch-up
   * leaves up to the writer's checkpoint mark in it (the query indexes alone are most of the file's
   * index pages), not all copied yet by the checkpoint thread; live batches then met that backlog,
   * and the writer's own checkpoint at the mark, within their first second (1,000,000 events: WAL at
   * 40,000 frames, 19,000 copied, the mark hit 0.6 s after; lag p99 133 ms in the first 2 s, 62 ms
   * with this, which took 0.33 s). Best effort: a checkpoint that cannot finish now is the thread's.
   */
  private settleWal(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Busy or not a WAL file (an in-memory database): nothing to settle.
    }
  }

  /** Query indexes come once a build has caught up (see `TableSpec.indexes`). */
  private createIndexes(build: Build): void {
    for (const statement of build.tables.indexDdl()) this.db.exec(statement);
  }

  private nextGeneration(name: string): number {
    const row = this.db.prepare('SELECT max(generation) AS g FROM projection_generations WHERE name = ?').get(name) as { g: number | null };
    return (row.g ?? 0) + 1;
  }

  /** The checkpoint write, done with every batch: prepared once. */
  private saveStatement: Database.Statement<unknown[]> | undefined;

  private saveGeneration(build: Build): void {
    this.saveStatement ??= this.db.prepare(
      `INSERT INTO projection_generations (name, generation, version, position, state, failed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name, generation) DO UPDATE SET position = excluded.position, state = excluded.state, failed = excluded.failed, updated_at = excluded.updated_at`,
    );
    this.saveStatement.run(build.projection.name, build.generation, build.version, build.checkpoint, build.state, build.failedAt ? JSON.stringify(build.failedAt) : null, new Date().toISOString());
  }

  private subscribe(feed: Feed): void {
    if (this.stopped || feed.builds.length === 0) return;
    // An empty or already-processed log sends nothing: look at the head once to know we are live.
    for (const build of feed.builds) void this.afterBatch(build);
    const from = Math.min(...feed.builds.map((b) => b.checkpoint));
    feed.subscription = this.store.subscribeToAll({ fromPosition: from }).subscribe({
      next: (event) => this.receive(feed, event),
      error: (error: unknown) => {
        this.flush(feed);
        if (this.stopped || feed.builds.length === 0) return;
        if (error instanceof EventStoreUnavailable) {
          setTimeout(() => this.subscribe(feed), this.retryMs).unref();
          return;
        }
        for (const build of [...feed.builds]) this.fail(build, undefined, error);
      },
    });
  }

  private receive(feed: Feed, event: RecordedEvent): void {
    feed.buffer.push(event);
    if (feed.storageRetry) return;
    if (feed.buffer.length >= this.batchSize) {
      this.flush(feed);
      return;
    }
    if (!feed.flushScheduled) {
      feed.flushScheduled = true;
      // Live, a few milliseconds of patience turn a trickle of single events into one transaction
      // (one commit, one checkpoint write per projection) while commands keep coming.
      if (feed.builds.every((b) => b.state === 'live')) setTimeout(() => this.flush(feed), LIVE_BATCH_MS);
      else setImmediate(() => this.flush(feed));
    }
  }

  /** Applies a batch to one build; a throwing projection fails the build at that event, keeping what came before. */
  private applyBatch(build: Build, events: readonly RecordedEvent[]): void {
    for (const event of events) {
      if (event.position <= build.checkpoint) continue;
      try {
        build.writer.apply(build.projection.project(event, build.writer), event.position, event);
      } catch (error) {
        // A file that cannot be written fails the whole batch, to be tried again; only the projection's own throw is the event's.
        if (isStorageTrouble(error)) throw error;
        this.fail(build, event, error);
        break;
      }
      build.checkpoint = event.position;
      build.lastCreated = event.created.getTime();
    }
    this.saveGeneration(build);
  }

  private flush(feed: Feed): void {
    feed.flushScheduled = false;
    if (this.stopped || feed.buffer.length === 0) return;
    const events = feed.buffer;
    feed.buffer = [];
    const builds = [...feed.builds];
    const before = builds.map((b) => b.checkpoint);
    const live = builds.every((b) => b.state === 'live');
    const started = performance.now();
    let applied = started;
    try {
      this.db.transaction(() => {
        for (const build of builds) this.applyBatch(build, events);
        applied = performance.now();
      })();
    } catch (error) {
      // The transaction rolled back: nothing of this batch is stored, so the checkpoints are the old ones.
      builds.forEach((build, i) => (build.checkpoint = before[i]!));
      if (isStorageTrouble(error)) {
        // Not the events' fault (a full disk, a read-only or vanished file): keep them and try again, as
        // the event store's callers do; the read models lag meanwhile, and catch up once it clears.
        feed.buffer = [...events, ...feed.buffer];
        if (!feed.storageRetry) {
          console.error(`topology-ledger: read models cannot be written (${(error as Error).message}); retrying every ${STORAGE_RETRY_MS} ms`);
          const retry = (): void => {
            feed.storageRetry = undefined;
            // A full disk may be the read models' own write-ahead log: fold it back into the file first.
            try {
              this.db.pragma('wal_checkpoint(TRUNCATE)');
            } catch {
              // Still no room: the batch below fails again and waits for the next retry.
            }
            this.flush(feed);
          };
          feed.storageRetry = setTimeout(retry, STORAGE_RETRY_MS);
          feed.storageRetry.unref();
        }
        return;
      }
      for (const build of builds) {
        this.fail(build, events[0], error);
        this.saveGeneration(build);
      }
      return;
    }
    if (this.batches$.observed) this.batches$.next({ events: events.length, builds: builds.length, live, applyMs: applied - started, commitMs: performance.now() - applied });
    for (const build of builds) {
      // applyBatch() may have failed the build on a throwing projection.
      if ((build.state as ProjectionState) !== 'failed') {
        if (build.failedAt && build.checkpoint >= build.failedAt.position) build.failedAt = null;
        void this.afterBatch(build);
      }
      this.progress$.next({ name: build.projection.name, checkpoint: build.checkpoint });
    }
  }

  private fail(build: Build, event: RecordedEvent | undefined, error: unknown): void {
    build.state = 'failed';
    build.feed?.remove(build);
    const message = error instanceof Error ? error.message : String(error);
    build.failedAt = event
      ? { position: event.position, streamId: event.streamId, revision: event.revision, type: event.type, error: message }
      : { position: build.checkpoint, streamId: '', revision: -1, type: '', error: message };
    // Waits for it (`?minPosition=`) answer now rather than at their timeout.
    this.progress$.next({ name: build.projection.name, checkpoint: build.checkpoint });
  }

  /** Marks a build live once it reaches the head; a finished rebuild takes over from the serving build. */
  private async afterBatch(build: Build): Promise<void> {
    if (build.state === 'live') return;
    const head = await this.store.headPosition();
    this.head = Math.max(this.head, head);
    // Read again after the await: the build may have failed or moved on meanwhile.
    if (build.checkpoint < head || (build.state as ProjectionState) === 'failed') return;
    const entry = this.entry(build.projection.name);
    this.createIndexes(build);
    this.settleWal();
    if (entry.rebuild === build) {
      const old = entry.serving;
      const retiring = this.retiring;
      this.db.transaction(() => {
        this.db.prepare('INSERT OR REPLACE INTO projection_active (name, generation) VALUES (?, ?)').run(build.projection.name, build.generation);
        old.state = 'stopped';
        this.db.prepare(`UPDATE projection_generations SET state = 'retired' WHERE name = ? AND generation = ?`).run(old.projection.name, old.generation);
        // Queries in this thread only ever see the serving build: its old tables can go with the switch.
        if (!retiring) for (const statement of old.tables.dropStatements()) this.db.exec(statement);
      })();
      old.feed?.remove(old);
      entry.serving = build;
      entry.rebuild = undefined;
      retiring?.(build.projection.name, old.generation);
    }
    build.state = 'live';
    this.saveGeneration(build);
    this.progress$.next({ name: build.projection.name, checkpoint: build.checkpoint });
  }
}

/** A read asked to wait for a position the projection has not reached in time (or cannot: it failed). */
export class ProjectionLagging extends Error {
  readonly code = 'PROJECTION_LAGGING';
  constructor(
    readonly statuses: readonly ProjectionStatus[],
    readonly position: number,
  ) {
    super(
      `Read models have not reached position ${position}: ` +
        statuses.map((s) => `${s.name} at ${s.checkpoint} (${s.state}${s.failedAt ? `, failed at ${s.failedAt.position} ${s.failedAt.type}: ${s.failedAt.error}` : ''})`).join('; '),
    );
    this.name = 'ProjectionLagging';
  }
}

export class UnknownProjection extends Error {
  readonly code = 'PROJECTION_NOT_FOUND';
  constructor(name: string, known: readonly string[]) {
    super(`No projection named '${name}'; known: ${known.join(', ')}`);
    this.name = 'UnknownProjection';
  }
}
