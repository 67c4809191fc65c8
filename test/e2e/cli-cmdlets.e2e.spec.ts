import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { bearer, getJsonFresh, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

const TOPO = path.join(ROOT, 'bin', 'topo.js');

// Every line is its own process (and, without --server, opens the store): slower than an HTTP test.
jest.setTimeout(90_000);

function topo(dataDir: string, args: readonly string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const { TOPO_REASON: _ignored, ...inherited } = process.env;
  return spawnSync(process.execPath, [TOPO, ...args], {
    cwd: ROOT,
    env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
  });
}

async function eventCount(dataDir: string): Promise<number> {
  const store = new SqliteEventStore({ dataDir });
  try {
    return (await store.readStream('topology-default')).length;
  } finally {
    await store.close();
  }
}

describe('topo cmdlet lines through --server', () => {
  let dataDir: string;
  let server: RunningServer;
  const run = (...args: string[]): SpawnSyncReturns<string> => topo(dataDir, [...args, '--server', server.url, '--token', TEST_ADMIN_TOKEN]);

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-cli-cmdlets-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the documented New-CsPersistentChatEndpoint line exactly as typed, then lists it', () => {
    const created = run('New-CsPersistentChatEndpoint', '-SipAddress', 'sip:persistentchat@contoso.com', '-PersistentChatPoolFqdn', 'pcpool.contoso.com');
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const listed = run('Get-CsPersistentChatEndpoint');
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(/^SipAddress +: sip:persistentchat@contoso\.com$/m);
    expect(listed.stdout).toMatch(/^PersistentChatPoolFqdn : pcpool\.contoso\.com$/m);
  });

  it('filters with a wildcard and prints JSON for scripts', () => {
    expect(run('New-CsPersistentChatEndpoint', '-sipaddress:sip:legacy-chat@contoso.com', '-Persist', 'pcpool.contoso.com', '-DisplayName', 'Legacy Chat', '-Confirm:$false').status).toBe(0);
    const filtered = run('Get-CsPersistentChatEndpoint', '-Filter', '{SipAddress -like "sip:legacy*"}', '--json');
    expect(filtered.status).toBe(0);
    // A bare wildcard is not a filter expression: refused with the reason and the forms to use, never an empty answer.
    const wildcard = run('Get-CsPersistentChatEndpoint', '-Filter', 'sip:legacy*');
    expect(wildcard.status).toBe(2);
    expect(wildcard.stderr).toContain('is not a filter expression');
    expect(wildcard.stderr).toContain('-Identity "sip:legacy*"');
    const entries = JSON.parse(filtered.stdout) as Array<{ sipAddress: string; displayName: string }>;
    expect(entries.map((e) => e.sipAddress)).toEqual(['sip:legacy-chat@contoso.com']);
    const byName = run('Get-CsPersistentChatEndpoint', 'Legacy Chat');
    expect(byName.stdout).toContain('sip:legacy-chat@contoso.com');
    expect(byName.stdout).not.toContain('sip:persistentchat@contoso.com');
  });

  it('refuses an invalid SIP address with the API error naming R1 and its hint, changing nothing', async () => {
    const before = await eventCount(dataDir);
    const refused = run('New-CsPersistentChatEndpoint', '-SipAddress', 'persistentchat2@contoso.com', '-PersistentChatPoolFqdn', 'pcpool.contoso.com');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('INVALID_SIP_ADDRESS');
    expect(refused.stderr).toContain('R1');
    expect(refused.stderr).toContain("Did you mean 'sip:persistentchat2@contoso.com'?");
    expect(await eventCount(dataDir)).toBe(before);
  });

  it('names an unknown parameter and suggests the closest, and suggests the closest cmdlet', () => {
    const parameter = run('New-CsPersistentChatEndpoint', '-SipAdress', 'sip:x@contoso.com', '-PersistentChatPoolFqdn', 'pcpool.contoso.com');
    expect(parameter.status).not.toBe(0);
    expect(parameter.stderr).toContain("A parameter cannot be found that matches parameter name 'SipAdress'. Did you mean '-SipAddress'?");
    const cmdlet = run('Get-CsPersistentChatEndpoints');
    expect(cmdlet.status).not.toBe(0);
    expect(cmdlet.stderr).toContain("The term 'Get-CsPersistentChatEndpoints' is not recognized");
    expect(cmdlet.stderr).toContain("Did you mean 'Get-CsPersistentChatEndpoint'?");
  });

  it('shows what -WhatIf would append and appends nothing', async () => {
    const before = await eventCount(dataDir);
    const whatIf = run('New-CsPersistentChatEndpoint', '-SipAddress', 'sip:whatif@contoso.com', '-PersistentChatPoolFqdn', 'pcpool.contoso.com', '-WhatIf');
    expect(whatIf.status).toBe(0);
    expect(whatIf.stdout).toContain('What if: Performing the operation "New-CsPersistentChatEndpoint" on target "sip:whatif@contoso.com".');
    expect(whatIf.stdout).toContain('PersistentChatEndpointCreated');
    expect(await eventCount(dataDir)).toBe(before);
  });

  it('removes only with a reason', () => {
    const refused = run('Remove-CsPersistentChatEndpoint', '-Identity', 'sip:legacy-chat@contoso.com');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('REASON_REQUIRED');
    expect(run('Remove-CsPersistentChatEndpoint', 'Legacy Chat', '--reason', 'CHG-7 cleanup').status).toBe(0);
    expect(run('Get-CsPersistentChatEndpoint', '-Identity', 'sip:legacy*', '--json').stdout.trim()).toBe('[]');
  });

  it('sets and reads the pool state and its active servers', () => {
    expect(run('Set-CsPersistentChatState', '-Identity', 'service:PersistentChatServer:pcpool.contoso.com', '-PoolState', 'FailedOver').status).toBe(0);
    const state = run('Get-CsPersistentChatState', '-Identity', 'PersistentChatServer:pcpool.contoso.com');
    expect(state.stdout).toBe('Identity  : service:PersistentChatServer:pcpool.contoso.com\nPoolState : FailedOver\n');
    const cleared = run('Set-CsPersistentChatActiveServer', '-Identity', 'PersistentChatServer:pcpool.contoso.com', '-ActiveServers', '$Null', '--json');
    expect(cleared.status).toBe(0);
    expect(JSON.stringify(JSON.parse(cleared.stdout).events)).toContain('pcpool.contoso.com');
    expect(run('Set-CsPersistentChatActiveServer', '-Identity', 'PersistentChatServer:pcpool.contoso.com', '-ActiveServers', '@{Add="pc2.contoso.com"}').status).toBe(0);
    const twice = run('Set-CsPersistentChatActiveServer', '-Identity', 'PersistentChatServer:pcpool.contoso.com', '-ActiveServers', '@{Add="pc2.contoso.com"}');
    expect(twice.status).not.toBe(0);
    expect(twice.stderr).toContain('SERVER_ALREADY_ACTIVE');
  });

  it("refuses a pool's bare FQDN as -Identity, naming the service identity to type (the only form the pages show); nothing changes", async () => {
    const before = await eventCount(dataDir);
    for (const line of [
      ['Set-CsPersistentChatState', '-Identity', 'pcpool.contoso.com', '-PoolState', 'Normal'],
      ['Set-CsPersistentChatActiveServer', '-Identity', 'pcpool.contoso.com', '-ActiveServers', '@{Add="pc2.contoso.com"}'],
      ['Get-CsPersistentChatState', '-Identity', 'pcpool.contoso.com'],
    ]) {
      const refused = run(...line);
      expect([line[0], refused.status]).toEqual([line[0], 2]);
      expect(refused.stderr).toContain(`${line[0]} : -Identity 'pcpool.contoso.com' is a pool's FQDN, not its service identity: write -Identity "PersistentChatServer:pcpool.contoso.com"`);
    }
    expect(await eventCount(dataDir)).toBe(before);
  });

  it('runs a script as one batch, stopping at the failing line and naming what was applied', async () => {
    const script = path.join(dataDir, 'batch.ps1');
    fs.writeFileSync(
      script,
      [
        '# batch of three',
        'New-CsPersistentChatEndpoint -SipAddress sip:batch1@contoso.com `',
        '    -PersistentChatPoolFqdn pcpool.contoso.com',
        '',
        'New-CsPersistentChatEndpoint -SipAddress sip:batch2@contoso.com -PersistentChatPoolFqdn nopool.contoso.com',
        "New-CsPersistentChatEndpoint -SipAddress sip:batch3@contoso.com -PersistentChatPoolFqdn pcpool.contoso.com -DisplayName 'Batch 3'",
      ].join('\n'),
    );
    const result = run('run', script);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('line 5 failed: New-CsPersistentChatEndpoint -SipAddress sip:batch2@contoso.com');
    expect(result.stderr).toMatch(/Already applied \(correlation id [0-9a-f-]{36}\):\n {2}line 2: New-CsPersistentChatEndpoint -SipAddress sip:batch1@contoso\.com -PersistentChatPoolFqdn pcpool\.contoso\.com/);
    expect(result.stderr).toMatch(/Not run:\n {2}line 6: /);
    const entries = JSON.parse(run('Get-CsPersistentChatEndpoint', '-Identity', 'sip:batch*', '--json').stdout) as Array<{ sipAddress: string }>;
    expect(entries.map((e) => e.sipAddress)).toEqual(['sip:batch1@contoso.com']);

    // One correlation id for the batch.
    const ok = path.join(dataDir, 'ok.ps1');
    fs.writeFileSync(ok, 'New-CsPersistentChatEndpoint -SipAddress sip:batch4@contoso.com -PersistentChatPoolFqdn pcpool.contoso.com\nSet-CsPersistentChatState PersistentChatServer:pcpool.contoso.com -PoolState Normal\n');
    const before = await eventCount(dataDir);
    const checked = run('run', ok, '-WhatIf');
    expect(checked.status).toBe(0);
    // It says how the lines were checked: each on its own, against the topology as it is now.
    expect(checked.stdout).toContain('2 line(s) of');
    expect(checked.stdout).toContain('each against the topology as it is now (not as the lines before it would leave it); nothing was changed.');
    expect(await eventCount(dataDir)).toBe(before);
    const done = run('run', ok, '--json');
    expect(done.status).toBe(0);
    const summary = JSON.parse(done.stdout) as { correlationId: string; applied: unknown[] };
    expect(summary.applied).toHaveLength(2);
    const store = new SqliteEventStore({ dataDir });
    try {
      const events = await store.readStream('topology-default');
      expect(events.filter((e) => e.metadata['correlationId'] === summary.correlationId)).toHaveLength(2);
    } finally {
      await store.close();
    }
  });

  it('reads a no-break space (U+00A0) and the other Unicode spaces as whitespace, in a line and in a script', () => {
    const line = run('New-CsPersistentChatEndpoint\u00a0-SipAddress\u00a0sip:nbsp1@contoso.com\u2003-PersistentChatPoolFqdn\u00a0pcpool.contoso.com\u00a0-Confirm:$false');
    expect([line.status, line.stderr.includes('cannot be found')]).toEqual([0, false]);
    const script = path.join(dataDir, 'nbsp.ps1');
    fs.writeFileSync(script, 'New-CsPersistentChatEndpoint\u00a0-SipAddress sip:nbsp2@contoso.com\u00a0-PersistentChatPoolFqdn\u202fpcpool.contoso.com\n');
    const batch = run('run', script);
    expect(batch.status).toBe(0);
    const listed = run('Get-CsPersistentChatEndpoint\u00a0-Identity\u00a0"sip:nbsp*"', '--json');
    expect((JSON.parse(listed.stdout) as Array<{ sipAddress: string }>).map((e) => e.sipAddress).sort()).toEqual(['sip:nbsp1@contoso.com', 'sip:nbsp2@contoso.com']);
    // Typed into bash unquoted: bash splits at the ordinary spaces only, so a parameter and its value
    // joined by a no-break space arrive as one argument.
    const typed = run('New-CsPersistentChatEndpoint', '-SipAddress\u00a0sip:nbsp3@contoso.com', '-PersistentChatPoolFqdn', 'pcpool.contoso.com', '-Confirm:$false');
    expect([typed.status, typed.stderr.includes('cannot be found'), typed.stderr.includes('ERROR')]).toEqual([0, false, false]);
    const found = run('Get-CsPersistentChatEndpoint', '-Identity\u00a0sip:nbsp3@contoso.com', '--json');
    expect([found.status, (JSON.parse(found.stdout) as Array<{ sipAddress: string }>).map((e) => e.sipAddress)]).toEqual([0, ['sip:nbsp3@contoso.com']]);
  });

  it('runs nothing of a script with a line that does not parse', async () => {
    const before = await eventCount(dataDir);
    const script = path.join(dataDir, 'broken.ps1');
    fs.writeFileSync(script, 'New-CsPersistentChatEndpoint -SipAddress sip:b5@contoso.com -PersistentChatPoolFqdn pcpool.contoso.com\nNew-CsPersistentChatEndpoint -SipAdres sip:b6@contoso.com\n');
    const result = run('run', script);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(':2: New-CsPersistentChatEndpoint -SipAdres');
    expect(result.stderr).toContain('nothing was run');
    expect(await eventCount(dataDir)).toBe(before);
  });
});

