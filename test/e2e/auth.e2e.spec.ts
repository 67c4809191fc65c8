import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMMAND_POLICY, Role, ROLES, ROUTE_POLICY, COMMAND_ROUTE_KEY } from '../../src/application/authorization';
import { RecordedEvent } from '../../src/event-store/event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { bearer, command, get, seedTopology } from '../support/http';
import { ROOT, RunningServer, runUntilExit, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(90_000);

/** Routes of the policy that other parts of the product serve once they exist. */
const NOT_YET_SERVED = ['GET /api/audit/verify', 'GET /api/audit/digest', 'GET /api/compliance/report'];

/** The JSON answer; a live stream (`/api/live`) never ends, so only its status counts and it is let go. */
async function answerOf(response: Response): Promise<unknown> {
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
    await response.body?.cancel();
    return {};
  }
  return response.json();
}

async function readStream(dataDir: string, streamId: string): Promise<RecordedEvent[]> {
  const store = new SqliteEventStore({ dataDir });
  try {
    return await store.readStream(streamId);
  } catch {
    return [];
  } finally {
    await store.close();
  }
}

async function createToken(url: string, name: string, role: string, expires?: string): Promise<string> {
  const response = await fetch(`${url}/api/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer() },
    body: JSON.stringify({ name, role, ...(expires ? { expires } : {}) }),
  });
  const body = (await response.json()) as { secret: string };
  expect(response.status).toBe(201);
  return body.secret;
}

/** The CLI in its own process; asynchronous, so that the test's keep-alive sockets stay serviced meanwhile. */
function topo(dataDir: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const { TOPO_TOKEN: _t, TOPO_REASON: _r, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args], { cwd: ROOT, env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env } }, (error, stdout, stderr) =>
      resolve({ status: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the door: authentication, roles, denied attempts', () => {
  let dataDir: string;
  let server: RunningServer;
  const tokens = new Map<Role, string>();

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-auth-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '0' });
    tokens.set('admin', TEST_ADMIN_TOKEN);
    for (const role of ['operator', 'auditor', 'reader'] as const) tokens.set(role, await createToken(server.url, `${role}-1`, role));
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the committed event catalog to readers and auditors, and to nobody without a credential', async () => {
    const committed = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'events', 'catalog.json'), 'utf8')) as { events: { type: string; version: number }[] };
    for (const role of ['reader', 'auditor'] as const) {
      const served = await get(server.url, '/api/events/catalog', tokens.get(role)!);
      expect(served.status).toBe(200);
      expect(served.body).toEqual(committed);
    }
    expect(committed.events.find((e) => e.type === 'AccessDenied')).toMatchObject({ version: 2, category: 'access_denied', schema: { type: 'object', required: expect.arrayContaining(['attempts']) } });
    expect((await get(server.url, '/api/events/catalog', null)).status).toBe(401);
  });

  it('answers every route of the policy by role: 403 exactly where the matrix says no', async () => {
    const notServed: string[] = [];
    const denials = (await readStream(dataDir, 'access_denied-default')).length;
    let forbidden = 0;
    for (const [route, policy] of ROUTE_POLICY) {
      if (route === COMMAND_ROUTE_KEY) continue;
      const [method, pattern] = route.split(' ') as [string, string];
      const url = `${server.url}${pattern.replace(':id', 'm-1').replace(':name', 'no_such_projection').replace(':token', 'nobody')}`;
      const asAdmin = await fetch(url, { method, headers: { 'content-type': 'application/json', ...bearer() }, ...(method === 'POST' ? { body: '{}' } : {}) });
      const adminBody = (await answerOf(asAdmin)) as { error?: { code: string } };
      if (asAdmin.status === 404 && adminBody.error?.code === 'NOT_FOUND') {
        notServed.push(route);
        continue;
      }
      for (const role of ROLES) {
        const response = await fetch(url, { method, headers: { 'content-type': 'application/json', ...bearer(tokens.get(role)!) }, ...(method === 'POST' ? { body: '{}' } : {}) });
        const body = (await answerOf(response)) as { error?: { code: string; message: string } };
        if (policy.roles.includes(role)) {
          expect([route, role, response.status]).not.toEqual([route, role, 403]);
          expect(response.status).not.toBe(401);
        } else {
          forbidden++;
          expect([route, role, response.status, body.error?.code]).toEqual([route, role, 403, 'FORBIDDEN']);
          expect(body.error?.message).toContain(`role ${role} and may not ${policy.what}`);
        }
      }
    }
    expect(NOT_YET_SERVED).toEqual(expect.arrayContaining(notServed));
    expect(forbidden).toBeGreaterThan(10);
    expect((await readStream(dataDir, 'access_denied-default')).length - denials).toBe(forbidden);
  });

  it('answers every command by role (dry runs): 403 exactly where the matrix says no, and nothing is appended', async () => {
    const before = (await readStream(dataDir, 'topology-default')).length;
    for (const [name, allowed] of COMMAND_POLICY) {
      for (const role of ROLES) {
        const response = await command(server.url, name, {}, { token: tokens.get(role)!, query: 'whatIf=true' });
        if (allowed.includes(role)) expect([name, role, response.status]).toEqual([name, role, expect.any(Number)]);
        if (allowed.includes(role)) expect([401, 403]).not.toContain(response.status);
        else expect([name, role, response.status, response.body.error.code]).toEqual([name, role, 403, 'FORBIDDEN']);
      }
    }
    expect((await readStream(dataDir, 'topology-default')).length).toBe(before);
  });

  it('records the verified principal as the actor, never the body, and refuses a revoked token', async () => {
    const operator = await createToken(server.url, 'ops-night-shift', 'operator');
    const created = await command(server.url, 'RegisterSipDomain', { domain: 'fabrikam.com' }, { token: operator });
    expect(created.status).toBe(200);
    const smuggled = await command(server.url, 'RegisterSipDomain', { domain: 'litware.com', actor: 'someone-else' }, { token: operator });
    expect(smuggled.status).toBe(400);
    const events = await readStream(dataDir, 'topology-default');
    expect(events.find((e) => e.data['domain'] === 'fabrikam.com')!.metadata).toMatchObject({ actor: 'ops-night-shift', roles: ['operator'], authenticated: true });

    const revoked = await fetch(`${server.url}/api/tokens/ops-night-shift`, { method: 'DELETE', headers: bearer() });
    expect(revoked.status).toBe(200);
    const after = await command(server.url, 'RegisterSipDomain', { domain: 'litware.com' }, { token: operator });
    expect([after.status, after.body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(after.body.error.message).toContain('token revoked');
    const listed = await get(server.url, '/api/tokens');
    expect(listed.body.tokens.find((t: { name: string }) => t.name === 'ops-night-shift')).toMatchObject({ role: 'operator', revokedBy: 'admin' });
    expect(JSON.stringify(listed.body)).not.toContain(operator);
  });

  it('records each denied attempt with principal or credential fingerprint, route, command and address, and lists it in the audit trail', async () => {
    // Nobody's body is never read: the deployment of a denial is the query's (a body's is unknown: `_unreadable`).
    const none = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:x@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' }, { token: null, query: 'deployment=contoso' });
    expect([none.status, none.body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    const wrong = await command(server.url, 'CreateEndpoint', {}, { token: 'topo_0123456789abcdef_' + 'x'.repeat(43), query: 'deployment=contoso' });
    expect(wrong.status).toBe(401);
    const reader = await command(server.url, 'StopPool', { fqdn: 'pcpool.contoso.com', deployment: 'contoso' }, { token: tokens.get('reader')! });
    expect(reader.status).toBe(403);
    // (Another reason than the first one's: repeats of one denial within a minute are recorded together, later.)
    const garbled = await command(server.url, 'CreateEndpoint', '{"deployment": "contoso", oops', { token: null, headers: { authorization: 'Basic b3BzOm9wcw==' } });
    expect([garbled.status, garbled.body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    const nowhere = await get(server.url, '/api/no-such-route', 'not-a-token-at-all');
    expect(nowhere.status).toBe(401);

    const denied = await readStream(dataDir, 'access_denied-contoso');
    expect(denied.map((e) => e.data)).toEqual([
      expect.objectContaining({ principal: null, credentialFingerprint: null, route: 'POST /api/commands/CreateEndpoint', command: 'CreateEndpoint', status: 401, reason: 'no credential', clientAddress: expect.stringMatching(/127\.0\.0\.1/) }),
      expect.objectContaining({ principal: null, credentialFingerprint: createHash('sha256').update('topo_0123456789abcdef_' + 'x'.repeat(43)).digest('hex').slice(0, 12), status: 401, reason: 'unknown token' }),
      expect.objectContaining({ principal: 'reader-1', command: 'StopPool', status: 403, reason: 'role', method: 'POST' }),
    ]);
    expect(denied[2]!.metadata).toMatchObject({ actor: 'reader-1', roles: ['reader'], authenticated: true, deployment: 'contoso', command: 'StopPool' });
    const unreadable = await readStream(dataDir, 'access_denied-_unreadable');
    expect(unreadable.map((e) => e.data).at(-1)).toEqual(expect.objectContaining({ route: 'POST /api/commands/CreateEndpoint', status: 401, reason: 'the Authorization header is not "Bearer <token>"' }));
    expect(JSON.stringify([...denied, ...unreadable])).not.toContain('x'.repeat(43));
    expect((await readStream(dataDir, 'refused_command-contoso')).length).toBe(0);

    const head = (await (await fetch(`${server.url}/health`)).json()) as { headPosition: number };
    const audit = await get(server.url, `/api/audit?deployment=contoso&outcome=refused&minPosition=${head.headPosition}`, tokens.get('auditor')!);
    expect(audit.status).toBe(200);
    expect(audit.body.entries.map((e: { type: string; actor: string; error: { status: number; code: string } }) => [e.type, e.actor, e.error.status, e.error.code])).toEqual([
      ['AccessDenied', 'reader-1', 403, 'FORBIDDEN'],
      ['AccessDenied', 'anonymous', 401, 'UNAUTHENTICATED'],
      ['AccessDenied', 'anonymous', 401, 'UNAUTHENTICATED'],
    ]);
  });

  it('keeps /health and the OpenAPI description open, sets security headers, has no CORS, and limits bodies to 64 kB', async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect((await fetch(`${server.url}/api/docs-json`)).status).toBe(200);
    const topology = await fetch(`${server.url}/api/topology`, { headers: { ...bearer(), origin: 'https://evil.example' } });
    for (const response of [health, topology]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('x-powered-by')).toBeNull();
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    }
    const preflight = await fetch(`${server.url}/api/commands/CreateEndpoint`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const big = await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com', reason: 'x'.repeat(70 * 1024) });
    expect([big.status, big.body.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  it('manages tokens from the command line: locally as the OS user, through the server with a token', async () => {
    const list = await topo(dataDir, ['tokens', 'list', '--server', server.url, '--token', tokens.get('operator')!]);
    expect(list.status).toBe(1);
    expect(list.stderr).toContain('FORBIDDEN');
    const created = await topo(dataDir, ['tokens', 'create', '--name', 'cli-reader', '--role', 'reader', '--expires', '30d', '--server', server.url], { TOPO_TOKEN: TEST_ADMIN_TOKEN });
    expect(created.status).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^topo_/);
    expect((await get(server.url, '/api/topology', secret)).status).toBe(200);
    const listed = await topo(dataDir, ['tokens', 'list', '--json', '--server', server.url, '--token', TEST_ADMIN_TOKEN]);
    expect(JSON.parse(listed.stdout).tokens).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'cli-reader', role: 'reader', expiresAt: expect.any(String) })]));
    // Without --server and without a token: the server on DATA_DIR, through the local session, as the OS user.
    const revoked = await topo(dataDir, ['tokens', 'revoke', 'cli-reader']);
    expect(revoked.status).toBe(0);
    expect((await get(server.url, '/api/topology', secret)).status).toBe(401);
    const events = await readStream(dataDir, 'api_token-registry');
    expect(events.at(-1)!.metadata).toMatchObject({ actor: os.userInfo().username, roles: ['admin'], authenticated: false, command: 'RevokeApiToken' });
  });

  it('never writes a credential to its output, and HEAD has the permission of GET', async () => {
    expect((await fetch(`${server.url}/api/topology`, { method: 'HEAD', headers: bearer(tokens.get('reader')!) })).status).toBe(200);
    for (const secret of [...tokens.values()]) expect(server.output()).not.toContain(secret);
    expect(server.output()).not.toContain('x'.repeat(43));
  });
});

describe('first start and unsafe configurations', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-first-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('creates and prints an admin token once on the first start of an empty store, on 127.0.0.1', async () => {
    const first = await startServer({ ADMIN_TOKEN: '', DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    // Marked as the one line that carries a credential, in either log format.
    const printed = /firstStartAdminToken"?:\s*"(topo_[0-9a-f]{16}_[A-Za-z0-9_-]{43})"/.exec(first.output());
    expect(first.output().split(/topo_[0-9a-f]{16}_/)).toHaveLength(2);
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(printed).not.toBeNull();
    expect((await get(first.url, '/api/tokens', printed![1]!)).body.tokens).toEqual([expect.objectContaining({ name: 'admin', role: 'admin', createdBy: 'topology-ledger' })]);
    expect((await get(first.url, '/api/topology', null)).status).toBe(401);
    await first.stop();
    const second = await startServer({ ADMIN_TOKEN: '', DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    expect(second.output()).not.toContain('topo_');
    expect((await get(second.url, '/api/topology', printed![1]!)).status).toBe(200);
    await second.stop();

    // No server on DATA_DIR: the CLI runs the product in its own process, as the OS user.
    const local = await topo(dataDir, ['tokens', 'create', '--name', 'admin2', '--role', 'admin']);
    expect(local.stderr).not.toContain('served by');
    expect([local.status, local.stdout.trim()]).toEqual([0, expect.stringMatching(/^topo_/)]);
    const events = await readStream(dataDir, 'api_token-registry');
    expect(events.at(-1)!.metadata).toMatchObject({ actor: os.userInfo().username, roles: ['admin'], authenticated: false, command: 'IssueApiToken' });
  });

  it('refuses to bind another interface without authentication, naming HOST; on loopback it serves everyone as TOPO_DEFAULT_ACTOR', async () => {
    const refused = await runUntilExit({ DATA_DIR: dataDir, HOST: '0.0.0.0', AUTHENTICATION: 'off' });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^topology-ledger: invalid configuration: HOST must be a loopback address .* while AUTHENTICATION=off/)]);
    const open = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', AUTHENTICATION: 'off', TOPO_DEFAULT_ACTOR: 'CONTOSO\\lync-admin' });
    const created = await command(open.url, 'RegisterSipDomain', { domain: 'contoso.com' }, { token: null });
    expect(created.status).toBe(200);
    await open.stop();
    const [event] = await readStream(dataDir, 'topology-default');
    expect(event!.metadata).toMatchObject({ actor: 'CONTOSO\\lync-admin', authenticated: false });
  });

  it('answers 429 with Retry-After past the per-principal rate limit', async () => {
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '2' });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const response = await fetch(`${server.url}/api/topology`, { headers: bearer() });
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter = response.headers.get('retry-after');
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
      } else await response.text();
    }
    await server.stop();
    expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });
});
