import { canonicalize, CmdletError, parsePipeline, tokenize } from '../../src/cli/cmdlet-parser';
import { ApiError } from '../../src/cli/api-client';
import { validateBody } from '../../src/cli/cmdlets';
import { cmdletSyntax, prepareLine, PreparedLine } from '../../src/cli/pipeline';
import { evaluate, parseFilter, wildcardRegExp } from '../../src/cli/filter-expression';

/**
 * Every example line of Microsoft's reference pages for the cmdlets the product models, verbatim
 * (MicrosoftDocs/office-docs-powershell, skype/skype-ps/SkypeForBusiness/<cmdlet>.md), read and bound
 * as the shell binds them; what each does against a store is asserted in
 * test/e2e/microsoft-examples.e2e.spec.ts. Beside them, the cases derived from them.
 */
const page = (cmdlet: string): string => `https://learn.microsoft.com/powershell/module/skype/${cmdlet.toLowerCase()}`;

const EXAMPLES: ReadonlyArray<readonly [string, string]> = [
  ['New-CsPersistentChatEndpoint', 'New-CsPersistentChatEndpoint -SipAddress "sip:pce@litwareinc.com" -PersistentChatPoolFqdn "atl-pcpool-001.litwareinc.com" -DisplayName "Persistent Chat Endpoint 1"'],
  ['Get-CsPersistentChatEndpoint', 'Get-CsPersistentChatEndpoint'],
  ['Get-CsPersistentChatEndpoint', 'Get-CsPersistentChatEndpoint -Identity "sip:pce@litwareinc.com"'],
  ['Get-CsPersistentChatEndpoint', 'Get-CsPersistentChatEndpoint -PersistentChatPoolFqdn atl-pcpool-001.litwareinc.com'],
  ['Remove-CsPersistentChatEndpoint', 'Remove-CsPersistentChatEndpoint -Identity "sip:pce@litwareinc.com"'],
  ['Remove-CsPersistentChatEndpoint', 'Get-CsPersistentChatEndpoint -PersistentChatPoolFqdn "atl-pcpool-001.litwareinc.com" | Remove-CsPersistentChatEndpoint'],
  ['Remove-CsPersistentChatEndpoint', 'Get-CsPersistentChatEndpoint | Remove-CsPersistentChatEndpoint'],
  ['Get-CsPersistentChatState', 'Get-CsPersistentChatState'],
  ['Get-CsPersistentChatState', 'Get-CsPersistentChatState -Identity "PersistentChatServer:atl-gc-001.litwareinc.com"'],
  ['Get-CsPersistentChatState', 'Get-CsPersistentChatState -Filter "*.litwareinc.com"'],
  ['Get-CsPersistentChatState', 'Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"}'],
  ['Set-CsPersistentChatState', 'Set-CsPersistentChatState -Identity "PersistentChatServer:atl-gc-001.litwareinc.com" -PoolState "FailedOver"'],
  ['Export-CsPersistentChatData', 'Export-CsPersistentChatData -DBInstance "atl-sql-001.litwareinc.com\\rtc" -FileName "C:\\Logs\\PersistentChatData.zip"'],
  ['Import-CsPersistentChatData', 'Import-CsPersistentChatData -DBInstance "atl-sql-001.litwareinc.com\\rtc" -FileName "C:\\Logs\\PersistentChatExport.zip"'],
];

const options = { json: false };
const prepare = (line: string): PreparedLine => prepareLine(parsePipeline(line), options);

function errorOf(action: () => unknown): CmdletError {
  try {
    action();
  } catch (error) {
    if (error instanceof CmdletError) return error;
    throw error;
  }
  throw new Error('expected a CmdletError');
}

