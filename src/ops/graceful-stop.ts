import type { INestApplication } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';

/** Everything a stop must finish within, whatever the clients do (an orchestrator's grace period is 10 s by default). */
export const STOP_DEADLINE_MS = 10_000;
/** How long requests already running may take to be answered; past it their connections are cut. */
export const DRAIN_MS = 6_000;
/** Sent with the 503 of a request that arrived once the stop had begun: by then another instance (or this one restarted) serves. */
export const RETRY_AFTER_SECONDS = 5;

/** What a stop did, for the one line that reports it. */
export interface StopSummary {
  readonly signal: string;
  readonly inFlightAtStart: number;
  readonly answered: number;
  readonly refused: number;
  readonly cut: number;
  readonly drainedMs: number;
}

/**
 * How the HTTP server stops: the gate every request passes first (counting those in flight, and
 * answering 503 + Retry-After, `Connection: close`, to any that arrives on an open keep-alive
 * connection once the stop has begun), and `drain()`, which stops accepting, closes idle keep-alive
 * connections, waits for the requests in flight to be answered (each answer closes its connection) and
 * cuts whatever is left after DRAIN_MS. Node's own `server.close()` waits for every keep-alive
 * connection to go idle, which busy clients never let happen.
 */
export class GracefulStop {
  private inFlight = 0;
  private stoppingSince: number | undefined;
  private signal = '';
  private startCount = 0;
  private answered = 0;
  private refused = 0;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly server: Server) {}

  /** Requests whose answer is not yet sent. */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  get stopping(): boolean {
    return this.stoppingSince !== undefined;
  }

  /** Express middleware: first in the chain. */
  readonly gate = (request: Request, response: Response, next: NextFunction): void => {
    if (this.stopping) {
      this.refused++;
      response.setHeader('Connection', 'close');
      response.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      response.status(503).json({
        error: { code: 'SHUTTING_DOWN', message: 'The server is stopping and did not run this request; send it again.', details: { retryAfterSeconds: RETRY_AFTER_SECONDS } },
      });
      return;
    }
    this.inFlight++;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.inFlight--;
      if (this.stopping) this.answered++;
      if (this.inFlight === 0) for (const wake of this.waiters) wake();
    };
    response.once('finish', finish);
    response.once('close', finish);
    // An answer written after the stop began closes its connection: the client sends its next request elsewhere.
    const writeHead = response.writeHead;
    response.writeHead = ((...args: Parameters<Response['writeHead']>) => {
      if (this.stopping && !response.headersSent) response.setHeader('Connection', 'close');
      return writeHead.apply(response, args);
    }) as Response['writeHead'];
    next();
  };

  /**
   * Stops accepting connections and answers what is in flight; resolves once no request runs (or
   * DRAIN_MS has passed and the rest was cut).
   */
  async drain(signal: string, drainMs = DRAIN_MS): Promise<StopSummary> {
    this.signal = signal;
    this.stoppingSince = Date.now();
    this.startCount = this.inFlight;
    // Stops listening; the callback (all connections gone) is not waited for here.
    this.server.close(() => undefined);
    this.server.closeIdleConnections();
    // A keep-alive connection that turns idle later is closed as soon as it does.
    const idleSweep = setInterval(() => this.server.closeIdleConnections(), 50);
    let cut = 0;
    try {
      if (this.inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, drainMs);
          function done(): void {
            clearTimeout(timer);
            resolve();
          }
          this.waiters.add(done);
        });
      }
      cut = this.inFlight;
    } finally {
      clearInterval(idleSweep);
      this.waiters.clear();
    }
    // Requests still running past the bound, and connections that never sent a whole request.
    this.server.closeAllConnections();
    return { signal, inFlightAtStart: this.startCount, answered: this.answered, refused: this.refused, cut, drainedMs: Date.now() - this.stoppingSince };
  }
}

const stops = new WeakMap<INestApplication, GracefulStop>();

/** Puts the gate in front of `app`'s routes; `gracefulStopOf(app)` finds it again. */
export function installGracefulStop(app: INestApplication): GracefulStop {
  const stop = new GracefulStop(app.getHttpServer() as Server);
  stops.set(app, stop);
  app.use(stop.gate);
  return stop;
}

export function gracefulStopOf(app: INestApplication): GracefulStop | undefined {
  return stops.get(app);
}
