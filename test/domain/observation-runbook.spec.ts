import { type DriftItem, observationRunbook } from '../../src/domain';
import { runbookProblems, shapeOf, statements, tokenize } from '../support/powershell-tokens';

/** The forms the way back may take: each a cmdlet line of Microsoft's reference (see src/domain/observation/runbook.ts). */
const SHAPES: readonly RegExp[] = [
  /^\$ErrorActionPreference = S$/,
  /^New-CsPersistentChatEndpoint -SipAddress S -PersistentChatPoolFqdn S( -DisplayName S)?$/,
  /^Remove-CsPersistentChatEndpoint -Identity S -Confirm: \$false$/,
  /^Set-CsPersistentChatState -Identity S -PoolState S$/,
  /^Set-CsPersistentChatActiveServer -Identity S -ActiveServers @ \{ (Add|Remove) = S( , S)* \}$/,
  /^New-CsSipDomain -Identity S( -IsDefault \$True)?$/,
  /^Remove-CsSipDomain -Identity S -Confirm: \$false$/,
  /^Set-CsSipDomain -Identity S -IsDefault \$True$/,
];

const ATTACK = "x'\u2019; Start-Process calc.exe #\r\nInvoke-Expression 'y'";

const ITEMS: DriftItem[] = [
  { entity: 'endpoint:sip:made-outside@contoso.com', kind: 'missing_in_ledger', ledger: null, observed: { sipAddress: 'sip:made-outside@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: ATTACK } },
  { entity: 'endpoint:sip:gone@contoso.com', kind: 'missing_in_deployment', ledger: { sipAddress: 'sip:gone@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: ATTACK }, observed: null },
  {
    entity: 'endpoint:sip:moved@contoso.com',
    kind: 'differs',
    ledger: { sipAddress: 'sip:moved@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: null },
    observed: { sipAddress: 'sip:moved@contoso.com', poolFqdn: 'pcpool2.contoso.com', displayName: null },
    fields: ['poolFqdn'],
  },
  {
    entity: 'persistentChatPool:pcpool.contoso.com',
    kind: 'differs',
    ledger: { fqdn: 'pcpool.contoso.com', activeServers: ['pc1.contoso.com', 'pc2.contoso.com'], poolState: 'Normal', site: ATTACK },
    observed: { fqdn: 'pcpool.contoso.com', activeServers: ['pc1.contoso.com', 'pc3.contoso.com'], poolState: 'FailedOver', site: 'Redmond' },
    fields: ['activeServers', 'poolState', 'site'],
  },
  { entity: 'sipDomain:fabrikam.com', kind: 'missing_in_deployment', ledger: { name: 'fabrikam.com', isDefault: true }, observed: null },
  { entity: 'sipDomain:litwareinc.com', kind: 'missing_in_ledger', ledger: null, observed: { name: 'litwareinc.com', isDefault: false } },
  { entity: 'principal:sip:ocschat@contoso.com', kind: 'missing_in_deployment', ledger: { sipAddress: 'sip:ocschat@contoso.com', kind: 'wellKnownUser', displayName: ATTACK, legacyPoolFqdn: 'gc.contoso.com' }, observed: null },
  { entity: 'legacyPool:gc.contoso.com', kind: 'differs', ledger: { status: 'Started' }, observed: { status: 'Stopped' }, fields: ['status'] },
  { entity: 'persistentChatPool:new.contoso.com', kind: 'missing_in_deployment', ledger: { fqdn: 'new.contoso.com', servers: ['n1.contoso.com'] }, observed: null },
];

describe("an observation's runbook: the cmdlet lines back to the ledger's state", () => {
  const runbook = observationRunbook({ deployment: 'default', observationId: 'obs-1', collectedAt: '2026-12-07T10:00:00Z', items: ITEMS });
  const commands = statements(tokenize(runbook)).map(shapeOf);

  it('undoes each difference with the cmdlet Microsoft documents for it, in the inverse direction of adopting it', () => {
    expect(runbook).toContain("Remove-CsPersistentChatEndpoint -Identity 'sip:made-outside@contoso.com' -Confirm:$false");
    expect(runbook).toMatch(/New-CsPersistentChatEndpoint -SipAddress 'sip:gone@contoso\.com' -PersistentChatPoolFqdn 'pcpool\.contoso\.com' -DisplayName '/);
    // No Set- for an endpoint (R5): removed, then created on the ledger's pool.
    const moved = runbook.indexOf("Remove-CsPersistentChatEndpoint -Identity 'sip:moved@contoso.com'");
    expect(moved).toBeGreaterThan(0);
    expect(runbook.indexOf("New-CsPersistentChatEndpoint -SipAddress 'sip:moved@contoso.com' -PersistentChatPoolFqdn 'pcpool.contoso.com'")).toBeGreaterThan(moved);
    expect(runbook).toContain("Set-CsPersistentChatState -Identity 'PersistentChatServer:pcpool.contoso.com' -PoolState 'Normal'");
    expect(runbook).toContain("Set-CsPersistentChatActiveServer -Identity 'PersistentChatServer:pcpool.contoso.com' -ActiveServers @{Remove='pc3.contoso.com'}");
    expect(runbook).toContain("Set-CsPersistentChatActiveServer -Identity 'PersistentChatServer:pcpool.contoso.com' -ActiveServers @{Add='pc2.contoso.com'}");
    expect(runbook).toContain("New-CsSipDomain -Identity 'fabrikam.com' -IsDefault $True");
    expect(runbook).toContain("Remove-CsSipDomain -Identity 'litwareinc.com' -Confirm:$false");
    expect(commands.filter((c) => c.startsWith('$'))).toHaveLength(1);
  });

  it('leaves what the shell cannot change (Topology Builder, Active Directory, legacy Group Chat) as manual items in comments', () => {
    expect(runbook).toMatch(/# manual: SIP principal sip:ocschat@contoso\.com \(wellKnownUser\)/);
    expect(runbook).toMatch(/# manual: legacy Group Chat pool gc\.contoso\.com/);
    expect(runbook).toMatch(/# manual: Persistent Chat pool new\.contoso\.com is in the ledger but not in the deployment: define it in Topology Builder/);
    expect(runbook).toMatch(/# manual: Persistent Chat pool pcpool\.contoso\.com: site differ/);
  });

  it('holds every recorded value as data: read with PowerShell lexical rules, nothing an attacker wrote runs', () => {
    expect(runbookProblems(runbook, ['Start-Process calc.exe', 'Invoke-Expression'], SHAPES)).toEqual([]);
  });

  it('says so when there is nothing to undo', () => {
    const empty = observationRunbook({ deployment: 'default', observationId: 'obs-2', collectedAt: null, items: [] });
    expect(empty).toContain('# No open drift');
    expect(runbookProblems(empty, [], SHAPES)).toEqual([]);
  });
});
