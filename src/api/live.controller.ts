import { Controller, Get, OnModuleDestroy, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Subscription } from 'rxjs';
import { ProjectionRunner, type Progress } from '../../projections/runner/projection-runner';

/** How long progress is gathered before it is sent: a burst of commits becomes one message. */
const GATHER_MS = 50;
/** A comment line now and then keeps proxies and the browser from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;

/**
 * `GET /api/live`: a server-sent event stream of the read models' progress, fed by the projection
 * runner's stream of committed batches. A client (the console) refetches what it shows when a
 * projection it reads from moves: changes made elsewhere (CLI, another browser) appear without reload.
 *
 * Events: `checkpoints` once on connecting, then `progress`, both `{ "projections": { name: checkpoint } }`.
 */
@Controller('api')
export class LiveController implements OnModuleDestroy {
  private readonly open = new Set<Response>();

  constructor(private readonly runner: ProjectionRunner) {}

  @Get('live')
  async live(@Res() response: Response): Promise<void> {
    response.status(200);
    response.setHeader('content-type', 'text/event-stream; charset=utf-8');
    response.setHeader('cache-control', 'no-cache, no-transform');
    response.setHeader('x-accel-buffering', 'no');
    response.flushHeaders();
    this.open.add(response);

    const send = (event: string, projections: Record<string, number>): void => {
      if (!response.writableEnded) response.write(`event: ${event}\ndata: ${JSON.stringify({ projections })}\n\n`);
    };
    let pending: Record<string, number> = {};
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      timer = undefined;
      const gathered = pending;
      pending = {};
      send('progress', gathered);
    };
    const subscription: Subscription = this.runner.progress.subscribe({
      next: (progress: Progress) => {
        pending[progress.name] = progress.checkpoint;
        timer ??= setTimeout(flush, GATHER_MS);
      },
      complete: () => response.end(),
    });
    const keepAlive = setInterval(() => {
      if (!response.writableEnded) response.write(': keep-alive\n\n');
    }, KEEP_ALIVE_MS);
    keepAlive.unref();
    // The response closes when the client goes away (or the stream is ended here).
    response.on('close', () => {
      subscription.unsubscribe();
      clearInterval(keepAlive);
      if (timer) clearTimeout(timer);
      this.open.delete(response);
    });

    response.write('retry: 2000\n\n');
    try {
      const statuses = await this.runner.statuses();
      send('checkpoints', Object.fromEntries(statuses.map((s) => [s.name, s.checkpoint])));
    } catch {
      // The store did not answer for the head: progress still follows; a client knows no starting point.
    }
  }

  /** Open streams would keep the HTTP server from closing: end them first. */
  onModuleDestroy(): void {
    for (const response of this.open) response.end();
    this.open.clear();
  }
}
