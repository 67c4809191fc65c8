import { exportJWK, generateKeyPair, KeyLike, SignJWT } from 'jose';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { command, get } from '../support/http';
import { RunningServer, startServer } from '../support/server';

/** An OIDC issuer of our own: a key pair, its JWKS served over local HTTP, and JWTs signed with it. */
describe('OIDC bearer JWTs, verified against the issuer JWKS', () => {
  const issuer = 'https://login.contoso.example/tenant';
  const audience = 'topology-ledger';
  let privateKey: KeyLike;
  let strangerKey: KeyLike;
  let jwks: http.Server;
  let dataDir: string;
  let server: RunningServer;

  type JwtOptions = { key?: KeyLike; aud?: string; iss?: string; expiresIn?: string; sub?: string | null };
  const jwt = (claims: Record<string, unknown>, options: JwtOptions = {}): Promise<string> => {
    const token = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: options.key ? 'stranger' : 'key-1' })
      .setIssuer(options.iss ?? issuer)
      .setAudience(options.aud ?? audience)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m');
    if (options.sub !== null) token.setSubject(options.sub ?? 'alice@contoso.com');
    return token.sign(options.key ?? privateKey);
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    jwks = http.createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-oidc-'));
    server = await startServer({
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      OIDC_ISSUER: issuer,
      OIDC_AUDIENCE: audience,
      OIDC_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
      OIDC_ROLE_CLAIM: 'groups',
      OIDC_ROLE_MAP: 'Lync-Admins=admin,Lync-Operators=operator,Compliance=auditor,Helpdesk=reader',
    });
  });
  afterAll(async () => {
    await server.stop();
    await new Promise((resolve) => jwks.close(resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('takes the subject as the actor and maps the claim to roles', async () => {
    const operator = await jwt({ groups: ['Everyone', 'Lync-Operators'] });
    const created = await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com' }, { token: operator });
    expect(created.status).toBe(200);
    const store = new SqliteEventStore({ dataDir });
    const [event] = await store.readStream('topology-default');
    await store.close();
    expect(event!.metadata).toMatchObject({ actor: 'alice@contoso.com', roles: ['operator'], authenticated: true });
    expect((await get(server.url, '/api/audit', operator)).status).toBe(403);
    expect((await get(server.url, '/api/audit', await jwt({ groups: 'Compliance' }, { sub: 'carol' }))).status).toBe(200);
    const helpdesk = await get(server.url, '/api/topology', await jwt({ groups: ['Helpdesk'] }));
    expect(helpdesk.status).toBe(200);
  });

  const cases: [string, () => JwtOptions, RegExp][] = [
    ['another audience', () => ({ aud: 'someone-else' }), /JWT claim aud/],
    ['another issuer', () => ({ iss: 'https://evil.example' }), /JWT claim iss/],
    ['a key the issuer does not publish', () => ({ key: strangerKey }), /key the issuer does not publish|signature/],
    ['an expired token', () => ({ expiresIn: '-5m' }), /JWT expired/],
    ['no subject', () => ({ sub: null }), /no subject/],
  ];
  it.each(cases)('refuses %s with 401', async (_what, options, message) => {
    const token = await jwt({ groups: ['Lync-Admins'] }, options());
    const response = await get(server.url, '/api/topology', token);
    expect([response.status, response.body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(response.body.error.message).toMatch(message);
  });

  it('forbids a verified subject whose claim maps to no role', async () => {
    const response = await get(server.url, '/api/topology', await jwt({ groups: ['Everyone'] }, { sub: 'mallory' }));
    expect([response.status, response.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect(response.body.error.message).toContain('mallory has no role');
  });
});
