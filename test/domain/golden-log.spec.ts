import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { uuidFromName } from '../../src/application/audit';
import { EVENT_TYPES } from '../../src/domain/events';
import type { JsonObject } from '../../src/event-store/event-store';
import { HashChainedEventStore } from '../../src/event-store/hash-chain';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { dumpStoreFile, GOLDEN_DIR, type GoldenRow, replay } from '../support/golden-log';
import { bearer, command, seedTopology } from '../support/http';
import { ROOT, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(300_000);

const WRITE = process.env['WRITE_GOLDEN_LOG'] === '1';
/** A read model's deliberate change (a new projection version): its answers rewritten from the committed logs, the logs untouched. */
const WRITE_ANSWERS = process.env['WRITE_GOLDEN_ANSWERS'] === '1';
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

    // A forced rollback after the migration's endpoint was removed by hand: that step is not compensated.
    const forced = { query: 'deployment=forced' };
    await seedTopology(server.url, 'forced');
    const forcedMigration = (await ok('MigratePool', migrate, forced)).migrationId as string;
    await ok('ApproveChange', { migrationId: forcedMigration, decision: 'approve' }, { token: second, ...forced });
    await ok('RunMigration', { migrationId: forcedMigration }, forced);
    await ok('RemoveEndpoint', { identity: 'sip:ocschat@contoso.com' }, forced);
    await ok('RollbackMigration', { migrationId: forcedMigration, force: true }, forced);
    await ok('ApproveChange', { migrationId: forcedMigration, decision: 'approve' }, { token: second, ...forced });
    await ok('RollbackMigration', { migrationId: forcedMigration, force: true }, forced);

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

/**
 * A log in the shape the previous versions wrote: metadata with `schemaVersion: 1` on every event
 * (it then versioned the metadata), and `AccessDenied` without `attempts`, `firstOccurredAt`,
 * `lastOccurredAt` (before denials were aggregated), beside one that has them (aggregated, still
 * version 1), and one event with no version at all. Appended through the product's hash chain.
 */
async function writeAccessDeniedV1Log(): Promise<GoldenRow[]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-golden-v1-'));
  const store = new HashChainedEventStore(new SqliteEventStore({ dataDir }));
  const metadata = (occurredAt: string, extra: JsonObject, versioned = true): JsonObject => ({
    ...(versioned ? { schemaVersion: 1 } : {}),
    actor: extra['actor'] ?? 'anonymous',
    roles: [],
    authenticated: false,
    commandId: uuidFromName(`golden-v1/${occurredAt}`),
    correlationId: uuidFromName(`golden-v1/${occurredAt}`),
    causationId: null,
    reason: null,
    clientAddress: '10.0.0.7',
    occurredAt,
    ...extra,
  });
  const denied = (status: number, principal: string | null, route: string, aggregated?: { attempts: number; first: string; last: string }): JsonObject => ({
    principal,
    credentialFingerprint: principal === null ? '5e884898da28' : null,
    route,
    method: route.split(' ')[0]!,
    command: null,
    clientAddress: '10.0.0.7',
    status,
    reason: status === 401 ? 'unauthenticated' : 'forbidden',
    deployment: 'default',
    error: status === 401 ? { code: 'UNAUTHENTICATED', message: 'No valid credential.', details: {} } : { code: 'FORBIDDEN', message: 'The reader role may not read the audit trail.', details: { required: ['admin', 'auditor'] } },
    ...(aggregated ? { attempts: aggregated.attempts, firstOccurredAt: aggregated.first, lastOccurredAt: aggregated.last } : {}),
  });
  try {
    const admin = { actor: 'admin', roles: ['admin'], authenticated: true, deployment: 'default' };
    await store.appendToStream('topology-default', [
      { id: uuidFromName('golden-v1/1'), type: 'SipDomainRegistered', data: { domain: 'contoso.com', isDefault: true, previousDefault: null }, metadata: metadata('2026-06-01T08:00:00.000Z', { ...admin, command: 'RegisterSipDomain' }) },
    ], { expectedRevision: 'no_stream' });
    await store.appendToStream('access_denied-default', [
      { id: uuidFromName('golden-v1/2'), type: 'AccessDenied', data: denied(401, null, 'GET /api/topology'), metadata: metadata('2026-06-01T08:01:00.000Z', { deployment: 'default', command: null }) },
      { id: uuidFromName('golden-v1/3'), type: 'AccessDenied', data: denied(403, 'reader-token', 'GET /api/audit'), metadata: metadata('2026-06-01T08:02:00.000Z', { actor: 'reader-token', deployment: 'default', command: null }, false) },
      { id: uuidFromName('golden-v1/4'), type: 'AccessDenied', data: denied(401, null, 'GET /api/topology', { attempts: 4, first: '2026-06-01T08:03:00.000Z', last: '2026-06-01T08:03:40.000Z' }), metadata: metadata('2026-06-01T08:03:00.000Z', { deployment: 'default', command: null }) },
    ], { expectedRevision: 'no_stream' });
  } finally {
    await store.close();
  }
  const rows = dumpStoreFile(path.join(dataDir, 'events.sqlite'));
  fs.rmSync(dataDir, { recursive: true, force: true });
  return rows;
}

