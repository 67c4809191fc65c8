import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer, getJsonFresh } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

/**
 * Every example line of Microsoft's cmdlet reference pages for the cmdlets the product models, run
 * verbatim through `topo run` against a real server and store, each asserted to do what its page
 * says. The pages are those of MicrosoftDocs/office-docs-powershell,
 * skype/skype-ps/SkypeForBusiness/<cmdlet>.md (learn.microsoft.com/powershell/module/skype/<cmdlet>).
 * The reason the product's policy asks of removals is given as --reason, as an administrator would.
 */

const TOPO = path.join(ROOT, 'bin', 'topo.js');
const PAGE = (cmdlet: string): string => `https://learn.microsoft.com/powershell/module/skype/${cmdlet.toLowerCase()}`;

jest.setTimeout(120_000);

let server: RunningServer;
let dataDir: string;
let counter = 0;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-ms-examples-'));
  server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
});
afterAll(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/**
 * POST a command on a connection of its own: after a `spawnSync` has blocked the test's event loop
 * longer than the server's keep-alive timeout, a pooled `fetch` connection may already be closed.
 */
function post(name: string, body: object, headers: Record<string, string> = {}, query = ''): Promise<{ status: number; body: any }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${server.url}/api/commands/${name}${query ? `?${query}` : ''}`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...bearer(), ...headers } },
      (response) => {
        let answer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (answer += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: answer ? JSON.parse(answer) : undefined }));
      },
    );
    request.on('error', reject);
    request.end(text);
  });
}

async function send(deployment: string, name: string, body: object, reason = 'CHG-1'): Promise<any> {
  const result = await post(name, { ...body, deployment }, { 'x-reason': reason });
  if (result.status !== 200) throw new Error(`${name} failed: ${JSON.stringify(result.body)}`);
  return result.body;
}

/** A deployment of its own for one example: litwareinc.com's pools and endpoints, as the pages name them. */
async function litware(): Promise<string> {
  const deployment = `example_${++counter}`;
  await send(deployment, 'RegisterSipDomain', { domain: 'litwareinc.com' });
  await send(deployment, 'RegisterSipDomain', { domain: 'contoso.com' });
  await send(deployment, 'InstallPersistentChatPool', {
    fqdn: 'atl-pcpool-001.litwareinc.com',
    servers: ['atl-pc-001.litwareinc.com', 'atl-pc-002.litwareinc.com'],
    databaseInstance: 'atl-sql-001.litwareinc.com\\rtc',
  });
  await send(deployment, 'InstallPersistentChatPool', { fqdn: 'atl-gc-001.litwareinc.com', servers: ['atl-gc-001.litwareinc.com'] });
  await send(deployment, 'InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com'] });
  await send(deployment, 'SetPersistentChatState', { poolFqdn: 'pcpool.contoso.com', poolState: 'FailedOver' });
  await send(deployment, 'CreateEndpoint', { sipAddress: 'sip:pce@litwareinc.com', persistentChatPoolFqdn: 'atl-pcpool-001.litwareinc.com', displayName: 'Persistent Chat Endpoint 1' });
  await send(deployment, 'CreateEndpoint', { sipAddress: 'sip:pce2@litwareinc.com', persistentChatPoolFqdn: 'atl-pcpool-001.litwareinc.com' });
  await send(deployment, 'CreateEndpoint', { sipAddress: 'sip:chat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
  return deployment;
}

/** As litware(), with a legacy Group Chat pool whose database is the page's instance, and its migration planned and run to `stepsDone`. */
async function migrating(exportFileName: string, stepsDone: number): Promise<{ deployment: string; migrationId: string }> {
  const deployment = await litware();
  await send(deployment, 'DefineLegacyGroupChatPool', {
    fqdn: 'gc.litwareinc.com',
    version: 'Lync2010',
    wellKnownSipAddress: 'sip:ocschat@litwareinc.com',
    databaseInstance: 'atl-sql-001.litwareinc.com\\rtc',
  });
  const planned = await send(deployment, 'MigratePool', { legacyPoolFqdn: 'gc.litwareinc.com', targetPoolFqdn: 'atl-pcpool-001.litwareinc.com', exportFileName });
  if (stepsDone > 0) await send(deployment, 'RunMigration', { migrationId: planned.migrationId, steps: stepsDone });
  return { deployment, migrationId: planned.migrationId };
}

function topoRun(deployment: string, lines: readonly string[], extra: readonly string[] = ['--reason', 'CHG-42']): SpawnSyncReturns<string> {
  const file = path.join(dataDir, `lines-${++counter}.ps1`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`, 'utf8');
  const { TOPO_REASON: _ignored, ...inherited } = process.env;
  return spawnSync(process.execPath, [TOPO, 'run', file, '--server', server.url, '--token', TEST_ADMIN_TOKEN, '--deployment', deployment, ...extra], {
    cwd: ROOT,
    env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
  });
}

/** Runs one line and returns what it printed as JSON (`topo run --json`: one entry per line). */
function runJson(deployment: string, line: string): { status: number | null; report: any; stderr: string } {
  const result = topoRun(deployment, [line], ['--reason', 'CHG-42', '--json']);
  let report: any = null;
  try {
    report = JSON.parse(result.stdout);
  } catch {
    report = { unparsed: result.stdout };
  }
  return { status: result.status, report, stderr: result.stderr };
}

/**
 * The log's head now: what `topo run` just appended is at or before it, so a read with it as
 * `minPosition` sees every line's effect (read your writes, as a client that holds no position does).
 */
const head = async (): Promise<number> =>
  ((await getJsonFresh(`${server.url}/api/projections`)) as { projections: { headPosition: number }[] }).projections[0]!.headPosition;
const endpoints = async (deployment: string): Promise<string[]> =>
  ((await getJsonFresh(`${server.url}/api/endpoints?deployment=${deployment}&minPosition=${await head()}`)) as { endpoints: { sipAddress: string }[] }).endpoints
    .map((e) => e.sipAddress)
    .sort();
const poolState = async (deployment: string, fqdn: string): Promise<string | undefined> =>
  ((await getJsonFresh(`${server.url}/api/topology?deployment=${deployment}&minPosition=${await head()}`)) as { persistentChatPools: { fqdn: string; state: string }[] }).persistentChatPools.find(
    (p) => p.fqdn === fqdn,
  )?.state;
const migration = async (id: string): Promise<any> => getJsonFresh(`${server.url}/api/migrations/${id}`);
const shown = (report: any): any[] => report.lines[0].result;

