import * as fs from 'node:fs';
import * as path from 'node:path';
import { grammarView } from '../support/powershell-grammar';

/**
 * Every property the collector reads from a cmdlet's output is one Microsoft's reference names, on
 * the page cited (MicrosoftDocs/office-docs-powershell, skype/skype-ps/SkypeForBusiness/<cmdlet>.md).
 * The script cannot run here (no Lync Server Management Shell); this checks what can be checked.
 */
const DOCUMENTED: Readonly<Record<string, { readonly page: string; readonly properties: readonly string[] }>> = {
  sipDomain: { page: 'Get-CsSipDomain.md', properties: ['Identity', 'IsDefault'] },
  service: { page: 'Get-CsService.md', properties: ['PoolFqdn'] },
  pool: { page: 'Get-CsPool.md', properties: ['Computers'] },
  state: { page: 'Get-CsPersistentChatState.md', properties: ['PoolState'] },
  endpoint: { page: 'Get-CsPersistentChatEndpoint.md', properties: ['Identity'] },
  contact: { page: 'Get-CsAdContact.md', properties: ['SipAddress', 'DisplayName'] },
  user: { page: 'Get-CsUser.md', properties: ['SipAddress', 'DisplayName'] },
};
/** Not cmdlet output: the -LegacyPool hashtables the administrator passes, and the environment. */
const PARAMETERS: Readonly<Record<string, readonly string[]>> = { legacy: ['Fqdn', 'Version', 'WellKnownSipAddress'], env: ['COMPUTERNAME'] };

const script = fs.readFileSync(path.join(__dirname, '..', '..', 'collect', 'Get-TopologySnapshot.ps1'), 'utf8');

/** `$variable.Property` and `$_.Property` reads, with the variable each comes from. */
function propertyReads(text: string): { variable: string; property: string }[] {
  const reads: { variable: string; property: string }[] = [];
  for (const match of text.matchAll(/\$(\w+|_)(?::|\.)([A-Za-z]+)/g)) reads.push({ variable: match[1]!, property: match[2]! });
  // `(Get-CsPool -Identity $x).Computers`
  for (const match of text.matchAll(/\((Get-Cs\w+)[^()]*\)\.([A-Za-z]+)/g)) reads.push({ variable: match[1]!, property: match[2]! });
  return reads;
}

// Which cmdlet's output each variable of the script holds.
const SOURCES: Readonly<Record<string, string>> = {
  service: 'service',
  state: 'state',
  endpoint: 'endpoint',
  contact: 'contact',
  user: 'user',
  'Get-CsPool': 'pool',
};

describe('collect/Get-TopologySnapshot.ps1', () => {
  it('reads only properties the cmdlet reference documents', () => {
    const reads = propertyReads(script);
    expect(reads.length).toBeGreaterThan(8);
    for (const { variable, property } of reads) {
      if (variable === '_') {
        // `Get-CsSipDomain | ForEach-Object { $_.Identity; $_.IsDefault }`
        expect(DOCUMENTED['sipDomain']!.properties).toContain(property);
        continue;
      }
      const parameter = PARAMETERS[variable];
      if (parameter) {
        expect(parameter).toContain(property);
        continue;
      }
      const source = SOURCES[variable];
      if (source === undefined) throw new Error(`$${variable}.${property}: the test does not know which cmdlet $${variable} comes from`);
      expect({ read: `${variable}.${property}`, page: DOCUMENTED[source]!.page, documented: DOCUMENTED[source]!.properties.includes(property) }).toMatchObject({ documented: true });
    }
  });

  it('calls the cmdlets the issue names, and cites each page it reads', () => {
    for (const cmdlet of ['Get-CsSipDomain', 'Get-CsService -PersistentChatServer', 'Get-CsPersistentChatState', 'Get-CsPersistentChatEndpoint', 'Get-CsAdContact', 'Get-CsUser']) expect(script).toContain(cmdlet);
    for (const { page } of Object.values(DOCUMENTED)) expect(script).toContain(page);
  });
});

describe('collect/Get-TopologySnapshot.ps1 parses as PowerShell (tree-sitter-powershell)', () => {
  it('has no syntax error', async () => {
    const view = await grammarView(fs.readFileSync(path.join(__dirname, '..', '..', 'collect', 'Get-TopologySnapshot.ps1'), 'utf8'));
    expect(view.errors).toEqual([]);
    expect(view.commands).toEqual(expect.arrayContaining(['Get-CsSipDomain', 'Get-CsService', 'Get-CsPersistentChatEndpoint']));
  });

  it('would see one (the grammar is not a stub)', async () => {
    const view = await grammarView('foreach ($pool in @(Get-CsService -PersistentChatServer) {\n  $x = \n');
    expect(view.errors).not.toEqual([]);
  });
});
