import type { INestApplication } from '@nestjs/common';
import { ReadModels } from '../../projections/runner/projection-runner';
import { LiveController } from '../api/live.controller';
import { EVENT_STORE, type EventStore } from '../event-store/event-store';
import { gracefulStopOf, STOP_DEADLINE_MS } from './graceful-stop';

/** Time kept for closing the read models and the store after the read models are waited for. */
const CLOSE_RESERVE_MS = 1_500;

/**
 * A requested stop (SIGTERM, SIGINT): ends the live streams, drains the HTTP server (see
 * `GracefulStop`), waits (bounded) for the read models to reach the last commit, closes the
 * projections and the store (the store commits every append it accepted first), and reports each step
 * in one line. Resolves with the exit code: 0, or 1 when closing failed. Should anything hang, the
 * process exits 1 at STOP_DEADLINE_MS, saying so: a commit is acknowledged only once durable, so
 * nothing acknowledged is lost either way.
 */
export async function stopServer(app: INestApplication, signal: string, log: (line: string) => void): Promise<number> {
  const started = Date.now();
  const deadline = setTimeout(() => {
    log(`topology-ledger: stop after ${signal} did not finish within ${STOP_DEADLINE_MS} ms; exiting with code 1 (every acknowledged command was already committed)`);
    process.exit(1);
  }, STOP_DEADLINE_MS - 250);
  deadline.unref();
  const gate = gracefulStopOf(app);
  let streams = 0;
  try {
    streams = app.get(LiveController).endAll();
  } catch {
    // No live controller in this application.
  }
  log(
    `topology-ledger: ${signal} received: stopping; no new connections, ${gate?.requestsInFlight ?? 0} request(s) in flight to answer, ` +
      `${streams} live stream(s) ended, requests arriving now are answered 503 with Retry-After`,
  );
  try {
    const drained = gate ? await gate.drain(signal) : undefined;
    const store = app.get<EventStore>(EVENT_STORE);
    const runner = app.get(ReadModels);
    const head = await store.headPosition();
    const statuses = await runner.statuses();
    const names = statuses.filter((s) => s.state !== 'failed').map((s) => s.name);
    const waitMs = Math.max(0, STOP_DEADLINE_MS - CLOSE_RESERVE_MS - (Date.now() - started));
    let caughtUp = true;
    try {
      await runner.waitFor(names, head, waitMs);
    } catch {
      caughtUp = false;
    }
    const checkpoints = (await runner.statuses()).map((s) => s.checkpoint);
    const lowest = checkpoints.length ? Math.min(...checkpoints) : head;
    await app.close();
    const requests = drained
      ? `${drained.answered} request(s) answered, ${drained.refused} refused with 503, ${drained.cut} cut unanswered after ${drained.drainedMs} ms`
      : 'no HTTP gate';
    log(
      `topology-ledger: stopped after ${signal} in ${Date.now() - started} ms: ${requests}; last commit at position ${head}; ` +
        `read models ${caughtUp ? 'caught up' : 'still behind (they catch up on the next start)'}, lowest checkpoint ${lowest}; exit code 0`,
    );
    return 0;
  } catch (error) {
    log(`topology-ledger: stop after ${signal} failed: ${error instanceof Error ? error.message : String(error)}; exit code 1`);
    return 1;
  } finally {
    clearTimeout(deadline);
  }
}