describe(`New-CsPersistentChatEndpoint (${PAGE('New-CsPersistentChatEndpoint')})`, () => {
  it('Example 1 creates the endpoint with its SIP address, pool and display name', async () => {
    const deployment = await litware();
    await send(deployment, 'RemoveEndpoint', { identity: 'sip:pce@litwareinc.com' });
    const line = 'New-CsPersistentChatEndpoint -SipAddress "sip:pce@litwareinc.com" -PersistentChatPoolFqdn "atl-pcpool-001.litwareinc.com" -DisplayName "Persistent Chat Endpoint 1"';
    const run = runJson(deployment, line);
    expect([run.status, run.stderr]).toEqual([0, '']);
    const listed = runJson(deployment, 'Get-CsPersistentChatEndpoint -Identity "sip:pce@litwareinc.com"');
    expect(shown(listed.report)).toEqual([expect.objectContaining({ sipAddress: 'sip:pce@litwareinc.com', poolFqdn: 'atl-pcpool-001.litwareinc.com', displayName: 'Persistent Chat Endpoint 1' })]);
  });
});

describe(`Get-CsPersistentChatEndpoint (${PAGE('Get-CsPersistentChatEndpoint')})`, () => {
  let deployment: string;
  beforeAll(async () => {
    deployment = await litware();
  });

  it('Example 1 returns every endpoint of the organization', () => {
    const run = runJson(deployment, 'Get-CsPersistentChatEndpoint');
    expect(run.status).toBe(0);
    expect(shown(run.report).map((e: any) => e.sipAddress).sort()).toEqual(['sip:chat@contoso.com', 'sip:pce2@litwareinc.com', 'sip:pce@litwareinc.com']);
  });

  it('Example 2 returns the endpoint whose Identity is the SIP address', () => {
    const run = runJson(deployment, 'Get-CsPersistentChatEndpoint -Identity "sip:pce@litwareinc.com"');
    expect(run.status).toBe(0);
    expect(shown(run.report).map((e: any) => e.sipAddress)).toEqual(['sip:pce@litwareinc.com']);
  });

  it('Example 3 returns the endpoints of one pool', () => {
    const run = runJson(deployment, 'Get-CsPersistentChatEndpoint -PersistentChatPoolFqdn atl-pcpool-001.litwareinc.com');
    expect(run.status).toBe(0);
    expect(shown(run.report).map((e: any) => e.sipAddress).sort()).toEqual(['sip:pce2@litwareinc.com', 'sip:pce@litwareinc.com']);
  });
});

describe(`Remove-CsPersistentChatEndpoint (${PAGE('Remove-CsPersistentChatEndpoint')})`, () => {
  it('Example 1 removes the endpoint named by its SIP address', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Remove-CsPersistentChatEndpoint -Identity "sip:pce@litwareinc.com"']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com', 'sip:pce2@litwareinc.com']);
  });

  it('Example 2 removes every endpoint of one pool, piped from Get-CsPersistentChatEndpoint', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Get-CsPersistentChatEndpoint -PersistentChatPoolFqdn "atl-pcpool-001.litwareinc.com" | Remove-CsPersistentChatEndpoint']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com']);
  });

  it('Example 3 removes every endpoint of the organization', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Get-CsPersistentChatEndpoint | Remove-CsPersistentChatEndpoint']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(await endpoints(deployment)).toEqual([]);
  });
});

describe(`Get-CsPersistentChatState (${PAGE('Get-CsPersistentChatState')})`, () => {
  let deployment: string;
  beforeAll(async () => {
    deployment = await litware();
  });

  it('Example 1 returns the state of every pool', () => {
    const run = runJson(deployment, 'Get-CsPersistentChatState');
    expect(run.status).toBe(0);
    expect(shown(run.report).map((p: any) => p.poolFqdn).sort()).toEqual(['atl-gc-001.litwareinc.com', 'atl-pcpool-001.litwareinc.com', 'pcpool.contoso.com']);
  });

  it('Example 2 returns the state of the pool named by its service identity', () => {
    const run = runJson(deployment, 'Get-CsPersistentChatState -Identity "PersistentChatServer:atl-gc-001.litwareinc.com"');
    expect(run.status).toBe(0);
    expect(shown(run.report)).toEqual([expect.objectContaining({ poolFqdn: 'atl-gc-001.litwareinc.com', poolState: 'Normal' })]);
  });

  it('Example 3 returns the pools whose Identity ends with .litwareinc.com', () => {
    const run = runJson(deployment, 'Get-CsPersistentChatState -Filter "*.litwareinc.com"');
    expect(run.status).toBe(0);
    expect(shown(run.report).map((p: any) => p.poolFqdn).sort()).toEqual(['atl-gc-001.litwareinc.com', 'atl-pcpool-001.litwareinc.com']);
  });

  it('Example 4 returns only the pools that are failed over', () => {
    const run = runJson(deployment, 'Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"}');
    expect(run.status).toBe(0);
    expect(shown(run.report)).toEqual([expect.objectContaining({ poolFqdn: 'pcpool.contoso.com', poolState: 'FailedOver' })]);
  });
});

describe(`Set-CsPersistentChatState (${PAGE('Set-CsPersistentChatState')})`, () => {
  it('Example 1 fails the pool over', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Set-CsPersistentChatState -Identity "PersistentChatServer:atl-gc-001.litwareinc.com" -PoolState "FailedOver"']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(await poolState(deployment, 'atl-gc-001.litwareinc.com')).toBe('FailedOver');
  });
});