describe('topo cmdlet lines on the local store (no --server)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-cli-local-'));
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
    await server.stop();
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('creates, lists and removes an endpoint in DATA_DIR', () => {
    const created = topo(dataDir, ['New-CsPersistentChatEndpoint', '-SipAddress', 'sip:persistentchat@contoso.com', '-PersistentChatPoolFqdn', 'pcpool.contoso.com']);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const listed = topo(dataDir, ['Get-CsPersistentChatEndpoint', '-PersistentChatPoolFqdn', 'pcpool.contoso.com']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain('sip:persistentchat@contoso.com');
    const invalid = topo(dataDir, ['New-CsPersistentChatEndpoint', '-SipAddress', 'persistentchat@contoso.com', '-PersistentChatPoolFqdn', 'pcpool.contoso.com']);
    expect(invalid.status).not.toBe(0);
    expect(invalid.stderr).toContain('INVALID_SIP_ADDRESS: R1');
    const removed = topo(dataDir, ['Remove-CsPersistentChatEndpoint', 'sip:persistentchat@contoso.com'], { TOPO_REASON: 'CHG-9' });
    expect(removed.status).toBe(0);
    expect(topo(dataDir, ['Get-CsPersistentChatEndpoint', '--json']).stdout.trim()).toBe('[]');
  });
});

