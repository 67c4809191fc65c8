import type Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';

// Runs in the worker: its own connection, so checkpoints never block the process's event loop. While
// a checkpoint finds nothing new to copy, the next waits twice as long (up to IDLE_FACTOR intervals):
// an idle process does not wake this thread every few milliseconds.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const IDLE_FACTOR = 10;
let delay = workerData.intervalMs;
let last = '';
let reported = '';
let timer;
const checkpoint = () => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    const seen = row.log + '/' + row.checkpointed;
    delay = seen !== last ? workerData.intervalMs : Math.min(delay * 2, workerData.intervalMs * IDLE_FACTOR);
    last = seen;
    reported = '';
  } catch (error) {
    const message = String((error && error.message) || error);
    if (message !== reported) parentPort.postMessage(message);
    reported = message;
  }
  timer = setTimeout(checkpoint, delay);
};
timer = setTimeout(checkpoint, delay);
parentPort.on('message', () => { clearTimeout(timer); try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} db.close(); process.exit(0); });
`;

/** SQLite's own automatic checkpoint mark (pages), restored if the checkpoint thread is lost. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

/**
 * Moves WAL checkpoints off the writer. SQLite's automatic checkpoint runs inside a commit and copies
 * the whole WAL into the database file, stalling every caller behind that commit for tens to hundreds
 * of milliseconds; a PASSIVE checkpoint from another thread copies the same pages without blocking
 * the writer. The writer's automatic checkpoint stays on, at a high mark, as a backstop; if the thread
 * is lost it goes back to SQLite's default, and the trouble is reported on stderr.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private stopped = false;

  constructor(db: Database.Database, intervalMs = 200, backstopPages = 50_000) {
    db.pragma(`wal_autocheckpoint = ${backstopPages}`);
    const file = db.name;
    this.worker = new Worker(WORKER, { eval: true, workerData: { file, driver: require.resolve('better-sqlite3'), intervalMs } });
    this.exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('message', (message: string) => console.error(`topology-ledger: checkpoint of ${file} failed: ${message}`));
    // A worker that cannot start or dies (its directory removed meanwhile, ...) must not take the
    // process down with an unhandled 'error'; the writer's checkpoints then come back to SQLite's own.
    this.worker.on('error', (error: Error) => console.error(`topology-ledger: checkpoint thread for ${file} stopped: ${error.message}`));
    this.worker.once('exit', () => {
      if (this.stopped || !db.open) return;
      try {
        db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
      } catch {
        // The connection is going away too.
      }
    });
    this.worker.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Held while it finishes, or a process with nothing else to do would exit before it closes.
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}