describe(`Export-CsPersistentChatData (${PAGE('Export-CsPersistentChatData')})`, () => {
  it('Example 1 is recorded as step 2 (export) of the open migration of the pool whose database is atl-sql-001.litwareinc.com\\rtc', async () => {
    const { deployment, migrationId } = await migrating('C:\\Logs\\PersistentChatData.zip', 1);
    const run = topoRun(deployment, ['Export-CsPersistentChatData -DBInstance "atl-sql-001.litwareinc.com\\rtc" -FileName "C:\\Logs\\PersistentChatData.zip"']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    const detail = await migration(migrationId);
    expect(detail.steps.find((s: any) => s.step === 2).state).toBe('completed');
    // Level not given: a full export, as the page says.
    expect(detail.plan.export).toMatchObject({ fileName: 'C:\\Logs\\PersistentChatData.zip', level: 'All' });
  });
});

describe(`Import-CsPersistentChatData (${PAGE('Import-CsPersistentChatData')})`, () => {
  it('Example 1 is recorded as step 3 (import) of the open migration into the pool whose database is atl-sql-001.litwareinc.com\\rtc', async () => {
    const { deployment, migrationId } = await migrating('C:\\Logs\\PersistentChatExport.zip', 2);
    const run = topoRun(deployment, ['Import-CsPersistentChatData -DBInstance "atl-sql-001.litwareinc.com\\rtc" -FileName "C:\\Logs\\PersistentChatExport.zip"']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    const detail = await migration(migrationId);
    expect(detail.steps.find((s: any) => s.step === 3).state).toBe('completed');
  });
});

describe(`Set-CsPersistentChatActiveServer (${PAGE('Set-CsPersistentChatActiveServer')})`, () => {
  // "PChatServerCollection" is a placeholder, and the real shell would reject it as typed. The page
  // (skype/skype-ps/skype/Set-CsPersistentChatActiveServer.md) says, under Example 1, to first read
  // the identity of the collection from `Get-CsService -PersistentChatServer`, which answers
  // "Identity : PersistentChatServer:<fqdn>", and then run the line "using the" identity (the
  // sentence lost its noun). The Lync Server 2013 edition of the same page (TechNet, 2013-03-07)
  // printed -Identity "global" there; the later edition replaced it by this placeholder and the
  // instruction to look the identity up, so neither name is a collection's identity. -Identity is an
  // XdsGlobalRelativeIdentity, looked up as given: no service has either name. The product refuses the
  // line, changes nothing, and says exactly which -Identity to type in its place: the pool of the
  // server the line names (a server belongs to one pool), or, for $Null, every pool that could be meant.
  const typed = (line: string, fqdn: string): string => line.replace('"PChatServerCollection"', `"PersistentChatServer:${fqdn}"`);
  const active = async (deployment: string, fqdn: string): Promise<string[]> =>
    ((await getJsonFresh(`${server.url}/api/topology?deployment=${deployment}&minPosition=${await head()}`)) as { persistentChatPools: { fqdn: string; servers: { fqdn: string; active: boolean }[] }[] }).persistentChatPools
      .find((p) => p.fqdn === fqdn)!
      .servers.filter((s) => s.active)
      .map((s) => s.fqdn);

  it('Example 1 (@{Add=...}) is refused naming the identity to type; the line as told adds the server to the active servers', async () => {
    const line = 'Set-CsPersistentChatActiveServer -Identity "PChatServerCollection" -ActiveServers @{Add="atl-gc-001.litwareinc.com"}';
    const deployment = await litware();
    // atl-gc-001.litwareinc.com is the one server of its pool, made inactive so that adding it is meaningful.
    await send(deployment, 'SetPersistentChatActiveServers', { poolFqdn: 'atl-gc-001.litwareinc.com', clear: true });
    const run = topoRun(deployment, [line]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("-Identity 'PChatServerCollection' is not the identity of a Persistent Chat pool");
    expect(run.stderr).toContain('Type -Identity "PersistentChatServer:atl-gc-001.litwareinc.com" in its place (the pool of atl-gc-001.litwareinc.com)');
    expect(await active(deployment, 'atl-gc-001.litwareinc.com')).toEqual([]);
    const told = topoRun(deployment, [typed(line, 'atl-gc-001.litwareinc.com')]);
    expect([told.status, told.stderr]).toEqual([0, '']);
    expect(await active(deployment, 'atl-gc-001.litwareinc.com')).toEqual(['atl-gc-001.litwareinc.com']);
  });

  it('Example 2 (@{Remove=...}) is refused naming the identity to type; the line as told removes the server from the active servers', async () => {
    const line = 'Set-CsPersistentChatActiveServer -Identity "PChatServerCollection" -ActiveServers @{Remove="atl-gc-001.litwareinc.com"}';
    const deployment = await litware();
    const run = topoRun(deployment, [line]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Type -Identity "PersistentChatServer:atl-gc-001.litwareinc.com" in its place');
    expect(await active(deployment, 'atl-gc-001.litwareinc.com')).toEqual(['atl-gc-001.litwareinc.com']);
    const told = topoRun(deployment, [typed(line, 'atl-gc-001.litwareinc.com')]);
    expect(told.status).toBe(0);
    expect(await active(deployment, 'atl-gc-001.litwareinc.com')).toEqual([]);
  });

  it('Example 3 ($Null) names no server: every pool could be meant, and the refusal names each; the line as told removes all the active servers of that pool', async () => {
    const line = 'Set-CsPersistentChatActiveServer -Identity "PChatServerCollection" -ActiveServers $Null';
    const deployment = await litware();
    const run = topoRun(deployment, [line]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      'Type the identity of the pool you mean in its place, one of: -Identity "PersistentChatServer:atl-gc-001.litwareinc.com", ' +
        '-Identity "PersistentChatServer:atl-pcpool-001.litwareinc.com", -Identity "PersistentChatServer:pcpool.contoso.com".',
    );
    expect(await active(deployment, 'atl-pcpool-001.litwareinc.com')).toEqual(['atl-pc-001.litwareinc.com', 'atl-pc-002.litwareinc.com']);
    const told = topoRun(deployment, [typed(line, 'atl-pcpool-001.litwareinc.com')]);
    expect(told.status).toBe(0);
    expect(await active(deployment, 'atl-pcpool-001.litwareinc.com')).toEqual([]);
    expect(await active(deployment, 'atl-gc-001.litwareinc.com')).toEqual(['atl-gc-001.litwareinc.com']);
  });

  it('in a script, the placeholder is found before any line runs: nothing of the batch is applied', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, [
      'Remove-CsPersistentChatEndpoint -Identity "sip:pce@litwareinc.com"',
      'Set-CsPersistentChatActiveServer -Identity "PChatServerCollection" -ActiveServers @{Remove="atl-gc-001.litwareinc.com"}',
      'Export-CsPersistentChatData -DBInstance "<backend-FQDN\\instance-name>" -FileName "C:\\PersistentChatData.zip"',
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Type -Identity "PersistentChatServer:atl-gc-001.litwareinc.com" in its place');
    expect(run.stderr).toContain("-DBInstance '<backend-FQDN\\instance-name>' is the page's placeholder");
    expect(run.stderr).toContain('2 line(s) of');
    expect(run.stderr).toContain('nothing was run');
    expect(await endpoints(deployment)).toContain('sip:pce@litwareinc.com');
  });

  it('the Lync Server 2013 edition\'s -Identity "global" is refused in the same words', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Set-CsPersistentChatActiveServer -Identity "global" -ActiveServers @{Remove="atl-gc-001.litwareinc.com"}']);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Type -Identity "PersistentChatServer:atl-gc-001.litwareinc.com" in its place');
    expect(await active(deployment, 'atl-gc-001.litwareinc.com')).toEqual(['atl-gc-001.litwareinc.com']);
  });

  it('-Identity is optional, as the reference marks it: the pool is the one the named server belongs to; with no server named and several pools, it is refused naming them', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Set-CsPersistentChatActiveServer -ActiveServers @{Remove="atl-pc-002.litwareinc.com"}']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(await active(deployment, 'atl-pcpool-001.litwareinc.com')).toEqual(['atl-pc-001.litwareinc.com']);
    const ambiguous = topoRun(deployment, ['Set-CsPersistentChatActiveServer -Swap']);
    expect(ambiguous.status).toBe(1);
    expect(ambiguous.stderr).toContain('-Identity is needed here: 3 Persistent Chat pools could be meant (atl-gc-001.litwareinc.com, atl-pcpool-001.litwareinc.com, pcpool.contoso.com)');
    const unknown = topoRun(deployment, ['Set-CsPersistentChatActiveServer -ActiveServers @{Add="nosuch.litwareinc.com"}']);
    expect(unknown.stderr).toContain('no Persistent Chat pool of this deployment has the server nosuch.litwareinc.com');
    expect(await active(deployment, 'atl-pcpool-001.litwareinc.com')).toEqual(['atl-pc-001.litwareinc.com']);
  });
});

describe('cases derived from the pages', () => {
  it('Get-CsPersistentChatEndpoint -Filter {DisplayName -eq "..."} filters on the property, as the -Filter parameter is documented', async () => {
    const deployment = await litware();
    const run = runJson(deployment, 'Get-CsPersistentChatEndpoint -Filter {DisplayName -eq "Persistent Chat Endpoint 1"}');
    expect(run.status).toBe(0);
    expect(shown(run.report).map((e: any) => e.sipAddress)).toEqual(['sip:pce@litwareinc.com']);
  });

  it('reads a line with typographic quotes and dashes as the shell does', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Remove-CsPersistentChatEndpoint \u2013Identity \u201Csip:pce@litwareinc.com\u201D \u2014Confirm:$false']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com', 'sip:pce2@litwareinc.com']);
  });

  it('-ErrorAction decides whether topo run goes on after a failing line', async () => {
    const deployment = await litware();
    const missing = 'Remove-CsPersistentChatEndpoint -Identity "sip:nobody@litwareinc.com"';
    const next = 'Remove-CsPersistentChatEndpoint -Identity "sip:pce2@litwareinc.com"';
    const stopped = topoRun(deployment, [missing, next]);
    expect(stopped.status).toBe(1);
    expect(stopped.stderr).toContain('Not run:\n  line 2:');
    expect(await endpoints(deployment)).toContain('sip:pce2@litwareinc.com');

    const silently = topoRun(deployment, [`${missing} -ErrorAction SilentlyContinue`, next]);
    expect(silently.status).toBe(0);
    expect(silently.stderr).toContain('1 line(s) failed and the batch went on, as their -ErrorAction asked: line 1 (SilentlyContinue)');
    expect(silently.stderr).not.toContain('ENDPOINT_NOT_FOUND');
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com', 'sip:pce@litwareinc.com']);

    // A dry run answers as the real run would: the line passed over, the batch good.
    const dryRun = topoRun(deployment, [`${missing} -ErrorAction SilentlyContinue`], ['--reason', 'CHG-42', '-WhatIf']);
    expect(dryRun.status).toBe(0);
    expect(dryRun.stderr).not.toContain('ENDPOINT_NOT_FOUND');

    // One line on the command line, as in the shell: SilentlyContinue and Ignore say nothing and go on.
    const { TOPO_REASON: _ignored, ...inherited } = process.env;
    for (const action of ['SilentlyContinue', 'Ignore']) {
      const one = spawnSync(
        process.execPath,
        [TOPO, 'Remove-CsPersistentChatEndpoint', '-Identity', 'sip:nobody@litwareinc.com', '-ErrorAction', action, '--reason', 'CHG-42', '--server', server.url, '--token', TEST_ADMIN_TOKEN, '--deployment', deployment],
        { cwd: ROOT, env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, encoding: 'utf8' },
      );
      expect([one.status, one.stderr, one.stdout]).toEqual([0, '', '']);
    }

    const shown = topoRun(deployment, [`${missing} -ea Continue`, 'Remove-CsPersistentChatEndpoint "sip:pce@litwareinc.com"']);
    expect(shown.status).toBe(1);
    expect(shown.stderr).toContain('ENDPOINT_NOT_FOUND');
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com']);
  });

  it("a script's $ErrorActionPreference is the default -ErrorAction of the lines after it; -Verbose prints the request", async () => {
    const deployment = await litware();
    const run = topoRun(deployment, [
      "$ErrorActionPreference = 'SilentlyContinue'",
      'Remove-CsPersistentChatEndpoint -Identity "sip:nobody@litwareinc.com"',
      'Remove-CsPersistentChatEndpoint -Identity "sip:pce2@litwareinc.com" -Verbose',
    ]);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('VERBOSE: POST /api/commands/RemoveEndpoint');
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com', 'sip:pce@litwareinc.com']);
  });

  it('Get-CsPersistentChatState piped into Set-CsPersistentChatState: a pool already in the state stops the line, unless -ErrorAction or -Force say otherwise', async () => {
    const deployment = await litware();
    const stopped = topoRun(deployment, ['Get-CsPersistentChatState | Set-CsPersistentChatState -PoolState Normal']);
    expect(stopped.status).toBe(1);
    expect(stopped.stderr).toContain('PERSISTENT_CHAT_STATE_UNCHANGED');
    expect(stopped.stderr).toContain('0 change(s) of the line were applied before it');
    expect(await poolState(deployment, 'pcpool.contoso.com')).toBe('FailedOver');

    const forced = topoRun(deployment, ['Get-CsPersistentChatState | Set-CsPersistentChatState -PoolState Normal -Force']);
    expect(forced.status).toBe(0);
    expect(forced.stdout).toContain('is already in the Normal state. Nothing changed (-Force).');
    expect(await poolState(deployment, 'pcpool.contoso.com')).toBe('Normal');

    // Every pool fails over on the first line; on the second each is already so, and -ErrorAction SilentlyContinue lets the batch go on.
    const silently = topoRun(deployment, [
      'Get-CsPersistentChatState | Set-CsPersistentChatState -PoolState FailedOver',
      'Get-CsPersistentChatState | Set-CsPersistentChatState -PoolState FailedOver -ErrorAction SilentlyContinue',
      'Get-CsPersistentChatState | Where-Object {$_.Identity -like "*contoso*"} | Set-CsPersistentChatState',
    ]);
    expect(silently.status).toBe(0);
    expect(silently.stderr).toContain('1 line(s) failed and the batch went on, as their -ErrorAction asked: line 2 (SilentlyContinue)');
    expect(await poolState(deployment, 'pcpool.contoso.com')).toBe('Normal');
    for (const fqdn of ['atl-gc-001.litwareinc.com', 'atl-pcpool-001.litwareinc.com']) expect(await poolState(deployment, fqdn)).toBe('FailedOver');
  });

  it('each object a pipeline removes is its own command, with the batch correlation id and the reason', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Get-CsPersistentChatEndpoint | Where-Object {$_.SipAddress -like "*@litwareinc.com"} | Remove-CsPersistentChatEndpoint'], ['--reason', 'CHG-77', '--json']);
    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.lines[0].result).toHaveLength(2);
    const audit = (await getJsonFresh(`${server.url}/api/audit?deployment=${deployment}&minPosition=${await head()}`)) as { entries: any[] };
    const removals = audit.entries.filter((e) => e.eventType === 'PersistentChatEndpointRemoved' || e.type === 'PersistentChatEndpointRemoved');
    expect(removals).toHaveLength(2);
    for (const entry of removals) expect(JSON.stringify(entry)).toContain(summary.correlationId);
    for (const entry of removals) expect(JSON.stringify(entry)).toContain('CHG-77');
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com']);
  });

  it("topo run's summary counts the lines run and the changes applied: a pipeline line is one line of several commands", async () => {
    const deployment = await litware();
    const run = topoRun(deployment, [
      'Get-CsPersistentChatEndpoint | Where-Object {$_.SipAddress -like "*@litwareinc.com"} | Remove-CsPersistentChatEndpoint',
      'Get-CsPersistentChatEndpoint',
    ]);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/topo run: 2 line\(s\) of \S+ run, 1 of them changed the topology: 2 command\(s\) applied, 2 event\(s\) appended \(correlation id [0-9a-f-]{36}\)\./);
    const json = topoRun(deployment, ['Get-CsPersistentChatState | Set-CsPersistentChatState -PoolState FailedOver -ErrorAction SilentlyContinue'], ['--json']);
    const summary = JSON.parse(json.stdout);
    expect([summary.applied.length, summary.commandsApplied, summary.eventsAppended]).toEqual([1, 2, 2]);
  });

  it('without a reason the policy refuses the pipeline removal, and nothing is removed', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Get-CsPersistentChatEndpoint | Remove-CsPersistentChatEndpoint'], []);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('REASON_REQUIRED');
    expect(await endpoints(deployment)).toHaveLength(3);
  });

  it('Export-CsPersistentChatData of a legacy pool defined without its databaseInstance names the way forward: the line to record the step', async () => {
    const deployment = await litware();
    await send(deployment, 'DefineLegacyGroupChatPool', { fqdn: 'gc.litwareinc.com', version: 'Lync2010', wellKnownSipAddress: 'sip:ocschat@litwareinc.com' });
    const planned = await send(deployment, 'MigratePool', { legacyPoolFqdn: 'gc.litwareinc.com', targetPoolFqdn: 'atl-pcpool-001.litwareinc.com' });
    await send(deployment, 'RunMigration', { migrationId: planned.migrationId, steps: 1 });
    const run = topoRun(deployment, ['Export-CsPersistentChatData -DBInstance "gcsql.litwareinc.com\\rtc" -FileName "C:\\Logs\\PersistentChatData.zip"']);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('MIGRATION_NOT_FOUND');
    expect(run.stderr).toContain('recorded when the pool is defined (DefineLegacyGroupChatPool with "databaseInstance"');
    expect(run.stderr).toContain(`record its step 2 with: topo migrate step ${planned.migrationId}`);
    expect((await migration(planned.migrationId)).steps.find((s: any) => s.step === 2).state).toBe('pending');
  });

  it('Export-CsPersistentChatData without an open migration of that database is refused, naming the missing migration; nothing is recorded', async () => {
    const deployment = await litware();
    await send(deployment, 'DefineLegacyGroupChatPool', { fqdn: 'gc.litwareinc.com', version: 'Lync2010', wellKnownSipAddress: 'sip:ocschat@litwareinc.com', databaseInstance: 'atl-sql-001.litwareinc.com\\rtc' });
    const run = topoRun(deployment, ['Export-CsPersistentChatData -DBInstance "atl-sql-001.litwareinc.com\\rtc" -FileName "C:\\Logs\\PersistentChatData.zip"']);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('MIGRATION_NOT_FOUND');
    expect(run.stderr).toContain('no open migration from gc.litwareinc.com, the legacy Group Chat pool whose database this is; plan it first');
    const list = (await getJsonFresh(`${server.url}/api/migrations?deployment=${deployment}`)) as { migrations: unknown[] };
    expect(list.migrations).toEqual([]);
  });

  it('Import-CsPersistentChatData of another file than the export, or before the export, is refused naming the migration', async () => {
    const { deployment, migrationId } = await migrating('C:\\Logs\\PersistentChatData.zip', 2);
    const other = topoRun(deployment, ['Import-CsPersistentChatData -DBInstance "atl-sql-001.litwareinc.com\\rtc" -FileName "C:\\Logs\\Other.zip"']);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(`the line does not match migration ${migrationId}: -FileName 'C:\\Logs\\Other.zip' (the plan's file is 'C:\\Logs\\PersistentChatData.zip')`);
    const early = await migrating('C:\\Logs\\PersistentChatData.zip', 1);
    const before = topoRun(early.deployment, ['Import-CsPersistentChatData -DBInstance "atl-sql-001.litwareinc.com\\rtc" -FileName "C:\\Logs\\PersistentChatData.zip"']);
    expect(before.status).toBe(1);
    expect(before.stderr).toContain(`migration ${early.migrationId} is at step 2, not 3`);
    expect((await migration(migrationId)).steps.find((s: any) => s.step === 3).state).toBe('pending');
  });

  it('RunMigration with fromStep runs nothing when the migration is at another step (409), so a data line never records a step it did not run', async () => {
    const { deployment, migrationId } = await migrating('C:\\Logs\\PersistentChatData.zip', 2);
    const refused = await post('RunMigration', { migrationId, steps: 1, fromStep: 2, deployment }, { 'x-reason': 'CHG-1' });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'MIGRATION_STEP_OUT_OF_ORDER']);
    expect(refused.body.error.message).toContain(`step 2 of migration ${migrationId} is already recorded`);
    expect((await migration(migrationId)).steps.find((s: any) => s.step === 3).state).toBe('pending');
    const twice = topoRun(deployment, ['Export-CsPersistentChatData -DBInstance "atl-sql-001.litwareinc.com\\rtc" -FileName "C:\\Logs\\PersistentChatData.zip"']);
    expect(twice.status).toBe(1);
    expect(twice.stderr).toContain('MIGRATION_STEP_OUT_OF_ORDER');
  });

  it('an API refusal names the cmdlet parameter (-Identity), not the API field', async () => {
    const deployment = await litware();
    const run = topoRun(deployment, ['Set-CsPersistentChatActiveServer -Identity "PersistentChatServer:nopool.litwareinc.com" -Swap']);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('parameter -Identity');
    expect(run.stderr).not.toContain('field poolFqdn');
  });

  it('a pipeline as one quoted argument, or with a quoted |, runs from the command line too', async () => {
    const deployment = await litware();
    const { TOPO_REASON: _ignored, ...inherited } = process.env;
    const topo = (...args: string[]): SpawnSyncReturns<string> =>
      spawnSync(process.execPath, [TOPO, ...args, '--server', server.url, '--token', TEST_ADMIN_TOKEN, '--deployment', deployment], {
        cwd: ROOT,
        env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
        encoding: 'utf8',
      });
    const failedOver = topo('Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"}', '--json');
    expect(failedOver.status).toBe(0);
    expect(JSON.parse(failedOver.stdout)).toEqual([expect.objectContaining({ poolFqdn: 'pcpool.contoso.com' })]);
    const removed = topo('Get-CsPersistentChatEndpoint', '-PersistentChatPoolFqdn', 'pcpool.contoso.com', '|', 'Remove-CsPersistentChatEndpoint', '--reason', 'CHG-5');
    expect([removed.status, removed.stderr]).toEqual([0, '']);
    expect(await endpoints(deployment)).toEqual(['sip:pce2@litwareinc.com', 'sip:pce@litwareinc.com']);
  });

  it('a pipeline whose Set-/Remove- cmdlet is also given -Identity is refused before anything runs, as PowerShell refuses to bind the piped objects', async () => {
    const deployment = await litware();
    const { TOPO_REASON: _ignored, ...inherited } = process.env;
    const removed = spawnSync(
      process.execPath,
      [TOPO, 'Get-CsPersistentChatEndpoint -Identity sip:pce2@litwareinc.com | Remove-CsPersistentChatEndpoint -Identity sip:pce@litwareinc.com', '--reason', 'x', '--server', server.url, '--token', TEST_ADMIN_TOKEN, '--deployment', deployment],
      { cwd: ROOT, env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, encoding: 'utf8' },
    );
    expect(removed.status).not.toBe(0);
    expect(removed.stderr).toContain('The input object cannot be bound to any parameters for the command: -Identity is already given on the line');
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com', 'sip:pce2@litwareinc.com', 'sip:pce@litwareinc.com']);

    const set = topoRun(deployment, ['Get-CsPersistentChatState | Set-CsPersistentChatState -Identity PersistentChatServer:atl-gc-001.litwareinc.com -PoolState FailedOver']);
    expect(set.status).not.toBe(0);
    expect(set.stderr).toContain('-Identity is already given on the line');
    expect(await poolState(deployment, 'atl-gc-001.litwareinc.com')).toBe('Normal');
  });

  it("topo run's pre-run check reports every line certain to fail at once (syntax, placeholder, reason, -Confirm with no terminal); nothing runs", async () => {
    const deployment = await litware();
    const run = topoRun(
      deployment,
      [
        'New-CsPersistentChatEndpoint -SipAddress "sip:first@litwareinc.com" -PersistentChatPoolFqdn "atl-pcpool-001.litwareinc.com"',
        'Remove-CsPersistentChatEndpoint -Identity "sip:pce2@litwareinc.com"',
        'New-CsPersistentChatEndpoint -SipAddress "sip:asked@litwareinc.com" -PersistentChatPoolFqdn "atl-pcpool-001.litwareinc.com" -Confirm',
        'Set-CsPersistentChatState -Identity "PChatServerCollection" -PoolState FailedOver',
        'Export-CsPersistentChatData -DBInstance "<backend-FQDN\\instance-name>" -FileName "C:\\Logs\\PersistentChatData.zip"',
        'New-CsPersistentChatEndpoint -SipAdress "sip:typo@litwareinc.com" -PersistentChatPoolFqdn "atl-pcpool-001.litwareinc.com"',
        'Get-CsPersistentChatEndpoint | Where-Object {$_.SipAddress -like "sip:pce*"} | Remove-CsPersistentChatEndpoint',
      ],
      [],
    );
    expect(run.status).toBe(1);
    for (const line of [2, 3, 4, 5, 6, 7]) expect(run.stderr).toMatch(new RegExp(`lines-\\d+\\.ps1:${line}: `));
    expect(run.stderr).not.toMatch(/lines-\d+\.ps1:1: /);
    expect(run.stderr).toContain('REASON_REQUIRED');
    expect(run.stderr).toContain('CONFIRMATION_REQUIRED');
    expect(run.stderr).toContain("A parameter cannot be found that matches parameter name 'SipAdress'");
    expect(run.stderr).toContain('6 line(s) of');
    expect(run.stderr).toContain('nothing was run');
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com', 'sip:pce2@litwareinc.com', 'sip:pce@litwareinc.com']);
  });

  it("topo run's pre-run check: a line with -WhatIf asks nothing, -Confirm or not, so no terminal is needed", async () => {
    const deployment = await litware();
    const run = topoRun(
      deployment,
      [
        'New-CsPersistentChatEndpoint -SipAddress "sip:whatif@litwareinc.com" -PersistentChatPoolFqdn "atl-pcpool-001.litwareinc.com" -WhatIf -Confirm',
        'Get-CsPersistentChatEndpoint | Where-Object {$_.SipAddress -like "sip:pce*"} | Remove-CsPersistentChatEndpoint -WhatIf -Confirm',
      ],
    );
    expect([run.status, run.stderr.includes('CONFIRMATION_REQUIRED')]).toEqual([0, false]);
    expect(await endpoints(deployment)).toEqual(['sip:chat@contoso.com', 'sip:pce2@litwareinc.com', 'sip:pce@litwareinc.com']);
  });

  it('a pipe pasted into bash closes the output: the CLI says so in one line, without a stack trace', async () => {
    const deployment = await litware();
    const { TOPO_REASON: _ignored, ...inherited } = process.env;
    const result = spawnSync(
      'bash',
      ['-c', `"${process.execPath}" "${TOPO}" Get-CsPersistentChatEndpoint --server ${server.url} --token ${TEST_ADMIN_TOKEN} --deployment ${deployment} | Remove-CsPersistentChatEndpoint`],
      { cwd: ROOT, env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, encoding: 'utf8' },
    );
    expect(result.stderr).toContain('Remove-CsPersistentChatEndpoint: command not found');
    expect(result.stderr).toContain('topo: the output pipe was closed (EPIPE)');
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(await endpoints(deployment)).toHaveLength(3);
  });
});

