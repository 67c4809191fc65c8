/**
 * `npm run bench:http`: command load beside the HTTP ceiling, command and as-of query cost as the log
 * grows, and cold start on the largest log. Options, figures and results: bench/README.md.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../src/version';
import { keptHistory, random } from './history';
import { deploymentName, errorKey, get, LoadResult, percentile, POOL_FQDN, POOL_SERVERS, post, SIP_DOMAIN } from './load-client';
import { argValue, printTable, Row } from './report';
import { benchServerEnv } from './server-env';

const args = process.argv.slice(2);
const json = args.includes('--json');
const list = (name: string, fallback: string): number[] => (argValue(args, name) ?? fallback).split(',').map(Number);
const clientCounts = list('--clients', '32,128');
const seconds = Number(argValue(args, '--seconds') ?? 5);
const warmup = Number(argValue(args, '--warmup') ?? 1);
const deployments = Number(argValue(args, '--deployments') ?? 200);
const sizes = list('--sizes', '10000,100000,1000000').sort((a, b) => a - b);
const queries = Number(argValue(args, '--queries') ?? 300);
const starts = Number(argValue(args, '--starts') ?? 3);
const rounds = Number(argValue(args, '--rounds') ?? 3);
const baseDir = path.resolve(argValue(args, '--dir') ?? path.join(PROJECT_ROOT, '.bench-data', 'http'));
const runDir = path.join(baseDir, `run-${process.pid}`);
const SERVER_MAIN = path.join(PROJECT_ROOT, 'dist', 'src', 'main.js');
const LOAD_CLIENT = path.join(__dirname, 'load-client.js');
const NOOP_SERVER = path.join(__dirname, 'noop-server.js');
const COLD_START_TARGET_MS = 2_000;
/** Deployments of the history that the scaling part's command load writes to, at every size. */
const LOAD_DEPLOYMENTS = 50;

