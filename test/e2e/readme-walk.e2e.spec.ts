import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

/**
 * A reader copies the README's `sh` blocks in order, from the seed scenario through the migration and
 * its rollback. This runs those very lines with bash and curl against a real server on a fresh store.
 */
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The `sh` blocks of the README between two headings, in order. */
function shellBlocks(from: string, to: string): string[] {
  const start = README.indexOf(from);
  const end = README.indexOf(to, start);
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return [...README.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The lines that call the API (`post ...`, `id=$(post ...)`, `curl ...`), as a reader runs them. */
function apiLines(block: string): string[] {
  return block.split('\n').filter((line) => /^(post |id=\$\(post |curl )/.test(line));
}

describe('the README, run as written', () => {
  let server: RunningServer;
  let dataDir: string;
  let workDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-readme-'));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-readme-cwd-'));
    server = await startServer({ DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('runs the seed scenario, the manual hand-over and the migration with its rollback, top to bottom', () => {
    const [seed, handOver] = shellBlocks('## Using it', '## Authentication and roles');
    const [migration] = shellBlocks('## Migrating legacy Group Chat to Persistent Chat', '## Console');
    // The seed's own set-up lines, with the server's address and token in place of the README's.
    const setup = seed!
      .split('\n')
      .filter((line) => /^(base|api|TOKEN)=|^post\(\)/.test(line))
      .map((line) => line.replace(/^base=.*/, `base=${server.url}`).replace(/^TOKEN=.*/, `TOKEN=${TEST_ADMIN_TOKEN}`));
    expect(setup.map((l) => /^(\w+)/.exec(l)![1])).toEqual(['base', 'api', 'TOKEN', 'post']);

    const lines = [...apiLines(seed!), ...apiLines(handOver!), ...apiLines(migration!)];
    // Each API line's answer, one JSON document per line, in a file of its own.
    const script = [
      'set -euo pipefail',
      ...setup,
      ...lines.flatMap((line, i) => [line.startsWith('id=') ? `${line}; echo "{\\"migrationId\\":\\"$id\\"}"` : line, `echo '@@${i}'`]),
    ].join('\n');
    const output = execFileSync('bash', ['-c', script], { cwd: workDir, encoding: 'utf8', timeout: 60_000 });
    const answers = output.split(/\n?@@\d+\n/).slice(0, lines.length);
    expect(answers).toHaveLength(lines.length);

    const results = lines.map((line, i) => ({ line, text: answers[i]!.trim() }));
    const json = (text: string): { error?: { code: string }; migrationId?: string; status?: string; events?: unknown[] } => JSON.parse(text.split('\n').pop()!);
    for (const { line, text } of results) {
      if (line.startsWith('curl ')) continue;
      const answer = json(text);
      // The one refusal the README shows on purpose is announced on the line before it.
      if (line.includes('"sip:ocschat@contoso.com","persistentChatPoolFqdn"') && !line.includes('deployment=lab')) {
        expect(answer.error?.code).toBe('SIP_ADDRESS_IN_USE');
      } else {
        expect({ line, error: answer.error }).toEqual({ line, error: undefined });
      }
    }
    const id = json(results.find((r) => r.line.startsWith('id='))!.text).migrationId;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const rollback = json(results[results.length - 1]!.text);
    expect(rollback.status).toBe('RolledBack');
    const runbook = fs.readFileSync(path.join(workDir, 'migration.ps1'), 'utf8');
    expect(runbook).toContain('Export-CsPersistentChatData');
    // The seed records each pool's database instance, so the runbook's data lines name them, not a placeholder.
    expect(runbook).toContain("Export-CsPersistentChatData -DBInstance 'gcsql.contoso.com\\rtc'");
    expect(runbook).toContain("Import-CsPersistentChatData -DBInstance 'pcsql.contoso.com\\rtc'");
    expect(runbook).not.toContain('SQL-INSTANCE>>');
  });
});