describe('topo cmdlet lines without --server while a server runs on the same DATA_DIR', () => {
  let dataDir: string;
  let server: RunningServer;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-cli-beside-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('goes through that server instead of opening the store beside it, and the server sees the change at once', async () => {
    expect(fs.existsSync(path.join(dataDir, 'server.json'))).toBe(true);
    const created = topo(dataDir, ['New-CsPersistentChatEndpoint', '-SipAddress', 'sip:beside@contoso.com', '-PersistentChatPoolFqdn', 'pcpool.contoso.com', '--verbose']);
    expect(created.status).toBe(0);
    expect(created.stderr).toContain(`DATA_DIR is served by the server at ${server.url}`);
    const listed = (await getJsonFresh(`${server.url}/api/endpoints?sipAddress=sip:beside*`)) as { endpoints: unknown[] };
    expect(listed.endpoints).toHaveLength(1);
  });

  it('withdraws its announcement when it stops, and a file left by a killed server is ignored', async () => {
    const other = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await other.stop();
    // The second server replaced the first one's announcement, and withdrew it when it stopped.
    expect(fs.existsSync(path.join(dataDir, 'server.json'))).toBe(false);
    fs.writeFileSync(path.join(dataDir, 'server.json'), JSON.stringify({ pid: 2 ** 22 + 12345, url: 'http://127.0.0.1:9', startedAt: '' }));
    const local = topo(dataDir, ['Get-CsPersistentChatEndpoint', '--json']);
    expect(local.status).toBe(0);
    expect(local.stderr).not.toContain('served by');
  });
});
