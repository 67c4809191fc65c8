import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { command } from '../support/http';
import { startServer, TEST_ADMIN_TOKEN } from '../support/server';

describe('the server log', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-logs-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('LOG_FORMAT=json: every line one JSON object; a line per command with correlation id, actor, command and outcome; no credential', async () => {
    const server = await startServer({ DATA_DIR: path.join(root, 'data'), LOG_FORMAT: 'json', METRICS_TOKEN: 'scraper-token-0123456789abcdef' });
    const guess = 'topo_0123456789abcdef_guessedsecretguessedsecretguessedsecret123';
    try {
      expect((await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com' }, { headers: { 'x-correlation-id': 'change-4711' } })).status).toBe(200);
      expect((await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com' }, { headers: { 'x-correlation-id': 'change-4712' } })).status).toBe(409);
      expect((await command(server.url, 'RegisterSipDomain', { domain: 'fabrikam.com' }, { token: guess })).status).toBe(401);
      expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer scraper-token-0123456789abcdef' } })).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const output = server.output();
    const lines = output.split('\n').filter((l) => l.trim() !== '');
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const record of records) expect(record).toMatchObject({ level: expect.any(String), time: expect.any(String), msg: expect.any(String), service: 'topology-ledger' });
    expect(records).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/^topology-ledger listening on http:\/\/127\.0\.0\.1:\d+/) }));
    expect(records).toContainEqual(
      expect.objectContaining({ level: 'info', correlationId: 'change-4711', actor: 'admin', command: 'RegisterSipDomain', deployment: 'default', outcome: 'accepted', status: 200 }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({ correlationId: 'change-4712', actor: 'admin', command: 'RegisterSipDomain', outcome: 'refused', code: expect.stringMatching(/^[A-Z_]+$/), status: 409 }),
    );
    expect(records).toContainEqual(expect.objectContaining({ actor: 'anonymous', command: 'RegisterSipDomain', outcome: 'refused', code: 'UNAUTHENTICATED', status: 401 }));
    expect(records).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/^stopped after SIGTERM/) }));
    // Neither the admin token, nor a guessed one, nor the metrics token, nor its secret part.
    for (const secret of [TEST_ADMIN_TOKEN, guess, 'guessedsecret', 'scraper-token-0123456789abcdef']) expect(output).not.toContain(secret);
  });

  it('LOG_FORMAT=pretty: readable lines, the same messages', async () => {
    const server = await startServer({ DATA_DIR: path.join(root, 'data'), LOG_FORMAT: 'pretty' });
    try {
      expect((await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com' })).status).toBe(200);
    } finally {
      await server.stop();
    }
    const output = server.output();
    expect(output).toMatch(/^\[[\d:.]+\] INFO: topology-ledger listening on http:\/\/127\.0\.0\.1:\d+/m);
    expect(output).toMatch(/^\[[\d:.]+\] INFO: RegisterSipDomain accepted$/m);
    expect(output).toMatch(/^\s+actor: "admin"$/m);
    expect(output).not.toContain(TEST_ADMIN_TOKEN);
    expect(() => JSON.parse(output.split('\n')[0]!)).toThrow();
  });
});
