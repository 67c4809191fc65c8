import { Controller, Get, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { auditDigestProjection } from '../../projections/audit-digest/audit-digest.projection';
import { logDigestAt } from '../../projections/audit-digest/audit-digest.query';
import { auditTrailProjection } from '../../projections/audit-trail/audit-trail.projection';
import { complianceReport } from '../../projections/compliance/compliance-report.query';
import { driftProjection } from '../../projections/drift/drift.projection';
import { type DriftRow, driftFirstSeenBetween } from '../../projections/drift/drift.query';
import { ProjectionRunner } from '../../projections/runner/projection-runner';
import { formatDigest } from '../application/log-verification';
import type { JsonObject } from '../event-store/event-store';
import { InvalidInput } from './commands/input-errors';
import { REPORT_FORMATS, ReportFormat, reportCsv, reportHtml } from './compliance-report.render';
import { QueryParams, readOptions, single } from './read-options';

const DIGEST = auditDigestProjection.name;
const AUDIT = auditTrailProjection.name;

/** Tamper evidence and compliance: the store-wide digest and the compliance report, from read models. */
@Controller('api')
export class AuditController {
  constructor(private readonly runner: ProjectionRunner) {}

  /** `{ position, hash, events, algorithm, digest }`: keep it, and check it later with `topo audit verify --digest`. */
  @Get('audit/digest')
  async digest(@Query() params: QueryParams): Promise<JsonObject> {
    const options = readOptions({ ...params, deployment: undefined });
    if (options.minPosition !== undefined) await this.runner.waitFor([DIGEST], options.minPosition, options.waitMs);
    const digest = logDigestAt(this.runner.reader(DIGEST), options.atPosition);
    return { ...digest, digest: formatDigest(digest) };
  }

  @Get('compliance/report')
  async report(@Query() params: QueryParams, @Res({ passthrough: true }) response: Response): Promise<JsonObject | string> {
    const options = readOptions(params);
    const given = single(params, 'format') ?? 'json';
    const format = REPORT_FORMATS.find((f) => f === given.toLowerCase());
    if (format === undefined) {
      throw new InvalidInput(`Invalid compliance report query: format must be one of ${REPORT_FORMATS.join(', ')} (got ${JSON.stringify(given)}).`, { field: 'format' });
    }
    if (options.minPosition !== undefined) await this.runner.waitFor([AUDIT, DIGEST, driftProjection.name], options.minPosition, options.waitMs);
    // The digest at the period's last entry needs the digest read model as far as the audit trail.
    await this.runner.waitFor([DIGEST], this.runner.checkpoint(AUDIT), options.waitMs);
    const report = complianceReport(this.runner.reader(AUDIT), this.runner.reader(DIGEST), {
      deployment: options.deployment,
      from: single(params, 'from'),
      to: single(params, 'to'),
    });
    const drift = driftFirstSeenBetween(this.runner.reader(driftProjection.name), report.deployment, report.from, report.to);
    return this.render(report, drift, format, response);
  }

  private render(report: ReturnType<typeof complianceReport>, drift: DriftRow[], format: ReportFormat, response: Response): JsonObject | string {
    switch (format) {
      case 'json':
        return { ...(report as unknown as JsonObject), drift: drift as unknown as JsonObject[] };
      case 'csv':
        response.type('text/csv; charset=utf-8');
        response.setHeader('content-disposition', `inline; filename="compliance-${report.deployment}.csv"`);
        return reportCsv(report, drift);
      case 'html':
        response.type('text/html; charset=utf-8');
        return reportHtml(report, drift);
    }
  }
}
