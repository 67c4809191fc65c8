import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';
import { BackupError, backupStore } from '../../src/ops/sqlite-backup';
import { command } from '../support/http';
import { ROOT, RunningServer, startServer } from '../support/server';

function topo(dataDir: string, args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const { TOPO_TOKEN: _t, EVENTSTORE_CONNECTION_STRING: _e, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args], { cwd: ROOT, env: { ...inherited, DATA_DIR: dataDir } }, (error, stdout, stderr) =>
      resolve({ status: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Every stored column of events 1..upTo, in order. */
function events(file: string, upTo: number): unknown[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM events WHERE position <= ? ORDER BY position').raw(true).all(upTo);
  } finally {
    db.close();
  }
}

function headOf(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT max(position) FROM events').pluck().get() as number | null) ?? 0;
  } finally {
    db.close();
  }
}

async function register(server: RunningServer, prefix: string, count: number): Promise<void> {
  for (let n = 0; n < count; n++) expect((await command(server.url, 'RegisterSipDomain', { domain: `${prefix}${n}.contoso.com` })).status).toBe(200);
}

describe('topo store backup: the copy is the state of one commit while the server appends and checkpoints', () => {
  let root: string;
  let dataDir: string;
  let store: string;
  let server: RunningServer;
  beforeEach(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-backup-consistency-'));
    dataDir = path.join(root, 'data');
    store = path.join(dataDir, STORE_FILE_NAME);
    server = await startServer({ DATA_DIR: dataDir, RATE_LIMIT: '0' });
    await register(server, 'before', 30);
  });
  afterEach(async () => {
    await server.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('while the backup holds its state, appends go on and no checkpoint writes the file; the copy is that state, and restores with its hash chain whole', async () => {
    const target = path.join(root, 'ledger.backup');
    const checkpointer = new Database(store, { fileMustExist: true });
    let heldHead = -1;
    let fileWhenHeld = '';
    let blocked: { log: number; checkpointed: number } | undefined;
    try {
      const made = await backupStore(store, target, undefined, {
        beforeCopy: async () => {
          heldHead = headOf(store);
          fileWhenHeld = sha256(store);
          // The server appends meanwhile (into the WAL), and its checkpoint thread runs every 200 ms.
          await register(server, 'during', 20);
          await new Promise((resolve) => setTimeout(resolve, 600));
          [blocked] = checkpointer.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
          expect(headOf(store)).toBeGreaterThan(heldHead);
          // What the backup relies on: the file is still the state held, byte for byte.
          expect(sha256(store)).toBe(fileWhenHeld);
        },
      });
      // The checkpoint could not fold the appends made during the copy into the file...
      expect(blocked!.checkpointed).toBeLessThan(blocked!.log);
      expect(made.headPosition).toBe(heldHead);
      expect(made.writerPausedMs).toBeLessThan(1000);
      // ...and does once the backup has let go: the file changes then (what the hash above would have seen, had the state not been held).
      const [after] = checkpointer.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
      expect(after!.checkpointed).toBe(after!.log);
      expect(sha256(store)).not.toBe(fileWhenHeld);
    } finally {
      checkpointer.close();
    }
    expect(headOf(target)).toBe(heldHead);
    expect(events(target, heldHead)).toEqual(events(store, heldHead));
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${target}.partial`)).toBe(false);

    const restored = await topo(path.join(root, 'restored'), ['store', 'restore', target]);
    expect([restored.status, restored.stderr]).toEqual([0, '']);
    expect(restored.stdout).toMatch(new RegExp(`^restored ${heldHead} events into .*: integrity checked, hash chain verified`));
  });

  it('copies taken while the server appends all the time are each a whole state of the log', async () => {
    let writing = true;
    const writer = (async () => {
      for (let n = 0; writing; n++) await command(server.url, 'RegisterSipDomain', { domain: `busy${n}.contoso.com` });
    })();
    const heads: number[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const target = path.join(root, `busy-${i}.backup`);
        const made = await backupStore(store, target, undefined, { fullCheck: true });
        expect(headOf(target)).toBe(made.headPosition);
        heads.push(made.headPosition);
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(heads[heads.length - 1]).toBeGreaterThan(heads[0]!);
    for (let i = 0; i < heads.length; i++) {
      const target = path.join(root, `busy-${i}.backup`);
      expect(events(target, heads[i]!)).toEqual(events(store, heads[i]!));
      const restored = await topo(path.join(root, `restored-${i}`), ['store', 'restore', target]);
      expect([restored.status, restored.stderr]).toEqual([0, '']);
    }
  });

  it('waits while a reader holds an older state of the log (the WAL cannot be folded in), then copies; gives up after waitMs, leaving nothing', async () => {
    const reader = new Database(store, { readonly: true, fileMustExist: true });
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM events').get();
    // Appended after the reader's state: no checkpoint can fold these into the file while it reads.
    await register(server, 'after-reader', 5);
    const target = path.join(root, 'waited.backup');
    try {
      await expect(backupStore(store, target, undefined, { waitMs: 400 })).rejects.toThrow(
        new BackupError("the store's WAL could not be folded into its file for 0.4 s (a reader held an older state of the log all along); nothing was written; try again"),
      );
      expect(fs.existsSync(target)).toBe(false);
      expect(fs.existsSync(`${target}.partial`)).toBe(false);
      // The server's writes were never held up for long: it goes on acknowledging.
      await register(server, 'while-waiting', 3);

      setTimeout(() => reader.exec('COMMIT'), 500);
      const made = await backupStore(store, target, undefined, { waitMs: 10_000 });
      expect(made.headPosition).toBe(headOf(store));
      expect(made.writerPausedMs).toBeLessThan(1000);
    } finally {
      if (reader.inTransaction) reader.exec('COMMIT');
      reader.close();
    }
  });

  it('a copy that fails or comes out short keeps nothing, and a partial copy left behind is never removed or overwritten', async () => {
    const target = path.join(root, 'faulty.backup');
    const disk = jest.spyOn(fs.promises, 'copyFile').mockRejectedValueOnce(Object.assign(new Error('ENOSPC: no space left on device, copyfile'), { code: 'ENOSPC' }));
    try {
      await expect(backupStore(store, target)).rejects.toThrow(/ENOSPC/);
    } finally {
      disk.mockRestore();
    }
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(`${target}.partial`)).toBe(false);

    // A copy one page short (a disk that lost the end of a write): the check finds it.
    const real = fs.promises.copyFile.bind(fs.promises);
    const short = jest.spyOn(fs.promises, 'copyFile').mockImplementationOnce(async (from, to) => {
      await real(from, to);
      fs.truncateSync(to as string, fs.statSync(to as string).size - 4096);
    });
    try {
      await expect(backupStore(store, target)).rejects.toThrow(/^the copy has \d+ bytes, not the \d+ pages of 4096 bytes .*; nothing was kept$/);
    } finally {
      short.mockRestore();
    }
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(`${target}.partial`)).toBe(false);

    fs.mkdirSync(`${target}.partial`);
    fs.writeFileSync(path.join(`${target}.partial`, 'kept'), 'someone else\'s');
    await expect(backupStore(store, target)).rejects.toThrow(/faulty\.backup\.partial exists .*remove it/);
    expect(fs.readFileSync(path.join(`${target}.partial`, 'kept'), 'utf8')).toBe('someone else\'s');
    expect(fs.existsSync(target)).toBe(false);
    // The server was never held up: it goes on acknowledging.
    await register(server, 'after-faults', 3);
  });
});
