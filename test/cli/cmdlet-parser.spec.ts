import { bind, CmdletError, CmdletSpec, closest, parseLine, parseValue, readWords, resolveCmdlet, tokenize } from '../../src/cli/cmdlet-parser';
import { CMDLETS, listView, poolFqdnOf, prepareCmdlet } from '../../src/cli/cmdlets';
import { scriptLines } from '../../src/cli/script';

const NEW: CmdletSpec = {
  name: 'New-CsPersistentChatEndpoint',
  parameters: [
    { name: 'SipAddress', type: 'string', required: true },
    { name: 'PersistentChatPoolFqdn', type: 'string', required: true },
    { name: 'DisplayName', type: 'string' },
    { name: 'PassThru', type: 'switch' },
    { name: 'WhatIf', type: 'switch' },
    { name: 'Confirm', type: 'switch' },
  ],
};
const REMOVE: CmdletSpec = {
  name: 'Remove-CsPersistentChatEndpoint',
  parameters: [
    { name: 'Identity', type: 'string', required: true, position: 0 },
    { name: 'Force', type: 'switch' },
  ],
};

function errorOf(action: () => unknown): CmdletError {
  try {
    action();
  } catch (error) {
    if (error instanceof CmdletError) return error;
    throw error;
  }
  throw new Error('expected a CmdletError');
}

describe('tokenize', () => {
  it('splits at whitespace, keeping quoted strings, hash literals and comma lists whole', () => {
    expect(tokenize(`Set-X -Identity "a b" -ActiveServers @{Replace="pc1.contoso.com", "pc2.contoso.com"} -Name 'it''s' x, y # note`)).toEqual([
      'Set-X',
      '-Identity',
      '"a b"',
      '-ActiveServers',
      '@{Replace="pc1.contoso.com", "pc2.contoso.com"}',
      '-Name',
      "'it''s'",
      'x,y',
    ]);
  });

  it('separates tokens at every space PowerShell reads as whitespace (no-break space, em space, ...), not inside quotes', () => {
    expect(tokenize('Get-X\u00a0-Identity\u2003sip:a@contoso.com\u3000-DisplayName "a\u00a0b"')).toEqual(['Get-X', '-Identity', 'sip:a@contoso.com', '-DisplayName', '"a\u00a0b"']);
    expect(tokenize('Get-X\u00a0|\u00a0Remove-X\u202f-Force')).toEqual(['Get-X', '|', 'Remove-X', '-Force']);
  });

  it('keeps -Param:value as one word and refuses an unterminated string', () => {
    expect(tokenize('New-X -Confirm:$false -WhatIf')).toEqual(['New-X', '-Confirm:$false', '-WhatIf']);
    expect(errorOf(() => tokenize('New-X -DisplayName "oops')).code).toBe('PARSE_ERROR');
    expect(errorOf(() => tokenize('New-X -A @{Add="a"')).errorId).toBe('MissingEndCurlyBrace');
  });
});

describe('parseValue', () => {
  it('reads PowerShell literals', () => {
    expect(parseValue('$Null')).toBeNull();
    expect(parseValue('$TRUE')).toBe(true);
    expect(parseValue('$false')).toBe(false);
    expect(parseValue("'it''s'")).toBe("it's");
    expect(parseValue('"say `"hi`""')).toBe('say "hi"');
    expect(parseValue('a,b')).toEqual(['a', 'b']);
    expect(parseValue('@("a", "b")')).toEqual(['a', 'b']);
    expect(parseValue('sip:persistentchat@contoso.com')).toBe('sip:persistentchat@contoso.com');
  });

  it('reads hash literals with one or several values', () => {
    expect(parseValue('@{Add="pc2.contoso.com"}')).toEqual({ kind: 'hashtable', entries: [['Add', 'pc2.contoso.com']] });
    expect(parseValue('@{Replace="a","b"}')).toEqual({ kind: 'hashtable', entries: [['Replace', ['a', 'b']]] });
    expect(parseValue('@{Remove=pc1.contoso.com}')).toEqual({ kind: 'hashtable', entries: [['Remove', 'pc1.contoso.com']] });
    expect(parseValue('@{Add="a"; Remove="b"}')).toEqual({ kind: 'hashtable', entries: [['Add', 'a'], ['Remove', 'b']] });
    expect(errorOf(() => parseValue('@{Add}')).code).toBe('PARSE_ERROR');
  });
});

