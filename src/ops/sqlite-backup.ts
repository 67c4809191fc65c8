import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What a backup copied: the log's last position and that event's id at the moment of the copy. */
export interface BackupResult {
  readonly file: string;
  readonly bytes: number;
  readonly pages: number;
  readonly headPosition: number;
  readonly headEventId: string | null;
  /** How long the server's writes were held back while the copy's starting point was fixed (milliseconds, all attempts). */
  readonly writerPausedMs: number;
  /** Seconds spent copying (the file copied and made durable) and checking the copy. */
  readonly seconds: { readonly copy: number; readonly check: number };
}

export interface BackupOptions {
  /** Also `PRAGMA quick_check` of the copy: every page and index. */
  readonly fullCheck?: boolean;
  /**
   * How long to keep trying to fix the copy's starting point while a reader of the store holds an
   * older state of the log (which stops the WAL from being folded into the file): 30 s by default.
   */
  readonly waitMs?: number;
  /** Runs while the copy's state is held, before a byte is copied (tests use it to write to the store meanwhile). */
  readonly beforeCopy?: () => Promise<void> | void;
}

/**
 * While the file is copied, how often its size is looked at (progress), and how much new data makes
 * an fdatasync of the copy so far: the disk then writes while the copy goes on, instead of all of it
 * after. Measured on a 1.2 GB store (bench/README.md): copy then fsync 1.16 s; syncing as it goes
 * every 100 ms 0.94 s, every 25 ms 0.87 s, every 5 ms 0.78 s (a sync when 16 MB more were copied
 * keeps the last without a sync call every 5 ms when the copy is slow).
 */
const POLL_MS = 5;
const SYNC_BYTES = 16 * 1024 * 1024;

export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

