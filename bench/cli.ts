/**
 * `npm run bench:cli`: `topo` calls as whole processes (spawn to exit) beside `node -e 0`,
 * interleaved, medians. Options, target and results: bench/README.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../src/version';
import { argValue } from './report';
import { BENCH_TOKEN, benchServerEnv } from './server-env';

const args = process.argv.slice(2);
const runs = Number(argValue(args, '--runs') ?? 15);
const TOPO = path.join(PROJECT_ROOT, 'bin', 'topo.js');
const TARGET_MS = 250;

function startServer(dataDir: string): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist', 'src', 'main.js')], {
    cwd: PROJECT_ROOT,
    env: { ...benchServerEnv(dataDir), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`the server did not start:\n${output}`))), 60_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve({ url: match[1]!, stop: () => child.kill('SIGTERM') });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
}

/** One whole process, spawn to exit, in ms; it must exit 0. */
function timed(argv: string[], env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  const run = spawnSync(process.execPath, argv, { cwd: PROJECT_ROOT, env, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (run.status !== 0) throw new Error(`${argv.join(' ')} exited ${String(run.status)}:\n${run.stderr}`);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-bench-cli-'));
  const served = path.join(dir, 'served');
  const server = await startServer(served);
  try {
    const env = { ...process.env, TOPO_TOKEN: BENCH_TOKEN };
    const cases: Array<{ figure: string; argv: string[]; env: NodeJS.ProcessEnv; target: boolean }> = [
      { figure: 'node -e 0 (baseline)', argv: ['-e', '0'], env, target: false },
      { figure: 'topo version', argv: [TOPO, 'version'], env, target: true },
      { figure: 'topo help', argv: [TOPO, 'help'], env, target: true },
      { figure: 'Get-CsPersistentChatEndpoint --server URL', argv: [TOPO, 'Get-CsPersistentChatEndpoint', '--server', server.url], env, target: true },
      {
        figure: 'Get-CsPersistentChatEndpoint in process (DATA_DIR)',
        argv: [TOPO, 'Get-CsPersistentChatEndpoint'],
        // Without a token: the OS user acts through the process's local session.
        env: { ...process.env, TOPO_TOKEN: '', DATA_DIR: path.join(dir, 'local'), LOG_LEVEL: 'silent' },
        target: false,
      },
    ];
    const samples = cases.map(() => [] as number[]);
    // Interleaved, so that a busy moment of the machine falls on every case alike.
    for (let round = 0; round < runs; round++) cases.forEach((c, i) => samples[i]!.push(timed(c.argv, c.env)));
    const baseline = median(samples[0]!);
    const rows = cases.map((c, i) => {
      const ms = median(samples[i]!);
      return { figure: c.figure, ms, ratio: ms / baseline, target: c.target ? TARGET_MS : undefined, met: c.target ? ms <= TARGET_MS : undefined };
    });
    const lines = [`### topo, whole process (median of ${runs})`, '', '| figure | median | ratio to node -e 0 | target | met |', '|---|---:|---:|---:|:---:|'];
    for (const row of rows) {
      lines.push(
        `| ${row.figure} | ${row.ms.toFixed(0)} ms | ${row.ratio.toFixed(2)}× | ${row.target ? `≤ ${row.target} ms` : ''} | ${row.met === undefined ? '' : row.met ? 'yes' : 'NO'} |`,
      );
    }
    console.log(lines.join('\n'));
    if (args.includes('--json')) console.log(JSON.stringify({ runs, rows }));
  } finally {
    server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
