/**
 * `npm run bench:audit`: `audit verify` of a generated history beside a plain read of it, and
 * one-month compliance reports beside a plain read of their rows. Options, figures and results:
 * bench/README.md.
 */
import { topologyProjection } from '../projections/topology/topology.projection';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_PROJECTIONS } from '../projections';
import { auditDigestProjection } from '../projections/audit-digest/audit-digest.projection';
import { AUDIT_TABLE, auditTrailProjection } from '../projections/audit-trail/audit-trail.projection';
import { complianceReport, reportPeriod } from '../projections/compliance/compliance-report.query';
import { createProjectionRunner } from '../src/application/read-models.module';
import { reportHtml } from '../src/api/compliance-report.render';
import { verifyLog } from '../src/application/log-verification';
import { SqliteEventStore, STORE_FILE_NAME } from '../src/event-store/sqlite/sqlite-event-store';
import { PROJECT_ROOT } from '../src/version';
import { keptHistory } from './history';
import { argValue, printTable, Row } from './report';

const args = process.argv.slice(2);
const json = args.includes('--json');
const events = Number(argValue(args, '--events') ?? 1_000_000);
const deployments = Number(argValue(args, '--deployments') ?? 5_000);
const months = Number(argValue(args, '--months') ?? 12);
const dir = path.resolve(argValue(args, '--dir') ?? path.join(PROJECT_ROOT, '.bench-data', 'audit'));
const logDir = path.join(dir, 'log');

// The history runs from 2025-11-01 over `months` months, so that a calendar month holds 1/months of it.
const FIRST = Date.UTC(2025, 10, 1);
const SPAN_MS = months * 30.44 * 24 * 3600 * 1000;
const REPORTS = 20;

