import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';
import { command, getJson } from '../support/http';
import { ROOT, startServer } from '../support/server';

function topo(dataDir: string, args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const { TOPO_TOKEN: _t, EVENTSTORE_CONNECTION_STRING: _e, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args], { cwd: ROOT, env: { ...inherited, DATA_DIR: dataDir } }, (error, stdout, stderr) =>
      resolve({ status: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('topo store backup and restore', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-backup-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('backs up a running, written store; restores it only into an empty DATA_DIR, where the server starts with every command acknowledged before the backup', async () => {
    const dataDir = path.join(root, 'data');
    const server = await startServer({ DATA_DIR: dataDir, RATE_LIMIT: '0' });
    const before: string[] = [];
    const backupFile = path.join(root, 'ledger.backup');
    let writing = true;
    const writer = (async () => {
      for (let n = 0; writing; n++) await command(server.url, 'RegisterSipDomain', { domain: `during${n}.contoso.com` });
    })();
    try {
      for (let n = 0; n < 20; n++) {
        const domain = `d${n}.contoso.com`;
        expect((await command(server.url, 'RegisterSipDomain', { domain })).status).toBe(200);
        before.push(domain);
      }
      const made = await topo(dataDir, ['store', 'backup', backupFile]);
      expect(made.stderr).toBe('');
      expect(made.status).toBe(0);
      expect(made.stdout).toMatch(/^backed up .* to .*ledger\.backup: [\d.]+ MB, events up to position \d+, checked \(every event present, last event matches\), in [\d.]+ s/);
      expect(fs.statSync(backupFile).mode & 0o777).toBe(0o600);
      expect(fs.existsSync(`${backupFile}.partial`)).toBe(false);
      // Never over an existing file.
      const again = await topo(dataDir, ['store', 'backup', backupFile]);
      expect([again.status, again.stderr]).toEqual([1, expect.stringMatching(/exists; choose a new file name/)]);
    } finally {
      writing = false;
      await writer;
      await server.stop();
    }

    // Not into a directory that holds anything.
    const refused = await topo(dataDir, ['store', 'restore', backupFile]);
    expect([refused.status, refused.stderr.trim()]).toEqual([2, expect.stringMatching(/DATA_DIR .* is not empty; .*nothing was changed/)]);

    const restoredDir = path.join(root, 'restored');
    const restored = await topo(restoredDir, ['store', 'restore', backupFile]);
    expect(restored.status).toBe(0);
    expect(restored.stdout).toMatch(/^restored \d+ events into .*: integrity checked, hash chain verified; digest: \d+:[0-9a-f]{64}/);
    expect(fs.statSync(path.join(restoredDir, STORE_FILE_NAME)).mode & 0o777).toBe(0o600);
    // The backup was only read: nothing beside it, and nothing but the store in DATA_DIR.
    expect([fs.existsSync(`${backupFile}-wal`), fs.existsSync(`${backupFile}-shm`)]).toEqual([false, false]);
    expect(fs.readdirSync(restoredDir)).toEqual([STORE_FILE_NAME]);
    const second = await startServer({ DATA_DIR: restoredDir });
    try {
      const topology = await getJson(second.url, '/api/topology');
      expect(topology.status).toBe(200);
      const domains = JSON.stringify(topology.body);
      for (const domain of before) expect(domains).toContain(domain);
    } finally {
      await second.stop();
    }
  });

  it('refuses a backup whose hash chain or file is damaged, leaving DATA_DIR empty', async () => {
    const dataDir = path.join(root, 'data');
    const server = await startServer({ DATA_DIR: dataDir });
    try {
      for (const domain of ['contoso.com', 'fabrikam.com']) expect((await command(server.url, 'RegisterSipDomain', { domain })).status).toBe(200);
    } finally {
      await server.stop();
    }
    const backupFile = path.join(root, 'ledger.backup');
    const made = await topo(dataDir, ['store', 'backup', backupFile, '--full-check']);
    expect([made.status, made.stdout]).toEqual([0, expect.stringContaining('integrity checked (quick_check)')]);

    // An event's data altered in the copy: the chain no longer holds.
    const altered = path.join(root, 'altered.backup');
    fs.copyFileSync(backupFile, altered);
    const db = new Database(altered);
    db.prepare(`UPDATE events SET data = replace(data, 'fabrikam.com', 'evil.com') WHERE data LIKE '%fabrikam.com%'`).run();
    db.close();
    const target = path.join(root, 'target');
    const broken = await topo(target, ['store', 'restore', altered]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/hash chain is BROKEN: .*nothing was restored/);
    expect(fs.existsSync(target)).toBe(false);

    const garbage = path.join(root, 'garbage.backup');
    fs.writeFileSync(garbage, 'not a database '.repeat(500));
    const notOne = await topo(target, ['store', 'restore', garbage]);
    expect(notOne.status).toBe(1);
    expect(notOne.stderr).toMatch(/is not a backup of the event store/);
    expect(fs.existsSync(target)).toBe(false);
  });
});

describe('topo store backup by an account that cannot write the store', () => {
  // Run as another account (nobody) through setpriv: only where this process may switch accounts.
  const canSwitch = process.getuid?.() === 0 && fs.existsSync('/usr/bin/setpriv');
  (canSwitch ? it : it.skip)('refuses before SQLite opens the store, naming the account to run it as, and leaves nothing beside the store', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-backup-ro-'));
    try {
      fs.chmodSync(root, 0o755);
      const dataDir = path.join(root, 'data');
      const server = await startServer({ DATA_DIR: dataDir });
      await server.stop();
      const out = path.join(root, 'out');
      fs.mkdirSync(out);
      for (const p of [dataDir, out, ...fs.readdirSync(dataDir).map((f) => path.join(dataDir, f))]) fs.chownSync(p, 65534, 65534);
      fs.chmodSync(dataDir, 0o755);
      fs.chmodSync(path.join(dataDir, STORE_FILE_NAME), 0o400);
      const before = fs.readdirSync(dataDir).sort();
      const { TOPO_TOKEN: _t, EVENTSTORE_CONNECTION_STRING: _e, ...inherited } = process.env;
      const result = await new Promise<{ status: number; stderr: string }>((resolve) =>
        execFile('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(ROOT, 'bin', 'topo.js'), 'store', 'backup', path.join(out, 'b.sqlite')], { cwd: ROOT, env: { ...inherited, DATA_DIR: dataDir } }, (error, _stdout, stderr) =>
          resolve({ status: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stderr }),
        ),
      );
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`${path.join(dataDir, STORE_FILE_NAME)}: this account cannot write it (EACCES); a backup folds the WAL into the store's file before copying it, so run it as the account the server runs as; nothing was written`);
      expect(fs.readdirSync(dataDir).sort()).toEqual(before);
      expect(fs.readdirSync(out)).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
