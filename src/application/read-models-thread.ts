import { parentPort, workerData } from 'node:worker_threads';
import type { BatchTiming, ServingStatus } from '../../projections/runner/projection-runner';
import { openSqliteLogReader } from '../event-store/open-event-store';
import { createProjectionRunner } from './read-models.module';
import type { FromReadModelsThread, ReadModelsThreadData, RetiredBuild, ToReadModelsThread } from './threaded-read-models';

/**
 * The read models' thread (see `ThreadedReadModels`): the projection engine over the read models'
 * file, opened for writing here as the product writes it, fed by the SQLite log read through a
 * read-only connection of its own. It tells the server's thread what changed once per turn of its
 * event loop, however many batches committed in it.
 */
function main(): void {
  const port = parentPort;
  if (!port) throw new Error('the read models thread runs as a worker thread');
  const data = workerData as ReadModelsThreadData;
  const send = (message: FromReadModelsThread): void => port.postMessage(message);
  const log = openSqliteLogReader(data.logFile);
  const runner = createProjectionRunner(log, data.dataDir, data.logFile);
  runner.onStop(() => log.close());

  const changed = new Set<string>();
  let batches: BatchTiming[] = [];
  let retired: RetiredBuild[] = [];
  let scheduled = false;
  const serving = (names: Iterable<string>): Record<string, ServingStatus> => {
    const all: Record<string, ServingStatus> = {};
    for (const name of names) all[name] = runner.serving(name);
    return all;
  };
  const report = (): void => {
    scheduled = false;
    if (changed.size === 0 && batches.length === 0 && retired.length === 0) return;
    send({ kind: 'progress', serving: serving(changed), batches, retired });
    changed.clear();
    batches = [];
    retired = [];
  };
  const changedNow = (name: string): void => {
    changed.add(name);
    if (scheduled) return;
    scheduled = true;
    setImmediate(report);
  };
  runner.progress.subscribe(({ name }) => changedNow(name));
  runner.batches.subscribe((batch) => batches.push(batch));
  runner.retireLater((name, generation) => {
    retired.push({ name, generation });
    changedNow(name);
  });

  port.on('message', (message: ToReadModelsThread) => {
    switch (message.kind) {
      case 'start':
        runner.start();
        return;
      case 'wake':
        log.wake();
        return;
      case 'rebuild':
        runner.rebuild(message.name).then(
          (generation) => {
            changed.add(message.name);
            report();
            send({ kind: 'rebuilt', id: message.id, generation });
          },
          (error: unknown) => send({ kind: 'rebuild_failed', id: message.id, error: error instanceof Error ? error.message : String(error) }),
        );
        return;
      case 'released':
        try {
          runner.dropRetired(message.build.name, message.build.generation);
        } catch (error) {
          // Left for the next start, which drops the tables of retired builds.
          console.error(`topology-ledger: the tables of ${message.build.name} generation ${message.build.generation} could not be dropped: ${error instanceof Error ? error.message : String(error)}`);
        }
        return;
      case 'stop':
        void runner
          .stop()
          .catch((error: unknown) => console.error(`topology-ledger: the read models did not close cleanly: ${error instanceof Error ? error.message : String(error)}`))
          .then(() => {
            report();
            send({ kind: 'stopped' });
            port.close();
          });
        return;
    }
  });
  send({ kind: 'ready', serving: serving(runner.projectionNames()) });
}

main();