describe('-Identity as the full distinguished name, in the form the Get-/Remove-CsPersistentChatEndpoint pages show', () => {
  const documented = 'CN={33e5014b-dcba-46b5-9bf7-48f4d5fca69d}, CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=litwareinc,DC=com';

  it('an endpoint stores and shows its GUID-based DN, and the documented form names it for Get- and Remove-', async () => {
    const deployment = await litware();
    await send(deployment, 'CreateEndpoint', { sipAddress: 'sip:pcendpoint1@litwareinc.com', persistentChatPoolFqdn: 'atl-pcpool-001.litwareinc.com', objectGuid: '33e5014b-dcba-46b5-9bf7-48f4d5fca69d' });
    const listed = runJson(deployment, 'Get-CsPersistentChatEndpoint');
    // Every endpoint's Identity is Lync's form: CN={objectGUID} under the application contacts of the forest.
    for (const entry of shown(listed.report)) expect(entry.distinguishedName).toMatch(/^CN=\{[0-9a-f-]{36}\},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=litwareinc,DC=com$/);
    const found = runJson(deployment, `Get-CsPersistentChatEndpoint -Identity "${documented}"`);
    expect(found.status).toBe(0);
    expect(shown(found.report).map((e: any) => e.sipAddress)).toEqual(['sip:pcendpoint1@litwareinc.com']);
    const removed = topoRun(deployment, [`Remove-CsPersistentChatEndpoint -Identity "${documented}"`]);
    expect([removed.status, removed.stderr]).toEqual([0, '']);
    expect(await endpoints(deployment)).not.toContain('sip:pcendpoint1@litwareinc.com');
  });

  it("a refusal of a removal by DN is filed in the audit trail under the endpoint's SIP address, where topo audit --entity finds it", async () => {
    const deployment = await litware();
    await send(deployment, 'CreateEndpoint', { sipAddress: 'sip:pcendpoint1@litwareinc.com', persistentChatPoolFqdn: 'atl-pcpool-001.litwareinc.com', objectGuid: '33e5014b-dcba-46b5-9bf7-48f4d5fca69d' });
    const { TOPO_REASON: _ignored, ...inherited } = process.env;
    const topo = (...args: string[]): SpawnSyncReturns<string> =>
      spawnSync(process.execPath, [TOPO, ...args, '--server', server.url, '--token', TEST_ADMIN_TOKEN, '--deployment', deployment], {
        cwd: ROOT,
        env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
        encoding: 'utf8',
      });
    const refused = topo(`Remove-CsPersistentChatEndpoint -Identity "${documented}"`);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('REASON_REQUIRED');
    const head = ((await getJsonFresh(`${server.url}/health`)) as { headPosition: number }).headPosition;
    const audit = (await getJsonFresh(`${server.url}/api/audit?deployment=${deployment}&entity=${encodeURIComponent('endpoint:sip:pcendpoint1@litwareinc.com')}&minPosition=${head}`)) as { entries: any[] };
    const refusals = audit.entries.filter((e) => e.outcome === 'refused');
    expect(refusals).toHaveLength(1);
    expect(JSON.stringify(refusals[0])).toContain('REASON_REQUIRED');
    const cli = topo('audit', '--entity', 'endpoint:sip:pcendpoint1@litwareinc.com', '--json');
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain('REASON_REQUIRED');
  });
});