describe("Microsoft's example lines, verbatim", () => {
  for (const [cmdlet, line] of EXAMPLES) {
    it(`${page(cmdlet)}: ${line}`, () => {
      expect(() => prepare(line)).not.toThrow();
    });
  }

  it('binds each as its page means it', () => {
    expect(prepare(EXAMPLES[0]![1])).toMatchObject({
      command: 'CreateEndpoint',
      body: { sipAddress: 'sip:pce@litwareinc.com', persistentChatPoolFqdn: 'atl-pcpool-001.litwareinc.com', displayName: 'Persistent Chat Endpoint 1' },
    });
    expect(prepare(EXAMPLES[5]![1])).toMatchObject({ kind: 'pipeline', cmdlet: 'Remove-CsPersistentChatEndpoint', source: { cmdlet: 'Get-CsPersistentChatEndpoint' } });
    const removal = prepare(EXAMPLES[6]![1]);
    if (removal.kind !== 'pipeline' || !removal.sink) throw new Error('expected a pipeline into Remove-');
    // Each object piped in is its own RemoveEndpoint, named by the object's Identity.
    expect(removal.sink.prepare({ Identity: 'CN={33e5014b-dcba-46b5-9bf7-48f4d5fca69d},CN=Application Contacts,DC=litwareinc,DC=com', SipAddress: 'sip:pce@litwareinc.com' })).toMatchObject({
      command: 'RemoveEndpoint',
      body: { identity: 'CN={33e5014b-dcba-46b5-9bf7-48f4d5fca69d},CN=Application Contacts,DC=litwareinc,DC=com' },
    });
    expect(prepare(EXAMPLES[11]![1])).toMatchObject({ command: 'SetPersistentChatState', body: { poolFqdn: 'atl-gc-001.litwareinc.com', poolState: 'FailedOver' } });
    expect(prepare(EXAMPLES[12]![1])).toMatchObject({ command: 'RunMigration', target: 'atl-sql-001.litwareinc.com\\rtc' });
  });
});

describe('typographic quotes and dashes (a line copied from a web page or a word processor)', () => {
  it('reads “ ” ‘ ’ as quotes and – — ― as dashes, outside strings only', () => {
    expect(canonicalize('New-X \u2013SipAddress \u201Csip:a@b.com\u201D \u2014DisplayName \u2018Bob\u2019\u2019s\u2019 \u2015WhatIf')).toBe(`New-X -SipAddress "sip:a@b.com" -DisplayName 'Bob''s' -WhatIf`);
    expect(canonicalize('New-X -DisplayName "Bob\u2019s \u2013 team"')).toBe('New-X -DisplayName "Bob\u2019s \u2013 team"');
    const line = 'New-CsPersistentChatEndpoint \u2013SipAddress \u201Csip:pce@litwareinc.com\u201D \u2013PersistentChatPoolFqdn \u201Catl-pcpool-001.litwareinc.com\u201D \u2013DisplayName \u2018Bob\u2019\u2019s endpoint\u2019';
    expect(prepare(line)).toMatchObject({
      command: 'CreateEndpoint',
      body: { sipAddress: 'sip:pce@litwareinc.com', persistentChatPoolFqdn: 'atl-pcpool-001.litwareinc.com', displayName: "Bob's endpoint" },
    });
    // The operator of Convert-CsUserData's page: `–match` with an en dash.
    expect(evaluate(parseFilter(canonicalize('$_.Identity \u2013match "litware"'), 'pipelineObject', 'test'), { Identity: 'x.litwareinc.com' })).toBe(true);
  });

  it('takes a process argument with a typographic dash or quotes as the shell left it', () => {
    expect(tokenize('Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"}')).toEqual(['Get-CsPersistentChatState', '|', 'Where-Object', '{$_.PoolState -eq "FailedOver"}']);
  });
});