/** The log's last event in an open events file. */
function head(db: Database.Database): { position: number; eventId: string | null } {
  const row = db.prepare('SELECT position, event_id AS eventId FROM events ORDER BY position DESC LIMIT 1').get() as { position: number; eventId: string } | undefined;
  return row ? { position: row.position, eventId: row.eventId } : { position: 0, eventId: null };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The state of the log the copy is of: held by an open read transaction of `db` until `release`. */
interface HeldState {
  readonly pages: number;
  readonly pageSize: number;
  readonly head: { position: number; eventId: string | null };
  readonly writerPausedMs: number;
  release(): void;
}

/**
 * Opens a read transaction on `db` at a moment when every committed transaction of the store is in
 * its main file (the WAL wholly checkpointed), and keeps it open: from then until `release`, SQLite
 * writes nothing into the main file, so the file itself is the state read, while the server goes on
 * appending to the WAL.
 *
 * Why (SQLite's WAL rules, `walCheckpoint` and `walTryBeginRead` in sqlite3.c): a checkpoint is the
 * only thing that writes the main file of a database in WAL mode, and it copies a frame only up to
 * the read mark of every open reader, and only while it holds read lock 0 exclusively. A reader that
 * starts when the WAL is wholly checkpointed (`nBackfill == mxFrame`) either holds read lock 0 (no
 * checkpoint can then copy anything) or a read mark no higher than the frames already in the file
 * (nothing to copy up to it); in both cases the file stays as it is. The read starts with the
 * server's writes held back (`BEGIN IMMEDIATE` on a second connection) for the few milliseconds of a
 * checkpoint of what was committed since the previous one, so no commit comes between the checkpoint
 * and the start of the read. A reader of the server's still on an older state stops the checkpoint
 * short; then the writer is let go and it is tried again after a pause, up to `waitMs`.
 */
async function holdCheckpointedState(db: Database.Database, lock: Database.Database, waitMs: number): Promise<HeldState> {
  const mode = db.pragma('journal_mode', { simple: true }) as string;
  if (mode !== 'wal') throw new BackupError(`the store is not in WAL mode (journal_mode=${mode}); start the server on it once, which sets it, then back it up`);
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const deadline = performance.now() + waitMs;
  let writerPausedMs = 0;
  for (let attempt = 0; ; attempt++) {
    // Most of the WAL folded in first, with nobody held back (the server's own checkpoints do the same),
    // before every attempt: what a reader on an older state kept back meanwhile is not folded in while
    // the server's writer waits.
    db.pragma('wal_checkpoint(PASSIVE)');
    try {
      lock.exec('BEGIN IMMEDIATE');
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY') throw error;
      throw new BackupError(`the store's writer held its lock for over 5 s (a stuck write?); nothing was written; try again`);
    }
    const paused = performance.now();
    let held: Omit<HeldState, 'writerPausedMs' | 'release'> | undefined;
    try {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
      // busy: another checkpoint was under way (log and checkpointed are then -1 both).
      if (result !== undefined && result.busy === 0 && result.log === result.checkpointed) {
        db.exec('BEGIN');
        try {
          held = { pages: db.pragma('page_count', { simple: true }) as number, pageSize, head: head(db) };
        } catch (error) {
          db.exec('ROLLBACK');
          throw error;
        }
      }
    } finally {
      lock.exec('ROLLBACK');
      writerPausedMs += performance.now() - paused;
    }
    if (held !== undefined) return { ...held, writerPausedMs, release: () => db.exec('COMMIT') };
    if (performance.now() > deadline) {
      throw new BackupError(
        `the store's WAL could not be folded into its file for ${waitMs / 1000} s (a reader held an older state of the log all along); nothing was written; try again`,
      );
    }
    await sleep(Math.min(200, 10 * 2 ** Math.min(attempt, 5)));
  }
}

/** Syncs the file `fd` refers to: resolves when the data written so far is on disk. */
function fsync(fd: number, dataOnly = false): Promise<void> {
  return new Promise((resolve, reject) => (dataOnly ? fs.fdatasync : fs.fsync)(fd, (error) => (error ? reject(error) : resolve())));
}

/**
 * Copies `source` to the new file `target` with the kernel's copy (`fs.copyFile`: `copy_file_range`
 * on Linux, as `cp`), syncing the copy so far all along (the disk writes while the copy goes on, so
 * the last sync has little left), and reporting the bytes copied so far; resolves once the whole
 * copy is on disk.
 */
async function copyDurably(source: string, target: string, fd: number, onBytes: (bytes: number) => void): Promise<void> {
  let copying = true;
  const copied = fs.promises.copyFile(source, target).finally(() => {
    copying = false;
  });
  const syncing = (async () => {
    let synced = 0;
    while (copying) {
      const size = fs.fstatSync(fd).size;
      onBytes(size);
      if (size - synced >= SYNC_BYTES) {
        await fsync(fd, true);
        synced = size;
      } else {
        await sleep(POLL_MS);
      }
    }
  })();
  // Both settle before either's error is thrown, so no sync is left running on a closed file.
  const [copy, sync] = await Promise.allSettled([copied, syncing]);
  if (copy.status === 'rejected') throw copy.reason;
  if (sync.status === 'rejected') throw sync.reason;
  await fsync(fd);
}

/** Makes a rename or removal in `dir` durable (Linux: an fsync of the directory). */
function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A consistent online copy of the SQLite event store `source` (which a running server may be writing)
 * into `target` (which must not exist). The copy is the state of the log as of one commit: the store's
 * file is copied whole by the kernel (as `cp` does) while a read transaction holds that state, at a
 * moment when every commit was in the file, so SQLite writes nothing into it during the copy
 * ({@link holdCheckpointedState}); the server's writes wait only while that moment is fixed (a few
 * milliseconds: `writerPausedMs`), and go on into the WAL during the copy.
 *
 * The copy is written into the new directory `target.partial` (mode 0700, so nobody else can open the
 * copy whatever its mode), made durable (fsync) and checked: its size is the held state's pages, it
 * holds every event from 1 to its last position (a walk of the log's whole table), and its last event
 * is the held state's last; with `fullCheck` also `PRAGMA quick_check` (every page and index: about as
 * long again as the copy on a 1 GB store, which is why it is an option; `restore` always runs the full
 * integrity check and the hash chain). Then it is made 0600 and renamed to `target`, and the rename
 * made durable. `onProgress` gets pages copied and the total.
 */
