import { SingleBar } from 'cli-progress';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatDigest, verifyLog } from '../application/log-verification';
import { ConfigError, loadConfig } from '../config/config';
import { openEventStore } from '../event-store/open-event-store';
import { StoreFileError } from '../event-store/event-store';
import { createPrivateDirectory, STORE_FILE_NAME } from '../event-store/open-event-store';
import { BackupError, backupStore, integrityProblems } from '../ops/sqlite-backup';
import { terminalSafe as safe } from './terminal';

export const STORE_USAGE = `usage: topo store backup FILE [--full-check]   a consistent, verified copy of DATA_DIR's event store (a server may be running on it)
       topo store restore FILE    into an empty DATA_DIR: checks the file's integrity and hash chain; then start the server on it
       topo store copy --to esdb://...|kurrentdb://... [--from-start]   every event to EventStoreDB / KurrentDB, resumable (see README)`;

/** A progress bar on stderr when it is a terminal (cli-progress writes nothing otherwise). */
function progressBar(label: string, unit: string): SingleBar {
  return new SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {eta_formatted} left`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    barsize: 30,
  });
}

function fail(error: unknown): number {
  if (error instanceof ConfigError || error instanceof StoreFileError || error instanceof BackupError) {
    console.error(`topo store: ${safe(error.message)}`);
    return error instanceof BackupError ? 1 : 2;
  }
  console.error(`topo store: ${safe(error instanceof Error ? error.message : String(error))}`);
  return 1;
}

/** `topo store backup|restore|copy`. Resolves with the exit status: 0 done and verified, 1 failed, 2 usage or configuration. */
export async function storeCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    const fullCheck = rest.includes('--full-check');
    const files = rest.filter((a) => a !== '--full-check');
    if (sub === 'backup' && files.length === 1) return await backup(files[0]!, fullCheck);
    if (sub === 'restore' && rest.length === 1) return await restore(rest[0]!);
    if (sub === 'copy') return await (await import('./store-copy')).copyCommand(rest);
  } catch (error) {
    return fail(error);
  }
  console.error(`topo store: ${STORE_USAGE}`);
  return 2;
}

function sqliteOnly(): ReturnType<typeof loadConfig> {
  const config = loadConfig();
  if (config.eventStoreConnectionString !== undefined) {
    throw new ConfigError('EVENTSTORE_CONNECTION_STRING', 'must be unset for topo store backup and restore (they work on the SQLite store in DATA_DIR; EventStoreDB has its own backups)', config.eventStoreConnectionString);
  }
  return config;
}

async function backup(file: string, fullCheck: boolean): Promise<number> {
  const config = sqliteOnly();
  const bar = progressBar('backup', 'pages');
  let started = false;
  const began = performance.now();
  const result = await backupStore(path.join(config.dataDir, STORE_FILE_NAME), path.resolve(file), (done, total) => {
    if (!started) {
      bar.start(total, 0);
      started = true;
    }
    bar.setTotal(total);
    bar.update(done);
  }, { fullCheck }).finally(() => bar.stop());
  const seconds = (performance.now() - began) / 1000;
  console.log(
    `backed up ${config.dataDir} to ${result.file}: ${(result.bytes / 1e6).toFixed(1)} MB, events up to position ${result.headPosition}, ` +
      `${fullCheck ? 'integrity checked (quick_check)' : 'checked (every event present, last event matches)'}, in ${seconds.toFixed(1)} s (the server's writes waited ${result.writerPausedMs.toFixed(0)} ms)`,
  );
  return 0;
}

async function restore(file: string): Promise<number> {
  const config = sqliteOnly();
  const source = path.resolve(file);
  if (!fs.existsSync(source)) throw new BackupError(`${source}: no such file`);
  if (!fs.statSync(source).isFile()) throw new BackupError(`${source} is not a file (a backup is the one file topo store backup wrote)`);
  const existed = fs.existsSync(config.dataDir);
  if (existed && !fs.statSync(config.dataDir).isDirectory()) {
    console.error(`topo store: DATA_DIR ${safe(config.dataDir)} is not a directory; restore into an empty or new directory (nothing was changed)`);
    return 2;
  }
  if (existed && fs.readdirSync(config.dataDir).length > 0) {
    console.error(`topo store: DATA_DIR ${safe(config.dataDir)} is not empty; restore only into an empty or new directory (nothing was changed)`);
    return 2;
  }
  createPrivateDirectory(config.dataDir);
  const target = path.join(config.dataDir, STORE_FILE_NAME);
  const partial = `${target}.partial`;
  const undo = (): void => {
    // Everything restore put in DATA_DIR (it was empty): nothing half-restored is left to start a server on.
    for (const entry of fs.readdirSync(config.dataDir)) fs.rmSync(path.join(config.dataDir, entry), { recursive: true, force: true });
    if (!existed) fs.rmSync(config.dataDir, { recursive: true, force: true });
  };
  try {
    // Checked as copied into DATA_DIR: the backup is only read (SQLite opens nothing beside it, and a
    // backup this account may only read restores all the same).
    fs.copyFileSync(source, partial);
    fs.chmodSync(partial, 0o600);
    let problems: string[];
    try {
      problems = integrityProblems(partial);
    } catch (error) {
      throw new BackupError(`${source} is not a backup of the event store (${(error as Error).message})`);
    } finally {
      // A read-only look at a file in WAL mode leaves an empty -wal and -shm: the copy holds every page itself.
      for (const suffix of ['-wal', '-shm']) fs.rmSync(`${partial}${suffix}`, { force: true });
    }
    if (problems.length > 0) throw new BackupError(`${source} failed its integrity check: ${problems.slice(0, 5).join('; ')}`);
    fs.renameSync(partial, target);
    const store = openEventStore(config);
    const bar = progressBar('verifying', 'events');
    let result;
    try {
      const head = await store.headPosition();
      bar.start(head, 0);
      result = await verifyLog(store, { onProgress: (_events, position) => bar.update(position) });
    } finally {
      bar.stop();
      await store.close();
    }
    if (result.broken) {
      undo();
      const b = result.broken;
      console.error(
        `topo store: the backup's hash chain is BROKEN: ${safe(b.problem)}${b.streamId !== null ? ` at stream ${safe(b.streamId)} revision ${safe(b.revision)}` : ''}: ${safe(b.message)}; nothing was restored`,
      );
      return 1;
    }
    console.log(`restored ${result.events} events into ${config.dataDir}: integrity checked, hash chain verified; digest: ${formatDigest(result.digest)}`);
    console.log(`start the server on it (DATA_DIR=${config.dataDir}); the read models are rebuilt from the log as it starts`);
    return 0;
  } catch (error) {
    undo();
    throw error;
  }
}
