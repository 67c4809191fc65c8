import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ReadModels } from '../../projections/runner/projection-runner';
import { EVENT_STORE, EventStore } from '../event-store/event-store';
import { Public } from './door';

/** Ready while every read model is within this many events of the log's head... */
export const READY_MAX_LAG_EVENTS = 1_000;
/** ...and its oldest unapplied event is younger than this (a rebuild's new build does not count: the old one serves meanwhile). */
export const READY_MAX_LAG_MS = 5_000;

/**
 * Orchestrators' probes, outside the door like `/health` (which stays as it is):
 * `/health/live` answers 200 while the process serves HTTP at all (restart it when it does not);
 * `/health/ready` answers 200 when the event store answers and every read model is caught up within
 * READY_MAX_LAG_EVENTS and READY_MAX_LAG_MS, else 503 with what is not ready (send it no traffic yet).
 */
@Public()
@Controller('health')
export class ProbesController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly runner: ReadModels,
  ) {}

  @Get('live')
  live(@Res() res: Response): void {
    res.setHeader('Cache-Control', 'no-store');
    res.status(HttpStatus.OK).json({ status: 'ok' });
  }

  @Get('ready')
  async ready(@Res() res: Response): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    try {
      await this.store.ping();
    } catch (error) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE).json({ status: 'not_ready', eventStore: 'unavailable', error: error instanceof Error ? error.message : String(error) });
      return;
    }
    const statuses = await this.runner.statuses();
    const behind = statuses
      .filter((s) => s.state === 'failed' || s.lagEvents > READY_MAX_LAG_EVENTS || s.lagMs > READY_MAX_LAG_MS)
      .map((s) => ({ name: s.name, state: s.state, checkpoint: s.checkpoint, lagEvents: s.lagEvents, lagMs: s.lagMs }));
    const headPosition = statuses[0]?.headPosition ?? (await this.store.headPosition());
    const body = { eventStore: 'ok', headPosition, bounds: { lagEvents: READY_MAX_LAG_EVENTS, lagMs: READY_MAX_LAG_MS } };
    if (behind.length > 0) res.status(HttpStatus.SERVICE_UNAVAILABLE).json({ status: 'not_ready', ...body, readModelsBehind: behind });
    else res.status(HttpStatus.OK).json({ status: 'ready', ...body });
  }
}