describe('golden logs replay to the committed answers', () => {
  beforeAll(async () => {
    if (WRITE_ANSWERS) {
      for (const name of ['current', 'access-denied-v1']) writeJson(`${name}.answers.json`, (await replay(readJson<GoldenRow[]>(`${name}.log.json`))).answers);
      return;
    }
    if (!WRITE) return;
    const rows = await writeCurrentLog();
    writeJson('current.log.json', rows);
    writeJson('current.answers.json', (await replay(rows)).answers);
    const old = await writeAccessDeniedV1Log();
    writeJson('access-denied-v1.log.json', old);
    writeJson('access-denied-v1.answers.json', (await replay(old)).answers);
  });

  it('the log written by this version holds every event type, verifies on its stored text, and replays to the same topology, audit trail and digest', async () => {
    const rows = readJson<GoldenRow[]>('current.log.json');
    const types = new Set(rows.map((r) => r.type));
    const missing = Object.keys(EVENT_TYPES).filter((t) => !types.has(t));
    expect(missing).toEqual([]);
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

  it('a log of the older AccessDenied shape verifies on its stored text and replays through the upcaster to the committed answers', async () => {
    const rows = readJson<GoldenRow[]>('access-denied-v1.log.json');
    // The stored text is the old shape, untouched.
    const stored = rows.filter((r) => r.type === 'AccessDenied').map((r) => ({ data: JSON.parse(r.data), version: JSON.parse(r.metadata).schemaVersion }));
    expect(stored.map((s) => [s.data.attempts, s.version])).toEqual([[undefined, 1], [undefined, undefined], [4, 1]]);
    const replayed = await replay(rows);
    expect(replayed.verification.broken).toBeNull();
    expect(replayed.verification.events).toBe(rows.length);
    expect(replayed.answers).toEqual(readJson('access-denied-v1.answers.json'));
    // What the audit trail says of each denial: how many attempts, first and last, as version 2 has them.
    const denials = (replayed.answers['auditTrail'] as { type: string; data: JsonObject }[]).filter((e) => e.type === 'AccessDenied').reverse();
    expect(denials.map((e) => [e.data['attempts'], e.data['firstOccurredAt'], e.data['lastOccurredAt']])).toEqual([
      [1, '2026-06-01T08:01:00.000Z', '2026-06-01T08:01:00.000Z'],
      [1, '2026-06-01T08:02:00.000Z', '2026-06-01T08:02:00.000Z'],
      [4, '2026-06-01T08:03:00.000Z', '2026-06-01T08:03:40.000Z'],
    ]);
  });
});
