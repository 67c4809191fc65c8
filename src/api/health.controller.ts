import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AuditMonitor } from '../application/audit-monitor';
import { EVENT_STORE, EventStore } from '../event-store/event-store';
import { PRODUCT_VERSION } from '../version';
import { Public } from './door';

/** Every answer while the log is broken carries `X-Audit-Log: broken`, so that what is read can be investigated as such. */
export function auditLogHeader(monitor: AuditMonitor): RequestHandler {
  return (_request: Request, response: Response, next: NextFunction) => {
    if (monitor.status === 'broken') response.setHeader('X-Audit-Log', 'broken');
    next();
  };
}

/** Outside the door: load balancers and the CLI call it without credentials. */
@Public()
@Controller()
export class HealthController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly audit: AuditMonitor,
  ) {}

  /**
   * 200 while the event store answers (`status: degraded` when a witness stays down), 503 (with the
   * reason) when it does not or when the audit log is broken (`auditLog: broken`, `at`: where).
   * `auditLog` is `verified`, `verifying`, `broken`, or `unprotected` (no signing key: `audit.warning` says what that means).
   */
  @Get('health')
  async health(@Res() res: Response): Promise<void> {
    const audit = this.audit.health();
    const { at, ...details } = audit;
    if (audit.status === 'broken') {
      res.status(HttpStatus.SERVICE_UNAVAILABLE).json({ status: 'broken', eventStore: this.store.kind, auditLog: 'broken', at, audit: details, version: PRODUCT_VERSION });
      return;
    }
    try {
      await this.store.ping();
      const headPosition = await this.store.headPosition();
      res
        .status(HttpStatus.OK)
        .json({ status: audit.degraded ? 'degraded' : 'ok', eventStore: this.store.kind, headPosition, version: PRODUCT_VERSION, auditLog: audit.status, audit: details });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      res.status(HttpStatus.SERVICE_UNAVAILABLE).json({ status: 'unavailable', eventStore: this.store.kind, error: reason, auditLog: audit.status, audit: details });
    }
  }
}
