import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { command, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(90_000);

describe('topo history, diff, audit and projections status', () => {
  let dataDir: string;
  let server: RunningServer;
  let seeded: number;
  const topo = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args, '--server', server.url], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', TOPO_TOKEN: TEST_ADMIN_TOKEN },
      encoding: 'utf8',
    });

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-cli-read-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
    seeded = ((await (await fetch(`${server.url}/health`)).json()) as { headPosition: number }).headPosition;
    await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    await command(server.url, 'StopPool', { fqdn: 'gc.contoso.com' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('history shows the topology at a past position, before the endpoint existed', () => {
    const past = topo('history', '--at-position', String(seeded));
    expect(past.status).toBe(0);
    expect(past.stdout).toContain('gc.contoso.com Lync2010 Started');
    expect(past.stdout).not.toContain('sip:persistentchat@contoso.com');
    const now = topo('history', '--as-of', new Date(Date.now() + 60_000).toISOString());
    expect(now.stdout).toContain('sip:persistentchat@contoso.com -> pcpool.contoso.com');
    expect(topo('history').status).toBe(2);
  });

  it('diff lists what was added and changed since a moment', () => {
    const diff = topo('diff', '--from', String(seeded));
    expect(diff.status).toBe(0);
    expect(diff.stdout).toContain('+ endpoint sip:persistentchat@contoso.com');
    expect(diff.stdout).toMatch(/~ legacyPool gc\.contoso\.com: status Started -> Stopped/);
  });

  it('audit filters the trail, and --json gives the API answer', () => {
    const audit = topo('audit', '--command', 'StopPool');
    expect(audit.status).toBe(0);
    expect(audit.stdout).toContain('PoolStopped');
    expect(audit.stdout).not.toContain('PersistentChatEndpointCreated');
    // Without --deployment the trail of every deployment: each line says which.
    expect(audit.stdout).toMatch(/#\d+  \[default\]  admin  PoolStopped/);
    expect(topo('audit', '--command', 'StopPool', '--deployment', 'default').stdout).not.toContain('[default]');
    // One vocabulary: the trail says legacyPool:, and the older pool: still finds it.
    expect(audit.stdout).toContain('legacyPool:gc.contoso.com');
    expect(topo('audit', '--entity', 'pool:gc.contoso.com').stdout).toContain('PoolStopped');
    const json = JSON.parse(topo('audit', '--entity', 'endpoint:sip:persistentchat@contoso.com', '--json').stdout) as { entries: { type: string }[] };
    expect(json.entries.map((e) => e.type)).toEqual(['PersistentChatEndpointCreated']);
    const unknown = topo('audit', '--nope', 'x');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown option --nope');
  });

  it('projections status lists every projection live', () => {
    const status = topo('projections', 'status');
    expect(status.status).toBe(0);
    for (const name of ['topology', 'endpoint_directory', 'audit_trail', 'migrations']) expect(status.stdout).toMatch(new RegExp(`${name}\\s+live`));
  });
});