describe('bind', () => {
  it('binds the documented line exactly as typed', () => {
    const bound = bind(NEW, parseLine('New-CsPersistentChatEndpoint -SipAddress sip:persistentchat@contoso.com -PersistentChatPoolFqdn pcpool.contoso.com'));
    expect(Object.fromEntries(bound)).toEqual({ SipAddress: 'sip:persistentchat@contoso.com', PersistentChatPoolFqdn: 'pcpool.contoso.com' });
  });

  it('accepts any case, unambiguous prefixes, -Param:value and switches', () => {
    const bound = bind(NEW, parseLine(`new-cspersistentchatendpoint -sipaddr:sip:a@contoso.com -PERSISTENTCHAT pc.contoso.com -Disp 'A B' -Pas -WhatIf -Confirm:$false`));
    expect(Object.fromEntries(bound)).toEqual({
      SipAddress: 'sip:a@contoso.com',
      PersistentChatPoolFqdn: 'pc.contoso.com',
      DisplayName: 'A B',
      PassThru: true,
      WhatIf: true,
      Confirm: false,
    });
  });

  it('treats a bare -Confirm: (a shell ate $false) as $false', () => {
    expect(bind(NEW, readWords(['New-CsPersistentChatEndpoint', '-SipAddress', 's', '-PersistentChatPoolFqdn', 'p', '-Confirm:'])).get('Confirm')).toBe(false);
  });

  it('binds the positional identity', () => {
    expect(bind(REMOVE, parseLine('Remove-CsPersistentChatEndpoint "Persistent Chat" -Force')).get('Identity')).toBe('Persistent Chat');
    expect(errorOf(() => bind(REMOVE, parseLine('Remove-CsPersistentChatEndpoint a b'))).code).toBe('POSITIONAL_PARAMETER_NOT_FOUND');
  });

  it('names an unknown parameter and suggests the closest', () => {
    const error = errorOf(() => bind(NEW, parseLine('New-CsPersistentChatEndpoint -SipAdress sip:a@contoso.com')));
    expect(error.code).toBe('UNKNOWN_PARAMETER');
    expect(error.message).toContain("A parameter cannot be found that matches parameter name 'SipAdress'. Did you mean '-SipAddress'?");
  });

  it('lists the candidates of an ambiguous prefix', () => {
    const error = errorOf(() => bind(NEW, parseLine('New-CsPersistentChatEndpoint -P x')));
    expect(error.code).toBe('AMBIGUOUS_PARAMETER');
    expect(error.message).toContain("the parameter name 'P' is ambiguous. Possible matches include: -PersistentChatPoolFqdn -PassThru -PipelineVariable.");
  });

  it('names missing mandatory parameters and a parameter without its argument', () => {
    const missing = errorOf(() => bind(NEW, parseLine('New-CsPersistentChatEndpoint -DisplayName x')));
    expect(missing.code).toBe('MISSING_PARAMETER');
    expect(missing.message).toContain('missing mandatory parameters: SipAddress PersistentChatPoolFqdn.');
    const argument = errorOf(() => bind(NEW, parseLine('New-CsPersistentChatEndpoint -PersistentChatPoolFqdn p -SipAddress')));
    expect(argument.code).toBe('MISSING_ARGUMENT');
    expect(argument.message).toContain("Missing an argument for parameter 'SipAddress'");
    expect(errorOf(() => bind(NEW, parseLine('New-CsPersistentChatEndpoint -SipAddress a -SipAddress b'))).code).toBe('DUPLICATE_PARAMETER');
  });
});