const progress = (line: string): void => void process.stderr.write(`bench:http: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const children = new Set<ChildProcess>();

interface Child {
  readonly url: string;
  readonly pid: number;
  /** ms from spawn to "listening on". */
  readonly listeningMs: number;
  stop(): Promise<number | null>;
}

function startChild(script: string, env: NodeJS.ProcessEnv, timeoutMs = 600_000): Promise<Child> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [script], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => (children.delete(child), resolve(code))));
  return new Promise<Child>((resolve, reject) => {
    let listening = false;
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`${script} did not start:\n${output}`))), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8192);
      const match = listening ? null : /listening on (http:\/\/[^\s]+)/.exec(output);
      if (!match) return;
      listening = true;
      clearTimeout(timer);
      resolve({
        url: match[1]!,
        pid: child.pid!,
        listeningMs: performance.now() - spawnedAt,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      if (!listening) reject(new Error(`${script} exited with ${String(code)} before listening:\n${output}`));
    });
  });
}

const serverEnv = benchServerEnv;

interface LoadRun {
  readonly clients: number;
  readonly deployments: number;
  readonly prefix: string;
  readonly firstSeq: number;
  readonly mode: 'create-endpoint' | 'empty';
  readonly watchPid: number;
}

function runLoadClient(url: string, run: LoadRun): Promise<LoadResult> {
  const clientArgs = [LOAD_CLIENT, '--url', url, '--mode', run.mode, '--clients', String(run.clients), '--seconds', String(seconds), '--warmup', String(warmup)];
  clientArgs.push('--deployments', String(run.deployments), '--deployment-prefix', run.prefix, '--first-seq', String(run.firstSeq), '--watch-pid', String(run.watchPid));
  const child = spawn(process.execPath, clientArgs, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<LoadResult>((resolve, reject) =>
    child.on('exit', (code) => {
      children.delete(child);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`load client exited with ${String(code)}:\n${stderr}${stdout}`));
      else resolve(JSON.parse(line) as LoadResult);
    }),
  );
}

async function setUpDeployments(url: string, count: number): Promise<void> {
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const deployment = deploymentName(next++);
      for (const [name, body] of [
        ['RegisterSipDomain', { domain: SIP_DOMAIN, deployment }],
        ['InstallPersistentChatPool', { fqdn: POOL_FQDN, servers: [...POOL_SERVERS], deployment }],
      ] as const) {
        const reply = await post(agent, target, `/api/commands/${name}`, JSON.stringify(body), 60_000, true);
        if (reply.status !== 200) throw new Error(`set-up ${name}: ${errorKey(reply.status, reply.body)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  agent.destroy();
}

async function waitUntilLive(url: string): Promise<void> {
  for (;;) {
    const reply = await get(`${url}/api/projections`);
    const { projections } = JSON.parse(reply.body ?? '{}') as { projections?: { state: string; checkpoint: number; headPosition: number }[] };
    if (projections?.every((p) => p.state === 'live' && p.checkpoint >= p.headPosition)) return;
    if (projections?.some((p) => p.state === 'failed')) throw new Error(`a projection failed: ${reply.body ?? ''}`);
    await sleep(500);
  }
}

/** The cached history of `size` events, generated on first use. */
async function history(size: number): Promise<{ dir: string; deployments: number }> {
  const historyDeployments = Math.max(10, Math.round(size / 200));
  const dir = path.join(baseDir, `history-${size}-${historyDeployments}`);
  await keptHistory({ dir, logDir: dir, events: size, deployments: historyDeployments, label: 'bench:http' });
  return { dir, deployments: historyDeployments };
}

interface Latency {
  readonly p50: number;
  readonly p99: number;
}

async function asOfQueries(url: string, head: number, historyDeployments: number, seed: number): Promise<Latency> {
  const next = random(seed);
  const latencies: number[] = [];
  for (let i = 0; i < queries; i++) {
    const deployment = `org${Math.floor(next() * historyDeployments)}`;
    const position = 1 + Math.floor(next() * head);
    const start = performance.now();
    const reply = await get(`${url}/api/topology?deployment=${deployment}&atPosition=${position}`);
    latencies.push(performance.now() - start);
    if (reply.status !== 200) throw new Error(`as-of query: ${reply.status} ${(reply.body ?? '').slice(0, 300)}`);
  }
  const sorted = Float64Array.from(latencies).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

async function coldStartMs(dataDir: string): Promise<number> {
  const port = String(20_000 + Math.floor(Math.random() * 20_000));
  const spawnedAt = performance.now();
  const server = await startChild(SERVER_MAIN, serverEnv(dataDir, port));
  for (;;) {
    const reply = await get(`http://127.0.0.1:${port}/health`).catch(() => undefined);
    if (reply?.status === 200) break;
    await sleep(5);
  }
  const ms = performance.now() - spawnedAt;
  await server.stop();
  return ms;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function main(): Promise<void> {
  fs.mkdirSync(runDir, { recursive: true });
  const figures: Record<string, unknown> = { machine: `${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, seconds, warmup, rounds };
  try {
    // 1. Command load beside the ceiling.
    const loadRows: Row[] = [];
    const noop = await startChild(NOOP_SERVER, { ...process.env });
    const ceilings = new Map<number, LoadResult>();
    try {
      for (const clients of clientCounts) {
        progress(`ceiling: do-nothing server, ${clients} clients`);
        ceilings.set(clients, await runLoadClient(noop.url, { clients, deployments: 1, prefix: 'bench', firstSeq: 0, mode: 'empty', watchPid: noop.pid }));
      }
    } finally {
      await noop.stop();
    }
    const product = await startChild(SERVER_MAIN, serverEnv(path.join(runDir, 'load')));
    const loads = new Map<number, LoadResult>();
    try {
      progress(`product: setting up ${deployments} deployments`);
      await setUpDeployments(product.url, deployments);
      let seq = 0;
      for (const clients of clientCounts) {
        progress(`product: CreateEndpoint, ${clients} clients`);
        const result = await runLoadClient(product.url, { clients, deployments, prefix: 'bench', firstSeq: seq, mode: 'create-endpoint', watchPid: product.pid });
        seq = result.nextSeq;
        loads.set(clients, result);
      }
    } finally {
      await product.stop();
    }
    const loadFigures: Record<string, unknown> = {};
    for (const clients of clientCounts) {
      const ceiling = ceilings.get(clients)!;
      const load = loads.get(clients)!;
      loadRows.push({ figure: `do-nothing server, ${clients} clients (ceiling)`, value: ceiling.requestsPerSecond, unit: 'requests/s' });
      loadRows.push({ figure: `CreateEndpoint, ${clients} clients, to the ceiling`, value: load.okPerSecond, unit: 'commands/s', ratio: load.okPerSecond / ceiling.requestsPerSecond });
      loadRows.push({ figure: `  ceiling p50 / p99, ${clients} clients`, value: ceiling.latencyMs.p50 * 1000, unit: `µs / ${Math.round(ceiling.latencyMs.p99 * 1000).toLocaleString('en')} µs` });
      loadRows.push({ figure: `  CreateEndpoint p50, ${clients} clients, to the ceiling p50`, value: load.latencyMs.p50 * 1000, unit: 'µs', ratio: load.latencyMs.p50 / ceiling.latencyMs.p50 });
      loadRows.push({ figure: `  CreateEndpoint p99, ${clients} clients, to the ceiling p99`, value: load.latencyMs.p99 * 1000, unit: 'µs', ratio: load.latencyMs.p99 / ceiling.latencyMs.p99 });
      loadRows.push({ figure: `  non-200 responses, ${clients} clients (none expected)`, value: load.measured.nonOk + load.warmup.nonOk, unit: 'responses' });
      loadFigures[`clients${clients}`] = {
        ceilingRequestsPerSecond: Math.round(ceiling.requestsPerSecond),
        ceilingLatencyMs: { p50: ceiling.latencyMs.p50, p99: ceiling.latencyMs.p99 },
        commandsPerSecond: Math.round(load.okPerSecond),
        ratioToCeiling: +(load.okPerSecond / ceiling.requestsPerSecond).toFixed(3),
        latencyMs: { p50: load.latencyMs.p50, p99: load.latencyMs.p99, p999: load.latencyMs.p999 },
        nonOk: load.measured.nonOk + load.warmup.nonOk,
        serverCpuPercent: load.watchedCpuPercent,
        clientCpuPercent: load.clientCpuPercent,
      };
    }
    figures['load'] = loadFigures;
    printTable(`CreateEndpoint over HTTP beside a do-nothing server, ${warmup} s warm-up + ${seconds} s, ${deployments} deployments`, loadRows);

    // 2. Scaling with the size of the log, and 3. cold start on the largest.
    const scaleRows: Row[] = [];
    const scaleFigures: Record<string, unknown> = {};
    const histories = new Map<number, { dir: string; deployments: number }>();
    for (const size of sizes) histories.set(size, await history(size));
    const largestDir = histories.get(sizes[sizes.length - 1]!)!.dir;
    // Sizes are measured in turn, round after round, and medians kept: the machine's load drifts.
    const samples = new Map<number, { head: number; rate: number; p50: number; p99: number; nonOk: number; asOf: Latency }[]>();
    for (let round = 0; round < rounds; round++) {
      for (const size of sizes) {
        const { dir, deployments: historyDeployments } = histories.get(size)!;
        progress(`scaling, round ${round + 1}, ${size.toLocaleString('en')} events: starting the product (read models catch up on first use)`);
        const server = await startChild(SERVER_MAIN, serverEnv(dir));
        try {
          await waitUntilLive(server.url);
          const head = (JSON.parse((await get(`${server.url}/health`)).body ?? '{}') as { headPosition: number }).headPosition;
          const asOf = await asOfQueries(server.url, head, historyDeployments, size + round);
          // New SIP addresses on every run: the history is kept from run to run.
          // The same 50 deployments at every size, so that only the log's size changes, not how many deployments the server must load.
          const load = await runLoadClient(server.url, { clients: 32, deployments: Math.min(LOAD_DEPLOYMENTS, historyDeployments), prefix: 'org', firstSeq: Date.now(), mode: 'create-endpoint', watchPid: server.pid });
          const list = samples.get(size) ?? [];
          list.push({ head, rate: load.okPerSecond, p50: load.latencyMs.p50, p99: load.latencyMs.p99, nonOk: load.measured.nonOk + load.warmup.nonOk, asOf });
          samples.set(size, list);
        } finally {
          await server.stop();
        }
      }
    }
    let smallest: { rate: number; p99: number; asOf: Latency } | undefined;
    for (const size of sizes) {
      const list = samples.get(size)!;
      const rate = median(list.map((x) => x.rate));
      const p50 = median(list.map((x) => x.p50));
      const p99 = median(list.map((x) => x.p99));
      const asOf = { p50: median(list.map((x) => x.asOf.p50)), p99: median(list.map((x) => x.asOf.p99)) };
      const head = list[list.length - 1]!.head;
      smallest ??= { rate, p99, asOf };
      const label = `${size.toLocaleString('en')} events (head ${head.toLocaleString('en')})`;
      scaleRows.push({ figure: `${label}: CreateEndpoint, 32 clients, to the smallest log`, value: rate, unit: 'commands/s', ratio: rate / smallest.rate });
      scaleRows.push({ figure: `${label}: CreateEndpoint p99, to the smallest log`, value: p99 * 1000, unit: 'µs', ratio: p99 / smallest.p99 });
      scaleRows.push({ figure: `${label}: as-of topology query p50, to the smallest log`, value: asOf.p50 * 1000, unit: 'µs', ratio: asOf.p50 / smallest.asOf.p50 });
      scaleRows.push({ figure: `${label}: as-of topology query p99, to the smallest log`, value: asOf.p99 * 1000, unit: 'µs', ratio: asOf.p99 / smallest.asOf.p99 });
      scaleFigures[`events${size}`] = {
        head,
        commandsPerSecond: Math.round(rate),
        commandLatencyMs: { p50, p99 },
        nonOk: list.reduce((a, x) => a + x.nonOk, 0),
        asOfLatencyMs: asOf,
        runs: list.map((x) => ({ commandsPerSecond: Math.round(x.rate), asOfP50Ms: +x.asOf.p50.toFixed(3), asOfP99Ms: +x.asOf.p99.toFixed(3) })),
      };
    }
    figures['scaling'] = scaleFigures;
    printTable(`Scaling with the size of the log (medians of ${rounds} interleaved rounds; each ratio against the smallest log)`, scaleRows);

    const coldStarts: number[] = [];
    for (let i = 0; i < starts; i++) coldStarts.push(await coldStartMs(largestDir));
    const cold = median(coldStarts);
    figures['coldStart'] = { events: sizes[sizes.length - 1], medianMs: Math.round(cold), runsMs: coldStarts.map(Math.round), targetMs: COLD_START_TARGET_MS, met: cold <= COLD_START_TARGET_MS };
    printTable(`Cold start, spawn to the first /health 200, ${sizes[sizes.length - 1]!.toLocaleString('en')}-event store (median of ${starts}: ${coldStarts.map((ms) => Math.round(ms)).join(', ')} ms)`, [
      { figure: `cold start (target ≤ ${COLD_START_TARGET_MS.toLocaleString('en')} ms: ${cold <= COLD_START_TARGET_MS ? 'yes' : 'NO'})`, value: cold, unit: 'ms' },
    ]);
    if (json) console.log(JSON.stringify(figures));
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    for (const child of children) child.kill('SIGKILL');
    console.error(error);
    process.exit(1);
  },
);