describe('Where-Object and -Filter expressions', () => {
  const pools = [
    { Identity: 'service:PersistentChatServer:a.litwareinc.com', PoolState: 'FailedOver', Count: 3 },
    { Identity: 'service:PersistentChatServer:b.contoso.com', PoolState: 'Normal', Count: 10 },
  ];
  const where = (text: string): string[] => pools.filter((p) => evaluate(parseFilter(text, 'pipelineObject', 'test'), p)).map((p) => p.Identity.split(':').pop()!);

  it('evaluates -eq -ne -like -notlike -match -gt -lt, -and -or -not, case-insensitively as PowerShell does', () => {
    expect(where('$_.PoolState -eq "failedover"')).toEqual(['a.litwareinc.com']);
    expect(where('$_.PoolState -ceq "failedover"')).toEqual([]);
    expect(where("$_.PoolState -ne 'FailedOver'")).toEqual(['b.contoso.com']);
    expect(where('$_.Identity -like "*.LITWAREINC.com"')).toEqual(['a.litwareinc.com']);
    expect(where('$_.Identity -notlike "*.litwareinc.com"')).toEqual(['b.contoso.com']);
    expect(where('$_.Identity -match "contoso\\.com$"')).toEqual(['b.contoso.com']);
    expect(where('$_.Count -gt 5')).toEqual(['b.contoso.com']);
    expect(where('$_.Count -lt 5')).toEqual(['a.litwareinc.com']);
    expect(where('$_.PoolState -eq "Normal" -or $_.Identity -like "*litware*"')).toEqual(['a.litwareinc.com', 'b.contoso.com']);
    expect(where('$_.PoolState -eq "Normal" -and $_.Identity -like "*litware*"')).toEqual([]);
    expect(where('-not ($_.PoolState -eq "Normal")')).toEqual(['a.litwareinc.com']);
    expect(where('!($_.PoolState -eq "Normal") -and $_.Count -lt 5')).toEqual(['a.litwareinc.com']);
    expect(where('$PSItem.PoolState -eq FailedOver')).toEqual(['a.litwareinc.com']);
  });

  it('refuses, with the reason, a filter it cannot evaluate instead of answering nothing', () => {
    expect(errorOf(() => prepare('Get-CsPersistentChatState | Where-Object {$_.Pool -eq "x"}')).message).toContain("does not model the property 'Pool'; the objects have Identity, PoolState");
    expect(errorOf(() => prepare('Get-CsPersistentChatState | Where-Object {$_.PoolState.Length -gt 3}')).code).toBe('UNSUPPORTED_FILTER');
    expect(errorOf(() => prepare('Get-CsPersistentChatState | Where-Object {$_.PoolState -contains "x"}')).message).toContain("the operator '-contains' is not one the product evaluates");
    expect(errorOf(() => prepare('Get-CsPersistentChatState | Where-Object PoolState -eq FailedOver -and')).code).toBe('UNKNOWN_PARAMETER');
    // Get-CsPersistentChatEndpoint's page: -Filter {ConferencingPolicy -ne $Null}; the product keeps no policies.
    const policy = errorOf(() => prepare('Get-CsPersistentChatEndpoint -Filter {ConferencingPolicy -ne $Null}'));
    expect(policy.code).toBe('UNSUPPORTED_FILTER');
    expect(policy.message).toContain("does not model the property 'ConferencingPolicy'; the objects have Identity, SipAddress, DisplayName, PersistentChatPoolFqdn");
    expect(errorOf(() => prepare('Get-CsPersistentChatEndpoint -Filter "sip:pce*"')).message).toContain('is not a filter expression');
  });

  it('reads -Filter {DisplayName -eq "..."} on endpoints and the wildcard of Get-CsPersistentChatState -Filter', () => {
    expect(prepare('Get-CsPersistentChatEndpoint -Filter {DisplayName -eq "Persistent Chat Endpoint 1"}')).toMatchObject({ kind: 'query' });
    const pattern = wildcardRegExp('*.litwareinc.com');
    expect(['service:PersistentChatServer:atl-gc-001.litwareinc.com', 'pcpool.contoso.com'].map((i) => pattern.test(i))).toEqual([true, false]);
    expect(errorOf(() => prepare('Get-CsPersistentChatState -Identity PersistentChatServer:a.b.com -Filter "*.b.com"')).code).toBe('AMBIGUOUS_PARAMETER_SET');
  });
});