describe('cmdlets', () => {
  it('suggests the closest cmdlet for an unknown one', () => {
    const error = errorOf(() => resolveCmdlet('New-CsPersistentChatEndpont', CMDLETS));
    expect(error.code).toBe('UNKNOWN_CMDLET');
    expect(error.message).toContain("The term 'New-CsPersistentChatEndpont' is not recognized");
    expect(error.message).toContain("Did you mean 'New-CsPersistentChatEndpoint'?");
    expect(closest('Get-CsPersistentChatStat', CMDLETS.map((c) => c.name))).toBe('Get-CsPersistentChatState');
  });

  it('R5: Set-CsPersistentChatEndpoint does not exist; the refusal says to remove and create again', () => {
    const error = errorOf(() => resolveCmdlet('set-CsPersistentChatEndpoint', CMDLETS));
    expect(error.code).toBe('UNKNOWN_CMDLET');
    expect(error.message).toContain('R5: there is no Set- cmdlet for a Persistent Chat endpoint');
    expect(error.message).toContain('Remove-CsPersistentChatEndpoint');
    expect(error.message).not.toContain('Did you mean');
  });

  it('maps cmdlet lines to the API bodies', () => {
    const options = { json: false, deployment: 'fabrikam' };
    expect(prepareCmdlet(parseLine('New-CsPersistentChatEndpoint -SipAddress sip:a@contoso.com -PersistentChatPoolFqdn pc.contoso.com -DisplayName "A"'), options)).toMatchObject({
      command: 'CreateEndpoint',
      body: { sipAddress: 'sip:a@contoso.com', persistentChatPoolFqdn: 'pc.contoso.com', displayName: 'A', deployment: 'fabrikam' },
      whatIf: false,
    });
    expect(prepareCmdlet(parseLine('Remove-CsPersistentChatEndpoint sip:a@contoso.com -WhatIf'), options)).toMatchObject({
      command: 'RemoveEndpoint',
      body: { identity: 'sip:a@contoso.com' },
      whatIf: true,
    });
    expect(prepareCmdlet(parseLine('Set-CsPersistentChatState -Identity service:PersistentChatServer:pc.contoso.com -PoolState failedover'), options)).toMatchObject({
      command: 'SetPersistentChatState',
      body: { poolFqdn: 'pc.contoso.com', poolState: 'FailedOver' },
    });
    const active = (value: string): unknown => prepareCmdlet(parseLine(`Set-CsPersistentChatActiveServer -Identity PersistentChatServer:pc.contoso.com ${value}`), { json: false });
    expect(active('-ActiveServers @{Add="pc2.contoso.com"}')).toMatchObject({ command: 'SetPersistentChatActiveServers', body: { poolFqdn: 'pc.contoso.com', add: ['pc2.contoso.com'] } });
    expect(active('-ActiveServers @{Remove="pc2.contoso.com"}')).toMatchObject({ body: { remove: ['pc2.contoso.com'] } });
    expect(active('-ActiveServers @{Replace="a.contoso.com","b.contoso.com"}')).toMatchObject({ body: { replace: ['a.contoso.com', 'b.contoso.com'] } });
    expect(active('-ActiveServers $Null')).toMatchObject({ body: { clear: true } });
    expect(active('-Swap')).toMatchObject({ body: { swap: true } });
    expect(errorOf(() => active('-ActiveServers @{Toggle="a"}')).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => prepareCmdlet(parseLine('Get-CsPersistentChatEndpoint -OU x'), { json: false })).code).toBe('UNSUPPORTED_PARAMETER');
  });

  it('reads pool identities with or without their prefixes', () => {
    expect(poolFqdnOf('PersistentChatServer:pc.contoso.com')).toBe('pc.contoso.com');
    expect(poolFqdnOf('service:persistentchatserver:pc.contoso.com')).toBe('pc.contoso.com');
    expect(poolFqdnOf('pc.contoso.com')).toBe('pc.contoso.com');
  });

  it('shows objects in the list view', () => {
    expect(listView([{ Identity: 'a', PoolState: 'Normal' }, { Identity: 'bb', PoolState: null }])).toBe(
      'Identity  : a\nPoolState : Normal\n\nIdentity  : bb\nPoolState : ',
    );
  });
});

describe('scriptLines', () => {
  it('drops comments and blank lines and joins backtick continuations', () => {
    const source = [
      '# set up the endpoint',
      '',
      'New-CsPersistentChatEndpoint -SipAddress sip:a@contoso.com `',
      '    -PersistentChatPoolFqdn pc.contoso.com',
      '<# a block',
      '   comment #>',
      "Get-CsPersistentChatEndpoint -Filter 'sip:a*'   # trailing",
    ].join('\r\n');
    expect(scriptLines(source)).toEqual([
      { number: 3, text: 'New-CsPersistentChatEndpoint -SipAddress sip:a@contoso.com -PersistentChatPoolFqdn pc.contoso.com' },
      { number: 7, text: "Get-CsPersistentChatEndpoint -Filter 'sip:a*'   # trailing" },
    ]);
    expect(parseLine(scriptLines(source)[1]!.text).args).toHaveLength(2);
  });
});
