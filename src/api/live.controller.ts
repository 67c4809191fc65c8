import { Controller, Get, OnModuleDestroy, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Subscription } from 'rxjs';
import { ReadModels, type Progress } from '../../projections/runner/projection-runner';
import { Authenticator, LOCAL_USER_HEADER } from '../application/authentication';
import { authenticationOf } from './door';
import { headerText } from './headers';

/** How long progress is gathered before it is sent: a burst of commits becomes one message. */
const GATHER_MS = 50;
/** A comment line now and then keeps proxies and the browser from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;
/** Streams one principal may hold open at once (a console tab holds one). */
export const MAX_STREAMS_PER_PRINCIPAL = 8;
/** How often an open stream's credential is checked again: a revoked or expired one ends the stream. */
export const RECHECK_MS = 2_000;


/**
 * `GET /api/live`: a server-sent event stream of the read models' progress, fed by the projection
 * runner's stream of committed batches. A client (the console) refetches what it shows when a
 * projection it reads from moves: changes made elsewhere (CLI, another browser) appear without reload.
 *
 * Events: `checkpoints` once on connecting, then `progress`, both `{ "projections": { name: checkpoint } }`.
 * A principal holds at most MAX_STREAMS_PER_PRINCIPAL streams (one more is answered 429
 * TOO_MANY_STREAMS); a stream whose credential is revoked or expires gets `closed` (`{ "reason" }`)
 * and ends within RECHECK_MS (an API token revoked through another instance: once this one has read it).
 */
@Controller('api')
export class LiveController implements OnModuleDestroy {
  private readonly open = new Set<Response>();
  private readonly byPrincipal = new Map<string, number>();

  constructor(
    private readonly runner: ReadModels,
    private readonly authenticator: Authenticator,
  ) {}

  @Get('live')
  async live(@Req() request: Request, @Res() response: Response): Promise<void> {
    const authentication = authenticationOf(request);
    const principal = authentication?.ok ? `${authentication.principal.via}:${authentication.principal.actor}` : 'nobody';
    const holding = this.byPrincipal.get(principal) ?? 0;
    if (holding >= MAX_STREAMS_PER_PRINCIPAL) {
      response.status(429).json({
        error: {
          code: 'TOO_MANY_STREAMS',
          message: `At most ${MAX_STREAMS_PER_PRINCIPAL} live streams per principal are open at once; close one first.`,
          details: { limit: MAX_STREAMS_PER_PRINCIPAL },
        },
      });
      return;
    }
    this.byPrincipal.set(principal, holding + 1);
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
    // The credential the stream was opened with, checked again now and then: revoked or expired, the stream ends.
    const authorization = headerText(request, 'authorization');
    const localUser = headerText(request, LOCAL_USER_HEADER);
    const recheck = setInterval(() => {
      void this.authenticator.authenticate(authorization, localUser).then(
        (again) => {
          if (again.ok || response.writableEnded) return;
          response.write(`event: closed\ndata: ${JSON.stringify({ reason: again.denial.reason })}\n\n`);
          response.end();
        },
        () => undefined,
      );
    }, RECHECK_MS);
    recheck.unref();
    // The response closes when the client goes away (or the stream is ended here).
    response.on('close', () => {
      subscription.unsubscribe();
      clearInterval(keepAlive);
      clearInterval(recheck);
      if (timer) clearTimeout(timer);
      this.open.delete(response);
      const left = (this.byPrincipal.get(principal) ?? 1) - 1;
      if (left <= 0) this.byPrincipal.delete(principal);
      else this.byPrincipal.set(principal, left);
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
    this.endAll();
  }

  /** Ends every open stream, telling each client why (`closed`, reason `server stopping`): a stopping server calls it first. */
  endAll(reason = 'server stopping'): number {
    const count = this.open.size;
    for (const response of this.open) {
      if (!response.writableEnded) {
        response.write(`event: closed\ndata: ${JSON.stringify({ reason })}\n\n`);
        response.end();
      }
    }
    this.open.clear();
    return count;
  }
}
