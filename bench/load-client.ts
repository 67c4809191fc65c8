/**
 * Closed-loop HTTP load client of `bench:commands` and `bench:http`, run in a process of its own so it
 * never shares an event loop with what it measures. Prints one JSON line, a `LoadResult`.
 * Options: bench/README.md (`bench:commands`).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import { argValue } from './report';

export type LoadMode = 'create-endpoint' | 'what-if' | 'empty';

/** What every deployment is set up with before the load: the endpoints' domain and pool. */
export const SIP_DOMAIN = 'contoso.com';
export const POOL_FQDN = 'pcpool.contoso.com';
export const POOL_SERVERS: readonly string[] = ['pc1.contoso.com'];
export const CREATE_ENDPOINT_PATH = '/api/commands/CreateEndpoint';

export const deploymentName = (index: number, prefix = 'bench'): string => `${prefix}${index}`;

let authorization: Record<string, string> | undefined;

/** Headers every benchmark request carries: `Authorization: Bearer $TOPO_TOKEN` when that variable is set, read once. */
export function requestHeaders(): Record<string, string> {
  authorization ??= process.env['TOPO_TOKEN'] ? { authorization: `Bearer ${process.env['TOPO_TOKEN']}` } : {};
  return authorization;
}

/** One GET over a connection of its own; resolves with the status and the body. */
export function get(url: string, timeoutMs = 30_000): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const request = http.get(url, { agent: false, headers: requestHeaders() }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      response.on('error', reject);
    });
    request.setTimeout(timeoutMs, () => request.destroy(Object.assign(new Error(`no response within ${timeoutMs} ms`), { code: 'TIMEOUT' })));
    request.on('error', reject);
  });
}

export interface Counts {
  /** Responses received (any status), not counting transport errors. */
  readonly responses: number;
  readonly ok: number;
  readonly nonOk: number;
  /** Non-200 responses by `<status> <error.code>`. */
  readonly nonOkByCode: Record<string, number>;
  /** Requests that got no response, by error code (ECONNRESET, TIMEOUT, ...). */
  readonly transportErrors: Record<string, number>;
}

export interface LoadResult {
  readonly mode: LoadMode;
  readonly url: string;
  readonly clients: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** From the end of the warm-up to the last response of a request started before the deadline. */
  readonly windowSeconds: number;
  readonly measured: Counts;
  readonly warmup: Counts;
  /** 200 responses over the whole run, warm-up included: what the store must hold. */
  readonly totalOk: number;
  /** Responses of any status per second in the measured window. */
  readonly requestsPerSecond: number;
  /** 200 responses per second in the measured window. */
  readonly okPerSecond: number;
  /** Latency of every request started in the measured window that got a response, in ms. */
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly p999: number; readonly max: number; readonly mean: number };
  /** This process's CPU (user + system) over the window, in % of one core. */
  readonly clientCpuPercent: number;
  /** The `--watch-pid` process's CPU over the window, in % of one core; null when not asked or not readable. */
  readonly watchedCpuPercent: number | null;
  /** The part of it spent by that process's main thread (a Node.js process's event loop), in % of one core. */
  readonly watchedMainThreadCpuPercent: number | null;
  /** A few non-200 bodies, for diagnosis. */
  readonly samples: readonly string[];
  readonly nextSeq: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly mode: LoadMode;
  readonly clients: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly deployments: number;
  /** Deployments are named `<prefix><n>` (default `bench`). */
  readonly deploymentPrefix?: string;
  readonly firstSeq: number;
  readonly watchPid: number | undefined;
  readonly requestTimeoutMs: number;
}

export interface Reply {
  readonly status: number;
  /** The body; for a 200 only when asked for (`readOk`). */
  readonly body: string | undefined;
}

