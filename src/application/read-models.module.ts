import { Global, Inject, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_PROJECTIONS } from '../../projections';
import { type LogSource, ProjectionLagging, ProjectionRunner, ReadModels } from '../../projections/runner/projection-runner';
import { openReadModelDatabase } from '../../projections/runner/read-model-store';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { EVENT_STORE, EventStore } from '../event-store/event-store';
import { createPrivateDirectory, openPrivately, STORE_FILE_NAME } from '../event-store/open-event-store';
import { WalCheckpointer } from '../common/sqlite/wal-checkpointer';
import { ThreadedReadModels, type ThreadedReadModelsOptions } from './threaded-read-models';

export const READ_MODELS_FILE = 'read-models.sqlite';
/** How long a starting server waits for its read models to reach the log before it listens (see `ReadModelsModule`). */
const STARTUP_CATCH_UP_MS = 5_000;
/** How often the read models' write-ahead log is checkpointed (see `openReadModelFile`). */
const READ_MODELS_CHECKPOINT_MS = 20;
/**
 * The read-model writer's own automatic checkpoint, behind the thread. During a rebuild the writer
 * seldom begins a batch just as the thread has copied everything, which is when the WAL can start
 * over, so the WAL grows to this mark (about 200 MB). A mark of 10,000 pages kept it to about 50 MB at
 * the same rebuild speed, but live batches that met it stalled for up to a second right after a
 * rebuild, while the thread caught up (1,000,000 events, 1,000 writes/s, interleaved).
 */
const READ_MODELS_BACKSTOP_PAGES = 50_000;

/**
 * How large the WAL file may stay once it starts over: as large as the backstop lets it grow (its
 * frames, each a page and a 24-byte header). A smaller limit makes the commit that starts the WAL over
 * cut the file back, on the event loop: at 1,000 writes/s the WAL starts over every few seconds, often
 * from beyond 64 MiB, and with the file cut back to 64 MiB those commits took 60-92 ms on average
 * against 10-24 ms without the cut (20,000 events, two interleaved pairs of 20 s). The file is emptied
 * as a build turns live and removed at a clean stop; while the server runs it keeps its largest size.
 */
function walSizeLimit(db: Database.Database): number {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  return READ_MODELS_BACKSTOP_PAGES * (pageSize + 24);
}

/**
 * The read models' file opened for writing as the product writes it. Its checkpoints run on a thread
 * of their own, small and often: SQLite's automatic checkpoint runs inside a batch's commit and, once
 * the file is large, copies and syncs pages scattered over it. Measured at 1,000 writes/s over a
 * 300,000-event store: commits took 30-45 ms and lag p99 was 48-186 ms with the automatic checkpoint;
 * with this thread every 200 ms, lag p99 38-63 ms, but commits stalled up to ~200 ms when they met a
 * large checkpoint; every 20 ms, lag p99 11-34 ms and no commit over ~60 ms, for about 12% of a core
 * more in that thread.
 */
export function openReadModelFile(file: string): { readonly db: Database.Database; close(): Promise<void> } {
  const db = openReadModelDatabase(file);
  db.pragma(`journal_size_limit = ${walSizeLimit(db)}`);
  const checkpointer = new WalCheckpointer(db, READ_MODELS_CHECKPOINT_MS, READ_MODELS_BACKSTOP_PAGES);
  return {
    db,
    // The thread's connection closes first: the last connection to close folds the WAL back into the
    // file and removes it, which neither does while the other still holds the file.
    close: async () => {
      await checkpointer.stop();
      db.close();
    },
  };
}

/** The schema under which queries see the SQLite event log (see `ProjectionRunnerOptions.logSchema`). */
const LOG_SCHEMA = 'log';

/**
 * The read models' query connection: read-only, it sees committed batches only, with the SQLite log
 * `logFile` attached (when given) under `LOG_SCHEMA`.
 */
function openQueryConnection(file: string, logFile: string | undefined): Database.Database {
  const queryDb = openReadModelDatabase(file, true);
  // The store created its file when it opened; a read-only connection attaches read-only.
  if (logFile !== undefined) queryDb.prepare(`ATTACH DATABASE ? AS ${LOG_SCHEMA}`).run(logFile);
  return queryDb;
}

