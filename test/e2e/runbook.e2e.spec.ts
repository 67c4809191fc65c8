import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer, command, seedTopology } from '../support/http';
import { grammarView, payloadInert } from '../support/powershell-grammar';
import { runbookProblems, tokenize } from '../support/powershell-tokens';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(120_000);

const MIGRATE = { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com' };
// The report's attack, as recorded through the API.
const REASON = 'CHG-1042 migration window\r\nStart-Process calc.exe\r\n#';
const CATEGORY = 'Eng/Platform\r\nInvoke-WebRequest http://127.0.0.1:9/x | Invoke-Expression\r\n#';
const PAYLOADS = ['Start-Process calc.exe', 'Invoke-WebRequest', 'Invoke-Expression', 'Stop-Computer'];
// Values that end a naive single-quoted string with a curly quote.
const FILE = 'C:\\GroupChatMigration\\gc\u2019; Stop-Computer; \u2019.zip';
const SCOPE = 'Eng, Sales\u2018; Stop-Computer; \u2018';
const DISPLAY = 'Legacy chat\u201b; Stop-Computer; \u201a';

describe('the runbook of GET /api/migrations/<id>/runbook is data PowerShell cannot run', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-runbook-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a category, an export file or a scope with a line break, naming the field and the rule', async () => {
    const category = await command(server.url, 'MigratePool', { ...MIGRATE, reason: 'CHG-1', categories: ['Eng', CATEGORY] });
    expect(category.status).toBe(400);
    expect(category.body.error.code).toBe('INVALID_INPUT');
    expect(category.body.error.details.field).toBe('categories');
    expect(category.body.error.message).toContain('each value in categories must be plain text: no control or invisible characters; found U+000D at character 13 of value 2');
    for (const [field, value] of [
      ['exportFileName', 'C:\\x.zip\r\nStart-Process calc.exe'],
      ['exportScope', 'Eng\nStart-Process calc.exe'],
    ] as const) {
      const refused = await command(server.url, 'MigratePool', { ...MIGRATE, reason: 'CHG-1', [field]: value });
      expect(refused.status).toBe(400);
      expect(refused.body.error.details.field).toBe(field);
      expect(refused.body.error.message).toContain(`${field} must be plain text`);
    }
  });

  it('keeps a multi-line reason in comments and curly-quoted values inside their strings', async () => {
    const planned = await command(server.url, 'MigratePool', {
      ...MIGRATE,
      reason: REASON,
      categories: ['Eng', 'Eng/Platform'],
      exportFileName: FILE,
      exportScope: SCOPE,
      endpointDisplayName: DISPLAY,
    });
    expect(planned.status).toBe(200);
    const response = await fetch(`${server.url}/api/migrations/${planned.body.migrationId}/runbook?minPosition=${planned.body.position}`, { headers: bearer() });
    expect(response.status).toBe(200);
    const runbook = await response.text();
    expect(runbookProblems(runbook, PAYLOADS)).toEqual([]);
    const grammar = await grammarView(runbook);
    expect(grammar.errors).toEqual([]);
    expect(grammar.commands).not.toContain('Start-Process');
    for (const payload of PAYLOADS) expect([payload, payloadInert(runbook, grammar, payload)]).toEqual([payload, true]);
    expect(runbook).toContain('# Reason: CHG-1042 migration window\r\n# Start-Process calc.exe\r\n# #\r\n');
    // PowerShell reads back exactly what was recorded.
    const values = tokenize(runbook)
      .filter((t) => t.kind === 'string')
      .map((t) => t.value);
    expect(values).toEqual(expect.arrayContaining([FILE, 'Eng', 'Sales\u2018; Stop-Computer; \u2018', DISPLAY]));

    // The same runbook from the command line, to a file through a pipe: the same bytes.
    const cli = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), 'migrate', 'runbook', planned.body.migrationId, '--server', server.url], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', TOPO_TOKEN: TEST_ADMIN_TOKEN },
      encoding: 'utf8',
    });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toBe(`${runbook}\n`);
  });
});
