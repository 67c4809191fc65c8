import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { READ_MODELS_FILE } from '../../src/application/read-models.module';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { writeHistory } from '../support/history';
import { getJson } from '../support/http';
import { ROOT, startServer } from '../support/server';

describe('topo projections rebuild', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-cli-rebuild-'));
    const store = new SqliteEventStore({ dataDir });
    await writeHistory(store, 3, 20);
    await store.close();
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const topo = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, encoding: 'utf8' });

  it('replays the log into a new build, printing progress, and the new build serves', () => {
    const first = topo('projections', 'rebuild');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/topology +\[#+\] 100% +\d[\d,]*\/\d[\d,]* events +[\d,]+ events\/s +ETA/);
    expect(first.stdout).toMatch(/rebuilt topology, endpoint_directory, audit_trail, audit_digest, migrations, drift to position \d+/);
    const again = topo('projections', 'rebuild', 'topology');
    expect(again.status).toBe(0);
    const db = new Database(path.join(dataDir, READ_MODELS_FILE), { readonly: true });
    const active = db.prepare(`SELECT generation FROM projection_active WHERE name = 'topology'`).pluck().get();
    const endpoints = db.prepare(`SELECT count(*) FROM topology_g${String(active)}_endpoints WHERE valid_to IS NULL`).pluck().get();
    db.close();
    expect(active).toBeGreaterThan(1);
    expect(endpoints).toBe(3 * (20 - 4));
  });

  it('refuses to rebuild in its own process while a server runs on DATA_DIR, naming the way through the server; the server goes on answering', async () => {
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    try {
      const refused = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), 'projections', 'rebuild', 'endpoint_directory'], {
        cwd: ROOT,
        env: { ...process.env, DATA_DIR: dataDir },
        encoding: 'utf8',
      });
      expect(refused.status).toBe(2);
      expect(refused.stderr).toContain(`a server runs on DATA_DIR (pid ${server.process.pid}, ${server.url}); rebuild through it: topo projections rebuild endpoint_directory --server ${server.url}`);
      const endpoints = await getJson(server.url, '/api/endpoints?deployment=org0');
      expect(endpoints.status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it('names an unknown projection and exits non-zero', () => {
    const result = topo('projections', 'rebuild', 'nope');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("PROJECTION_NOT_FOUND: no projection named 'nope'; known: topology, endpoint_directory, audit_trail, audit_digest");
  });
});
