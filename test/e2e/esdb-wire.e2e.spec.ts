import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EsdbTestServer, startEsdbTestServer } from '../support/esdb-test-server';
import { bearer, CommandResponse, command, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer } from '../support/server';

/**
 * The built server on EventStoreDB (EVENTSTORE_CONNECTION_STRING), against the in-memory protocol
 * server of `test/support/esdb-test-server.ts`: commands append through the real client, read models
 * follow `$all`, and both survive an EventStoreDB restart.
 */
describe('the server process on EventStoreDB (wire test server)', () => {
  let esdb: EsdbTestServer;
  let dataDir: string;
  let server: RunningServer;
  const get = async (pathAndQuery: string) => {
    const response = await fetch(`${server.url}${pathAndQuery}`, { headers: bearer() });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    esdb = await startEsdbTestServer();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-esdb-e2e-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', EVENTSTORE_CONNECTION_STRING: esdb.connectionString });
  });
  afterAll(async () => {
    await server.stop();
    await esdb.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** A command, retried while the store is unavailable (503), as a client would. */
  async function retried(name: string, body: object): Promise<CommandResponse> {
    for (let i = 0; ; i++) {
      const result = await command(server.url, name, body);
      if (result.status !== 503 || i >= 40) return result;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('writes commands to EventStoreDB and answers queries from read models fed by $all, across an EventStoreDB restart', async () => {
    const health = await get('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', eventStore: 'esdb' });

    await seedTopology(server.url);
    const first = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    expect(first.status).toBe(200);
    const before = await get(`/api/topology?minPosition=${first.body.position}&waitMs=5000`);
    expect(before.status).toBe(200);
    expect(JSON.stringify(before.body)).toContain('sip:persistentchat@contoso.com');

    await esdb.stop();
    expect((await get('/health')).status).toBe(503);
    await esdb.restart();

    const after = await retried('DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com', reason: 'CHG-7 migration' });
    expect(after.status).toBe(200);
    const legacy = await retried('CreateEndpoint', { sipAddress: 'sip:ocschat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    expect(legacy.status).toBe(200);
    // The read models resubscribed from their checkpoints and caught up with the writes made since.
    const now = await get(`/api/topology?minPosition=${legacy.body.position}&waitMs=10000`);
    expect(now.status).toBe(200);
    expect(JSON.stringify(now.body)).toContain('sip:ocschat@contoso.com');
    expect((await get('/health')).body).toMatchObject({ status: 'ok', headPosition: legacy.body.position });
  });

  it('plans, runs and rolls back a migration on EventStoreDB: its own stream, steps through the topology stream', async () => {
    const deployment = 'fabrikam';
    await seedTopology(server.url, deployment);
    const planned = await retried('MigratePool', { deployment, legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com', reason: 'CHG-8' });
    expect(planned.status).toBe(200);
    const id = planned.body.migrationId as string;
    const run = await retried('RunMigration', { migrationId: id });
    expect(run.body).toMatchObject({ status: 'Completed', steps: [1, 2, 3, 4, 5, 6, 7] });
    const shown = await get(`/api/migrations/${id}?minPosition=${run.body.position}&waitMs=10000`);
    expect(shown.body).toMatchObject({ deployment, status: 'Completed', continuity: { holds: true, routesTo: 'pcpool.contoso.com' } });
    const back = await retried('RollbackMigration', { migrationId: id, reason: 'CHG-8 backed out' });
    expect(back.body).toMatchObject({ status: 'RolledBack', notCompensated: [] });
    const topology = await get(`/api/topology?deployment=${deployment}&minPosition=${back.body.position}&waitMs=10000`);
    expect(topology.body.legacyPools).toEqual([expect.objectContaining({ fqdn: 'gc.contoso.com', status: 'Started', dataMigratedTo: null })]);
    expect(topology.body.endpoints).toEqual([]);
  });

  it('chains the events in EventStoreDB as in SQLite: topo audit verify checks them and the digest the server reports', async () => {
    const refused = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:ocschat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    expect(refused.status).toBe(409);
    const head = (await get('/health')).body.headPosition as number;
    const digest = await get(`/api/audit/digest?minPosition=${head}&waitMs=10000`);
    expect(digest.body).toMatchObject({ position: head, algorithm: 'sha256-chain-v1' });
    // Not spawnSync: the EventStoreDB test server answers from this very process.
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), 'audit', 'verify', '--json', '--digest', digest.body.digest as string], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', EVENTSTORE_CONNECTION_STRING: esdb.connectionString },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const verified = { status, stdout };
    expect(verified.status).toBe(0);
    const result = JSON.parse(verified.stdout) as { ok: boolean; chained: number; unchained: number; digestChecked: boolean };
    expect(result).toMatchObject({ ok: true, unchained: 0, digestChecked: true });
    expect(result.chained).toBe(digest.body.events);
  });
});
