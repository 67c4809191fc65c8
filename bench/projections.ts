/**
 * `npm run bench:projections`: rebuilding the read models from a kept history beside a raw read of the
 * same log, as-of query latency, projection lag under writes. The rebuild runs in a child process, so
 * its peak RSS is its own. Options, figures and results: bench/README.md.
 */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_PROJECTIONS } from '../projections';
import { type BatchTiming, DEFAULT_BATCH_SIZE } from '../projections/runner/projection-runner';
import { createProjectionRunner, createReadModels, openReadModelFile, READ_MODELS_FILE } from '../src/application/read-models.module';
import { readTopology } from '../projections/topology/topology.query';
import { topologyProjection } from '../projections/topology/topology.projection';
import { HashChainedEventStore } from '../src/event-store/hash-chain';
import { SqliteEventStore, STORE_FILE_NAME } from '../src/event-store/sqlite/sqlite-event-store';
import { PROJECT_ROOT } from '../src/version';
import { keptHistory, random } from './history';
import { argValue, printTable, removeSqliteFiles, Row } from './report';

const args = process.argv.slice(2);
const json = args.includes('--json');
const events = Number(argValue(args, '--events') ?? 1_000_000);
const deployments = Number(argValue(args, '--deployments') ?? 5_000);
const dir = path.resolve(argValue(args, '--dir') ?? path.join(PROJECT_ROOT, '.bench-data', 'projections'));
const logDir = path.join(dir, 'log');
/** The read models as the server runs them on the SQLite store, in a thread of their own (`createReadModels`), instead of in this one. */
/** As the server runs them on the SQLite store: in a thread of their own; `--in-thread` measures the engine in this thread. */
const threaded = !args.includes('--in-thread');

interface ChildFigures {
  rawReadEventsPerSecond: number;
  rawCopyEventsPerSecond: number;
  rebuildEventsPerSecond: number;
  rebuildSeconds: number;
  peakRssMb: number;
  asOfP50Ms: number;
  asOfP99Ms: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagSamples: number;
  lagAfterRebuildP50Ms: number;
  lagAfterRebuildP99Ms: number;
  writesPerSecond: number;
  peakRssLiveMb: number;
  /** The live batches of each window (first 10 s, steady) and the event loop's delay over it. */
  liveBatches: { afterRebuild: LiveBatchFigures; steady: LiveBatchFigures };
  rawReadPerCpuSecond: number;
  rawCopyPerCpuSecond: number;
  rebuildPerCpuSecond: number;
  logMb: number;
  readModelsMb: number;
  readModelMb: Record<string, number>;
}

