import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { command, get, seedTopology } from '../support/http';
import { spawnSync } from 'node:child_process';
import { ROOT, RunningServer, runUntilExit, startServer, TEST_ADMIN_TOKEN } from '../support/server';

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
    const refused = await command(server.url, 'CreateEndpoint', endpoint);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'REASON_REQUIRED', details: { field: 'reason', command: 'CreateEndpoint', policy: 'REASON_REQUIRED_FOR' } });
    const blank = await command(server.url, 'StopPool', { fqdn: 'gc.contoso.com', reason: '   ' });
    expect(blank.status).toBe(400);
    const directory = await get(server.url, '/api/endpoints');
    expect(JSON.stringify(directory.body)).not.toContain('persistentchat@contoso.com');
    const head = (await get(server.url, '/health')).body.headPosition as number;
    const refusals = await get(server.url, `/api/audit?command=CreateEndpoint&outcome=refused&minPosition=${head}`);
    expect(refusals.status).toBe(200);
    expect(JSON.stringify(refusals.body)).toContain('REASON_REQUIRED');

    // A dry run records nothing and needs no reason, as a dry run of MigratePool: it shows the events the change would append.
    const dryRun = await command(server.url, 'CreateEndpoint', endpoint, { query: 'whatIf=true' });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body).toMatchObject({ whatIf: true, events: [{ type: 'PersistentChatEndpointCreated' }] });
    expect(JSON.stringify((await get(server.url, '/api/endpoints')).body)).not.toContain('persistentchat@contoso.com');

    const given = await command(server.url, 'CreateEndpoint', endpoint, { headers: { 'x-reason': 'CHG-42 legacy clients' } });
    expect(given.status).toBe(200);
    // A command the list does not name needs none.
    expect((await command(server.url, 'RegisterSipPrincipal', { sipAddress: 'sip:alice@contoso.com', kind: 'user', displayName: 'Alice' })).status).toBe(200);
  });

  it("a dry run of a listed command without a reason warns that the real run needs one, and topo run's pre-run check refuses the batch naming the line; nothing runs", async () => {
    const endpoint = { sipAddress: 'sip:prerun@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' };
    const dryRun = await command(server.url, 'CreateEndpoint', endpoint, { query: 'whatIf=true' });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.warnings).toContainEqual(expect.objectContaining({ code: 'REASON_REQUIRED', rule: 'reason-policy' }));
    const script = path.join(dataDir, 'prerun.ps1');
    fs.writeFileSync(script, 'New-CsPersistentChatEndpoint -SipAddress sip:prerun@contoso.com -PersistentChatPoolFqdn pcpool.contoso.com\n');
    const { TOPO_REASON: _ignored, ...inherited } = process.env;
    const run = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), 'run', script, '--server', server.url, '--token', TEST_ADMIN_TOKEN], {
      cwd: ROOT,
      env: { ...inherited, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('prerun.ps1:1: ');
    expect(run.stderr).toContain('CreateEndpoint needs a reason when it runs for real (policy: REASON_REQUIRED_FOR lists it)');
    expect(run.stderr).toContain('nothing was run');
    expect(JSON.stringify((await get(server.url, '/api/endpoints')).body)).not.toContain('prerun@contoso.com');
  });

  it('a dry run of a migration command that needs a reason warns so, as a topology command does', async () => {
    const plan = await command(server.url, 'MigratePool', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com' }, { query: 'whatIf=true' });
    expect(plan.status).toBe(200);
    expect(plan.body.warnings).toContainEqual(expect.objectContaining({ code: 'REASON_REQUIRED', rule: 'reason-policy' }));
    const reasoned = await command(server.url, 'MigratePool', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com', reason: 'CHG-7' }, { query: 'whatIf=true' });
    expect(reasoned.status).toBe(200);
    expect(reasoned.body.warnings).toBeUndefined();
  });

  it('a retry of a change already made is answered with its first result, reason or not', async () => {
    const body = { sipAddress: 'sip:retry@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' };
    const first = await command(server.url, 'CreateEndpoint', { ...body, reason: 'CHG-43' }, { headers: { 'idempotency-key': 'create-retry-1' } });
    expect(first.status).toBe(200);
    const retry = await command(server.url, 'CreateEndpoint', body, { headers: { 'idempotency-key': 'create-retry-1' } });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.position).toBe(first.body.position);
  });

  it('a migration\'s steps carry the reason of its plan, so listed commands among them run', async () => {
    await seedTopology(server.url, 'mig');
    const planned = await command(server.url, 'MigratePool', { deployment: 'mig', legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com', reason: 'CHG-9 weekend window' });
    expect(planned.status).toBe(200);
    const run = await command(server.url, 'RunMigration', { deployment: 'mig', migrationId: planned.body.migrationId });
    expect(run.status).toBe(200);
    expect(run.body.status).toBe('Completed');
    const head = (await get(server.url, '/health')).body.headPosition as number;
    for (const listed of ['StopPool', 'CreateEndpoint']) {
      const audit = await get(server.url, `/api/audit?deployment=mig&command=${listed}&minPosition=${head}`);
      expect(audit.status).toBe(200);
      const entries = JSON.stringify(audit.body);
      expect(entries).toContain('CHG-9 weekend window');
      expect(entries).not.toContain('REASON_REQUIRED');
    }
  });

  it('the server refuses to start when the list names a command the API does not know', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-reason-bad-'));
    try {
      const result = await runUntilExit({ DATA_DIR: dir, REASON_REQUIRED_FOR: 'StopPool,StopTheWorld' });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('REASON_REQUIRED_FOR must name commands the API knows (StopTheWorld is not one; they are ');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
