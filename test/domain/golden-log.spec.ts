import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EVENT_TYPES } from '../../src/domain/events';
import { dumpStoreFile, GOLDEN_DIR, type GoldenRow, replay } from '../support/golden-log';
import { bearer, command, seedTopology } from '../support/http';
import { ROOT, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(300_000);

const WRITE = process.env['WRITE_GOLDEN_LOG'] === '1';
const file = (name: string): string => path.join(GOLDEN_DIR, name);
const readJson = <T>(name: string): T => JSON.parse(fs.readFileSync(file(name), 'utf8')) as T;
const writeJson = (name: string, value: unknown): void => fs.writeFileSync(file(name), `${JSON.stringify(value, null, 1)}\n`);

/** The scenario the current golden log records, run against a real server. */
async function writeCurrentLog(): Promise<GoldenRow[]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-golden-write-'));
  const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', FOUR_EYES: 'on' });
  const ok = async (name: string, body: object, options: { token?: string; query?: string } = {}): Promise<any> => {
    const result = await command(server.url, name, body, { headers: { 'X-Reason': `CHG-7 ${name}` }, ...options });
    if (result.status !== 200) throw new Error(`${name} ${JSON.stringify(body)}: ${result.status} ${JSON.stringify(result.body)}`);
    return result.body;
  };
  try {
    await seedTopology(server.url);
    const issue = async (name: string, role: string): Promise<any> => {
      const response = await fetch(`${server.url}/api/tokens`, { method: 'POST', headers: { ...bearer(), 'content-type': 'application/json', 'x-reason': 'CHG-7 tokens' }, body: JSON.stringify({ name, role }) });
      if (response.status !== 201) throw new Error(`token ${name}: ${response.status} ${await response.text()}`);
      return response.json();
    };
    const second = (await issue('second-admin', 'admin')).secret as string;
    await issue('temporary-reader', 'reader');
    const revoked = await fetch(`${server.url}/api/tokens/temporary-reader`, { method: 'DELETE', headers: { ...bearer(), 'x-reason': 'CHG-7 tokens' } });
    if (revoked.status !== 200) throw new Error(`revoke: ${revoked.status}`);

    await ok('RegisterSipDomain', { domain: 'fabrikam.com' });
    await ok('SetDefaultSipDomain', { domain: 'fabrikam.com' });
    await ok('SetDefaultSipDomain', { domain: 'contoso.com' });
    await ok('RemoveSipDomain', { domain: 'fabrikam.com' });
    await ok('RegisterSipPrincipal', { sipAddress: 'sip:alice@contoso.com', kind: 'user', displayName: 'Alice' });
    await ok('DeleteSipPrincipal', { sipAddress: 'sip:alice@contoso.com' });
    await ok('AddPersistentChatServer', { poolFqdn: 'pcpool.contoso.com', serverFqdn: 'pc3.contoso.com' });
    await ok('SetPersistentChatActiveServers', { poolFqdn: 'pcpool.contoso.com', add: ['pc3.contoso.com'] });
    await ok('SetPersistentChatActiveServers', { poolFqdn: 'pcpool.contoso.com', remove: ['pc3.contoso.com'] });
    await ok('RemovePersistentChatServer', { poolFqdn: 'pcpool.contoso.com', serverFqdn: 'pc3.contoso.com' });
    await ok('SetPersistentChatState', { poolFqdn: 'pcpool.contoso.com', poolState: 'FailedOver' });
    await ok('SetPersistentChatState', { poolFqdn: 'pcpool.contoso.com', poolState: 'Normal' });
    await ok('CreateEndpoint', { sipAddress: 'sip:rooms@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: 'Rooms' });
    await ok('RemoveEndpoint', { identity: 'sip:rooms@contoso.com' });
    // Refused (R3): recorded as CommandRefused, nothing appended to the topology.
    const refused = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:ocschat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    if (refused.status !== 409) throw new Error(`expected a refusal, got ${refused.status}`);
    // Denied (401): recorded as AccessDenied.
    const denied = await fetch(`${server.url}/api/topology`, { headers: { authorization: 'Bearer wrong-token' } });
    if (denied.status !== 401) throw new Error(`expected 401, got ${denied.status}`);

    // The seed's migration, four eyes on: a plan rejected, a plan approved, a failed step, the run, the rollback.
    const migrate = { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com' };
    const rejected = await ok('MigratePool', migrate);
    await ok('ApproveChange', { migrationId: rejected.migrationId, decision: 'reject' }, { token: second });
    const rollback = async (id: string): Promise<void> => {
      await ok('RollbackMigration', { migrationId: id });
      await ok('ApproveChange', { migrationId: id, decision: 'approve' }, { token: second });
      await ok('RollbackMigration', { migrationId: id });
    };
    const failed = (await ok('MigratePool', migrate)).migrationId as string;
    await ok('ApproveChange', { migrationId: failed, decision: 'approve' }, { token: second });
    await ok('RunMigration', { migrationId: failed, steps: 2 });
    await ok('FailMigrationStep', { migrationId: failed, step: 3 });
    await rollback(failed);
    const completed = (await ok('MigratePool', migrate)).migrationId as string;
    await ok('ApproveChange', { migrationId: completed, decision: 'approve' }, { token: second });
    await ok('RunMigration', { migrationId: completed });
    await rollback(completed);

    // A deployment of its own for what would end the seed: a pool removed, a legacy pool decommissioned.
    const lab = { query: 'deployment=lab' };
    await seedTopology(server.url, 'lab');
    await ok('InstallPersistentChatPool', { fqdn: 'pcspare.contoso.com', servers: ['pcs1.contoso.com'] }, lab);
    await ok('RemovePersistentChatPool', { fqdn: 'pcspare.contoso.com' }, lab);
    const labMigration = (await ok('MigratePool', migrate, lab)).migrationId as string;
    await ok('ApproveChange', { migrationId: labMigration, decision: 'approve' }, { token: second, ...lab });
    await ok('RunMigration', { migrationId: labMigration }, lab);
    await ok('DecommissionLegacyPool', { fqdn: 'gc.contoso.com' }, lab);

    // An observation that finds drift, and its adoption.
    const xml = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'observations', 'standard-edition-topology.xml'));
    const observed = await fetch(`${server.url}/api/observations?deployment=observed`, { method: 'POST', headers: { ...bearer(), 'content-type': 'application/xml', 'x-reason': 'CHG-7 reconciliation' }, body: xml });
    const observation = (await observed.json()) as any;
    if (observed.status !== 200 || !(observation.drift?.length > 0)) throw new Error(`observation: ${observed.status} ${JSON.stringify(observation).slice(0, 400)}`);
    await ok('AdoptObservedState', { observationId: observation.observationId }, { query: 'deployment=observed' });
  } finally {
    await server.stop();
  }
  const rows = dumpStoreFile(path.join(dataDir, 'events.sqlite'));
  fs.rmSync(dataDir, { recursive: true, force: true });
  return rows;
}

describe('golden logs replay to the committed answers', () => {
  beforeAll(async () => {
    if (!WRITE) return;
    const rows = await writeCurrentLog();
    writeJson('current.log.json', rows);
    writeJson('current.answers.json', (await replay(rows)).answers);
  });

  it('the log written by this version holds every event type, verifies on its stored text, and replays to the same topology, audit trail and digest', async () => {
    const rows = readJson<GoldenRow[]>('current.log.json');
    const types = new Set(rows.map((r) => r.type));
    const missing = Object.keys(EVENT_TYPES).filter((t) => !types.has(t));
    expect(missing).toEqual(['MigrationStepNotCompensated']);
    // Written by this version: every event names its schema version, the current one.
    for (const row of rows) {
      const metadata = JSON.parse(row.metadata) as { schemaVersion?: unknown };
      if (row.type in EVENT_TYPES) expect({ type: row.type, version: metadata.schemaVersion }).toEqual({ type: row.type, version: EVENT_TYPES[row.type as keyof typeof EVENT_TYPES].version });
    }
    const replayed = await replay(rows);
    expect(replayed.verification.broken).toBeNull();
    expect(replayed.verification.events).toBe(rows.length);
    expect(replayed.answers).toEqual(readJson('current.answers.json'));
  });
});