/**
 * Opens the read models in DATA_DIR (with either event store) and runs the projections in this thread
 * for the process's lifetime (the CLI's tools; the server with EventStoreDB: see `createReadModels`).
 * With the SQLite event store (its file `logFile`, by default in DATA_DIR) the query connection attaches
 * the log read-only, and the audit trail reads its entries' data and metadata from it rather than
 * keeping a second copy of every event; with EventStoreDB it keeps the copy.
 */
export function createProjectionRunner(
  store: LogSource & Pick<EventStore, 'kind'>,
  dataDir: string,
  logFile = path.join(dataDir, STORE_FILE_NAME),
): ProjectionRunner {
  createPrivateDirectory(dataDir);
  const file = path.join(dataDir, READ_MODELS_FILE);
  const writer = openPrivately(file, () => openReadModelFile(file));
  // Queries read through their own connection: they see committed batches only.
  const attachLog = store.kind === 'sqlite' && fs.existsSync(logFile);
  const queryDb = openQueryConnection(file, attachLog ? logFile : undefined);
  const runner = new ProjectionRunner(store, writer.db, ALL_PROJECTIONS, { queryDb, ...(attachLog ? { logSchema: LOG_SCHEMA } : {}) });
  runner.onStop(async () => {
    // Before the writer: a read-only connection cannot fold the WAL back, so it must not be the last.
    queryDb.close();
    await writer.close();
  });
  return runner;
}

/**
 * The server's read models. With the SQLite event store the engine runs in a thread of its own
 * (`ThreadedReadModels`: its batches' work stays off the event loop that answers requests), reading
 * the log `logFile` through its own connection; with EventStoreDB it runs in this thread, fed by the
 * store's subscription.
 */
export async function createReadModels(
  store: EventStore,
  dataDir: string,
  logFile = path.join(dataDir, STORE_FILE_NAME),
  options: ThreadedReadModelsOptions = {},
): Promise<ReadModels> {
  if (store.kind !== 'sqlite' || !fs.existsSync(logFile)) return createProjectionRunner(store, dataDir, logFile);
  createPrivateDirectory(dataDir);
  const file = path.join(dataDir, READ_MODELS_FILE);
  // Created here, private (a thread cannot set the process's umask); the thread opens it for writing.
  if (!fs.existsSync(file)) openPrivately(file, () => openReadModelDatabase(file).close());
  return ThreadedReadModels.open(store, ALL_PROJECTIONS, { dataDir, logFile }, { open: () => openQueryConnection(file, logFile), logSchema: LOG_SCHEMA }, options);
}

@Global()
@Module({
  providers: [
    {
      provide: ReadModels,
      inject: [EVENT_STORE, CONFIG],
      useFactory: (store: EventStore, config: Config) => createReadModels(store, config.dataDir),
    },
  ],
  exports: [ReadModels],
})
export class ReadModelsModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(ReadModels) private readonly runner: ReadModels,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  /**
   * Starts the projections and waits, up to `STARTUP_CATCH_UP_MS`, until the read models that are
   * fed have reached the log as it is now, before the server listens: a server started on a restored
   * or copied store (or after being stopped while commands came through another instance) then does
   * not answer its first queries from read models still empty or behind. A build waiting for its
   * rebuild (a new projection version) is not waited for: its old version answers until the new one
   * takes over. A longer catch-up goes on while the server answers (`/api/projections` shows it).
   */
  async onApplicationBootstrap(): Promise<void> {
    this.runner.start();
    const head = await this.store.headPosition();
    const fed = (await this.runner.statuses()).filter((s) => s.rebuild === null || s.rebuild.version === s.version).map((s) => s.name);
    try {
      await this.runner.waitFor(fed, head, STARTUP_CATCH_UP_MS);
    } catch (error) {
      if (!(error instanceof ProjectionLagging)) throw error;
      console.error(`topology-ledger: the read models are still catching up with the log (${error.message}); queries answer what they have reached meanwhile, and ?minPosition= waits for a position`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runner.stop();
  }
}
