import { Global, Inject, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_PROJECTIONS } from '../../projections';
import { ProjectionRunner } from '../../projections/runner/projection-runner';
import { openReadModelDatabase } from '../../projections/runner/read-model-store';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { EVENT_STORE, EventStore } from '../event-store/event-store';
import { WalCheckpointer } from '../event-store/sqlite/wal-checkpointer';

export const READ_MODELS_FILE = 'read-models.sqlite';
/** How often the read models' write-ahead log is checkpointed (see `createProjectionRunner`). */
const READ_MODELS_CHECKPOINT_MS = 20;

/** Opens the read models in DATA_DIR (with either event store) and runs the projections for the process's lifetime. */
export function createProjectionRunner(store: EventStore, dataDir: string): ProjectionRunner {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, READ_MODELS_FILE);
  const db = openReadModelDatabase(file);
  // Queries read through their own connection: they see committed batches only.
  const queryDb = openReadModelDatabase(file, true);
  // Checkpoints of the read models' file run on a thread of their own, small and often. SQLite's
  // automatic checkpoint runs inside a batch's commit and, once the file is large, copies and syncs
  // pages scattered over it. Measured at 1,000 writes/s over a 300,000-event store: commits took
  // 30-45 ms and lag p99 was 48-186 ms with the automatic checkpoint; with this thread every 200 ms,
  // lag p99 38-63 ms but commits stalled up to ~200 ms when they met a large checkpoint; every 20 ms,
  // lag p99 11-34 ms and no commit over ~60 ms, for about 12% of a core more in that thread.
  const checkpointer = new WalCheckpointer(db, READ_MODELS_CHECKPOINT_MS);
  const runner = new ProjectionRunner(store, db, ALL_PROJECTIONS, { queryDb });
  runner.onStop(() => {
    void checkpointer.stop();
    queryDb.close();
    db.close();
  });
  return runner;
}

@Global()
@Module({
  providers: [
    {
      provide: ProjectionRunner,
      inject: [EVENT_STORE, CONFIG],
      useFactory: (store: EventStore, config: Config) => createProjectionRunner(store, config.dataDir),
    },
  ],
  exports: [ProjectionRunner],
})
export class ReadModelsModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(ProjectionRunner) private readonly runner: ProjectionRunner) {}

  onApplicationBootstrap(): void {
    this.runner.start();
  }

  onApplicationShutdown(): void {
    this.runner.stop();
  }
}