describe('pipelines', () => {
  it("reads PowerShell 3's comparison form of Where-Object as the script block it stands for", () => {
    const line = prepare('Get-CsPersistentChatState | Where-Object PoolState -eq FailedOver');
    if (line.kind !== 'pipeline') throw new Error('expected a pipeline');
    expect(line.filters.map((f) => [evaluate(f, { PoolState: 'FailedOver' }), evaluate(f, { PoolState: 'Normal' })])).toEqual([[true, false]]);
    expect(prepare("Get-CsPersistentChatEndpoint | ? SipAddress -like '*@litwareinc.com'")).toMatchObject({ kind: 'pipeline' });
  });

  it('pipes a Get- cmdlet only into the Remove-/Set- cmdlet of the same noun, last on the line', () => {
    expect(prepare('Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"} | Set-CsPersistentChatState -PoolState Normal')).toMatchObject({
      kind: 'pipeline',
      cmdlet: 'Set-CsPersistentChatState',
    });
    expect(errorOf(() => prepare('Get-CsPersistentChatState | Remove-CsPersistentChatEndpoint')).message).toContain('pipe them into Set-CsPersistentChatState');
    expect(errorOf(() => prepare('Remove-CsPersistentChatEndpoint x | Get-CsPersistentChatEndpoint')).code).toBe('PIPELINE_NOT_SUPPORTED');
    expect(errorOf(() => prepare('Get-CsPersistentChatEndpoint |')).errorId).toBe('EmptyPipeElement');
    // Without a pipeline, Remove- still needs its -Identity.
    expect(errorOf(() => prepare('Remove-CsPersistentChatEndpoint')).code).toBe('MISSING_PARAMETER');
  });
});

describe('common parameters, -Force, -ResultSize, optional parameters', () => {
  it('accepts the common parameters and their aliases, with their effect on the run', () => {
    expect(prepare('Remove-CsPersistentChatEndpoint sip:a@b.com -ErrorAction SilentlyContinue -WarningAction Stop -Verbose')).toMatchObject({
      line: { errorAction: 'SilentlyContinue', warningAction: 'Stop', verbose: true },
    });
    expect(prepare('Remove-CsPersistentChatEndpoint sip:a@b.com -ea continue -wa silentlycontinue -vb -wi -cf:$false -ev errs -ov out -db')).toMatchObject({
      whatIf: true,
      confirm: false,
      line: { errorAction: 'Continue', warningAction: 'SilentlyContinue', verbose: true },
    });
    expect(errorOf(() => prepare('Remove-CsPersistentChatEndpoint sip:a@b.com -ErrorAction Inquire')).message).toContain('a batch has no one to ask');
    expect(prepare('Set-CsPersistentChatState PersistentChatServer:a.b.com -Force')).toMatchObject({ line: { force: true }, body: { poolState: 'Normal' } });
  });

  it('takes -ResultSize Unlimited or a whole number, and refuses anything else', () => {
    expect(prepare('Get-CsPersistentChatEndpoint -ResultSize Unlimited')).toMatchObject({ kind: 'query' });
    expect(prepare('Get-CsPersistentChatEndpoint -ResultSize 7')).toMatchObject({ kind: 'query' });
    expect(errorOf(() => prepare('Get-CsPersistentChatEndpoint -ResultSize lots')).message).toContain('a whole number from 0 to 2147483647, or Unlimited');
  });

  it("an API refusal of the body names the cmdlet's parameter, not the API field", async () => {
    const prepared = prepare('Set-CsPersistentChatState -Identity PersistentChatServer:bad_name.contoso.com');
    if (prepared.kind === 'pipeline') throw new Error('expected one cmdlet');
    const error = await validateBody(prepared).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('INVALID_FQDN');
    expect((error as ApiError).message).toMatch(/^-Identity 'bad_name\.contoso\.com' is not a valid fully qualified domain name/);
    expect((error as ApiError).details).toMatchObject({ field: 'poolFqdn', parameter: 'Identity' });
  });

  it('shows the common parameters in the syntax', () => {
    expect(cmdletSyntax('Remove-CsPersistentChatEndpoint')).toBe('Remove-CsPersistentChatEndpoint [-Identity] <String> [-Force] [-WhatIf] [-Confirm] [<CommonParameters>]');
  });

  it('names -Identity when the identity is not a pool (the page placeholder "PChatServerCollection", or "global")', () => {
    for (const identity of ['PChatServerCollection', 'global']) {
      const error = errorOf(() => prepare(`Set-CsPersistentChatState -Identity ${identity} -PoolState Normal`));
      expect(error.details).toMatchObject({ parameter: 'Identity' });
      expect(error.message).toContain(`-Identity '${identity}' is not the identity of a Persistent Chat pool: write PersistentChatServer:<pool fqdn>`);
    }
    expect(errorOf(() => prepare('Set-CsPersistentChatState -PoolState Normal')).message).toContain('-Identity is needed here');
  });
});