/** One POST over `agent`; the body of a 200 is drained unread unless `readOk`. */
export function post(agent: http.Agent, target: URL, path: string, body: string, timeoutMs: number, readOk = false): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const request = http.request(
      {
        host: target.hostname,
        port: target.port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...requestHeaders() },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        response.on('error', reject);
        if (status === 200 && !readOk) {
          response.on('end', () => resolve({ status, body: undefined }));
          response.resume();
          return;
        }
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status, body: text }));
      },
    );
    request.setTimeout(timeoutMs, () => request.destroy(Object.assign(new Error(`no response within ${timeoutMs} ms`), { code: 'TIMEOUT' })));
    request.on('error', reject);
    request.end(body);
  });
}

/** `<status> <error.code>` for a refusal body of the API, or just the status when the body is something else. */
export function errorKey(status: number, body: string | undefined): string {
  try {
    const parsed = JSON.parse(body ?? '') as { error?: { code?: unknown } };
    if (typeof parsed.error?.code === 'string') return `${status} ${parsed.error.code}`;
  } catch {
    // not JSON: the status alone
  }
  return String(status);
}

function bodyFor(mode: LoadMode, seq: number, deployments: number, prefix: string): string {
  if (mode === 'empty') return '{}';
  return JSON.stringify({
    sipAddress: `sip:chat${seq}@${SIP_DOMAIN}`,
    persistentChatPoolFqdn: POOL_FQDN,
    displayName: `Chat ${seq}`,
    deployment: deploymentName(seq % deployments, prefix),
  });
}

class Tally {
  responses = 0;
  ok = 0;
  readonly nonOkByCode = new Map<string, number>();
  readonly transportErrors = new Map<string, number>();

  counts(): Counts {
    return {
      responses: this.responses,
      ok: this.ok,
      nonOk: this.responses - this.ok,
      nonOkByCode: Object.fromEntries(this.nonOkByCode),
      transportErrors: Object.fromEntries(this.transportErrors),
    };
  }
}

const bump = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

