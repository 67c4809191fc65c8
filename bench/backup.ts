/**
 * `npm run bench:backup`: `topo store backup`'s copy of a kept store beside `cp` of the same file,
 * medians of alternating runs. Options, target and results: bench/README.md.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STORE_FILE_NAME } from '../src/event-store/sqlite/sqlite-event-store';
import { backupStore } from '../src/ops/sqlite-backup';
import { PROJECT_ROOT } from '../src/version';
import { keptHistory } from './history';
import { argValue, printTable } from './report';

const args = process.argv.slice(2);
const events = Number(argValue(args, '--events') ?? 1_000_000);
const dir = path.resolve(argValue(args, '--dir') ?? path.join(PROJECT_ROOT, '.bench-data', 'backup'));
/** Rounds: each of the four ways runs once per round, in an order turned by one each round. */
const RUNS = 4;

/** CPU seconds used by this process's waited-for children (cp): utime + stime of its children, from /proc (Linux). */
function childrenCpuSeconds(): number {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** CPU seconds used by this process (the backup: its main thread and the pool's threads). */
function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const logDir = path.join(dir, 'log');
  await keptHistory({ dir, logDir, events, deployments: Math.max(1, Math.round(events / 200)), label: 'bench:backup' });
  const source = path.join(logDir, STORE_FILE_NAME);
  // Everything in the WAL folded into the file first: `cp` of the file alone is then a whole copy, as the backup is.
  const db = new Database(source);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const bytes = fs.statSync(source).size;
  const out = path.join(dir, 'out');
  const cpSeconds: number[] = [];
  const cpSyncSeconds: number[] = [];
  const backupSeconds: number[] = [];
  const fullSeconds: number[] = [];
  const copySeconds: number[] = [];
  const checkSeconds: number[] = [];
  const pausedMs: number[] = [];
  const cpCpu: number[] = [];
  const backupCpu: number[] = [];
  const steps: Record<string, (file: string) => Promise<void>> = {
    cp: async (file) => {
      const start = performance.now();
      const cpu = childrenCpuSeconds();
      execFileSync('cp', [source, file]);
      cpSeconds.push((performance.now() - start) / 1000);
      cpCpu.push(childrenCpuSeconds() - cpu);
    },
    // cp does not make its copy durable; the backup does: cp followed by an fsync of the copy, for comparison.
    cpSync: async (file) => {
      const start = performance.now();
      execFileSync('cp', [source, file]);
      const fd = fs.openSync(file, 'r+');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      cpSyncSeconds.push((performance.now() - start) / 1000);
    },
    backup: async (file) => {
      const start = performance.now();
      const cpu = ownCpuSeconds();
      const made = await backupStore(source, file);
      backupSeconds.push((performance.now() - start) / 1000);
      backupCpu.push(ownCpuSeconds() - cpu);
      copySeconds.push(made.seconds.copy);
      checkSeconds.push(made.seconds.check);
      pausedMs.push(made.writerPausedMs);
    },
    full: async (file) => {
      const start = performance.now();
      await backupStore(source, file, undefined, { fullCheck: true });
      fullSeconds.push((performance.now() - start) / 1000);
    },
  };
  const names = Object.keys(steps);
  // Every way starts from the same state: no copy of an earlier step left in the page cache or still
  // to be written back (cp leaves 1.2 GB for the kernel to write later, which would slow whatever
  // runs next), and each way runs once in each place of the order.
  for (let run = 0; run < RUNS; run++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + run) % names.length]!;
      fs.rmSync(out, { recursive: true, force: true });
      fs.mkdirSync(out, { recursive: true });
      execFileSync('sync');
      await new Promise((resolve) => setTimeout(resolve, 500));
      await steps[name]!(path.join(out, `${name}-${run}.sqlite`));
    }
  }
  fs.rmSync(out, { recursive: true, force: true });
  const cp = median(cpSeconds);
  const backup = median(backupSeconds);
  // The report's ratios are "at least": the backup's speed relative to cp's must be at least 0.5 (time at most 2x).
  printTable(`topo store backup vs cp: ${events.toLocaleString('en')} events, ${(bytes / 1e6).toFixed(0)} MB (median of ${RUNS} runs each)`, [
    { figure: `cp (runs: ${cpSeconds.map((t) => (t * 1000).toFixed(0)).join(', ')} ms)`, value: cp * 1000, unit: 'ms' },
    { figure: `cp, then fsync of the copy (runs: ${cpSyncSeconds.map((t) => (t * 1000).toFixed(0)).join(', ')} ms)`, value: median(cpSyncSeconds) * 1000, unit: 'ms', ratio: cp / median(cpSyncSeconds) },
    {
      figure: `topo store backup --full-check, + quick_check (runs: ${fullSeconds.map((t) => (t * 1000).toFixed(0)).join(', ')} ms)`,
      value: median(fullSeconds) * 1000,
      unit: 'ms',
      ratio: cp / median(fullSeconds),
    },
    { figure: `topo store backup, copy + check (runs: ${backupSeconds.map((t) => (t * 1000).toFixed(0)).join(', ')} ms)`, value: backup * 1000, unit: 'ms', ratio: cp / backup, target: 0.5 },
  ]);
  const ms = (values: readonly number[]) => values.map((t) => (t * 1000).toFixed(0)).join(', ');
  console.log(`\nthe backup's time: copy (the state fixed, the file copied and made durable) ${ms(copySeconds)} ms, check ${ms(checkSeconds)} ms; the writer held back ${pausedMs.map((t) => t.toFixed(1)).join(', ')} ms`);
  console.log(`per round, backup time / cp time: ${backupSeconds.map((t, i) => (t / cpSeconds[i]!).toFixed(2)).join(', ')}`);
  console.log(
    `CPU time (less disturbed by other work on the machine than elapsed time): cp ${ms(cpCpu)} ms, backup ${ms(backupCpu)} ms; backup / cp ${(median(backupCpu) / median(cpCpu)).toFixed(2)}`,
  );
  console.log(`backup time / cp time: ${(backup / cp).toFixed(2)} (target: at most 2); backup time / (cp + fsync) time: ${(backup / median(cpSyncSeconds)).toFixed(2)}`);
  if (backup > 2 * cp) process.exitCode = 1;
}

void main();