export async function backupStore(
  source: string,
  target: string,
  onProgress: (done: number, total: number) => void = () => undefined,
  options: BackupOptions = {},
): Promise<BackupResult> {
  if (!fs.existsSync(source)) throw new BackupError(`${source}: no event store here (set DATA_DIR to the server's)`);
  if (fs.existsSync(target)) throw new BackupError(`${target} exists; choose a new file name (a backup never overwrites)`);
  // Before SQLite opens it: a store this account cannot write (its file, its directory, a -wal or -shm
  // already there) would be opened read-only, and its -wal and -shm files created read-only beside it,
  // which the server could not write then.
  for (const needed of [source, path.dirname(source), `${source}-wal`, `${source}-shm`]) {
    try {
      fs.accessSync(needed, fs.constants.R_OK | fs.constants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && needed !== source) continue;
      throw new BackupError(
        `${needed}: this account cannot write it (${code ?? String(error)}); a backup folds the WAL into the store's file before copying it, so run it as the account the server runs as; nothing was written`,
      );
    }
  }
  const partialDir = `${target}.partial`;
  try {
    fs.mkdirSync(partialDir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BackupError(`${partialDir} exists (an interrupted backup's, or another backup to the same name is running); remove it (rm -r) if no backup is running, then try again`);
    }
    throw new BackupError(`${partialDir}: cannot be created (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const partial = path.join(partialDir, path.basename(target));
  // Read-write: the backup checkpoints the WAL into the file (it changes no content).
  const db = new Database(source, { fileMustExist: true });
  const lock = new Database(source, { fileMustExist: true });
  const began = performance.now();
  let held: HeldState | undefined;
  try {
    for (const c of [db, lock]) c.pragma('busy_timeout = 5000');
    db.prepare('SELECT 1 FROM events LIMIT 1').get();
    held = await holdCheckpointedState(db, lock, options.waitMs ?? 30_000);
    const { pages, pageSize, writerPausedMs } = held;
    const expected = held.head;
    onProgress(0, pages);
    await options.beforeCopy?.();
    const fd = fs.openSync(partial, 'wx', 0o600);
    try {
      await copyDurably(source, partial, fd, (bytes) => onProgress(Math.min(pages, Math.floor(bytes / pageSize)), pages));
    } finally {
      fs.closeSync(fd);
    }
    held.release();
    held = undefined;
    onProgress(pages, pages);
    const copied = performance.now();
    const bytes = fs.statSync(partial).size;
    if (bytes !== pages * pageSize) throw new BackupError(`the copy has ${bytes} bytes, not the ${pages} pages of ${pageSize} bytes of the store's state copied; nothing was kept`);
    const copy = new Database(partial, { readonly: true, fileMustExist: true });
    let last: { position: number; eventId: string | null };
    try {
      const copyPages = copy.pragma('page_count', { simple: true }) as number;
      if (copyPages !== pages) throw new BackupError(`the copy has ${copyPages} pages, not the ${pages} copied; nothing was kept`);
      last = head(copy);
      // The log is append-only and positions are rowids: events 1..head are all there. Counting them walks every leaf page of the log's table.
      const count = copy.prepare('SELECT count(*) FROM events').pluck().get() as number;
      if (count !== last.position) throw new BackupError(`the copy holds ${count} events up to position ${last.position}; nothing was kept`);
      if (last.position !== expected.position || last.eventId !== expected.eventId) {
        throw new BackupError(`the copy's last event (position ${last.position}) is not the store's last (position ${expected.position}) at the moment copied; nothing was kept`);
      }
      if (options.fullCheck) {
        const check = copy.pragma('quick_check', { simple: true });
        if (check !== 'ok') throw new BackupError(`the copy failed its integrity check (${String(check)}); nothing was kept`);
      }
    } finally {
      copy.close();
    }
    fs.chmodSync(partial, 0o600);
    fs.renameSync(partial, target);
    syncDirectory(path.dirname(target));
    fs.rmSync(partialDir, { recursive: true, force: true });
    const checked = performance.now();
    return {
      file: path.resolve(target),
      bytes,
      pages,
      headPosition: last.position,
      headEventId: last.eventId,
      writerPausedMs,
      seconds: { copy: (copied - began) / 1000, check: (checked - copied) / 1000 },
    };
  } catch (error) {
    fs.rmSync(partialDir, { recursive: true, force: true });
    throw error;
  } finally {
    held?.release();
    lock.close();
    db.close();
  }
}

/** `PRAGMA integrity_check` of a backup file, opened read-only; the problems it names, or none. */
export function integrityProblems(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const problems = rows.map((r) => r.integrity_check).filter((r) => r !== 'ok');
    db.prepare('SELECT position FROM events LIMIT 1').get();
    return problems;
  } finally {
    db.close();
  }
}
