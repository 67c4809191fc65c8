import * as fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { StoreFileError } from './sqlite-schema';

/**
 * The store's files are for the account the server runs as: DATA_DIR is created 0700 and the files
 * SQLite creates in it (the event store, the read models, their -wal and -shm files) 0600. SQLite gives
 * a -wal or -shm file the mode of its database file.
 */
export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` (and its missing parents) readable by its owner only; an existing directory is left as
 * it is. Either way, this account must be able to read and write in it: else a StoreFileError says so.
 */
export function createPrivateDirectory(dir: string): void {
  const existed = fs.existsSync(dir);
  try {
    if (!existed) {
      fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
      chmodIfPossible(dir, PRIVATE_DIRECTORY_MODE);
    }
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const who = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    throw new StoreFileError(dir, `cannot be ${existed ? 'read and written' : 'created'} by this account${who}: ${code === undefined ? String(error) : String(code)}; run as the account that owns DATA_DIR`);
  }
}

/** The mode of an existing directory that others may enter or read (`0o755`), else undefined. */
export function widerThanPrivate(dir: string): number | undefined {
  try {
    const mode = fs.statSync(dir).mode & 0o777;
    return (mode & 0o077) !== 0 ? mode : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `open` (which may create `file`) with a umask that keeps every file it creates private, and
 * makes `file` 0600 when `open` created it.
 */
export function openPrivately<T>(file: string, open: () => T): T {
  const existed = fs.existsSync(file);
  // process.umask is per process and cannot be set from a worker thread: there, the chmod below does it.
  const previous = isMainThread ? process.umask(0o077) : undefined;
  try {
    const opened = open();
    if (!existed && fs.existsSync(file)) chmodIfPossible(file, PRIVATE_FILE_MODE);
    return opened;
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}

/** A file system without Unix modes (some network or removable ones) refuses chmod: the umask did what it could. */
function chmodIfPossible(file: string, mode: number): void {
  try {
    fs.chmodSync(file, mode);
  } catch {
    // Left as created.
  }
}