/** user + system CPU time of a process in ms, from /proc (clock ticks of 10 ms); undefined when not readable. */
export function processCpuMs(pid: number, thread?: number): number | undefined {
  try {
    const stat = fs.readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * 10 : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.url);
  const path = options.mode === 'empty' ? '/' : options.mode === 'what-if' ? `${CREATE_ENDPOINT_PATH}?whatIf=true` : CREATE_ENDPOINT_PATH;
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  const latenciesNs: number[] = [];
  const warm = new Tally();
  const measured = new Tally();
  const samples: string[] = [];
  let seq = options.firstSeq;

  const t0 = process.hrtime.bigint();
  const warmupEnd = t0 + BigInt(Math.round(options.warmupSeconds * 1e9));
  const deadline = warmupEnd + BigInt(Math.round(options.seconds * 1e9));
  let lastResponse = warmupEnd;

  // CPU is sampled when the window opens (a timer: the loops never block for long) and once every loop has finished.
  type CpuSample = { wall: bigint; cpu: NodeJS.CpuUsage; watched: number | undefined; watchedMain: number | undefined };
  const sampleCpu = (): CpuSample => ({
    wall: process.hrtime.bigint(),
    cpu: process.cpuUsage(),
    watched: options.watchPid === undefined ? undefined : processCpuMs(options.watchPid),
    // The main thread's id is the process id.
    watchedMain: options.watchPid === undefined ? undefined : processCpuMs(options.watchPid, options.watchPid),
  });
  let windowStart: CpuSample | undefined;
  const openWindow = (): void => {
    windowStart ??= sampleCpu();
  };
  const windowTimer = setTimeout(openWindow, options.warmupSeconds * 1000);

  const loop = async (): Promise<void> => {
    for (;;) {
      const start = process.hrtime.bigint();
      if (start >= deadline) return;
      const inWindow = start >= warmupEnd;
      const tally = inWindow ? measured : warm;
      const body = bodyFor(options.mode, seq++, options.deployments, options.deploymentPrefix ?? 'bench');
      try {
        const reply = await post(agent, target, path, body, options.requestTimeoutMs);
        const done = process.hrtime.bigint();
        tally.responses += 1;
        if (reply.status === 200) tally.ok += 1;
        else {
          bump(tally.nonOkByCode, errorKey(reply.status, reply.body));
          if (samples.length < 5) samples.push(`${reply.status} ${(reply.body ?? '').slice(0, 500)}`);
        }
        if (inWindow) {
          latenciesNs.push(Number(done - start));
          if (done > lastResponse) lastResponse = done;
        }
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
        bump(tally.transportErrors, code);
        await sleep(10); // a refused connection must not turn the loop into a busy spin
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, loop));
  clearTimeout(windowTimer);
  openWindow(); // a window shorter than a timer tick
  const windowEnd = sampleCpu();
  agent.destroy();

  const start = windowStart ?? windowEnd;
  const cpuWallMs = Number(windowEnd.wall - start.wall) / 1e6;
  const cpuUsedMs = (windowEnd.cpu.user - start.cpu.user + windowEnd.cpu.system - start.cpu.system) / 1000;
  const percentOfWindow = (from: number | undefined, to: number | undefined): number | null =>
    from !== undefined && to !== undefined && cpuWallMs > 0 ? +(((to - from) / cpuWallMs) * 100).toFixed(1) : null;
  const watchedCpuPercent = percentOfWindow(start.watched, windowEnd.watched);

  const sorted = Float64Array.from(latenciesNs).sort();
  const ms = (ns: number): number => +(ns / 1e6).toFixed(3);
  const sum = latenciesNs.reduce((a, b) => a + b, 0);
  const windowSeconds = Number(lastResponse - warmupEnd) / 1e9;
  const counts = measured.counts();
  return {
    mode: options.mode,
    url: options.url,
    clients: options.clients,
    warmupSeconds: options.warmupSeconds,
    seconds: options.seconds,
    windowSeconds: +windowSeconds.toFixed(3),
    measured: counts,
    warmup: warm.counts(),
    totalOk: warm.ok + measured.ok,
    requestsPerSecond: windowSeconds > 0 ? counts.responses / windowSeconds : 0,
    okPerSecond: windowSeconds > 0 ? counts.ok / windowSeconds : 0,
    latencyMs: {
      p50: ms(percentile(sorted, 0.5)),
      p90: ms(percentile(sorted, 0.9)),
      p99: ms(percentile(sorted, 0.99)),
      p999: ms(percentile(sorted, 0.999)),
      max: ms(sorted[sorted.length - 1] ?? 0),
      mean: ms(sorted.length ? sum / sorted.length : 0),
    },
    clientCpuPercent: cpuWallMs > 0 ? +((cpuUsedMs / cpuWallMs) * 100).toFixed(1) : 0,
    watchedCpuPercent,
    watchedMainThreadCpuPercent: percentOfWindow(start.watchedMain, windowEnd.watchedMain),
    samples,
    nextSeq: seq,
  };
}

function positive(args: readonly string[], name: string, fallback: number, integer: boolean): number {
  const raw = argValue(args, name);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) throw new Error(`${name} must be a ${integer ? 'whole ' : ''}number ≥ 0 (got ${raw ?? ''})`);
  return value;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const url = argValue(args, '--url');
  if (!url) throw new Error('--url is required');
  const mode = argValue(args, '--mode') ?? 'create-endpoint';
  if (mode !== 'create-endpoint' && mode !== 'what-if' && mode !== 'empty') throw new Error(`--mode must be create-endpoint, what-if or empty (got ${mode})`);
  const watch = argValue(args, '--watch-pid');
  const result = await runLoad({
    url,
    mode,
    clients: Math.max(1, positive(args, '--clients', 32, true)),
    seconds: positive(args, '--seconds', 10, false),
    warmupSeconds: positive(args, '--warmup', 1, false),
    deployments: Math.max(1, positive(args, '--deployments', 1000, true)),
    deploymentPrefix: argValue(args, '--deployment-prefix') ?? 'bench',
    firstSeq: positive(args, '--first-seq', 0, true),
    watchPid: watch === undefined ? undefined : Number(watch),
    requestTimeoutMs: 30_000,
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  void main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
