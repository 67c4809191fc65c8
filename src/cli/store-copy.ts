import { SingleBar } from 'cli-progress';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatDigest } from '../application/log-verification';
import { loadConfig } from '../config/config';
import { runningServer } from '../config/running-server';
import { normaliseConnectionString, openEsdbStoreAsStored, openSqliteStoreAsStored, redactConnectionString, STORE_FILE_NAME } from '../event-store/open-event-store';
import { CopyError, copyStore } from '../ops/store-copy';
import { terminalSafe as safe } from './terminal';

/** In DATA_DIR: how far a copy has gone, per target (a hash of its connection string: no credential is written). */
export const COPY_CHECKPOINT_FILE = 'store-copy.json';
/** How often the checkpoint file is written while copying (and once at the end). */
const CHECKPOINT_EVERY_MS = 200;
const TARGET_SCHEMES = /^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\//i;

type Checkpoints = Record<string, { position: number; at: string }>;

function readCheckpoints(file: string): Checkpoints {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Checkpoints;
  } catch {
    return {};
  }
}

/**
 * `topo store copy --to esdb://...`: the SQLite store of DATA_DIR copied to EventStoreDB / KurrentDB
 * (see `copyStore`). The server on DATA_DIR must be stopped (writes stop, so the copy is whole).
 * Interrupted, the same command resumes from the checkpoint it keeps in DATA_DIR; `--from-start`
 * walks the whole log again (events already on the target are skipped).
 */
export async function copyCommand(argv: readonly string[]): Promise<number> {
  let to: string | undefined;
  let fromStart = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--to') to = argv[++i];
    else if (arg.startsWith('--to=')) to = arg.slice(5);
    else if (arg === '--from-start') fromStart = true;
    else {
      console.error(`topo store: unknown argument ${safe(JSON.stringify(arg))}; usage: topo store copy --to esdb://... [--from-start]`);
      return 2;
    }
  }
  if (to === undefined || !TARGET_SCHEMES.test(to)) {
    console.error('topo store: copy needs --to with an esdb://, esdb+discover://, kurrentdb:// or kurrentdb+discover:// connection string');
    return 2;
  }
  const config = loadConfig();
  if (config.eventStoreConnectionString !== undefined) {
    console.error('topo store: copy reads the SQLite store in DATA_DIR; unset EVENTSTORE_CONNECTION_STRING for it');
    return 2;
  }
  if (!fs.existsSync(path.join(config.dataDir, STORE_FILE_NAME))) {
    console.error(`topo store: no event store in DATA_DIR ${safe(config.dataDir)}`);
    return 2;
  }
  const running = runningServer(config.dataDir);
  if (running !== undefined) {
    console.error(`topo store: a server runs on DATA_DIR (pid ${running.pid}, ${safe(running.url)}); stop it first, so that no event is written during the copy`);
    return 2;
  }
  const checkpointFile = path.join(config.dataDir, COPY_CHECKPOINT_FILE);
  const key = createHash('sha256').update(to).digest('hex').slice(0, 16);
  const checkpoints = readCheckpoints(checkpointFile);
  const from = fromStart ? 1 : (checkpoints[key]?.position ?? 0) + 1;
  const source = openSqliteStoreAsStored(config.dataDir);
  const target = openEsdbStoreAsStored(to);
  const bar = new SingleBar({ format: 'copy [{bar}] {percentage}% | position {value}/{total} | {eta_formatted} left', stream: process.stderr, hideCursor: true, clearOnComplete: true });
  let reached = from - 1;
  let savedAt = 0;
  const save = (): void => {
    savedAt = Date.now();
    checkpoints[key] = { position: reached, at: new Date().toISOString() };
    fs.writeFileSync(checkpointFile, `${JSON.stringify(checkpoints)}\n`, { mode: 0o600 });
  };
  try {
    await target.ping();
    if (from > 1) console.error(`topo store: resuming the copy after position ${from - 1}`);
    let started = false;
    const result = await copyStore(source, target, {
      from,
      onCheckpoint: (position) => {
        reached = position;
        if (Date.now() - savedAt >= CHECKPOINT_EVERY_MS) save();
      },
      onProgress: ({ position, head }) => {
        if (!started) {
          bar.start(head, position);
          started = true;
        }
        bar.update(position);
      },
    });
    bar.stop();
    save();
    console.log(
      `copied ${result.copied} events (${result.skipped} already there) up to position ${result.position}; ` +
        `hash chains verified on both; digests match: ${formatDigest(result.targetDigest)} (${result.targetDigest.events} events)`,
    );
    return 0;
  } catch (error) {
    bar.stop();
    if (reached >= from) save();
    const message = redactConnectionString(error instanceof Error ? error.message : String(error), normaliseConnectionString(to));
    console.error(`topo store: copy ${error instanceof CopyError ? 'failed' : 'interrupted'}: ${safe(message)}${error instanceof CopyError ? '' : '; run the same command again to resume'}`);
    return 1;
  } finally {
    await settledWithin(source.close(), 5_000);
    await settledWithin(target.close(), 2_000);
  }
}

/**
 * Waits for `closing` at most `ms`, holding the process open meanwhile: a client whose close never
 * settles (and holds no handle) would otherwise end the process before its exit status is set.
 */
function settledWithin(closing: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void closing.catch(() => undefined).finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
