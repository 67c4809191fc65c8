import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../support/server';

/**
 * Cmdlet lines typed into bash without quotes, run by bash itself, so that topo receives the words
 * exactly as bash split them: the script block in pieces, `$_` replaced by bash's own variable,
 * ASCII quotes removed, typographic quotes split at their spaces. topo says what bash did and gives
 * the line to type, in single quotes; it never answers with a wrong suggestion ("Did you mean
 * '-OU'?"). Nothing reaches a store: the line is refused before any connection (exit 2).
 */

const TOPO = path.join(ROOT, 'bin', 'topo.js');
jest.setTimeout(60_000);

let dataDir: string;
beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-shell-split-'));
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

/** Runs `topo <rest>` as a bash command line, as an administrator types it. */
function inBash(rest: string, before = ''): SpawnSyncReturns<string> {
  const { TOPO_REASON: _ignored, ...inherited } = process.env;
  return spawnSync('bash', ['-c', `${before}"${process.execPath}" "${TOPO}" ${rest}`], {
    cwd: ROOT,
    env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
  });
}

describe('a cmdlet line bash took apart', () => {
  it('Where-Object {$_...} unquoted: names the pieces and what bash put for $_, and gives the line in single quotes', () => {
    const run = inBash(`Get-CsPersistentChatState '|' Where-Object {$_.PoolState -eq "FailedOver"}`, 'echo /opt/last-arg >/dev/null; ');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("the script block came as 3 separate arguments ('{/opt/last-arg.PoolState', '-eq', 'FailedOver}')");
    expect(run.stderr).toContain("$_ was replaced by '/opt/last-arg' (bash's own variable)");
    expect(run.stderr).toContain(`Put the whole line in single quotes: topo 'Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"}'`);
    expect(run.stderr).not.toContain('Did you mean');
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it('$_ that bash expanded to nothing, in a block of two comparisons, is put back in each', () => {
    const run = inBash(`Get-CsPersistentChatState '|' Where-Object {$_.PoolState -eq "FailedOver" -or $_.Identity -like "*contoso*"}`, 'true "" ; ');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('$_ was replaced by nothing');
    expect(run.stderr).toContain(`topo 'Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver" -or $_.Identity -like "*contoso*"}'`);
  });

  it('-Filter {DisplayName -eq "..."} unquoted (the Get-CsPersistentChatEndpoint page\'s form): no "Did you mean \'-OU\'?"', () => {
    const run = inBash('Get-CsPersistentChatEndpoint -Filter {DisplayName -eq "Persistent Chat Endpoint 1"}');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("the script block came as 3 separate arguments ('{DisplayName', '-eq', 'Persistent Chat Endpoint 1}')");
    expect(run.stderr).toContain(`topo 'Get-CsPersistentChatEndpoint -Filter {DisplayName -eq "Persistent Chat Endpoint 1"}'`);
    expect(run.stderr).not.toContain('Did you mean');
  });

  it('a value in typographic quotes, split by bash at its spaces, is named with the line to type', () => {
    const line = 'New-CsPersistentChatEndpoint -SipAddress “sip:pce@litwareinc.com” -PersistentChatPoolFqdn “atl-pcpool-001.litwareinc.com” -DisplayName “Persistent Chat Endpoint 1”';
    const run = inBash(line);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("the value “Persistent Chat Endpoint 1” came as 4 separate arguments ('“Persistent', 'Chat', 'Endpoint', '1”')");
    expect(run.stderr).toContain('Typographic quotes (“ ” ‘ ’) are quotes to PowerShell, not to bash');
    expect(run.stderr).toContain(`Put the whole line in single quotes: topo '${line}'`);
    expect(run.stderr).not.toContain('positional parameter');
  });

  it('$_ that bash expanded to text with spaces (an earlier line): still found, its text not pasted into the line to type; --reason kept', () => {
    const run = inBash(`Get-CsPersistentChatState '|' Where-Object {$_.PoolState -eq "FailedOver"} '|' Set-CsPersistentChatState -PoolState Normal --reason CHG-9 --deployment lab`, 'true "echo secret words" ; ');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('SHELL_SPLIT_LINE');
    expect(run.stderr).toContain('$_ was replaced by several words');
    expect(run.stderr).toContain(`Put the whole line in single quotes: topo 'Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"} | Set-CsPersistentChatState -PoolState Normal' --reason CHG-9 --deployment lab`);
    expect(run.stderr).not.toContain('secret words.PoolState');
    expect(run.stderr).not.toMatch(/topo '.*secret/);
  });

  it('$_ that bash expanded to an earlier cmdlet line with its parameters: found, and the line to type is the one typed', () => {
    const run = inBash(
      `Get-CsPersistentChatState '|' Where-Object {$_.PoolState -eq "FailedOver"}`,
      'true Get-CsPersistentChatState "-Identity PersistentChatServer:pcpool.contoso.com" >/dev/null; true "Get-CsPersistentChatState -Identity PersistentChatServer:pcpool.contoso.com" ; ',
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('$_ was replaced by several words');
    expect(run.stderr).toContain(`Put the whole line in single quotes: topo 'Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"}'`);
    expect(run.stderr).not.toMatch(/topo '.*PersistentChatServer:pcpool/);
  });

  it('$Null swallowed by bash is said and put back: in a script block, and as the value of -ActiveServers', () => {
    const block = inBash(`Get-CsPersistentChatEndpoint '|' Where-Object {$_.DisplayName -eq $Null}`, 'true "" ; ');
    expect(block.status).toBe(2);
    expect(block.stderr).toContain('a $variable after a comparison was expanded to nothing');
    expect(block.stderr).toContain(`topo 'Get-CsPersistentChatEndpoint | Where-Object {$_.DisplayName -eq $Null }'`);
    const value = inBash('Set-CsPersistentChatActiveServer -Identity PersistentChatServer:pcpool.contoso.com -ActiveServers $Null --reason CHG-3');
    expect(value.status).toBe(2);
    expect(value.stderr).toContain('SHELL_SPLIT_LINE');
    expect(value.stderr).toContain('-ActiveServers came with no value');
    expect(value.stderr).toContain(`topo 'Set-CsPersistentChatActiveServer -Identity PersistentChatServer:pcpool.contoso.com -ActiveServers $Null' --reason CHG-3`);
  });

  it('a page\'s "<placeholder>" whose quotes bash removed gets the placeholder advice, not "The \'<\' operator is reserved"', () => {
    const run = inBash('Export-CsPersistentChatData -DBInstance "<backend-FQDN\\instance-name>" -FileName "C:\\Logs\\PersistentChatData.zip"');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("-DBInstance '<backend-FQDN\\instance-name>' is the page's placeholder, not a SQL Server instance");
    expect(run.stderr).not.toContain('operator is reserved');
  });

  it('-OU "ou=x,dc=contoso,dc=com" whose quotes bash removed is refused as the quoted line is: -OU is not supported here', () => {
    const run = inBash('Get-CsPersistentChatEndpoint -Identity sip:n1@contoso.com -OU "ou=x,dc=contoso,dc=com"');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Get-CsPersistentChatEndpoint : -OU is not supported here');
    expect(run.stderr).not.toContain('Cannot convert value');
  });

  it('the same lines in single quotes are not taken for split ones', () => {
    const quoted = inBash(`'Get-CsPersistentChatEndpoint -Filter {DisplayName -eq "Persistent Chat Endpoint 1"}' --server http://127.0.0.1:9`);
    expect(quoted.stderr).not.toContain('SHELL_SPLIT_LINE');
    const typographic = inBash(`'New-CsPersistentChatEndpoint -SipAddress “sip:pce@litwareinc.com” -PersistentChatPoolFqdn “atl-pcpool-001.litwareinc.com” -DisplayName “Persistent Chat Endpoint 1”' --server http://127.0.0.1:9`);
    expect(typographic.stderr).not.toContain('SHELL_SPLIT_LINE');
    expect(typographic.stderr).not.toContain('positional parameter');
  });

  it('values quoted word by word, holding typographic quotes or an unbalanced brace, are read as typed', () => {
    const quotes = inBash(`New-CsPersistentChatEndpoint -SipAddress sip:q@contoso.com -PersistentChatPoolFqdn pcpool.contoso.com -DisplayName '“Sales” desk' -WhatIf --server http://127.0.0.1:9`);
    expect(quotes.stderr).not.toContain('SHELL_SPLIT_LINE');
    const brace = inBash(`Get-CsPersistentChatEndpoint -Filter '{DisplayName -like "x{*"}' --server http://127.0.0.1:9`);
    expect(brace.stderr).not.toContain('SHELL_SPLIT_LINE');
  });
});