interface LiveBatchFigures {
  batches: number;
  eventsP50: number;
  eventsMax: number;
  applyP99Ms: number;
  commitP99Ms: number;
  /** The slowest batch, apply + commit, and how its time split. */
  slowestMs: number;
  slowestApplyMs: number;
  slowestCommitMs: number;
  slowestEvents: number;
  /** The event loop's delay (perf_hooks, 10 ms resolution) over the window, p99 and max. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

function liveBatchFigures(batches: readonly BatchTiming[], loop: ReturnType<typeof monitorEventLoopDelay>): LiveBatchFigures {
  const sorted = (f: (b: BatchTiming) => number): number[] => batches.map(f).sort((a, b) => a - b);
  const slowest = batches.reduce<BatchTiming | undefined>((s, b) => (!s || b.applyMs + b.commitMs > s.applyMs + s.commitMs ? b : s), undefined);
  const ms = (n: number): number => +n.toFixed(1);
  return {
    batches: batches.length,
    eventsP50: percentile(sorted((b) => b.events), 50),
    eventsMax: Math.max(0, ...batches.map((b) => b.events)),
    applyP99Ms: ms(percentile(sorted((b) => b.applyMs), 99)),
    commitP99Ms: ms(percentile(sorted((b) => b.commitMs), 99)),
    slowestMs: ms(slowest ? slowest.applyMs + slowest.commitMs : 0),
    slowestApplyMs: ms(slowest?.applyMs ?? 0),
    slowestCommitMs: ms(slowest?.commitMs ?? 0),
    slowestEvents: slowest?.events ?? 0,
    loopDelayP99Ms: ms(loop.percentile(99) / 1e6),
    loopDelayMaxMs: ms(loop.max / 1e6),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function prepareLog(): Promise<number> {
  return keptHistory({ dir, logDir, events, deployments, label: 'bench:projections' });
}

const LOG_COLUMNS = 'position, stream_id, revision, event_id, type, data, metadata, created';
type LogRow = { position: number; stream_id: string; type: string; data: string; metadata: string };

/**
 * Reads every row of the log in order, parses both JSON columns and hands the row to `each`; `done`
 * runs after the last row. Returns events per second over the whole walk, `each` and `done` included.
 */
function walkLog(each: (row: LogRow) => void, done: () => void = () => undefined): number {
  const db = new Database(path.join(logDir, STORE_FILE_NAME), { readonly: true });
  const start = performance.now();
  let n = 0;
  for (const row of db.prepare(`SELECT ${LOG_COLUMNS} FROM events ORDER BY position`).iterate() as IterableIterator<LogRow>) {
    JSON.parse(row.data);
    JSON.parse(row.metadata);
    each(row);
    n++;
  }
  done();
  const rate = n / ((performance.now() - start) / 1000);
  db.close();
  return rate;
}

/** Baseline: every row of the log read and its JSON parsed, nothing else. */
function rawRead(): number {
  return walkLog(() => undefined);
}

/**
 * Second baseline, the floor of any SQLite read model of this log: the raw read and parse, and each
 * event written once more as one row (its position, stream, type and both JSON texts), in
 * transactions of the runner's batch size into a fresh file opened as the product opens its read
 * models (WAL, the checkpoint thread). No projection logic, no index: every read model the product
 * keeps writes at least this much per event (the audit trail alone does).
 */
async function rawCopy(): Promise<number> {
  const file = path.join(dir, 'floor.sqlite');
  removeSqliteFiles(file);
  const target = openReadModelFile(file);
  target.db.exec('CREATE TABLE copy (position INTEGER PRIMARY KEY, stream_id TEXT, type TEXT, data TEXT, metadata TEXT)');
  const insert = target.db.prepare('INSERT INTO copy VALUES (?, ?, ?, ?, ?)');
  const write = target.db.transaction((rows: LogRow[]) => {
    for (const row of rows) insert.run(row.position, row.stream_id, row.type, row.data, row.metadata);
  });
  let batch: LogRow[] = [];
  const rate = walkLog(
    (row) => {
      batch.push(row);
      if (batch.length === DEFAULT_BATCH_SIZE) {
        write(batch);
        batch = [];
      }
    },
    () => write(batch),
  );
  await target.close();
  removeSqliteFiles(file);
  return rate;
}

const MB = 1024 * 1024;
/** The rebuild's targets, as ratios to the baselines of the same run. */
const REBUILD_TO_RAW = 0.25;
const REBUILD_TO_FLOOR = 0.6;

/**
 * CPU time of the whole process (every thread: the checkpoint thread's too) since `since`: on a
 * shared machine the wall-clock rates move with the other work, this much less.
 */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/**
 * Bytes a SQLite file holds in use, its WAL included (what a reader sees), free pages left out; per
 * projection too, from SQLite's `dbstat` (tables and indexes named `<projection>_g<generation>_...`).
 */
function fileBytes(file: string): { total: number; byProjection: Record<string, number> } {
  const db = new Database(file, { readonly: true });
  try {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = (db.pragma('page_count', { simple: true }) as number) - (db.pragma('freelist_count', { simple: true }) as number);
    const byProjection: Record<string, number> = {};
    for (const projection of ALL_PROJECTIONS) {
      const row = db.prepare(`SELECT sum(pgsize) AS bytes FROM dbstat WHERE name LIKE ? ESCAPE '\\'`).get(`${projection.name.replace(/_/g, '\\_')}\\_g%`) as { bytes: number | null };
      byProjection[projection.name] = row.bytes ?? 0;
    }
    return { total: pages * pageSize, byProjection };
  } finally {
    db.close();
  }
}

/** The child: full rebuild, as-of queries, lag under a steady write rate, then the baselines. */
async function child(): Promise<void> {
  removeSqliteFiles(path.join(dir, READ_MODELS_FILE));
  // Through the hash chain, as the product runs: the lag phase's appends are chained too.
  const store = new HashChainedEventStore(new SqliteEventStore({ dataDir: logDir, synchronous: 'NORMAL' }));
  const head = await store.headPosition();
  // The product's own set-up of its read models (file, batch size, checkpoint thread).
  const runner = threaded ? await createReadModels(store, dir, path.join(logDir, STORE_FILE_NAME)) : createProjectionRunner(store, dir, path.join(logDir, STORE_FILE_NAME));
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const start = performance.now();
  const startCpu = process.cpuUsage();
  runner.start();
  await runner.waitFor(ALL_PROJECTIONS.map((p) => p.name), head, 3_600_000);
  // The last batch's indexes are built as the builds turn live: wait for that too.
  for (;;) {
    const statuses = await runner.statuses();
    if (statuses.every((s) => s.state === 'live')) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const rebuildSeconds = (performance.now() - start) / 1000;
  const rebuildCpu = cpuSeconds(startCpu);
  peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
  clearInterval(sampler);
  // The read models' bytes for this log, before the lag phase adds to either.
  const readModels = fileBytes(path.join(dir, READ_MODELS_FILE));
  const logBytes = fileBytes(path.join(logDir, STORE_FILE_NAME)).total;

  // As-of: the topology of a random deployment at a random past position of the log.
  const next = random(7);
  const reader = runner.reader(topologyProjection.name);
  const asOf: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const deployment = `org${Math.floor(next() * deployments)}`;
    const at = 1 + Math.floor(next() * head);
    const t = performance.now();
    readTopology(reader, deployment, at);
    asOf.push(performance.now() - t);
  }
  asOf.sort((a, b) => a - b);

  // Lag: 1,000 commands/s appended for 20 s; lag = from the append's acknowledgement until every
  // projection has passed its position. The first 10 s follow the rebuild straight away, while the
  // read models still settle (the last indexes, the first checkpoints of a freshly written file);
  // the next 10 s are the steady state. Each is reported.
  const pending: { position: number; acknowledged: number }[] = [];
  const afterRebuild: number[] = [];
  const lags: number[] = [];
  let peakRssLive = process.memoryUsage().rss;
  const liveSampler = setInterval(() => (peakRssLive = Math.max(peakRssLive, process.memoryUsage().rss)), 50);
  const lagStart = performance.now();
  // Where the live batches' time goes (applying the events, the commit) and how late the event loop
  // ran, per window: a lag spike is either a slow batch or a loop busy with something else.
  const windows = { afterRebuild: [] as BatchTiming[], steady: [] as BatchTiming[] };
  const loops = { afterRebuild: monitorEventLoopDelay({ resolution: 10 }), steady: monitorEventLoopDelay({ resolution: 10 }) };
  loops.afterRebuild.enable();
  const switchLoop = setTimeout(() => {
    loops.afterRebuild.disable();
    loops.steady.enable();
  }, 10_000);
  const timings = runner.batches.subscribe((batch) => {
    if (batch.live) (performance.now() - lagStart < 10_000 ? windows.afterRebuild : windows.steady).push(batch);
  });
  const progress = runner.progress.subscribe(() => {
    const slowest = Math.min(...ALL_PROJECTIONS.map((p) => runner.checkpoint(p.name)));
    while (pending.length && pending[0]!.position <= slowest) {
      const { acknowledged } = pending.shift()!;
      (acknowledged - lagStart < 10_000 ? afterRebuild : lags).push(performance.now() - acknowledged);
    }
  });
  let sent = 0;
  while (performance.now() - lagStart < 20_000) {
    const due = Math.floor((performance.now() - lagStart) / 1000 * 1000) - sent;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < due; i++, sent++) {
      const deployment = `org${Math.floor(next() * deployments)}`;
      const sipAddress = `sip:lag${sent}@contoso.com`;
      writes.push(
        store
          .appendToStream(`topology-${deployment}`, [{ id: randomUUID(), type: 'PersistentChatEndpointCreated', data: { sipAddress, poolFqdn: 'pcpool.contoso.com', displayName: null, distinguishedName: `CN=lag${sent}@contoso.com` }, metadata: { deployment, command: 'CreateEndpoint', actor: 'bench', occurredAt: new Date().toISOString() } }], { expectedRevision: 'any' })
          .then((r) => {
            pending.push({ position: r.position, acknowledged: performance.now() });
            pending.sort((a, b) => a.position - b.position);
          }),
      );
    }
    await Promise.all(writes);
    await new Promise((r) => setTimeout(r, 5));
  }
  const writeSeconds = (performance.now() - lagStart) / 1000;
  clearInterval(liveSampler);
  await new Promise((r) => setTimeout(r, 500));
  progress.unsubscribe();
  timings.unsubscribe();
  clearTimeout(switchLoop);
  loops.afterRebuild.disable();
  loops.steady.disable();
  const liveBatches = { afterRebuild: liveBatchFigures(windows.afterRebuild, loops.afterRebuild), steady: liveBatchFigures(windows.steady, loops.steady) };
  lags.sort((a, b) => a - b);
  afterRebuild.sort((a, b) => a - b);
  await runner.stop();
  await store.close();
  // The lag phase's events are the bench's own: take them out again, so the kept history stays the size it was generated at.
  const log = new Database(path.join(logDir, STORE_FILE_NAME));
  log.prepare('DELETE FROM events WHERE position > ?').run(head);
  log.close();

