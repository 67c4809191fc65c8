import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { auditDigestProjection } from '../../projections/audit-digest/audit-digest.projection';
import { logDigestAt } from '../../projections/audit-digest/audit-digest.query';
import { auditTrailProjection } from '../../projections/audit-trail/audit-trail.projection';
import { complianceReport } from '../../projections/compliance/compliance-report.query';
import { driftProjection } from '../../projections/drift/drift.projection';
import { type DriftRow, driftFirstSeenBetween } from '../../projections/drift/drift.query';
import { ReadModels } from '../../projections/runner/projection-runner';
import { topologyProjection } from '../../projections/topology/topology.projection';
import { AuditMonitor } from '../application/audit-monitor';
import { formatDigest } from '../application/log-verification';
import { AuditLogBroken, JsonObject } from '../event-store/event-store';
import { InvalidInput } from '../application/commands/input-errors';
import { PRODUCT_REASON_POLICY, REPORT_FORMATS, REPORT_HTML_POLICY, ReportFormat, reportCsv, reportHtml } from './compliance-report.render';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { QueryParams, readOptions, single } from './read-options';

const DIGEST = auditDigestProjection.name;
const AUDIT = auditTrailProjection.name;
const TOPOLOGY = topologyProjection.name;

/** Tamper evidence and compliance: the store-wide digest and the compliance report, from read models. */
@Controller('api')
export class AuditController {
  constructor(
    private readonly runner: ReadModels,
    private readonly monitor: AuditMonitor,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /**
   * `{ position, hash, events, algorithm, digest }`: keep it, and check it later with `topo audit verify --digest`.
   * Never a digest a signed checkpoint contradicts (read models rebuilt on an edited log): that is 503 AUDIT_LOG_BROKEN.
   */
  @Get('audit/digest')
  async digest(@Query() params: QueryParams): Promise<JsonObject> {
    const options = readOptions({ ...params, deployment: undefined });
    await this.runner.readAfter([DIGEST], options.minPosition, options.waitMs);
    // The reader is asked for at each read, never held across an await: a rebuild may take over meanwhile.
    const contradicted = await this.monitor.contradiction((position) => {
      const kept = logDigestAt(this.runner.reader(DIGEST), position);
      return kept.position === position ? kept.hash : undefined;
    });
    if (contradicted !== undefined) throw new AuditLogBroken(`The digest read model contradicts a signed checkpoint: ${contradicted.message}`, contradicted);
    // A digest is something to keep and check later: none is given for a log found broken, whatever
    // the read model still holds (it was built from the log before, or after, the break).
    const broken = this.monitor.broken;
    if (this.monitor.status === 'broken') throw new AuditLogBroken(`The log is broken${broken ? ` (${broken.problem}: ${broken.message})` : ''}: no digest is given until it is investigated (topo audit verify --all).`, broken ?? null);
    const digest = logDigestAt(this.runner.reader(DIGEST), options.atPosition);
    const latest = this.monitor.latestCheckpoint;
    return { ...digest, digest: formatDigest(digest), ...(latest ? { signedCheckpoint: latest as unknown as JsonObject } : {}) };
  }

  /**
   * The log verified server-side, as `topo audit verify` does against the witness's latest checkpoint:
   * Server-Sent Events `progress` (`{ events, position }`) while it runs, then one `verdict`.
   * `all=true` reports every break, not only the first.
   */
  @Get('audit/verify')
  async verify(@Query() params: QueryParams, @Res() response: Response): Promise<void> {
    const all = single(params, 'all');
    if (all !== undefined && all !== 'true' && all !== 'false') {
      throw new InvalidInput(`Invalid verify query: all must be true or false (got ${JSON.stringify(all)}).`, { field: 'all' });
    }
    response.status(200);
    response.setHeader('content-type', 'text/event-stream; charset=utf-8');
    response.setHeader('cache-control', 'no-store');
    response.flushHeaders();
    const send = (event: string, data: unknown): void => {
      response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send('progress', { events: 0, position: 0 });
    let closed = false;
    response.on('close', () => {
      closed = true;
    });
    try {
      const result = await this.monitor.verifyNow({ all: all === 'true', onProgress: (events, position) => send('progress', { events, position }) }, () => closed);
      if (result === undefined) {
        response.end();
        return;
      }
      send('verdict', {
        ok: result.broken === null,
        ...result,
        protected: this.monitor.fingerprint !== undefined,
        ...(this.monitor.fingerprint ? { key: this.monitor.fingerprint } : {}),
      });
    } catch (error) {
      send('error', { code: 'VERIFY_FAILED', message: error instanceof Error ? error.message : String(error) });
    }
    response.end();
  }

  @Get('compliance/report')
  async report(@Query() params: QueryParams, @Res({ passthrough: true }) response: Response): Promise<JsonObject | string> {
    const options = readOptions(params);
    const given = single(params, 'format') ?? 'json';
    const format = REPORT_FORMATS.find((f) => f === given.toLowerCase());
    if (format === undefined) {
      throw new InvalidInput(`Invalid compliance report query: format must be one of ${REPORT_FORMATS.join(', ')} (got ${JSON.stringify(given)}).`, { field: 'format' });
    }
    await this.runner.readAfter([AUDIT, DIGEST, driftProjection.name], options.minPosition, options.waitMs);
    // The digest at the period's last entry, and each entity's state before and after its changes, need
    // the digest and topology read models as far as the audit trail.
    await this.runner.waitFor([DIGEST, TOPOLOGY], this.runner.checkpoint(AUDIT), options.waitMs);
    const report = complianceReport(this.runner.reader(AUDIT), this.runner.reader(DIGEST), this.runner.reader(TOPOLOGY), {
      deployment: options.deployment,
      from: single(params, 'from'),
      to: single(params, 'to'),
    });
    // Never a digest a signed checkpoint contradicts (read models rebuilt on an edited log): none, and the log is marked broken.
    if (report.digest !== null) {
      const contradicted = await this.monitor.contradiction((position) => {
        const kept = logDigestAt(this.runner.reader(DIGEST), position);
        return kept.position === position ? kept.hash : undefined;
      });
      if (contradicted !== undefined) report.digest = null;
    }
    if (this.monitor.status === 'broken') response.setHeader('X-Audit-Log', 'broken');
    // The checkpoint it rests on: the signer covers a just-acknowledged entry within a second.
    if (report.digest !== null) await this.monitor.waitForCheckpoint(report.digest.position, 1500);
    const latest = this.monitor.latestCheckpoint;
    report.assurance = {
      reasonPolicy: { always: PRODUCT_REASON_POLICY, configured: [...this.config.reasonRequiredFor].sort() },
      signingKey: this.monitor.fingerprint ?? null,
      auditLog: this.monitor.status,
      latestCheckpoint: latest ? { position: latest.position, digest: latest.digest, time: latest.time } : null,
      coversReport: latest !== undefined && (report.digest === null || latest.position >= report.digest.position),
    };
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
        response.setHeader('Content-Security-Policy', REPORT_HTML_POLICY);
        return reportHtml(report, drift);
    }
  }
}
