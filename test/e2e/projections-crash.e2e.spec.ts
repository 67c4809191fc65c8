import Database from 'better-sqlite3';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ALL_PROJECTIONS } from '../../projections';
import { ProjectionRunner } from '../../projections/runner/projection-runner';
import { openReadModelDatabase } from '../../projections/runner/read-model-store';
import { READ_MODELS_FILE } from '../../src/application/read-models.module';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { writeHistory } from '../support/history';
import { bearer } from '../support/http';
import { dumpReadModelFile } from '../support/read-models';
import { MAIN, ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';
import { ApiTokens } from '../../src/application/api-tokens';

const dump = dumpReadModelFile;

function checkpoints(): number[] {
  // A server just spawned may not have created the file yet.
  if (!fs.existsSync(path.join(dataDir, READ_MODELS_FILE))) return [];
  const db = new Database(path.join(dataDir, READ_MODELS_FILE), { readonly: true });
  try {
    return db.prepare('SELECT position FROM projection_generations').pluck().all() as number[];
  } catch (error) {
    if (/no such table/.test((error as Error).message)) return []; // created, not yet set up
    throw error;
  } finally {
    db.close();
  }
}

async function waitUntilLive(server: RunningServer, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const { projections } = (await (await fetch(`${server.url}/api/projections`, { headers: bearer() })).json()) as {
      projections: { state: string; checkpoint: number; headPosition: number; rebuild: unknown }[];
    };
    if (projections.every((p) => p.state === 'live' && p.checkpoint === p.headPosition && p.rebuild === null)) return;
    if (projections.some((p) => p.state === 'failed')) throw new Error(`a projection failed: ${JSON.stringify(projections)}`);
    if (Date.now() - start > timeoutMs) throw new Error(`projections not live in time: ${JSON.stringify(projections)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * The built server, not waited for: a starting server catches its read models up before it listens
 * (for a few seconds at most), and this test kills it during that catch-up.
 */
function spawnServer(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [MAIN], { cwd: ROOT, env: { ...process.env, PORT: '0', ADMIN_TOKEN: TEST_ADMIN_TOKEN, ...env }, stdio: 'ignore' });
}

let dataDir: string;

describe('projections survive SIGKILL', () => {
  let cleanRebuild: Record<string, unknown[]>;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-crash-'));
    const store = new SqliteEventStore({ dataDir });
    await writeHistory(store, 40, 200);
    // The admin token a first start would issue, issued beforehand: the servers below append nothing.
    const at = new Date().toISOString();
    const context = { actor: 'test', roles: [], authenticated: false, commandId: '00000000-0000-4000-8000-00000000a001', correlationId: 'c', causationId: null, reason: null, clientAddress: null, occurredAt: at };
    await new ApiTokens(store).issue({ name: 'admin', role: 'admin', expiresAt: null, secret: TEST_ADMIN_TOKEN }, context, true);
    // The reference: a clean build of every projection from the start, in this process.
    const cleanDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-clean-'));
    const db = openReadModelDatabase(path.join(cleanDir, READ_MODELS_FILE));
    const runner = new ProjectionRunner(store, db, ALL_PROJECTIONS, { batchSize: 500 });
    runner.start();
    const head = await store.headPosition();
    await runner.waitFor(ALL_PROJECTIONS.map((p) => p.name), head, 60_000);
    runner.stop();
    db.close();
    await store.close();
    cleanRebuild = dump(path.join(cleanDir, READ_MODELS_FILE));
    fs.rmSync(cleanDir, { recursive: true, force: true });
    expect(cleanRebuild['topology.endpoints']!.length).toBeGreaterThan(1000);
  }, 120_000);
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('killed again and again while catching up, it ends equal to a clean rebuild', async () => {
    const store = new SqliteEventStore({ dataDir });
    const head = await store.headPosition();
    await store.close();
    let midwayKills = 0;
    for (let round = 0; round < 3; round++) {
      const server = spawnServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
      // Kill as soon as a batch has been committed but the log is not yet fully projected.
      let done = false;
      try {
        for (let tries = 0; tries < 2000 && !done; tries++) {
          const seen = checkpoints();
          if (seen.some((c) => c > 0 && c < head)) break;
          done = seen.length > 0 && seen.every((c) => c === head);
          await new Promise((r) => setTimeout(r, 2));
        }
      } finally {
        await kill(server);
      }
      if (!done) midwayKills += 1;
    }
    expect(midwayKills).toBeGreaterThanOrEqual(2);
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await waitUntilLive(server);
    await server.stop();
    expect(dump(path.join(dataDir, READ_MODELS_FILE))).toEqual(cleanRebuild);
  }, 120_000);

  it('killed during a rebuild, the rebuild resumes on restart and ends equal to a clean rebuild', async () => {
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await waitUntilLive(server);
    for (const projection of ALL_PROJECTIONS) {
      const response = await fetch(`${server.url}/api/projections/${projection.name}/rebuild`, { method: 'POST', headers: bearer() });
      expect(response.status).toBe(202);
    }
    await new Promise((r) => setTimeout(r, 300));
    const { projections } = (await (await fetch(`${server.url}/api/projections`, { headers: bearer() })).json()) as { projections: { rebuild: unknown }[] };
    expect(projections.some((p) => p.rebuild !== null)).toBe(true); // killed mid-rebuild, not after
    await kill(server.process);

    const restarted = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await waitUntilLive(restarted);
    await restarted.stop();
    expect(dump(path.join(dataDir, READ_MODELS_FILE))).toEqual(cleanRebuild);
  }, 120_000);
});
