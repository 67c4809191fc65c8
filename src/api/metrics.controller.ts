import { Controller, Get, Inject, OnModuleInit, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { ReadModels } from '../../projections/runner/projection-runner';
import { Authenticator } from '../application/authentication';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { Metrics } from '../ops/metrics';
import { Public } from './door';

/** Roles whose credential may read the metrics. */
const METRICS_ROLES = ['admin', 'auditor'];

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `GET /metrics`: Prometheus' text format. Outside the API's door (a scraper is no API client), so it
 * checks its own access: `Authorization: Bearer <METRICS_TOKEN>`, or an admin's or auditor's
 * credential; anonymous only when METRICS_TOKEN is unset and AUTHENTICATION=off (loopback only).
 */
@Public()
@Controller()
export class MetricsController implements OnModuleInit {
  constructor(
    private readonly metrics: Metrics,
    private readonly authenticator: Authenticator,
    private readonly runner: ReadModels,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  onModuleInit(): void {
    this.metrics.watchProjections(this.runner);
  }

  @Get('metrics')
  async scrape(@Req() request: Request, @Res() response: Response): Promise<void> {
    const denied = await this.denial(request.headers.authorization);
    response.setHeader('Cache-Control', 'no-store');
    if (denied) {
      if (denied.status === 401) response.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      response.status(denied.status).json({ error: { code: denied.code, message: denied.message, details: {} } });
      return;
    }
    const text = await this.metrics.registry.metrics();
    response.status(200).type(this.metrics.registry.contentType).send(text);
  }

  private async denial(authorization: string | undefined): Promise<{ status: number; code: string; message: string } | undefined> {
    const token = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    const { metricsToken } = this.config;
    if (metricsToken !== undefined && token !== undefined && sameSecret(token, metricsToken)) return undefined;
    if (this.config.authentication === 'off') {
      if (metricsToken === undefined) return undefined;
      return { status: 401, code: 'UNAUTHENTICATED', message: 'The metrics need METRICS_TOKEN as a bearer token.' };
    }
    if (token === undefined) return { status: 401, code: 'UNAUTHENTICATED', message: 'The metrics need a bearer token: METRICS_TOKEN, or an admin or auditor credential.' };
    const authentication = await this.authenticator.authenticate(authorization, undefined);
    if (!authentication.ok) return { status: 401, code: 'UNAUTHENTICATED', message: 'The credential is not valid.' };
    if (!authentication.principal.roles.some((role) => METRICS_ROLES.includes(role))) {
      return { status: 403, code: 'FORBIDDEN', message: 'The metrics are for admin and auditor credentials (or METRICS_TOKEN).' };
    }
    return undefined;
  }
}
