import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { WalCheckpointer } from '../../src/event-store/sqlite/wal-checkpointer';

describe('WAL checkpoints on a thread of their own', () => {
  let dir: string;
  let db: Database.Database;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-checkpointer-'));
    db = new Database(path.join(dir, 'file.sqlite'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x)');
  });
  afterEach(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const autocheckpoint = (): number => db.pragma('wal_autocheckpoint', { simple: true }) as number;

  it("raises the writer's own checkpoint mark to the backstop while the thread runs", async () => {
    const checkpointer = new WalCheckpointer(db, 20, 50_000);
    expect(autocheckpoint()).toBe(50_000);
    await checkpointer.stop();
  });

  it("goes back to SQLite's own checkpoints when the thread is lost, so the WAL cannot grow to the backstop unchecked", async () => {
    const checkpointer = new WalCheckpointer(db, 20, 50_000);
    // Fault injection: the thread dies without being asked to stop.
    await (checkpointer as unknown as { worker: Worker }).worker.terminate();
    const start = Date.now();
    while (autocheckpoint() !== 1000 && Date.now() - start < 5_000) await new Promise((r) => setTimeout(r, 10));
    expect(autocheckpoint()).toBe(1000);
    await checkpointer.stop();
  });
});