/**
 * The migration guides' own lines. "Migration process - details" of the Lync Server 2013 guide
 * (MicrosoftDocs/OfficeDocs-SkypeForBusiness, Lync/LyncServer/migration-process-details.md, TechNet
 * JJ205264) names its cmdlets (Export-CsPersistentChatData, Import-CsPersistentChatData with -WhatIf
 * then without, New-CsPersistentChatEndpoint) but prints no line of them; it sends the reader to back
 * up the databases. The lines below are those of the pages that print them:
 * - "Back up and restore Persistent Chat databases" (Skype/SfbServer/manage/persistent-chat/back-up-and-restore-databases.md),
 * - "Migrate Persistent Chat pool" (Skype/SfBServer2019/migration/migrate-persistent-chat-pool.md),
 * - Set-CsPersistentChatActiveServer's page, whose Example 1 sends the reader to Get-CsService.
 * Each runs in a deployment where a Group Chat pool (database gc-sql.contoso.com\rtc) is being migrated
 * into pcpool.contoso.com (database atl-sql-001.contoso.com\rtc, the pages' instance).
 */
describe("the migration guides' lines", () => {
  async function contoso(stepsDone: number, exportFileName: string): Promise<{ deployment: string; migrationId: string }> {
    const deployment = `guide_${++counter}`;
    await send(deployment, 'RegisterSipDomain', { domain: 'contoso.com' });
    await send(deployment, 'InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com', 'pc2.contoso.com'], databaseInstance: 'atl-sql-001.contoso.com\\rtc' });
    await send(deployment, 'DefineLegacyGroupChatPool', { fqdn: 'gc.contoso.com', version: 'Lync2010', wellKnownSipAddress: 'sip:ocschat@contoso.com', databaseInstance: 'gc-sql.contoso.com\\rtc' });
    const planned = await send(deployment, 'MigratePool', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com', exportFileName });
    if (stepsDone > 0) await send(deployment, 'RunMigration', { migrationId: planned.migrationId, steps: stepsDone });
    return { deployment, migrationId: planned.migrationId };
  }
  const stepState = async (migrationId: string, step: number): Promise<string> => (await migration(migrationId)).steps.find((s: any) => s.step === step).state;
  /** The log's head: a line that records nothing leaves it where it was. */
  const head = async (): Promise<number> =>
    Math.max(...((await getJsonFresh(`${server.url}/api/projections`)) as { projections: { headPosition: number | null }[] }).projections.map((p) => p.headPosition ?? 0));

  it('"Back up and restore Persistent Chat databases": the export of the Persistent Chat database is the guide\'s backup before the import; nothing is recorded, and the import then runs as step 3', async () => {
    const { deployment, migrationId } = await contoso(2, 'C:\\GroupChat\\gc-export.zip');
    const before = await head();
    const backup = topoRun(deployment, ['Export-CsPersistentChatData -DBInstance "atl-sql-001.contoso.com\\rtc" -FileName "C:\\Logs\\PersistentChatData.zip"']);
    expect([backup.status, backup.stderr]).toEqual([0, '']);
    expect(backup.stdout).toContain(
      `Export-CsPersistentChatData: a backup of the database of Persistent Chat pool pcpool.contoso.com, the guide's backup before the import of migration ${migrationId}. A backup changes no topology: nothing is recorded.`,
    );
    expect(await head()).toBe(before);
    expect(await stepState(migrationId, 3)).toBe('pending');
    // Steps 5 and 6 of "Migration process - details": the import with -WhatIf, then without.
    const whatIf = topoRun(deployment, ['Import-CsPersistentChatData -DBInstance "atl-sql-001.contoso.com\\rtc" -FileName "C:\\GroupChat\\gc-export.zip" -WhatIf']);
    expect(whatIf.status).toBe(0);
    expect(await stepState(migrationId, 3)).toBe('pending');
    const imported = topoRun(deployment, ['Import-CsPersistentChatData -DBInstance "atl-sql-001.contoso.com\\rtc" -FileName "C:\\GroupChat\\gc-export.zip"']);
    expect([imported.status, imported.stderr]).toEqual([0, '']);
    expect(await stepState(migrationId, 3)).toBe('completed');
  });

  it('"Back up and restore Persistent Chat databases": the export of the legacy database under its plan\'s file is step 2, not a backup', async () => {
    const { deployment, migrationId } = await contoso(1, 'C:\\Logs\\PersistentChatData.zip');
    const run = topoRun(deployment, ['Export-CsPersistentChatData -DBInstance "gc-sql.contoso.com\\rtc" -FileName "C:\\Logs\\PersistentChatData.zip"']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toContain(`recorded as step 2 (export the legacy data) of migration ${migrationId}`);
    expect(await stepState(migrationId, 2)).toBe('completed');
  });

  it('"Migrate Persistent Chat pool": both lines name the instance by a placeholder; each is refused naming the -DBInstance to type, and runs as told', async () => {
    const { deployment, migrationId } = await contoso(1, 'C:\\PersistentChatData.zip');
    const exportLine = 'Export-CsPersistentChatData -DBInstance "<backend-FQDN\\instance-name>" -FileName "C:\\PersistentChatData.zip"';
    const importLine = 'Import-CsPersistentChatData -DBInstance "<backend-FQDN\\instance-name>" -FileName "C:\\PersistentChatData.zip"';
    const before = await head();
    const exported = topoRun(deployment, [exportLine]);
    expect(exported.status).toBe(1);
    expect(exported.stderr).toContain(
      "-DBInstance '<backend-FQDN\\instance-name>' is the page's placeholder, not a SQL Server instance: type the instance (computer FQDN\\instance) of the legacy Group Chat pool's database in its place, " +
        'one of: -DBInstance "gc-sql.contoso.com\\rtc" (gc.contoso.com). Nothing was recorded.',
    );
    const imported = topoRun(deployment, [importLine]);
    expect(imported.status).toBe(1);
    expect(imported.stderr).toContain('of the Persistent Chat pool\'s database in its place, one of: -DBInstance "atl-sql-001.contoso.com\\rtc" (pcpool.contoso.com).');
    expect(await head()).toBe(before);
    const told = topoRun(deployment, [exportLine.replace('<backend-FQDN\\instance-name>', 'gc-sql.contoso.com\\rtc'), importLine.replace('<backend-FQDN\\instance-name>', 'atl-sql-001.contoso.com\\rtc')]);
    expect([told.status, told.stderr]).toEqual([0, '']);
    expect([await stepState(migrationId, 2), await stepState(migrationId, 3)]).toEqual(['completed', 'completed']);
  });

  it('a line of a cmdlet the product does not model (Get-CsService -PersistentChatServer, of Set-CsPersistentChatActiveServer\'s page) is refused saying so, naming what it models and what answers instead', async () => {
    const { deployment } = await contoso(0, 'C:\\PersistentChatData.zip');
    const run = topoRun(deployment, ['Get-CsService -PersistentChatServer']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("'Get-CsService' is a Lync Server Management Shell cmdlet this product does not model");
    expect(run.stderr).toContain('Get-CsPersistentChatState lists the Persistent Chat pools with their Identity');
    expect(run.stderr).toContain('This product models: New-CsPersistentChatEndpoint, Get-CsPersistentChatEndpoint');
  });
});

describe("the migration guide's prerequisite: one Active Directory forest, not one SIP domain", () => {
  it('migrates gc.contoso.com (sip:ocschat@contoso.com) into a pool installed while litwareinc.com was the default SIP domain', async () => {
    const deployment = `forest_${++counter}`;
    await send(deployment, 'RegisterSipDomain', { domain: 'litwareinc.com' });
    await send(deployment, 'RegisterSipDomain', { domain: 'contoso.com' });
    await send(deployment, 'InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com'] });
    await send(deployment, 'DefineLegacyGroupChatPool', { fqdn: 'gc.contoso.com', version: 'Lync2010', wellKnownSipAddress: 'sip:ocschat@contoso.com' });
    const planned = await send(deployment, 'MigratePool', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com' });
    expect(planned.plan.preconditions.find((p: any) => p.id === 'sameForest')).toMatchObject({ rule: 'R1', holds: true });
    const run = await send(deployment, 'RunMigration', { migrationId: planned.migrationId });
    expect(run.status).toBe('Completed');
    const listed = runJson(deployment, 'Get-CsPersistentChatEndpoint -Identity "sip:ocschat@contoso.com"');
    expect(shown(listed.report)).toEqual([expect.objectContaining({ sipAddress: 'sip:ocschat@contoso.com', poolFqdn: 'pcpool.contoso.com' })]);
    // The endpoint of step 5 has the objectGUID chosen when the migration was planned.
    expect(shown(listed.report)[0].distinguishedName).toBe(
      `CN={${planned.plan.endpointObjectGuid}},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=litwareinc,DC=com`,
    );
  });
});

