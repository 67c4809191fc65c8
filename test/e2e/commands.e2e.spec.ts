import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RecordedEvent } from '../../src/event-store/event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { command, seedTopology } from '../support/http';
import { RunningServer, startServer } from '../support/server';

describe('admin commands over HTTP', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-commands-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  });
  afterEach(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Reads the log straight from the SQLite file the server writes. */
  async function stream(streamId: string): Promise<RecordedEvent[]> {
    const store = new SqliteEventStore({ dataDir });
    try {
      return await store.readStream(streamId);
    } catch {
      return [];
    } finally {
      await store.close();
    }
  }

  it('runs the seed scenario: the well-known user must be deleted (with a reason) before an endpoint takes its URI', async () => {
    await seedTopology(server.url);
    const verbatim = await command(server.url, 'CreateEndpoint', {
      sipAddress: 'sip:persistentchat@contoso.com',
      persistentChatPoolFqdn: 'pcpool.contoso.com',
    });
    expect(verbatim.status).toBe(200);
    expect(verbatim.body.events).toEqual([
      expect.objectContaining({
        type: 'PersistentChatEndpointCreated',
        streamId: 'topology-default',
        data: expect.objectContaining({ sipAddress: 'sip:persistentchat@contoso.com', poolFqdn: 'pcpool.contoso.com' }),
      }),
    ]);

    const taken = await command(server.url, 'CreateEndpoint', { sipAddress: 'SIP:OCSChat@Contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toMatchObject({ code: 'SIP_ADDRESS_IN_USE', details: { rule: 'R3', sipAddress: 'sip:ocschat@contoso.com' } });

    const noReason = await command(server.url, 'DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com' });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error).toMatchObject({ code: 'REASON_REQUIRED', details: { field: 'reason' } });

    const deleted = await command(server.url, 'DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com' }, { headers: { 'X-Reason': 'CHG-1042 migration window' } });
    expect(deleted.status).toBe(200);
    const legacy = await command(server.url, 'CreateEndpoint', {
      sipAddress: 'sip:ocschat@contoso.com',
      persistentChatPoolFqdn: 'pcpool.contoso.com',
      displayName: 'Legacy Group Chat',
    });
    expect(legacy.status).toBe(200);
    expect(legacy.body.warnings).toEqual([expect.objectContaining({ code: 'ADDITIONAL_ENDPOINT_FOR_POOL', rule: 'R8' })]);

    const events = await stream('topology-default');
    expect(events.map((e) => e.type)).toEqual([
      'SipDomainRegistered',
      'LegacyGroupChatPoolDefined',
      'SipPrincipalRegistered',
      'PersistentChatPoolInstalled',
      'PersistentChatEndpointCreated',
      'SipPrincipalDeleted',
      'PersistentChatEndpointCreated',
    ]);
    expect(events[5]!.metadata).toMatchObject({ reason: 'CHG-1042 migration window', command: 'DeleteSipPrincipal' });
    expect(events[6]!.metadata['warnings']).toEqual([expect.objectContaining({ code: 'ADDITIONAL_ENDPOINT_FOR_POOL' })]);
  });

  it('every event carries the audit metadata; the actor is the configured default, marked unauthenticated', async () => {
    const result = await command(
      server.url,
      'RegisterSipDomain',
      { domain: 'contoso.com' },
      { headers: { 'X-Correlation-Id': 'change-7', 'X-Causation-Id': 'ticket-7', 'X-Reason': 'new forest' } },
    );
    expect(result.status).toBe(200);
    const [event] = await stream('topology-default');
    expect(event!.metadata).toEqual({
      schemaVersion: 1,
      // The verified principal: the first admin token, created from ADMIN_TOKEN, is named admin.
      actor: 'admin',
      roles: ['admin'],
      authenticated: true,
      commandId: result.body.commandId,
      correlationId: 'change-7',
      causationId: 'ticket-7',
      reason: 'new forest',
      clientAddress: expect.stringMatching(/127\.0\.0\.1/),
      occurredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      deployment: 'default',
      command: 'RegisterSipDomain',
      commandFingerprint: expect.any(String),
      warnings: [],
      // The hash chain: the first event of its stream.
      prevHash: null,
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(result.body.position).toBe(event!.position);
  });

  it('refuses invalid input (even a body that is not JSON) with 400 naming the field and the rule, appends nothing to the topology, and records each refusal', async () => {
    await seedTopology(server.url);
    const before = await stream('topology-default');
    const cases: [string, object, string, string, string][] = [
      ['CreateEndpoint', { sipAddress: 'persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' }, 'INVALID_SIP_ADDRESS', 'sipAddress', 'R1'],
      ['CreateEndpoint', { sipAddress: 'sip:chat@fabrikam.com', persistentChatPoolFqdn: 'pcpool.contoso.com' }, 'SIP_DOMAIN_NOT_REGISTERED', 'sipAddress', 'R1'],
      ['CreateEndpoint', { sipAddress: 'sip:chat@contoso.com' }, 'INVALID_INPUT', 'persistentChatPoolFqdn', 'schema'],
      ['CreateEndpoint', { sipAddress: 'sip:chat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com', colour: 'red' }, 'INVALID_INPUT', 'colour', 'schema'],
      ['InstallPersistentChatPool', { fqdn: 'pool2.contoso.com', servers: ['a.contoso.com', 'b.contoso.com', 'c.contoso.com', 'd.contoso.com', 'e.contoso.com', 'f.contoso.com', 'g.contoso.com', 'h.contoso.com', 'i.contoso.com'] }, 'TOO_MANY_SERVERS', 'servers', 'R10'],
    ];
    for (const [name, body, code, field, rule] of cases) {
      const result = await command(server.url, name, body);
      expect([name, result.status, result.body.error.code, result.body.error.details.field, result.body.error.details.rule]).toEqual([name, 400, code, field, rule]);
      expect(result.body.error.message).toEqual(expect.stringContaining(field === 'colour' ? 'colour' : ''));
    }
    const notJson = await command(server.url, 'CreateEndpoint', '{"sipAddress": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('INVALID_JSON');
    // Valid JSON that is not an object is named for what it is.
    for (const [text, received] of [['null', 'null'], ['5', 'a number'], ['"x"', 'a string']]) {
      const notObject = await command(server.url, 'CreateEndpoint', text);
      expect([notObject.status, notObject.body.error.code, notObject.body.error.details]).toEqual([
        400,
        'INVALID_INPUT',
        expect.objectContaining({ field: 'body', rule: 'schema', received }),
      ]);
    }
    const unknown = await command(server.url, 'CreateEndpiont', {});
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'UNKNOWN_COMMAND', details: { suggestion: 'CreateEndpoint' } });

    expect(await stream('topology-default')).toHaveLength(before.length);
    const refusals = await stream('refused_command-default');
    expect(refusals.map((r) => [r.type, r.data['command'], (r.data['error'] as { code: string }).code])).toEqual([
      ...cases.map(([name, , code]) => ['CommandRefused', name, code]),
      ['CommandRefused', 'CreateEndpoint', 'INVALID_JSON'],
      ['CommandRefused', 'CreateEndpoint', 'INVALID_INPUT'],
      ['CommandRefused', 'CreateEndpoint', 'INVALID_INPUT'],
      ['CommandRefused', 'CreateEndpoint', 'INVALID_INPUT'],
      ['CommandRefused', 'CreateEndpiont', 'UNKNOWN_COMMAND'],
    ]);
    expect(refusals[0]!.data['input']).toEqual(cases[0]![1]);
    expect(refusals[0]!.metadata).toMatchObject({ actor: 'admin', authenticated: true, command: 'CreateEndpoint' });
  });

  it('R4: an endpoint on a legacy Group Chat pool is a state conflict (409, CONTRACT), not bad input; nothing is appended', async () => {
    await seedTopology(server.url);
    const before = await stream('topology-default');
    const result = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:chat@contoso.com', persistentChatPoolFqdn: 'gc.contoso.com' });
    expect([result.status, result.body.error.code]).toEqual([409, 'POOL_NOT_PERSISTENT_CHAT']);
    expect(result.body.error.details).toMatchObject({ field: 'persistentChatPoolFqdn', rule: 'R4', fqdn: 'gc.contoso.com', kind: 'legacyGroupChat' });
    expect(await stream('topology-default')).toHaveLength(before.length);
  });

  it('?whatIf=true returns the events that would be appended and appends nothing', async () => {
    await seedTopology(server.url);
    const before = await stream('topology-default');
    const preview = await command(
      server.url,
      'CreateEndpoint',
      { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' },
      { query: 'whatIf=true' },
    );
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ whatIf: true, events: [{ type: 'PersistentChatEndpointCreated', revision: before.length, streamId: 'topology-default' }] });
    const refusedPreview = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:ocschat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' }, { query: 'whatIf=true' });
    expect(refusedPreview.status).toBe(409);
    expect(await stream('topology-default')).toHaveLength(before.length);
    expect(await stream('refused_command-default')).toHaveLength(0);
  });

  it('a query parameter a command does not take (?WhatIf=true) is refused, not ignored: nothing is changed for real', async () => {
    await seedTopology(server.url);
    const before = await stream('topology-default');
    const body = { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' };
    const misspelt = await command(server.url, 'CreateEndpoint', body, { query: 'WhatIf=true' });
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'WhatIf', rule: 'schema' } });
    expect(misspelt.body.error.message).toContain("did you mean 'whatIf'?");
    const unknown = await command(server.url, 'CreateEndpoint', body, { query: 'foo=bar' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'foo' } });
    const twice = await command(server.url, 'CreateEndpoint', body, { query: 'whatIf=true&whatIf=false' });
    expect(twice.status).toBe(400);
    expect(twice.body.error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'whatIf' } });
    expect(await stream('topology-default')).toHaveLength(before.length);
    // Each is a refused command, recorded as such.
    expect((await stream('refused_command-default')).map((e) => e.data['error'])).toEqual([
      expect.objectContaining({ code: 'INVALID_INPUT' }),
      expect.objectContaining({ code: 'INVALID_INPUT' }),
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    ]);
  });

  it('the deployment may be named in the query instead of the body; a query and a body that disagree are refused', async () => {
    const registered = await command(server.url, 'RegisterSipDomain', { domain: 'newco.com' }, { query: 'deployment=NewCo' });
    expect(registered.status).toBe(200);
    expect(registered.body).toMatchObject({ deployment: 'newco', events: [{ type: 'SipDomainRegistered', streamId: 'topology-newco' }] });
    expect(await stream('topology-newco')).toHaveLength(1);
    expect(await stream('topology-default')).toHaveLength(0);

    const agreeing = await command(server.url, 'RegisterSipDomain', { domain: 'newco.net', deployment: 'newco' }, { query: 'deployment=newco' });
    expect(agreeing.status).toBe(200);
    const disagreeing = await command(server.url, 'RegisterSipDomain', { domain: 'newco.org', deployment: 'newco' }, { query: 'deployment=other' });
    expect(disagreeing.status).toBe(400);
    expect(disagreeing.body.error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'deployment', rule: 'schema' } });
    const badName = await command(server.url, 'RegisterSipDomain', { domain: 'newco.org' }, { query: 'deployment=no%20such%20name' });
    expect(badName.status).toBe(400);
    expect(badName.body.error).toMatchObject({ details: { field: 'deployment' } });
    expect(await stream('topology-newco')).toHaveLength(2);
    expect(await stream('topology-other')).toHaveLength(0);
  });

  it('an Idempotency-Key retry returns the first result and appends nothing; reusing the key for another request is refused', async () => {
    await seedTopology(server.url);
    const body = { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' };
    const headers = { 'Idempotency-Key': 'chg-2001-create-endpoint' };
    const first = await command(server.url, 'CreateEndpoint', body, { headers });
    const retries = await Promise.all([1, 2, 3].map(() => command(server.url, 'CreateEndpoint', body, { headers })));
    expect(first.status).toBe(200);
    for (const retry of retries) {
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
    }
    const other = await command(server.url, 'CreateEndpoint', { ...body, sipAddress: 'sip:other@contoso.com' }, { headers });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const created = (await stream('topology-default')).filter((e) => e.type === 'PersistentChatEndpointCreated');
    expect(created).toHaveLength(1);

    const byCommandId = { ...body, sipAddress: 'sip:second@contoso.com', commandId: '2f1b6c1e-4f7d-4a57-9a0e-0a7f0f6f1a01' };
    const a = await command(server.url, 'CreateEndpoint', byCommandId);
    const b = await command(server.url, 'CreateEndpoint', byCommandId);
    expect(a.body.commandId).toBe(byCommandId.commandId);
    expect(b.body).toEqual(a.body);
  });

  it('32 clients racing for one SIP URI: exactly one wins, 31 get 409; 32 endpoints on one pool all land, with R8 warnings', async () => {
    await seedTopology(server.url);
    const race = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        command(server.url, 'CreateEndpoint', { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: `client ${i}` }),
      ),
    );
    expect(race.filter((r) => r.status === 200)).toHaveLength(1);
    const losers = race.filter((r) => r.status !== 200);
    expect(losers).toHaveLength(31);
    for (const r of losers) expect([r.status, r.body.error.code]).toEqual([409, 'SIP_ADDRESS_IN_USE']);

    const samePool = await Promise.all(
      Array.from({ length: 32 }, (_, i) => command(server.url, 'CreateEndpoint', { sipAddress: `sip:room${i}@contoso.com`, persistentChatPoolFqdn: 'pcpool.contoso.com' })),
    );
    expect(samePool.every((r) => r.status === 200)).toBe(true);
    expect(samePool.filter((r) => r.body.warnings.length > 0)).toHaveLength(32); // the race winner came first
    const created = (await stream('topology-default')).filter((e) => e.type === 'PersistentChatEndpointCreated');
    expect(created).toHaveLength(33);
    expect(new Set(created.map((e) => e.data['sipAddress'])).size).toBe(33);
  });

  it('two server processes on the same store racing for one SIP URI: still exactly one owner', async () => {
    await seedTopology(server.url);
    const second = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    try {
      const race = await Promise.all(
        Array.from({ length: 32 }, (_, i) =>
          command(i % 2 ? second.url : server.url, 'CreateEndpoint', { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' }),
        ),
      );
      expect(race.filter((r) => r.status === 200)).toHaveLength(1);
      expect(race.filter((r) => r.status === 409 && r.body.error.code === 'SIP_ADDRESS_IN_USE')).toHaveLength(31);
    } finally {
      await second.stop();
    }
    const created = (await stream('topology-default')).filter((e) => e.type === 'PersistentChatEndpointCreated');
    expect(created).toHaveLength(1);
  });

  it('keeps deployments apart: the same SIP URI in two organisations', async () => {
    await seedTopology(server.url, 'contoso');
    await seedTopology(server.url, 'fabrikam.eu');
    const body = { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' };
    expect((await command(server.url, 'CreateEndpoint', { ...body, deployment: 'contoso' })).status).toBe(200);
    const other = await command(server.url, 'CreateEndpoint', { ...body, deployment: 'Fabrikam.EU' });
    expect(other.status).toBe(200);
    expect(other.body.events[0].streamId).toBe('topology-fabrikam.eu');
    const bad = await command(server.url, 'CreateEndpoint', { ...body, deployment: 'no/slashes' });
    expect([bad.status, bad.body.error.details.field]).toEqual([400, 'deployment']);
    expect(await stream('topology-default')).toHaveLength(0);
  });

  it('describes every command in OpenAPI, generated from the DTOs', async () => {
    const document = (await (await fetch(`${server.url}/api/docs-json`)).json()) as {
      paths: Record<string, { post?: { requestBody: { content: { 'application/json': { schema: { $ref: string } } } } } }>;
      components: { schemas: Record<string, { required?: string[]; properties: Record<string, unknown> }> };
    };
    const commands = Object.keys(document.paths).filter((p) => p.startsWith('/api/commands/'));
    expect(commands).toEqual(expect.arrayContaining(['/api/commands/CreateEndpoint', '/api/commands/RemoveEndpoint', '/api/commands/InstallPersistentChatPool', '/api/commands/DecommissionLegacyPool']));
    expect(commands.length).toBeGreaterThanOrEqual(16);
    const ref = document.paths['/api/commands/CreateEndpoint']!.post!.requestBody.content['application/json'].schema.$ref;
    const schema = document.components.schemas[ref.split('/').pop()!]!;
    expect(schema.required).toEqual(expect.arrayContaining(['sipAddress', 'persistentChatPoolFqdn']));
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['displayName', 'deployment', 'commandId', 'reason']));
    // The field and class documentation the body classes record, as the API turns it into the schema.
    expect(Object.keys(schema.properties).slice(0, 4)).toEqual(['deployment', 'commandId', 'reason', 'sipAddress']);
    expect(schema.properties['sipAddress']).toEqual(expect.objectContaining({ type: 'string', maxLength: 256, format: 'sip-uri', example: 'sip:persistentchat@contoso.com' }));
    const active = document.components.schemas['SetPersistentChatActiveServersDto']! as { description?: string; properties: Record<string, unknown> };
    expect(active.description).toMatch(/^Changes which servers of a Persistent Chat pool are active/);
    expect(active.properties['add']).toEqual(
      expect.objectContaining({ type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', format: 'hostname', maxLength: 255 } }),
    );
    expect(document.components.schemas['DefineLegacyGroupChatPoolDto']!.properties['services']).toEqual({
      description: 'The computer running each service.',
      allOf: [{ $ref: '#/components/schemas/LegacyGroupChatServicesDto' }],
    });
    const page = await fetch(`${server.url}/api/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger');
  });
});