  // The baselines come last, on the same log, so that the peak RSS above is the rebuild's alone.
  const rawCpuStart = process.cpuUsage();
  const raw = rawRead();
  const rawCpu = cpuSeconds(rawCpuStart);
  const floorCpuStart = process.cpuUsage();
  const floor = await rawCopy();
  const floorCpu = cpuSeconds(floorCpuStart);

  const figures: ChildFigures = {
    rawReadEventsPerSecond: Math.round(raw),
    rawCopyEventsPerSecond: Math.round(floor),
    rebuildEventsPerSecond: Math.round(head / rebuildSeconds),
    rebuildSeconds: +rebuildSeconds.toFixed(2),
    peakRssMb: Math.round(peakRss / 1024 / 1024),
    asOfP50Ms: +percentile(asOf, 50).toFixed(3),
    asOfP99Ms: +percentile(asOf, 99).toFixed(3),
    lagP50Ms: +percentile(lags, 50).toFixed(1),
    lagP99Ms: +percentile(lags, 99).toFixed(1),
    lagSamples: lags.length,
    lagAfterRebuildP50Ms: +percentile(afterRebuild, 50).toFixed(1),
    lagAfterRebuildP99Ms: +percentile(afterRebuild, 99).toFixed(1),
    writesPerSecond: Math.round(sent / writeSeconds),
    peakRssLiveMb: Math.round(peakRssLive / MB),
    liveBatches,
    rawReadPerCpuSecond: Math.round(head / rawCpu),
    rawCopyPerCpuSecond: Math.round(head / floorCpu),
    rebuildPerCpuSecond: Math.round(head / rebuildCpu),
    logMb: +(logBytes / MB).toFixed(1),
    readModelsMb: +(readModels.total / MB).toFixed(1),
    readModelMb: Object.fromEntries(Object.entries(readModels.byProjection).map(([name, bytes]) => [name, +(bytes / MB).toFixed(1)])),
  };
  console.log(JSON.stringify(figures));
}

