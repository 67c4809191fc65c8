import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { EVENT_STORE, EventStore } from '../event-store/event-store';
import { PRODUCT_VERSION } from '../version';
import { Public } from './door';

/** Outside the door: load balancers and the CLI call it without credentials. */
@Public()
@Controller()
export class HealthController {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  /** 200 while the event store answers, 503 (with the reason) when it does not. */
  @Get('health')
  async health(@Res() res: Response): Promise<void> {
    try {
      await this.store.ping();
      const headPosition = await this.store.headPosition();
      res.status(HttpStatus.OK).json({ status: 'ok', eventStore: this.store.kind, headPosition, version: PRODUCT_VERSION });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      res.status(HttpStatus.SERVICE_UNAVAILABLE).json({ status: 'unavailable', eventStore: this.store.kind, error: reason });
    }
  }
}
