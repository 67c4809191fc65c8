import type Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';

// Runs in the worker: its own connection, so checkpoints never block the process's event loop.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (error) { parentPort.postMessage(String(error && error.message || error)); }
}, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} db.close(); process.exit(0); });
`;

/**
 * Moves WAL checkpoints off the writer. SQLite's automatic checkpoint runs inside a commit and copies
 * the whole WAL into the database file, stalling every caller behind that commit for tens to hundreds
 * of milliseconds; a PASSIVE checkpoint from another thread copies the same pages without blocking
 * the writer. The writer's automatic checkpoint stays on, at a high mark, as a backstop.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private stopped = false;

  constructor(db: Database.Database, intervalMs = 200, backstopPages = 50_000) {
    db.pragma(`wal_autocheckpoint = ${backstopPages}`);
    this.worker = new Worker(WORKER, { eval: true, workerData: { file: db.name, driver: require.resolve('better-sqlite3'), intervalMs } });
    this.exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    // A worker that cannot open the file (its directory removed meanwhile) must not take the process
    // down with an unhandled 'error': checkpoints then fall back to the writer's own backstop.
    this.worker.on('error', () => undefined);
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
