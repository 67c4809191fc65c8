import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportJWK, generateKeyPair, KeyLike, SignJWT } from 'jose';
import type { AddressInfo } from 'node:net';
import { COMMAND_ROUTE_KEY, ROUTE_POLICY } from '../../src/application/authorization';
import { RecordedEvent } from '../../src/event-store/event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { bearer, get } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

/**
 * The attacks of a security review, replayed against the real server: each must fail.
 */
jest.setTimeout(120_000);

interface RawAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

/** One request on a connection of its own, its path sent exactly as given (no client normalises it). */
function raw(url: string, method: string, rawPath: string, headers: Record<string, string> = {}, body?: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, method, path: rawPath, agent: false, headers: { ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (response) => {
      if (response.headers['content-type']?.startsWith('text/event-stream')) {
        response.destroy();
        resolve({ status: response.statusCode!, headers: response.headers, body: undefined });
        return;
      }
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON
        }
        resolve({ status: response.statusCode!, headers: response.headers, body: parsed });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
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

async function readAll(dataDir: string): Promise<RecordedEvent[]> {
  const store = new SqliteEventStore({ dataDir });
  try {
    return await store.readAll({ maxCount: 100_000 });
  } finally {
    await store.close();
  }
}

const SAMPLE: Record<string, string> = { name: 'RegisterSipDomain', id: 'm-1', token: 'nobody' };
/** Each route of the policy with its parameters filled in, as a client would call it. */
const ROUTES = [...ROUTE_POLICY.keys()].map((key) => {
  const [method, routePath] = key.split(' ') as [string, string];
  const filled = routePath.replace(/:([A-Za-z]+)/g, (_m, name: string) => (key === 'POST /api/projections/:name/rebuild' ? 'topology' : SAMPLE[name]!));
  return { key, method, path: filled };
});

/** Other spellings of an API path that a lenient router (or a proxy) might take for it. */
const SPELLINGS: ReadonlyArray<[string, (p: string) => string]> = [
  ['/API', (p) => `/API${p.slice(4)}`],
  ['/Api', (p) => `/Api${p.slice(4)}`],
  ['all upper case', (p) => p.toUpperCase()],
  ['mixed case after /api', (p) => `/api/${p.slice(5, 6).toUpperCase()}${p.slice(6)}`],
  ['//api', (p) => `/${p}`],
  ['/api/./', (p) => `/api/.${p.slice(4)}`],
  ['/x/../api', (p) => `/x/..${p}`],
  ['%2F', (p) => `/api%2F${p.slice(5)}`],
  ['%61pi', (p) => `/%61pi${p.slice(4)}`],
];

describe('the door guards every spelling of every API path', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-sec-paths-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '0' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 401 to nobody and 404 (never "no credential") to an admin on any other spelling', async () => {
    const wrong: string[] = [];
    for (const route of ROUTES) {
      const body = route.method === 'GET' ? undefined : '{}';
      for (const [name, spell] of SPELLINGS) {
        const spelt = spell(route.path);
        const anonymous = await raw(server.url, route.method, spelt, {}, body);
        if (anonymous.status !== 401 || anonymous.body?.error?.code !== 'UNAUTHENTICATED') wrong.push(`nobody ${route.method} ${spelt} (${name}): ${anonymous.status}`);
        const admin = await raw(server.url, route.method, spelt, bearer(), body);
        if (anonymous.headers['cache-control'] !== 'no-store' || admin.headers['cache-control'] !== 'no-store') wrong.push(`${route.method} ${spelt} (${name}): not Cache-Control: no-store`);
        if (admin.status !== 404) wrong.push(`admin ${route.method} ${spelt} (${name}): ${admin.status} ${JSON.stringify(admin.body?.error?.code)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('still serves the canonical spelling, with or without a trailing slash, and nobody is refused on both', async () => {
    for (const spelt of ['/api/topology', '/api/topology/', '/api/tokens']) {
      expect((await raw(server.url, 'GET', spelt, bearer())).status).toBe(200);
      expect((await raw(server.url, 'GET', spelt)).status).toBe(401);
    }
    // The OpenAPI description stays open, spelt exactly; any other spelling is behind the door.
    expect((await raw(server.url, 'GET', '/api/docs-json')).status).toBe(200);
    expect((await raw(server.url, 'GET', '/API/docs-json')).status).toBe(401);
    expect((await raw(server.url, 'GET', '/api/docs/../tokens')).status).toBe(401);
  });
});

describe('nobody cannot grow the log without bound', () => {
  let dataDir: string;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-sec-flood-'));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('rate-limits nobody tightly, aggregates the denials into a few events, and the report still counts every 401', async () => {
    const flood = async (url: string, spelt: string): Promise<Map<number, number>> => {
      const statuses = new Map<number, number>();
      for (let i = 0; i < 200; i++) {
        const { status } = await raw(url, 'GET', spelt);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      return statuses;
    };
    const started = Date.now();
    // As reported: RATE_LIMIT=5 and 200 anonymous requests through /API/. Nobody now gets 1 request per second, in bursts of 2.
    const tight = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '5' });
    const first = await flood(tight.url, '/API/topology');
    const seconds = (Date.now() - started) / 1000;
    expect([...first.keys()].sort()).toEqual([401, 429]);
    expect(first.get(401)).toBeLessThanOrEqual(2 + Math.ceil(seconds) * 2);
    // An authenticated principal keeps its own, larger bucket meanwhile.
    expect((await get(tight.url, '/api/topology')).status).toBe(200);
    expect(await tight.stop()).toBe(0);

    // At the default limit (nobody: 10 per second, bursts of 20), many more 401s: still a few events.
    const usual = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    const second = await flood(usual.url, '/api/topology');
    const third = await flood(usual.url, '/API/topology');
    // A new deployment name per request makes no new record either.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    let n = 0;
    const fourth = await flood(usual.url, '/api/endpoints?deployment=d0');
    for (let i = 0; i < 40; i++) {
      const { status } = await raw(usual.url, 'GET', `/api/endpoints?deployment=d${++n}`);
      fourth.set(status, (fourth.get(status) ?? 0) + 1);
    }
    expect(await usual.stop()).toBe(0);
    const unauthorized = [first, second, third, fourth].reduce((sum, statuses) => sum + (statuses.get(401) ?? 0), 0);
    expect(second.get(401)).toBeGreaterThanOrEqual(20);
    expect(fourth.get(401)).toBeGreaterThanOrEqual(20);

    const everyDenial = (await readAll(dataDir)).filter((e) => e.type === 'AccessDenied');
    expect(everyDenial.reduce((sum, e) => sum + Number(e.data['attempts']), 0)).toBe(unauthorized);
    // Per server run and (address, route, reason): one event when a denial first happens, one for its repeats.
    expect(everyDenial.length).toBeLessThanOrEqual(8);
    const denied = await readStream(dataDir, 'access_denied-default');
    expect(denied.length).toBeLessThanOrEqual(6);
    const deniedInDefault = denied.reduce((sum, e) => sum + Number(e.data['attempts']), 0);
    expect(deniedInDefault).toBe([first, second, third].reduce((sum, statuses) => sum + (statuses.get(401) ?? 0), 0));
    const aggregated = denied.find((e) => Number(e.data['attempts']) >= 19);
    expect(aggregated?.data).toMatchObject({ status: 401, reason: 'no credential', principal: null, route: 'GET /api/topology', firstOccurredAt: expect.any(String), lastOccurredAt: expect.any(String) });

    // An AccessDenied recorded before aggregation (no `attempts`) still reads, as one attempt.
    const store = new SqliteEventStore({ dataDir });
    const occurredAt = new Date().toISOString();
    await store.appendToStream(
      'access_denied-default',
      [
        {
          id: 'b0f4f2a4-9a0e-4e7c-9a57-4f8f5cdb0a01',
          type: 'AccessDenied',
          data: { principal: null, credentialFingerprint: null, route: 'GET /api/audit', method: 'GET', command: null, clientAddress: '10.0.0.9', status: 401, reason: 'no credential', deployment: 'default', error: { code: 'UNAUTHENTICATED', message: 'Authentication required: no credential.', details: {} } },
          metadata: { actor: 'anonymous', roles: [], authenticated: false, commandId: 'c-old', correlationId: 'c-old', causationId: null, reason: null, clientAddress: '10.0.0.9', occurredAt, deployment: 'default', command: null },
        },
      ],
      { expectedRevision: 'any' },
    );
    await store.close();

    const again = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    try {
      const from = new Date(started - 60_000).toISOString();
      const to = new Date(Date.now() + 60_000).toISOString();
      let report: RawAnswer | undefined;
      for (let tries = 0; tries < 50; tries++) {
        report = await raw(again.url, 'GET', `/api/compliance/report?deployment=default&from=${from}&to=${to}`, bearer());
        if (report.status === 200 && report.body.summary.denied === deniedInDefault + 1) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(report!.status).toBe(200);
      expect(report!.body.summary.denied).toBe(deniedInDefault + 1);
      const shown = report!.body.denied.find((d: { attempts: number }) => d.attempts > 1);
      expect(shown.message).toMatch(new RegExp(`\\(${shown.attempts} attempts from .* to .*\\)`));
      expect(report!.body.denied.filter((d: { attempts: number }) => d.attempts === 1).length).toBeGreaterThanOrEqual(2);
    } finally {
      await again.stop();
    }
  });
});

describe('what the API records from a request is plain text', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-sec-text-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '0' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const TERMINAL_ATTACK = 'X%1b%5b31mRED%07%0d%0aFAKE-LINE';

  it('refuses a command name with controls (400 naming it) and records nobody\'s with its controls shown, never sent', async () => {
    const admin = await raw(server.url, 'POST', `/api/commands/${TERMINAL_ATTACK}`, bearer(), '{}');
    expect([admin.status, admin.body.error.code, admin.body.error.field ?? admin.body.error.details?.field]).toEqual([400, 'INVALID_INPUT', 'command']);
    expect(admin.body.error.message).toContain('U+001B');
    const nobody = await raw(server.url, 'POST', `/api/commands/${TERMINAL_ATTACK}`, {}, '{}');
    expect(nobody.status).toBe(401);

    const events = await readAll(dataDir);
    const recorded = JSON.stringify(events.filter((e) => e.type === 'AccessDenied' || e.type === 'CommandRefused').map((e) => [e.data, e.metadata]));
    expect(recorded).toContain('X<U+001B>[31mRED<U+0007><U+000D><U+000A>FAKE-LINE');
    expect(recorded).not.toMatch(/\\u001b|\\u0007|\\r\\nFAKE/);
  });

  it.each([
    ['x-correlation-id', 'corr\u009b31mEVIL'],
    ['x-causation-id', 'cause\u0085NEL'],
    ['x-reason', 'CHG-1\u00adevil'],
    ['idempotency-key', 'key\u0090'],
  ])('refuses %s with a control or invisible character, and records it shown as its code point', async (name, value) => {
    const body = JSON.stringify({ domain: 'contoso.com' });
    const admin = await raw(server.url, 'POST', '/api/commands/RegisterSipDomain', { ...bearer(), [name]: value }, body);
    expect([admin.status, admin.body.error.code]).toEqual([400, 'INVALID_INPUT']);
    expect(admin.body.error.message).toContain(name);
    const nobody = await raw(server.url, 'POST', '/api/commands/RegisterSipDomain', { [name]: value }, body);
    expect(nobody.status).toBe(401);
    const events = await readAll(dataDir);
    expect(events.filter((e) => e.type === 'DomainRegistered' || e.type === 'SipDomainRegistered')).toEqual([]);
    expect(JSON.stringify(events.map((e) => [e.data, e.metadata]))).not.toMatch(/[\u0085\u0090\u009b\u00ad]/);
  });

  it('records a refused body with its controls shown as code points', async () => {
    const refused = await raw(server.url, 'POST', '/api/commands/RegisterSipDomain', bearer(), JSON.stringify({ domain: 'fabrikam.com', reason: 'ok\u001b]0;owned\u0007', 'x\u001b[2J': 1 }));
    expect(refused.status).toBe(400);
    const [last] = (await readStream(dataDir, 'refused_command-default')).slice(-1);
    expect(last!.data['input']).toMatchObject({ domain: 'fabrikam.com', reason: 'ok<U+001B>]0;owned<U+0007>', 'x<U+001B>[2J': 1 });
    expect(JSON.stringify(last!.data)).not.toMatch(/\\u001b|\\u0007/);
  });

  it('still takes plain headers', async () => {
    const ok = await raw(server.url, 'POST', '/api/commands/RegisterSipDomain', { ...bearer(), 'x-correlation-id': 'CHG-4711/step 2', 'x-reason': 'CHG-4711' }, JSON.stringify({ domain: 'contoso.com' }));
    expect(ok.status).toBe(200);
  });

  it('records an X-Reason sent in UTF-8 as its sender wrote it (accents, curly quotes)', async () => {
    const reason = 'Müller’s approval – CHG-4712';
    // As curl sends it: the header's UTF-8 bytes on the wire, written on a socket of our own.
    const { hostname, port } = new URL(server.url);
    const body = JSON.stringify({ domain: 'umlaut.example' });
    const head =
      `POST /api/commands/RegisterSipDomain HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${bearer()['authorization']}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\nX-Reason: `;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => socket.write(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(reason, 'utf8'), Buffer.from(`\r\n\r\n${body}`, 'latin1')])));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('utf8')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const events = await readStream(dataDir, 'topology-default');
    expect(events.find((e) => e.data['domain'] === 'umlaut.example')!.metadata['reason']).toBe(reason);
  });
});

describe('the store is readable by its own account only', () => {
  let parent: string;

  beforeAll(() => {
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-sec-files-'));
    // Another account may walk to DATA_DIR: only DATA_DIR's own mode keeps it out.
    fs.chmodSync(parent, 0o755);
  });
  afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));

  const asNobody = (args: readonly string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) =>
      execFile('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...args], { cwd: os.tmpdir() }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  const runsAsRoot = typeof process.getuid === 'function' && process.getuid() === 0 && fs.existsSync('/usr/bin/setpriv');

  it('creates DATA_DIR 0700 and every file in it 0600, and hashes ADMIN_TOKEN with scrypt', async () => {
    const dataDir = path.join(parent, 'data');
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    try {
      expect((await get(server.url, '/api/topology')).status).toBe(200);
      expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
      const files = fs.readdirSync(dataDir);
      expect(files).toEqual(expect.arrayContaining(['events.sqlite', 'events.sqlite-wal', 'events.sqlite-shm', 'read-models.sqlite', 'read-models.sqlite-wal', 'server.json']));
      expect(files.map((f) => [f, (fs.statSync(path.join(dataDir, f)).mode & 0o777).toString(8)])).toEqual(files.map((f) => [f, '600']));
      if (runsAsRoot) {
        const read = await asNobody(['cat', path.join(dataDir, 'events.sqlite')], {});
        expect(read.code).not.toBe(0);
        expect(read.stderr).toMatch(/Permission denied/);
      }
    } finally {
      await server.stop();
    }
    const [issued] = await readStream(dataDir, 'api_token-registry');
    expect(issued!.data).toMatchObject({ format: 'supplied', kdf: { name: 'scrypt', N: 16384, r: 8, p: 1 } });
    const salt = Buffer.from(String(issued!.data['salt']), 'base64url');
    // The single salted SHA-256 of the old format would confirm a guess offline in microseconds: it is not what is stored.
    expect(issued!.data['hash']).not.toBe(createHash('sha256').update(salt).update(TEST_ADMIN_TOKEN).digest('base64url'));
  });

  it('keeps accepting a token whose SHA-256 an older store recorded, and warns when DATA_DIR is open to others', async () => {
    const dataDir = path.join(parent, 'legacy');
    fs.mkdirSync(dataDir, { mode: 0o755 });
    fs.chmodSync(dataDir, 0o755);
    const legacy = `legacy-admin-${randomBytes(8).toString('hex')}`;
    const salt = randomBytes(16);
    const store = new SqliteEventStore({ dataDir });
    await store.appendToStream(
      'api_token-registry',
      [
        {
          id: 'a1f0c6a2-3a4b-4c5d-8e9f-0a1b2c3d4e5f',
          type: 'ApiTokenIssued',
          data: { tokenId: '0123456789abcdef', name: 'admin', role: 'admin', format: 'supplied', salt: salt.toString('base64url'), hash: createHash('sha256').update(salt).update(legacy).digest('base64url'), expiresAt: null },
          metadata: { actor: 'topology-ledger', roles: [], authenticated: false, commandId: 'c-1', correlationId: 'c-1', causationId: null, reason: 'first start', clientAddress: null, occurredAt: new Date().toISOString(), command: 'IssueApiToken' },
        },
      ],
      { expectedRevision: 'no_stream' },
    );
    await store.close();
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', ADMIN_TOKEN: '' });
    try {
      expect(server.output()).toMatch(/warning: DATA_DIR .* has mode 0755: other accounts on this machine may read the event log/);
      expect((await get(server.url, '/api/tokens', legacy)).status).toBe(200);
      expect((await get(server.url, '/api/tokens', `${legacy}x`)).status).toBe(401);
    } finally {
      await server.stop();
    }
  });

  (runsAsRoot ? it : it.skip)('the CLI run by another account on an unreadable DATA_DIR says so in one line and exits 2', async () => {
    const dataDir = path.join(parent, 'data');
    for (const args of [['audit'], ['projections', 'status'], ['Get-CsPersistentChatEndpoint']]) {
      const result = await asNobody([process.execPath, path.join(ROOT, 'bin', 'topo.js'), ...args], { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^topo: .*data: cannot be read and written by this account \(uid 65534\)/)]);
      expect(result.stderr).not.toMatch(/SqliteError|    at /);
    }
  });
});

describe('OIDC claims are read strictly', () => {
  const issuer = 'https://login.contoso.example/realms/lync';
  const audience = 'topology-ledger';
  let privateKey: KeyLike;
  let jwks: http.Server;
  let dataDir: string;
  let server: RunningServer;

  const jwt = (claims: Record<string, unknown>, options: { exp?: number | null; iat?: number; sub?: string } = {}): Promise<string> => {
    const token = new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'key-1' }).setIssuer(issuer).setAudience(audience).setSubject(options.sub ?? 'alice@contoso.com');
    token.setIssuedAt(options.iat);
    if (options.exp !== null) token.setExpirationTime(options.exp ?? '5m');
    return token.sign(privateKey);
  };
  const now = (): number => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    jwks = http.createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-sec-oidc-'));
    server = await startServer({
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      RATE_LIMIT: '0',
      OIDC_ISSUER: issuer,
      OIDC_AUDIENCE: audience,
      OIDC_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
      OIDC_ROLE_CLAIM: 'realm_access.roles',
      OIDC_ROLE_MAP: 'lync-admin=admin,helpdesk=reader',
    });
  });
  afterAll(async () => {
    await server.stop();
    await new Promise((resolve) => jwks.close(resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('maps the nested claim', async () => {
    expect((await get(server.url, '/api/tokens', await jwt({ realm_access: { roles: ['lync-admin'] } }))).status).toBe(200);
  });

  it('refuses a JWT without exp, even one with the admin role', async () => {
    const response = await get(server.url, '/api/tokens', await jwt({ realm_access: { roles: ['lync-admin'] } }, { exp: null }));
    expect([response.status, response.body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(response.body.error.message).toMatch(/JWT claim exp/);
  });

  it('never takes a top-level claim named like the dotted path for the nested one', async () => {
    const forged = await jwt({ 'realm_access.roles': ['lync-admin'], realm_access: { roles: ['helpdesk'] } });
    expect((await get(server.url, '/api/tokens', forged)).status).toBe(403);
    expect((await get(server.url, '/api/topology', forged)).status).toBe(200);
    const only = await jwt({ 'realm_access.roles': ['lync-admin'] }, { sub: 'mallory' });
    const refused = await get(server.url, '/api/tokens', only);
    expect([refused.status, refused.body.error.message]).toEqual([403, expect.stringContaining('mallory has no role')]);
  });

  it('refuses an iat beyond the clock tolerance, and takes one within it', async () => {
    const future = await get(server.url, '/api/tokens', await jwt({ realm_access: { roles: ['lync-admin'] } }, { iat: now() + 600, exp: now() + 900 }));
    expect([future.status, future.body.error.message]).toEqual([401, expect.stringMatching(/iat/)]);
    const skewed = await get(server.url, '/api/tokens', await jwt({ realm_access: { roles: ['lync-admin'] } }, { iat: now() + 10 }));
    expect(skewed.status).toBe(200);
  });

  it('refuses a subject with control characters: it would be recorded as the actor', async () => {
    const response = await get(server.url, '/api/topology', await jwt({ realm_access: { roles: ['helpdesk'] } }, { sub: 'alice\u001b[2J\u0007' }));
    expect([response.status, response.body.error.message]).toEqual([401, expect.stringContaining('subject is not plain text')]);
  });
});

describe('slow requests hold a connection only so long', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-sec-slow-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '0' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Opens a socket, writes `head`, then one byte of `trickle` every `everyMs`; resolves with what came back and when the server closed it. */
  function trickle(head: string, trickleText: string, everyMs: number, giveUpMs: number): Promise<{ answer: string; closedAfterMs: number }> {
    const { hostname, port } = new URL(server.url);
    return new Promise((resolve) => {
      const started = Date.now();
      const socket = net.connect(Number(port), hostname);
      let answer = '';
      let sent = 0;
      const timer = setInterval(() => {
        if (sent < trickleText.length && !socket.destroyed) socket.write(trickleText[sent++]!);
      }, everyMs);
      const giveUp = setTimeout(() => socket.destroy(), giveUpMs);
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        clearTimeout(giveUp);
        resolve({ answer, closedAfterMs: Date.now() - started });
      });
      socket.write(head);
    });
  }

  it('answers nobody 401 without reading the trickled body, and closes the connection', async () => {
    const { answer, closedAfterMs } = await trickle(
      'POST /api/commands/RegisterSipDomain HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{',
      '"domain": "contoso.com"'.repeat(100),
      500,
      60_000,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(closedAfterMs).toBeLessThan(5_000);
  });

  it('closes a connection whose headers trickle past the headers timeout', async () => {
    const { answer, closedAfterMs } = await trickle('GET /api/topology HTTP/1.1\r\nHost: x\r\n', `X-Slow: ${'a'.repeat(200)}`, 500, 60_000);
    expect(answer === '' || /^HTTP\/1\.1 408 /.test(answer)).toBe(true);
    expect(closedAfterMs).toBeLessThan(15_000);
  });

  it('closes an authenticated request whose body trickles past the request timeout', async () => {
    const { answer, closedAfterMs } = await trickle(
      `POST /api/commands/RegisterSipDomain HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{`,
      ' '.repeat(1000),
      500,
      90_000,
    );
    expect(answer === '' || /^HTTP\/1\.1 408 /.test(answer)).toBe(true);
    expect(closedAfterMs).toBeLessThan(40_000);
    // The server still serves.
    expect((await get(server.url, '/api/topology')).status).toBe(200);
  });
});

describe('the live stream', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-sec-live-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '0' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function createToken(name: string, role: string, expires?: string): Promise<string> {
    const response = await fetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer() }, body: JSON.stringify({ name, role, ...(expires ? { expires } : {}) }) });
    expect(response.status).toBe(201);
    return ((await response.json()) as { secret: string }).secret;
  }

  /** Opens `/api/live` and collects what it sends until it ends. */
  function open(token: string): Promise<{ status: number; text: () => string; ended: Promise<void>; close: () => void }> {
    const { hostname, port } = new URL(server.url);
    return new Promise((resolve, reject) => {
      const request = http.get({ host: hostname, port, path: '/api/live', agent: false, headers: bearer(token) }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        const ended = new Promise<void>((done) => response.on('close', () => done()));
        resolve({ status: response.statusCode!, text: () => text, ended, close: () => request.destroy() });
      });
      request.on('error', reject);
    });
  }

  it('holds at most 8 streams per principal: the 9th is 429, another principal is unaffected, a closed one frees its place', async () => {
    const reader = await createToken('live-reader', 'reader');
    const streams = [];
    for (let i = 0; i < 8; i++) streams.push(await open(reader));
    expect(streams.map((s) => s.status)).toEqual(Array(8).fill(200));
    const ninth = await open(reader);
    expect(ninth.status).toBe(429);
    await ninth.ended;
    expect(JSON.parse(ninth.text()).error.code).toBe('TOO_MANY_STREAMS');
    const other = await open(TEST_ADMIN_TOKEN);
    expect(other.status).toBe(200);
    streams[0]!.close();
    await streams[0]!.ended;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await open(reader);
    expect(again.status).toBe(200);
    for (const s of [...streams.slice(1), other, again]) s.close();
  });

  it('ends the streams of a token once it is revoked', async () => {
    const reader = await createToken('live-revoked', 'reader');
    const stream = await open(reader);
    expect(stream.status).toBe(200);
    const revoked = await fetch(`${server.url}/api/tokens/live-revoked`, { method: 'DELETE', headers: bearer() });
    expect(revoked.status).toBe(200);
    const started = Date.now();
    await Promise.race([stream.ended, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stream.text()).toMatch(/event: closed\ndata: \{"reason":"token revoked"\}/);
  });

  it('ends the stream of a token once it expires', async () => {
    const reader = await createToken('live-expiring', 'reader', new Date(Date.now() + 3_000).toISOString());
    const stream = await open(reader);
    expect(stream.status).toBe(200);
    const started = Date.now();
    await Promise.race([stream.ended, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stream.text()).toMatch(/event: closed\ndata: \{"reason":"token expired"\}/);
  });
});
