import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { command, get, seedTopology } from '../support/http';
import { RunningServer, runUntilExit, startServer } from '../support/server';

/** REASON_REQUIRED_FOR: a deployment's own list of commands that need a reason, beyond the product's. */
describe('the configurable reason policy', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-reason-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', REASON_REQUIRED_FOR: 'StopPool,CreateEndpoint' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a listed command without a reason with 400 naming the field and the policy, appends nothing, records the refusal', async () => {
    const endpoint = { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' };
    for (const query of [undefined, 'whatIf=true']) {
      const refused = await command(server.url, 'CreateEndpoint', endpoint, query ? { query } : {});
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'REASON_REQUIRED', details: { field: 'reason', command: 'CreateEndpoint', policy: 'REASON_REQUIRED_FOR' } });
    }
    const blank = await command(server.url, 'StopPool', { fqdn: 'pcpool.contoso.com', reason: '   ' });
    expect(blank.status).toBe(400);
    const directory = await get(server.url, '/api/endpoints');
    expect(JSON.stringify(directory.body)).not.toContain('persistentchat@contoso.com');
    const refusals = await get(server.url, '/api/audit?command=CreateEndpoint&outcome=refused');
    expect(refusals.status).toBe(200);
    expect(JSON.stringify(refusals.body)).toContain('REASON_REQUIRED');

    const given = await command(server.url, 'CreateEndpoint', endpoint, { headers: { 'x-reason': 'CHG-42 legacy clients' } });
    expect(given.status).toBe(200);
    // A command the list does not name needs none.
    expect((await command(server.url, 'RegisterSipPrincipal', { sipAddress: 'sip:alice@contoso.com', kind: 'user', displayName: 'Alice' })).status).toBe(200);
  });

  it('the server refuses to start when the list names a command the API does not know', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-reason-bad-'));
    try {
      const result = await runUntilExit({ DATA_DIR: dir, REASON_REQUIRED_FOR: 'StopPool,StopTheWorld' });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('REASON_REQUIRED_FOR must name commands the API knows (StopTheWorld is not one)');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