async function main(): Promise<void> {
  if (args.includes('--child')) return child();
  const written = await prepareLog();
  const result = spawnSync(process.execPath, [__filename, ...args, '--child'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  if (result.status !== 0) throw new Error(`the measuring process failed (${String(result.status)})`);
  const figures = JSON.parse(result.stdout.trim().split('\n').pop()!) as ChildFigures;
  const rows: Row[] = [
    { figure: `raw read + JSON.parse of the log (${written.toLocaleString('en')} events, baseline)`, value: figures.rawReadEventsPerSecond, unit: 'events/s' },
    { figure: 'raw read + JSON.parse + one row per event written to a fresh SQLite file (floor of any read model)', value: figures.rawCopyEventsPerSecond, unit: 'events/s', ratio: figures.rawCopyEventsPerSecond / figures.rawReadEventsPerSecond },
    { figure: `full rebuild of all ${ALL_PROJECTIONS.length} read models (${ALL_PROJECTIONS.map((p) => p.name).join(', ')}), to the raw read`, value: figures.rebuildEventsPerSecond, unit: 'events/s', ratio: figures.rebuildEventsPerSecond / figures.rawReadEventsPerSecond, target: REBUILD_TO_RAW },
    { figure: 'full rebuild, to the floor', value: figures.rebuildEventsPerSecond, unit: 'events/s', ratio: figures.rebuildEventsPerSecond / figures.rawCopyEventsPerSecond, target: REBUILD_TO_FLOOR },
    { figure: 'raw read + JSON.parse, per CPU-second of the process (baseline)', value: figures.rawReadPerCpuSecond, unit: 'events/CPU-s' },
    { figure: 'floor, per CPU-second (its checkpoint thread included)', value: figures.rawCopyPerCpuSecond, unit: 'events/CPU-s', ratio: figures.rawCopyPerCpuSecond / figures.rawReadPerCpuSecond },
    { figure: 'full rebuild per CPU-second, to the floor per CPU-second', value: figures.rebuildPerCpuSecond, unit: 'events/CPU-s', ratio: figures.rebuildPerCpuSecond / figures.rawCopyPerCpuSecond },
    { figure: 'the log (events.sqlite, baseline)', value: figures.logMb, unit: 'MB' },
    { figure: `read-model file after the rebuild, to the log (${Object.entries(figures.readModelMb).map(([name, mb]) => `${name} ${mb} MB`).join(', ')})`, value: figures.readModelsMb, unit: 'MB', ratio: figures.readModelsMb / figures.logMb },
    { figure: 'peak RSS of the rebuilding process', value: figures.peakRssMb, unit: 'MB' },
    { figure: 'peak RSS while live (the lag phase)', value: figures.peakRssLiveMb, unit: 'MB' },
    { figure: 'asOf topology query at a random past position, p50', value: figures.asOfP50Ms * 1000, unit: 'µs' },
    { figure: 'asOf topology query at a random past position, p99', value: figures.asOfP99Ms * 1000, unit: 'µs' },
    { figure: `projection lag at ${figures.writesPerSecond} writes/s, steady (10 s to 20 s after the rebuild), p50`, value: figures.lagP50Ms, unit: 'ms' },
    { figure: `projection lag at ${figures.writesPerSecond} writes/s, steady, p99`, value: figures.lagP99Ms, unit: 'ms' },
    { figure: 'projection lag in the first 10 s right after the rebuild, p50', value: figures.lagAfterRebuildP50Ms, unit: 'ms' },
    { figure: 'projection lag in the first 10 s right after the rebuild, p99', value: figures.lagAfterRebuildP99Ms, unit: 'ms' },
  ];
  printTable(`Projections over a generated history in ${dir}`, rows);
  for (const [window, b] of Object.entries(figures.liveBatches)) {
    console.log(
      `live batches, ${window === 'steady' ? 'steady' : 'first 10 s'}: ${b.batches} batches, events per batch p50 ${b.eventsP50} (max ${b.eventsMax}), ` +
        `apply p99 ${b.applyP99Ms} ms, commit p99 ${b.commitP99Ms} ms, slowest ${b.slowestMs} ms (${b.slowestEvents} events: apply ${b.slowestApplyMs}, commit ${b.slowestCommitMs}); ` +
        `event-loop delay p99 ${b.loopDelayP99Ms} ms, max ${b.loopDelayMaxMs} ms`,
    );
  }
  const verdicts = {
    rebuild: figures.rebuildEventsPerSecond >= REBUILD_TO_RAW * figures.rawReadEventsPerSecond && figures.rebuildEventsPerSecond >= REBUILD_TO_FLOOR * figures.rawCopyEventsPerSecond,
    peakRss: figures.peakRssMb <= 256,
    asOfP99: figures.asOfP99Ms <= 10,
    lagAfterRebuildP99: figures.lagAfterRebuildP99Ms <= 100,
    lagP99: figures.lagP99Ms <= 50,
  };
  const said = (met: boolean): string => (met ? 'met' : 'NOT met');
  console.log(
    `\ntargets: rebuild ≥ ${REBUILD_TO_RAW}× the raw read and ≥ ${REBUILD_TO_FLOOR}× the floor: ${said(verdicts.rebuild)}; peak RSS ≤ 256 MB: ${said(verdicts.peakRss)}; asOf p99 ≤ 10 ms: ${said(verdicts.asOfP99)}; ` +
      `lag p99 ≤ 100 ms in the first 10 s: ${said(verdicts.lagAfterRebuildP99)}; lag p99 ≤ 50 ms steady: ${said(verdicts.lagP99)}`,
  );
  if (json) console.log(JSON.stringify({ events: written, deployments, ...figures, targetsMet: verdicts }));
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
