import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { proveEvent } from './log-verification';
import type { ChunkRequest, ChunkResult } from './log-verification-workers';

/**
 * One prover of `verifyLogInWorkers`: its own connection to the store file; for each chunk of
 * positions it is sent, it reads the events as stored and answers their proofs.
 */
const store = new SqliteEventStore({ dataDir: (workerData as { dataDir: string }).dataDir });
const port = parentPort!;

port.on('message', (request: ChunkRequest) => {
  store.readAllStored(request.from, request.to - request.from).then(
    (page) => {
      const proofs = [];
      for (const event of page) if (event.position < request.to) proofs.push(proveEvent(event));
      port.postMessage({ chunk: request.chunk, proofs } satisfies ChunkResult);
    },
    (error: unknown) => port.postMessage({ chunk: request.chunk, error: error instanceof Error ? error.message : String(error) } satisfies ChunkResult),
  );
});