/** CPU time (user + system) this process used since `since`, in seconds: on a shared machine, what the work itself costs. */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/** Reads the whole log in pages of 5,000 through `page` (from a position, inclusive); returns how many events it read. */
async function readWholeLog(page: (from: number) => Promise<readonly { position: number }[]>): Promise<number> {
  let read = 0;
  for (let from = 1; ; ) {
    const events = await page(from);
    read += events.length;
    if (events.length < 5_000) return read;
    from = events[events.length - 1]!.position + 1;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function prepareLog(): Promise<number> {
  return keptHistory({
    dir,
    logDir,
    events,
    deployments,
    key: `${months}months`,
    occurredAt: (n) => new Date(FIRST + Math.floor((n / events) * SPAN_MS)),
    label: 'bench:audit',
  });
}

async function main(): Promise<void> {
  const written = await prepareLog();
  const store = new SqliteEventStore({ dataDir: logDir, synchronous: 'NORMAL' });
  const head = await store.headPosition();

  // Read models (kept between runs; caught up when the history is new).
  const buildStart = performance.now();
  // The product's own set-up of its read models (file, batch size, checkpoint thread).
  const runner = createProjectionRunner(store, dir, path.join(logDir, STORE_FILE_NAME));
  runner.start();
  await runner.waitFor(ALL_PROJECTIONS.map((p) => p.name), head, 3_600_000);
  for (;;) {
    const statuses = await runner.statuses();
    if (statuses.every((s) => s.state === 'live')) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const buildSeconds = (performance.now() - buildStart) / 1000;
  process.stderr.write(`read models ready in ${buildSeconds.toFixed(1)} s\n`);

  // Baseline for verify: the whole log through the port, in pages, nothing else.
  let start = performance.now();
  let cpu = process.cpuUsage();
  const read = await readWholeLog((from) => store.readAll({ fromPosition: from, maxCount: 5_000 }));
  const readAllPerSecond = read / ((performance.now() - start) / 1000);
  const readAllCpu = cpuSeconds(cpu);

  // Second baseline: the same log as stored text (what verify reads), nothing decoded.
  start = performance.now();
  const storedRead = await readWholeLog((from) => store.readAllStored(from, 5_000));
  const readStoredPerSecond = storedRead / ((performance.now() - start) / 1000);

  start = performance.now();
  cpu = process.cpuUsage();
  const verified = await verifyLog(store);
  const verifySeconds = (performance.now() - start) / 1000;
  const verifyCpu = cpuSeconds(cpu);
  if (verified.broken) throw new Error(`the generated log does not verify: ${verified.broken.message}`);
  const verifyPerSecond = verified.events / verifySeconds;

  // One-month reports: the sixth month of the history, for REPORTS deployments spread over all.
  const month = new Date(FIRST);
  month.setUTCMonth(month.getUTCMonth() + Math.min(5, months - 1));
  const last = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 0));
  const period = { from: month.toISOString().slice(0, 10), to: last.toISOString().slice(0, 10) };
  const stored = reportPeriod(period.from, period.to);
  const audit = runner.reader(auditTrailProjection.name);
  const digests = runner.reader(auditDigestProjection.name);
  const topology = runner.reader(topologyProjection.name);
  const reportMs: number[] = [];
  const rowsMs: number[] = [];
  let entries = 0;
  let htmlMs = 0;
  const wholeMs: number[] = [];
  let wholeEntries = 0;
  const wholePeriod = { from: new Date(FIRST).toISOString(), to: new Date(FIRST + SPAN_MS).toISOString() };
  for (let i = 0; i < REPORTS; i++) {
    const deployment = `org${Math.floor((i * deployments) / REPORTS)}`;
    let t = performance.now();
    const rows = audit.rows(AUDIT_TABLE, { where: { deployment }, range: { occurred_at: stored }, orderBy: ['occurred_at', 'position'] });
    rowsMs.push(performance.now() - t);
    t = performance.now();
    const report = complianceReport(audit, digests, topology, { deployment, ...period });
    JSON.stringify(report);
    reportMs.push(performance.now() - t);
    if (i === 0) {
      t = performance.now();
      reportHtml(report);
      htmlMs = performance.now() - t;
    }
    entries += rows.length;
    // The whole history of the same deployment, for how the report grows with its entries.
    t = performance.now();
    const whole = complianceReport(audit, digests, topology, { deployment, ...wholePeriod });
    JSON.stringify(whole);
    wholeMs.push(performance.now() - t);
    wholeEntries += whole.changes.length + whole.refused.length + whole.denied.length;
  }
  wholeMs.sort((a, b) => a - b);
  reportMs.sort((a, b) => a - b);
  rowsMs.sort((a, b) => a - b);
  await runner.stop();
  await store.close();

  const reportMax = reportMs[reportMs.length - 1] ?? NaN;
  const figures = {
    events: written,
    deployments,
    months,
    readModelsSeconds: +buildSeconds.toFixed(1),
    readAllEventsPerSecond: Math.round(readAllPerSecond),
    readAllStoredEventsPerSecond: Math.round(readStoredPerSecond),
    verifyEventsPerSecond: Math.round(verifyPerSecond),
    verifySeconds: +verifySeconds.toFixed(2),
    readAllEventsPerCpuSecond: Math.round(read / readAllCpu),
    verifyEventsPerCpuSecond: Math.round(verified.events / verifyCpu),
    verifiedEvents: verified.events,
    unchained: verified.unchained,
    decodedEvents: verified.decoded,
    reportPeriod: period,
    reportEntriesAverage: Math.round(entries / REPORTS),
    auditRowsReadP50Ms: +percentile(rowsMs, 50).toFixed(3),
    reportP50Ms: +percentile(reportMs, 50).toFixed(3),
    reportMaxMs: +reportMax.toFixed(3),
    reportHtmlMs: +htmlMs.toFixed(3),
    wholeHistoryReportEntriesAverage: Math.round(wholeEntries / REPORTS),
    wholeHistoryReportP50Ms: +percentile(wholeMs, 50).toFixed(3),
    wholeHistoryReportMaxMs: +(wholeMs[wholeMs.length - 1] ?? NaN).toFixed(3),
  };
  const rows: Row[] = [
    { figure: `readAll through the port, ${read.toLocaleString('en')} events (baseline)`, value: figures.readAllEventsPerSecond, unit: 'events/s' },
    { figure: 'readAllStored through the port: the same log as stored text, not decoded (what verify reads)', value: figures.readAllStoredEventsPerSecond, unit: 'events/s', ratio: readStoredPerSecond / readAllPerSecond },
    { figure: `audit verify of the whole log (every link, every hash recomputed, digest; ${verified.decoded.toLocaleString('en')} events needed decoding)`, value: figures.verifyEventsPerSecond, unit: 'events/s', ratio: verifyPerSecond / readAllPerSecond, floor: 100_000 },
    { figure: 'readAll per CPU-second of this process (baseline)', value: figures.readAllEventsPerCpuSecond, unit: 'events/s' },
    { figure: 'audit verify per CPU-second of this process', value: figures.verifyEventsPerCpuSecond, unit: 'events/s', ratio: figures.verifyEventsPerCpuSecond / figures.readAllEventsPerCpuSecond },
    { figure: `plain read of one month's audit rows of one deployment, p50 (baseline; ${figures.reportEntriesAverage} entries)`, value: figures.auditRowsReadP50Ms * 1000, unit: 'µs' },
    { figure: `one-month compliance report (${period.from} to ${period.to}), JSON, p50 of ${REPORTS} deployments`, value: figures.reportP50Ms * 1000, unit: 'µs', ratio: figures.reportP50Ms / figures.auditRowsReadP50Ms },
    { figure: 'one-month compliance report, JSON, slowest', value: figures.reportMaxMs * 1000, unit: 'µs' },
    { figure: 'the same report rendered as HTML (render only)', value: figures.reportHtmlMs * 1000, unit: 'µs' },
    { figure: `report of a deployment's whole ${months}-month history, JSON, p50 (${figures.wholeHistoryReportEntriesAverage} entries)`, value: figures.wholeHistoryReportP50Ms * 1000, unit: 'µs' },
    { figure: `report of a deployment's whole ${months}-month history, JSON, slowest`, value: figures.wholeHistoryReportMaxMs * 1000, unit: 'µs' },
  ];
  printTable(`Audit over a generated, chained history in ${dir}`, rows);
  const verdicts = { verify: verifyPerSecond >= 100_000, report: reportMax <= 1000 };
  console.log(`\ntargets: audit verify ≥ 100,000 events/s: ${verdicts.verify ? 'met' : 'NOT met'}; one-month report ≤ 1 s: ${verdicts.report ? 'met' : 'NOT met'}`);
  if (json) console.log(JSON.stringify({ ...figures, targetsMet: verdicts }));
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
