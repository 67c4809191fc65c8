import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer, command, seedTopology } from '../support/http';
import { RunningServer, startServer } from '../support/server';

describe('queries over HTTP, answered from read models', () => {
  let dataDir: string;
  let server: RunningServer;
  const get = async (pathAndQuery: string) => {
    const response = await fetch(`${server.url}${pathAndQuery}`, { headers: bearer() });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-queries-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('follows the seed migration in the topology, the endpoint directory, history, diff and audit trail', async () => {
    await seedTopology(server.url);
    const first = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: 'Persistent Chat' });
    await new Promise((r) => setTimeout(r, 20));
    const beforeMigration = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:ocschat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' }); // refused: R3
    await command(server.url, 'DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com', reason: 'CHG-7 migration' });
    const last = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:ocschat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: 'Legacy chat' });
    expect(last.status).toBe(200);

    // Read your writes: the command's position, passed as minPosition.
    const now = await get(`/api/topology?minPosition=${last.body.position}`);
    expect(now.status).toBe(200);
    expect(now.body.endpoints.map((e: { sipAddress: string }) => e.sipAddress)).toEqual(['sip:ocschat@contoso.com', 'sip:persistentchat@contoso.com']);
    expect(now.body.principals.map((p: { sipAddress: string }) => p.sipAddress)).not.toContain('sip:ocschat@contoso.com');

    const then = await get(`/api/topology?asOf=${encodeURIComponent(beforeMigration)}`);
    expect(then.body.endpoints.map((e: { sipAddress: string }) => e.sipAddress)).toEqual(['sip:persistentchat@contoso.com']);
    expect(then.body.principals).toEqual([expect.objectContaining({ sipAddress: 'sip:ocschat@contoso.com', kind: 'wellKnownUser' })]);
    const atFirst = await get(`/api/topology?atPosition=${first.body.position}`);
    expect(atFirst.body).toEqual(then.body);

    const diff = await get(`/api/topology/diff?from=${first.body.position}&to=${last.body.position}`);
    expect(diff.body.added).toEqual([expect.objectContaining({ entity: 'endpoint', key: 'sip:ocschat@contoso.com' })]);
    expect(diff.body.removed).toEqual([expect.objectContaining({ entity: 'principal', key: 'sip:ocschat@contoso.com' })]);

    const endpoints = await get('/api/endpoints?sipAddress=*chat@contoso.com');
    expect(endpoints.body.endpoints.map((e: { sipAddress: string }) => e.sipAddress)).toEqual(['sip:ocschat@contoso.com', 'sip:persistentchat@contoso.com']);
    const byName = await get('/api/endpoints?identity=legacy%20chat');
    expect(byName.body.endpoints).toEqual([expect.objectContaining({ sipAddress: 'sip:ocschat@contoso.com', poolFqdn: 'pcpool.contoso.com' })]);
    const beforeDirectory = await get(`/api/endpoints?asOf=${encodeURIComponent(beforeMigration)}&includeAll=true`);
    expect(beforeDirectory.body.endpoints).toEqual(
      expect.arrayContaining([expect.objectContaining({ sipAddress: 'sip:ocschat@contoso.com', kind: 'wellKnownUser', poolFqdn: 'gc.contoso.com' })]),
    );

    const refused = await get('/api/audit?outcome=refused');
    expect(refused.body.entries).toEqual([expect.objectContaining({ command: 'CreateEndpoint', error: expect.objectContaining({ code: 'SIP_ADDRESS_IN_USE' }) })]);
    const history = await get(`/api/audit/history?entity=${encodeURIComponent('sip:ocschat@contoso.com')}`);
    expect(history.body.entries.map((e: { type: string }) => e.type)).toEqual([
      'SipPrincipalRegistered',
      'CommandRefused',
      'SipPrincipalDeleted',
      'PersistentChatEndpointCreated',
    ]);
    expect(history.body.entries[2]).toMatchObject({ reason: 'CHG-7 migration', actor: 'admin' });
    const page1 = await get('/api/audit?limit=3');
    const page2 = await get(`/api/audit?limit=3&cursor=${page1.body.nextCursor}`);
    const positions = [...page1.body.entries, ...page2.body.entries].map((e: { position: number }) => e.position);
    expect(positions).toEqual([...positions].sort((a, b) => b - a));
    expect(new Set(positions).size).toBe(6);
  });

  it('GET /api/audit refuses a query parameter it does not take with 400 naming it, rather than answer the whole trail', async () => {
    for (const [query, name] of [
      ['correlationId=0f7c0e4e-1d4b-4f55-9d4e-2d1f6c7a9b10', 'correlationId'],
      ['bogus=1', 'bogus'],
      ['Actor=admin', 'Actor'],
    ] as const) {
      const refused = await get(`/api/audit?${query}`);
      expect([query, refused.status]).toEqual([query, 400]);
      expect(refused.body.error.details).toMatchObject({ field: name, rule: 'schema' });
      expect(refused.body.error.message).toContain(`GET /api/audit takes no query parameter '${name}'`);
    }
    expect((await get('/api/audit?Actor=admin')).body.error.message).toContain("(did you mean 'actor'?)");
    const several = await get('/api/audit?bogus=1&other=2');
    expect(several.body.error.message).toContain("takes no query parameter 'bogus', 'other';");
    expect(several.body.error.details).toMatchObject({ field: 'bogus', fields: ['bogus', 'other'] });
    expect((await get('/api/audit?actor=admin&outcome=accepted&limit=1')).status).toBe(200);
  });

  it("an audit entry's recordedAt is the moment asOf shows the topology with that change", async () => {
    expect((await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com', deployment: 'asof' })).status).toBe(200);
    const installed = await command(server.url, 'InstallPersistentChatPool', { fqdn: 'asof.contoso.com', servers: ['asof1.contoso.com'], deployment: 'asof' });
    expect(installed.status).toBe(200);
    const audit = await get(`/api/audit?deployment=asof&minPosition=${installed.body.position}`);
    const entry = audit.body.entries.find((e: { type: string }) => e.type === 'PersistentChatPoolInstalled');
    expect(entry.recordedAt >= entry.occurredAt).toBe(true);
    const pools = async (asOf: string): Promise<string[]> =>
      (await get(`/api/topology?deployment=asof&asOf=${encodeURIComponent(asOf)}`)).body.persistentChatPools.map((p: { fqdn: string }) => p.fqdn);
    expect(await pools(entry.recordedAt)).toEqual(['asof.contoso.com']);
    expect(await pools(new Date(Date.parse(entry.recordedAt) - 1).toISOString())).toEqual([]);
  });

  it('answers 503 with the lag when minPosition is not reached in time, and 400 naming a bad parameter', async () => {
    const waited = await get('/api/topology?minPosition=999999&waitMs=200');
    expect(waited.status).toBe(503);
    expect(waited.body.error).toMatchObject({ code: 'PROJECTION_LAGGING', details: { minPosition: 999999, projections: [expect.objectContaining({ name: 'topology' })] } });
    const bad = await get('/api/topology?atPosition=yesterday');
    expect([bad.status, bad.body.error.details.field]).toEqual([400, 'atPosition']);
    const badTime = await get('/api/topology?asOf=last%20week');
    expect([badTime.status, badTime.body.error.details.field]).toEqual([400, 'asOf']);
    // A filter value the API does not know is refused, not taken to mean "nothing" or "false".
    const badStatus = await get('/api/migrations?status=Bogus');
    expect([badStatus.status, badStatus.body.error.details.field]).toEqual([400, 'status']);
    expect(badStatus.body.error.message).toContain('must be one of Planned, Running, Completed, Failed, RollingBack, RolledBack, Rejected');
    expect((await get('/api/migrations?status=Completed')).status).toBe(200);
    const badFlag = await get('/api/endpoints?includeAll=maybe');
    expect([badFlag.status, badFlag.body.error.details.field]).toEqual([400, 'includeAll']);
    const badSize = await get('/api/endpoints?resultSize=abc');
    expect([badSize.status, badSize.body.error.message]).toEqual([400, "resultSize must be a number of results (a whole number >= 0), got 'abc'"]);
  });

  it('reports each projection with checkpoint, head, lag and state', async () => {
    const { body } = await get('/api/projections');
    expect(body.projections.map((p: { name: string }) => p.name)).toEqual(['topology', 'endpoint_directory', 'audit_trail', 'audit_digest', 'migrations', 'drift']);
    for (const p of body.projections) expect(p).toMatchObject({ state: 'live', lagEvents: 0, failedAt: null, rebuild: null, checkpoint: p.headPosition });
  });
});