describe('cmdlets the product does not model, and placeholders', () => {
  it('says a real Lync cmdlet is not modelled, and names what is', () => {
    const error = errorOf(() => prepare('Get-CsPersistentChatRoom -Identity "atl-cs-001.litwareinc.com\\ITChatRoom"'));
    expect(error.code).toBe('CMDLET_NOT_MODELLED');
    expect(error.message).toContain("'Get-CsPersistentChatRoom' is a Lync Server Management Shell cmdlet this product does not model");
    expect(error.message).toContain('This product models: New-CsPersistentChatEndpoint, Get-CsPersistentChatEndpoint');
    expect(error.message).toContain('Export-CsPersistentChatData, Import-CsPersistentChatData');
  });

  it("the RBAC line of the data cmdlets' and Set-CsPersistentChatState's pages (Get-CsAdminRole | Where-Object ...) is refused as not modelled, en dash and all", () => {
    // Export-CsPersistentChatData's page (DESCRIPTION), and the Lync Server 2013 edition of Set-CsPersistentChatState's, with its "–match".
    for (const line of ['Get-CsAdminRole | Where-Object {$_.Cmdlets -match "Export-CsPersistentChatData"}', 'Get-CsAdminRole | Where-Object {$_.Cmdlets \u2013match "Set-CsPersistentChatState"}']) {
      const error = errorOf(() => prepare(line));
      expect(error.code).toBe('CMDLET_NOT_MODELLED');
      expect(error.message).toContain("'Get-CsAdminRole' is a Lync Server Management Shell cmdlet this product does not model");
    }
  });

  it("refuses a documentation placeholder as PowerShell does ('<' is reserved), saying to put the value in its place", () => {
    // Run backward compatibility for Persistent Chat Server (Lync Server 2013), the line as printed there.
    const error = errorOf(() => prepare('New-CsPersistentChatEndpoint -SipAddress <CO name, ex. persistentchat@contoso.com> -PersistentChatPoolFqdn <pool FQDN, like pcpool.contoso.com>'));
    expect(error.message).toContain("The '<' operator is reserved for future use");
    expect(error.message).toContain('write the value in its place');
  });

  it('R17: Export-CsPersistentChatData -Level takes the export levels only, in any case', () => {
    expect(prepare('Export-CsPersistentChatData -DBInstance "sql\\rtc" -FileName a.zip -Level roomdirectory -StartDate "1/1/2018" -Scope \'Eng\',\'Sales\' -Report C:\\Logs\\r.html')).toMatchObject({ command: 'RunMigration' });
    const error = errorOf(() => prepare('Export-CsPersistentChatData -DBInstance "sql\\rtc" -Level Rooms'));
    expect(error.details).toMatchObject({ parameter: 'Level', rule: 'R17' });
    expect(error.message).toContain('use one of All, User, Category, RoomDirectory, Content');
    expect(errorOf(() => prepare('Export-CsPersistentChatData -DBInstance "sql\\rtc" -AsBytes')).code).toBe('UNSUPPORTED_PARAMETER');
  });
});
