import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer, command, getJson, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(120_000);

const XML = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'observations', 'standard-edition-topology.xml'));

describe('observing the real deployment: import, drift, adoption (HTTP and CLI)', () => {
  let dataDir: string;
  let server: RunningServer;
  const topo = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args, '--server', server.url], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', TOPO_TOKEN: TEST_ADMIN_TOKEN },
      encoding: 'utf8',
    });

  async function observe(body: Buffer | string, contentType: string, deployment = 'default') {
    const response = await fetch(`${server.url}/api/observations?deployment=${deployment}`, {
      method: 'POST',
      headers: { ...bearer(), 'content-type': contentType, 'x-reason': 'weekly reconciliation' },
      body,
    });
    return { status: response.status, body: (await response.json()) as any };
  }
  // spawnSync blocks this process's event loop while the CLI runs: sockets the server closed meanwhile are
  // only noticed on the next turn, so let one pass before the next request rather than reuse a dead socket.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
  const eventCount = async (): Promise<number> => ((await getJson(server.url, '/health')).body as { headPosition: number }).headPosition;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-observe-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('publishes the snapshot schema', async () => {
    const schema = await getJson(server.url, '/api/observations/schema');
    expect(schema.status).toBe(200);
    expect(schema.body).toMatchObject({ $schema: 'http://json-schema.org/draft-07/schema#', properties: { schemaVersion: { const: 1 } } });
  });

  it('refuses a schema-invalid snapshot and hostile XML with 400, recording nothing', async () => {
    const before = await eventCount();
    const invalid = await observe(JSON.stringify({ format: 'topology-ledger.snapshot', schemaVersion: 1, collectedAt: '2026-12-07T10:00:00Z', endpoints: [{ poolFqdn: 'p.contoso.com' }] }), 'application/json');
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatchObject({ code: 'INVALID_SNAPSHOT', details: { path: '$.endpoints[0].sipAddress' } });
    const xxe = await observe('<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><Topology>&x;</Topology>', 'application/xml');
    expect(xxe.status).toBe(400);
    expect(xxe.body.error.code).toBe('INVALID_SNAPSHOT');
    expect(await eventCount()).toBe(before);
    expect((await getJson(server.url, '/api/observations?deployment=default')).status).toBe(404);
  });

  it('bootstraps an empty deployment from a topology document, then agrees with it', async () => {
    const first = await observe(XML, 'application/xml');
    expect(first.status).toBe(200);
    expect(first.body.drift.map((d: { entity: string; kind: string }) => `${d.kind} ${d.entity}`)).toEqual([
      'missing_in_ledger persistentChatPool:pcpool.contoso.com',
      'missing_in_ledger sipDomain:contoso.com',
      'missing_in_ledger sipDomain:fabrikam.com',
    ]);
    const { observationId } = first.body;

    const again = await observe(XML, 'application/xml');
    expect(again.body).toMatchObject({ observationId, recorded: false, drift: first.body.drift });

    const preview = await command(server.url, 'AdoptObservedState', { observationId, reason: 'bootstrap' }, { query: 'whatIf=true' });
    expect(preview.status).toBe(200);
    expect(preview.body.whatIf).toBe(true);
    expect(preview.body.events.map((e: { type: string }) => e.type)).toContain('PersistentChatPoolInstalled');
    const afterPreview = await observe(XML, 'application/xml');
    expect(afterPreview.body.drift).toHaveLength(3);

    const adopted = await command(server.url, 'AdoptObservedState', { observationId, reason: 'bootstrap' });
    expect(adopted.status).toBe(200);
    expect(adopted.body.adopted).toHaveLength(3);
    const audit = await getJson(server.url, `/api/audit?entity=${encodeURIComponent('persistentChatPool:pcpool.contoso.com')}&minPosition=${adopted.body.position}`);
    expect(JSON.stringify(audit.body)).toContain(observationId);

    const now = await observe(XML, 'application/xml');
    expect(now.body.drift).toEqual([]);
    const drift = await getJson(server.url, `/api/drift?deployment=default&minPosition=${adopted.body.position}`);
    expect(drift.body.drift).toEqual([]);
  });

  it('adopts an existing deployment of 1,500 endpoints in one command, the list of what was adopted stored once, not once per event', async () => {
    const endpoints = Array.from({ length: 1500 }, (_, i) => ({ sipAddress: `sip:room${i}@big.contoso.com`, poolFqdn: 'bigpool.contoso.com', displayName: `Room ${i}` }));
    const snapshot = {
      format: 'topology-ledger.snapshot',
      schemaVersion: 1,
      collectedAt: new Date().toISOString(),
      sipDomains: [{ name: 'big.contoso.com', isDefault: true }],
      persistentChatPools: [{ fqdn: 'bigpool.contoso.com', servers: ['bigpc1.contoso.com'], activeServers: ['bigpc1.contoso.com'], status: 'Started', poolState: 'Normal' }],
      endpoints,
    };
    const observed = await observe(JSON.stringify(snapshot), 'application/json', 'big');
    expect(observed.status).toBe(200);
    const adopted = await command(server.url, 'AdoptObservedState', { deployment: 'big', observationId: observed.body.observationId, reason: 'import of the existing deployment' });
    expect(adopted.status).toBe(200);
    expect(adopted.body.adopted.length).toBeGreaterThanOrEqual(1502);
    const db = new Database(path.join(dataDir, 'events.sqlite'), { readonly: true });
    try {
      const rows = db.prepare(`SELECT metadata FROM events WHERE json_extract(metadata, '$.commandId') = ? ORDER BY position`).pluck().all(adopted.body.commandId) as string[];
      expect(rows.length).toBeGreaterThan(3000); // the topology's events and the drift resolved
      const withList = rows.filter((m) => 'adoptedEntities' in JSON.parse(m));
      expect(withList).toHaveLength(1);
      expect((JSON.parse(rows[0]!) as { adoptedEntities: string[] }).adoptedEntities).toHaveLength(adopted.body.adopted.length);
      // Linear in the adoption: a few hundred bytes per event, where the list on every event made it 3,000 × 60 kB.
      expect(rows.reduce((total, m) => total + m.length, 0)).toBeLessThan(rows.length * 1000 + 200_000);
    } finally {
      db.close();
    }
  });

  it('the expected snapshot posted back shows no drift; a change outside the ledger shows, is adopted over the CLI, and is gone', async () => {
    const expected = await getJson(server.url, '/api/observations/expected?deployment=default');
    expect(expected.status).toBe(200);
    const same = await observe(JSON.stringify(expected.body), 'application/json');
    expect(same.body.drift).toEqual([]);

    // Someone ran New-CsPersistentChatEndpoint in the Management Shell.
    const changed = { ...expected.body, collectedAt: new Date().toISOString(), endpoints: [{ sipAddress: 'sip:outside@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: 'Made outside' }] };
    const file = path.join(dataDir, 'snapshot.json');
    fs.writeFileSync(file, JSON.stringify(changed));
    const observed = topo('observe', file, '--json');
    expect(observed.status).toBe(0);
    const answer = JSON.parse(observed.stdout) as { observationId: string; drift: { entity: string; kind: string }[] };
    expect(answer.drift).toEqual([expect.objectContaining({ entity: 'endpoint:sip:outside@contoso.com', kind: 'missing_in_ledger' })]);

    const listed = topo('drift');
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain('missing_in_ledger      endpoint:sip:outside@contoso.com');

    const adopt = topo('adopt', answer.observationId, 'endpoint:sip:outside@contoso.com', '--reason', 'CHG0100 made in the shell');
    expect(adopt.stderr).toBe('');
    expect(adopt.status).toBe(0);
    expect(adopt.stdout).toContain('PersistentChatEndpointCreated');

    const after = topo('drift');
    expect(after.stdout).toContain('No drift');
    const history = topo('drift', '--all');
    expect(history.stdout).toContain('endpoint:sip:outside@contoso.com  (resolved: adopted)');

    // The auditor's view: the change made outside the ledger, who observed it, and how it was resolved.
    await settle();
    const period = `from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`;
    const report = await getJson(server.url, `/api/compliance/report?deployment=default&${period}`);
    expect(report.status).toBe(200);
    expect(report.body.drift).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ entity: 'endpoint:sip:outside@contoso.com', kind: 'missing_in_ledger', firstSeenBy: expect.any(String), status: 'resolved', resolution: 'adopted' }),
      ]),
    );
    const csv = await fetch(`${server.url}/api/compliance/report?deployment=default&format=csv&${period}`, { headers: bearer() });
    const driftRow = (await csv.text()).split('\r\n').find((line) => line.startsWith('drift,') && line.includes('sip:outside@contoso.com'));
    expect(driftRow).toContain('missing_in_ledger');
    expect(driftRow).toContain('adopted');
    const html = await (await fetch(`${server.url}/api/compliance/report?deployment=default&format=html&${period}`, { headers: bearer() })).text();
    expect(html).toContain('<h2>Drift: changes made outside the ledger</h2>');
    expect(html).toContain('endpoint:sip:outside@contoso.com');
  });

  it('refuses an adoption that breaks a rule (R3: two owners of one SIP URI), recording nothing', async () => {
    await settle();
    const expected = (await getJson(server.url, '/api/observations/expected?deployment=default')).body;
    const clash = {
      ...expected,
      collectedAt: new Date().toISOString(),
      endpoints: [...expected.endpoints, { sipAddress: 'sip:bob@contoso.com', poolFqdn: 'pcpool.contoso.com' }],
      principals: [...expected.principals, { sipAddress: 'sip:bob@contoso.com', kind: 'user', displayName: 'Bob' }],
    };
    const observed = await observe(JSON.stringify(clash), 'application/json');
    expect(observed.body.drift).toHaveLength(2);
    const topologyBefore = (await getJson(server.url, '/api/observations/expected?deployment=default')).body;
    const refused = await command(server.url, 'AdoptObservedState', { observationId: observed.body.observationId, reason: 'try' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'SIP_ADDRESS_IN_USE', details: { rule: 'R3', entity: 'endpoint:sip:bob@contoso.com' } });
    // The owner the endpoint clashes with, as observed: the user Bob.
    expect(refused.body.error.details.owner).toMatchObject({ kind: 'user', sipAddress: 'sip:bob@contoso.com', displayName: 'Bob' });
    const topologyAfter = (await getJson(server.url, '/api/observations/expected?deployment=default')).body;
    expect({ ...topologyAfter, collectedAt: null }).toEqual({ ...topologyBefore, collectedAt: null });

    // The refusal's audit entry names the entity the adoption was about, as an accepted adoption's events do.
    const period = `from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`;
    // Read models follow the log: the report is asked to include the refusal's position (read-your-writes).
    const head = (await getJson(server.url, '/health')).body.headPosition as number;
    const report = (await getJson(server.url, `/api/compliance/report?deployment=default&${period}&minPosition=${head}`)).body as { refused: { command: string; entity: unknown }[] };
    expect(report.refused.filter((r) => r.command === 'AdoptObservedState')).toEqual([
      expect.objectContaining({ command: 'AdoptObservedState', entity: { kind: 'endpoint', id: 'sip:bob@contoso.com' } }),
    ]);
  });

  it("gives the way back: the cmdlet lines that bring the deployment to the ledger's state for the newest observation's drift", async () => {
    await settle();
    const drift = (await getJson(server.url, '/api/drift?deployment=default')).body as { latestObservation: { observationId: string } };
    const id = drift.latestObservation.observationId;
    const response = await fetch(`${server.url}/api/observations/${id}/runbook?deployment=default`, { headers: bearer() });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="observation-${id}.ps1"`);
    const runbook = await response.text();
    expect(runbook).toContain("Remove-CsPersistentChatEndpoint -Identity 'sip:bob@contoso.com' -Confirm:$false");
    expect(runbook).toContain('# manual: SIP principal sip:bob@contoso.com is in Active Directory but not in the ledger');
    const unknown = await fetch(`${server.url}/api/observations/00000000-0000-4000-8000-000000000000/runbook?deployment=default`, { headers: bearer() });
    expect(unknown.status).toBe(404);
  });
});

describe('an endpoint adopted from an observation keeps the contact the deployment has', () => {
  let dataDir: string;
  let server: RunningServer;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-observe-contact-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const post = async (snapshot: object) => {
    const response = await fetch(`${server.url}/api/observations`, { method: 'POST', headers: { ...bearer(), 'content-type': 'application/json' }, body: JSON.stringify(snapshot) });
    return { status: response.status, body: (await response.json()) as any };
  };

  it("adopts with the Identity Get-CsPersistentChatEndpoint gives (the contact's GUID DN); a snapshot without it is still read", async () => {
    const expected = (await getJson(server.url, '/api/observations/expected?deployment=default')).body;
    // The Identity as Microsoft's page writes it, a space after the first comma and the GUID in upper case.
    const identity = 'CN={33E5014B-DCBA-46B5-9BF7-48F4D5FCA69D}, CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=contoso,DC=com';
    const observed = await post({
      ...expected,
      collectedAt: new Date().toISOString(),
      endpoints: [
        ...expected.endpoints,
        { sipAddress: 'sip:pcendpoint1@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: 'Endpoint 1', distinguishedName: identity },
        { sipAddress: 'sip:older@contoso.com', poolFqdn: 'pcpool.contoso.com' },
      ],
    });
    expect(observed.status).toBe(200);
    const adopted = await command(server.url, 'AdoptObservedState', { observationId: observed.body.observationId, reason: 'CHG-7 made in the shell' });
    expect(adopted.status).toBe(200);
    const endpoints = (await getJson(server.url, `/api/endpoints?minPosition=${adopted.body.position}`)).body.endpoints as { sipAddress: string; distinguishedName: string }[];
    expect(endpoints.find((e) => e.sipAddress === 'sip:pcendpoint1@contoso.com')?.distinguishedName).toBe(
      'CN={33e5014b-dcba-46b5-9bf7-48f4d5fca69d},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=contoso,DC=com',
    );
    expect(endpoints.find((e) => e.sipAddress === 'sip:older@contoso.com')).toBeDefined();

    // The same Identity seen again: no drift. Another contact for the same address: drift on its DN.
    const again = await post({ ...(await getJson(server.url, '/api/observations/expected?deployment=default')).body, collectedAt: new Date().toISOString() });
    expect(again.body.drift).toEqual([]);
    const other = await post({
      ...(await getJson(server.url, '/api/observations/expected?deployment=default')).body,
      collectedAt: new Date().toISOString(),
      endpoints: [{ sipAddress: 'sip:pcendpoint1@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: 'Endpoint 1', distinguishedName: identity.replace('33E5014B', '44E5014B') }],
    });
    expect(other.body.drift).toEqual(expect.arrayContaining([expect.objectContaining({ entity: 'endpoint:sip:pcendpoint1@contoso.com', kind: 'differs', fields: ['distinguishedName'] })]));

    const wrong = await post({ ...expected, collectedAt: new Date().toISOString(), endpoints: [{ sipAddress: 'sip:x@contoso.com', poolFqdn: 'pcpool.contoso.com', distinguishedName: 'CN=x,DC=contoso,DC=com' }] });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: 'INVALID_SNAPSHOT', details: { path: '$.endpoints[0].distinguishedName' } });
  });
});

/** The records of an RFC 4180 CSV document (quoted cells may hold commas, quotes and line breaks). */
function csvRecords(text: string): string[][] {
  const records: string[][] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') cells.push(cell), (cell = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      cells.push(cell), records.push(cells), (cells = []), (cell = ''), i++;
    } else cell += c;
  }
  return records;
}

describe('a migration confirmed by later observations', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-observe-migration-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const post = async (snapshot: object) => {
    const response = await fetch(`${server.url}/api/observations`, { method: 'POST', headers: { ...bearer(), 'content-type': 'application/json' }, body: JSON.stringify(snapshot) });
    expect(response.status).toBe(200);
    return (await response.json()) as { position: number; drift: unknown[] };
  };
  const stepsOf = async (id: string, minPosition: number) =>
    (await getJson(server.url, `/api/migrations/${id}?minPosition=${minPosition}`)).body.steps as { step: number; observed: { entity: string; expected: string; state: string }[] }[];

  it('shows per step whether an observation after it saw its effect: awaiting, confirmed, then contradicted', async () => {
    const planned = await command(server.url, 'MigratePool', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com', reason: 'CHG-300' });
    expect(planned.status).toBe(200);
    const id = planned.body.migrationId as string;
    const ran = await command(server.url, 'RunMigration', { migrationId: id });
    expect(ran.status).toBe(200);

    let steps = await stepsOf(id, ran.body.position);
    expect(steps.find((s) => s.step === 4)!.observed).toEqual([expect.objectContaining({ entity: 'principal:sip:ocschat@contoso.com', expected: 'absent', state: 'awaiting' })]);
    expect(steps.find((s) => s.step === 5)!.observed).toEqual([expect.objectContaining({ entity: 'endpoint:sip:ocschat@contoso.com', expected: 'on pcpool.contoso.com', state: 'awaiting' })]);
    expect(steps.find((s) => s.step === 2)!.observed).toEqual([]);

    // The deployment as the ledger says: step 4's and step 5's effects are seen.
    const expected = (await getJson(server.url, '/api/observations/expected')).body;
    const agreeing = await post(expected);
    expect(agreeing.drift).toEqual([]);
    steps = await stepsOf(id, agreeing.position);
    expect(steps.find((s) => s.step === 5)!.observed[0]!.state).toBe('confirmed');
    expect(steps.find((s) => s.step === 4)!.observed[0]!.state).toBe('confirmed');

    // Someone removed the endpoint in the Management Shell: step 5 is contradicted, step 4 still holds.
    const removed = await post({ ...expected, collectedAt: new Date().toISOString(), endpoints: [] });
    steps = await stepsOf(id, removed.position);
    expect(steps.find((s) => s.step === 5)!.observed[0]!.state).toBe('contradicted');
    expect(steps.find((s) => s.step === 4)!.observed[0]!.state).toBe('confirmed');

    // It is back: the drift is gone, and the step confirmed again.
    const back = await post({ ...expected, collectedAt: new Date(Date.now() + 1000).toISOString() });
    steps = await stepsOf(id, back.position);
    expect(steps.find((s) => s.step === 5)!.observed[0]!.state).toBe('confirmed');

    // The compliance report's migration rows say who, with which roles, authenticated or not, from where, as its other rows do.
    const period = `from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`;
    const csv = await (await fetch(`${server.url}/api/compliance/report?deployment=default&format=csv&${period}&minPosition=${back.position}`, { headers: bearer() })).text();
    const [columns, ...records] = csvRecords(csv);
    const rows = records.filter((cells) => cells[0] === 'migration').map((cells) => Object.fromEntries(cells.map((cell, i) => [columns![i], cell])));
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row).toMatchObject({ roles: 'admin', authenticated: 'true', client_address: '127.0.0.1' });
    const html = await (await fetch(`${server.url}/api/compliance/report?deployment=default&format=html&${period}`, { headers: bearer() })).text();
    const migrationTable = html.slice(html.indexOf('<h3>Migration '));
    expect(migrationTable).toContain('<th>roles</th>');
    expect(migrationTable).toContain('<th>client address</th>');
  });
});
