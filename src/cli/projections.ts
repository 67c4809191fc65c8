import { ALL_PROJECTIONS } from '../../projections';
import type { ProjectionStatus } from '../../projections/runner/projection-runner';
import { createProjectionRunner } from '../application/read-models.module';
import { loadConfig } from '../config/config';
import { runningServer } from '../config/running-server';
import { openEventStore } from '../event-store/open-event-store';
import { terminalSafe as safe } from './terminal';

/** `[#####.....]  45%  450,000/1,000,000 events  85,000 events/s  ETA 6 s` */
export function progressLine(name: string, done: number, total: number, eventsPerSecond: number): string {
  const share = total > 0 ? Math.min(1, done / total) : 1;
  const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
  const eta = eventsPerSecond > 0 ? `${Math.ceil((total - done) / eventsPerSecond)} s` : '-';
  return `${name.padEnd(20)} [${bar}] ${(share * 100).toFixed(0).padStart(3)}%  ${done.toLocaleString('en')}/${total.toLocaleString('en')} events  ${Math.round(eventsPerSecond).toLocaleString('en')} events/s  ETA ${eta}`;
}

type Statuses = () => Promise<ProjectionStatus[]>;

/** Prints progress until no rebuild is left under way; resolves with the final statuses. */
async function follow(statuses: Statuses, names: readonly string[], out: NodeJS.WriteStream): Promise<ProjectionStatus[]> {
  const started = Date.now();
  const tty = out.isTTY === true;
  for (;;) {
    const all = (await statuses()).filter((s) => names.includes(s.name));
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const lines = all.map((s) => {
      const done = s.rebuild ? s.rebuild.checkpoint : s.checkpoint;
      return progressLine(s.name, done, s.headPosition, done / seconds);
    });
    const finished = all.every((s) => s.rebuild === null && s.state !== 'catching_up');
    if (tty) out.write(`${lines.join('\n')}\n\x1b[${lines.length}A`);
    if (finished || all.some((s) => s.state === 'failed')) {
      out.write(tty ? `\x1b[${lines.length}B` : `${lines.join('\n')}\n`);
      return all;
    }
    await new Promise((r) => setTimeout(r, tty ? 200 : 2000));
  }
}

/**
 * `topo projections rebuild [name] [--server URL]` (with the admin token in `TOPO_TOKEN`): replays the log from the start into new tables
 * (the current ones answer until the new ones have caught up). Without `--server` it works on the
 * store in DATA_DIR and must not run beside a server on the same DATA_DIR: use `--server` then.
 */
export async function rebuildProjections(name: string | undefined, server: string | undefined, token: string | undefined = process.env['TOPO_TOKEN'] || undefined): Promise<number> {
  const known = ALL_PROJECTIONS.map((p) => p.name);
  if (name !== undefined && !known.includes(name)) {
    console.error(`topo: PROJECTION_NOT_FOUND: no projection named '${safe(name)}'; known: ${known.join(', ')}`);
    return 1;
  }
  const names = name === undefined ? known : [name];
  let final: ProjectionStatus[];
  if (server !== undefined) {
    const auth: Record<string, string> = token !== undefined ? { authorization: `Bearer ${token}` } : {};
    for (const n of names) {
      const response = await fetch(`${server}/api/projections/${n}/rebuild`, { method: 'POST', headers: auth });
      if (response.status !== 202) {
        console.error(`topo: rebuild of ${safe(n)} refused: ${response.status} ${safe(await response.text())}`);
        return 1;
      }
    }
    final = await follow(async () => ((await (await fetch(`${server}/api/projections`, { headers: auth })).json()) as { projections: ProjectionStatus[] }).projections, names, process.stdout);
  } else {
    const config = loadConfig();
    // The server's read models are the same file: a second writer would switch and drop tables under it.
    const running = runningServer(config.dataDir);
    if (running !== undefined) {
      console.error(
        `topo: a server runs on DATA_DIR (pid ${running.pid}, ${safe(running.url)}); rebuild through it: topo projections rebuild ${names.map(safe).join(' ')} --server ${safe(running.url)} (or stop it first)`,
      );
      return 2;
    }
    const store = openEventStore(config);
    const runner = createProjectionRunner(store, config.dataDir);
    for (const n of names) await runner.rebuild(n);
    runner.start();
    try {
      final = await follow(() => runner.statuses(), names, process.stdout);
    } finally {
      await runner.stop();
      await store.close();
    }
  }
  const failed = final.filter((s) => s.state === 'failed');
  for (const s of failed) console.error(`topo: ${s.name} failed at position ${safe(s.failedAt?.position)} (${safe(s.failedAt?.type)}): ${safe(s.failedAt?.error)}`);
  if (failed.length === 0) console.log(`rebuilt ${names.join(', ')} to position ${final[0]?.checkpoint ?? 0}`);
  return failed.length ? 1 : 0;
}