describe('R17: the export levels of Export-CsPersistentChatData -Level', () => {
  it('MigratePool takes All (the default), User, Category, RoomDirectory or Content, and refuses another level with 400 naming exportLevel', async () => {
    const deployment = await litware();
    await send(deployment, 'DefineLegacyGroupChatPool', { fqdn: 'gc.litwareinc.com', version: 'Lync2010', wellKnownSipAddress: 'sip:ocschat@litwareinc.com' });
    const body = { legacyPoolFqdn: 'gc.litwareinc.com', targetPoolFqdn: 'atl-pcpool-001.litwareinc.com', deployment };
    const refused = await post('MigratePool', { ...body, exportLevel: 'Rooms' }, { 'x-reason': 'CHG-1' });
    expect([refused.status, refused.body.error.code, refused.body.error.details.field]).toEqual([400, 'INVALID_INPUT', 'exportLevel']);
    expect(refused.body.error.message).toContain('All, User, Category, RoomDirectory, Content');
    const byDefault = await post('MigratePool', body, {}, 'whatIf=true');
    expect(byDefault.body.plan.export.level).toBe('All');
    for (const level of ['User', 'Category', 'RoomDirectory', 'Content']) {
      const planned = await post('MigratePool', { ...body, exportLevel: level }, {}, 'whatIf=true');
      expect([level, planned.status, planned.body.plan.export.level]).toEqual([level, 200, level]);
    }
  });
});
