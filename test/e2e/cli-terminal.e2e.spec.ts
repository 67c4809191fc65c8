import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { auditMetadata } from '../../src/application/audit';
import { refusalStreamId } from '../../src/application/streams';
import { decide, evolve, initialState, parseFqdn, parseSipUri, type TopologyCommand, type TopologyState } from '../../src/domain';
import type { JsonObject } from '../../src/event-store/event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(120_000);

/**
 * Values a store may hold from before its doors refused them (or from another writer): colour, a window
 * title, a bell, CR LF and a fake line, an 8-bit CSI, a right-to-left override.
 */
const HOSTILE = 'X\u001b[31mRED\u0007\u001b]0;owned\u0007\r\nFAKE-LINE 2026-01-01T00:00:00Z admin accepted \u009b2J \u202eexe.ssecorp';
/** What a terminal would act on: none of these may reach it raw. */
const RAW = /[\u001b\u0007\r\u009b\u202e]/;

describe('the CLI prints values from the store safely for a terminal', () => {
  let dataDir: string;
  let server: RunningServer;
  const topo = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args, '--server', server.url], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', TOPO_TOKEN: TEST_ADMIN_TOKEN, TOPO_REASON: '' },
      encoding: 'utf8',
    });

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-cli-terminal-'));
    // Written straight to the store file, through the real decider: the request-time rules never saw them.
    const store = new SqliteEventStore({ dataDir });
    try {
      const commands: TopologyCommand[] = [
        { type: 'RegisterSipDomain', domain: parseFqdn('contoso.com', 'domain') },
        { type: 'InstallPersistentChatPool', fqdn: parseFqdn('pcpool.contoso.com', 'fqdn'), servers: [parseFqdn('pc1.contoso.com', 'servers')] },
        { type: 'CreateEndpoint', sipAddress: parseSipUri('sip:evil@contoso.com', 'sipAddress'), poolFqdn: parseFqdn('pcpool.contoso.com', 'poolFqdn'), displayName: HOSTILE },
      ];
      let state: TopologyState = initialState();
      let revision = -1;
      for (const command of commands) {
        const { events } = decide(command, state);
        for (const event of events) state = evolve(state, event);
        const metadata = auditMetadata(
          { actor: HOSTILE, roles: ['admin'], authenticated: true, commandId: randomUUID(), correlationId: randomUUID(), causationId: null, reason: HOSTILE, clientAddress: null, occurredAt: new Date().toISOString() },
          { deployment: 'default', command: command.type },
        );
        const result = await store.appendToStream(
          'topology-default',
          events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as unknown as JsonObject, metadata })),
          { expectedRevision: revision < 0 ? 'no_stream' : revision },
        );
        revision = result.nextExpectedRevision;
      }
      const context = { actor: 'anonymous', roles: [], authenticated: false, commandId: randomUUID(), correlationId: randomUUID(), causationId: null, reason: null, clientAddress: '127.0.0.1', occurredAt: new Date().toISOString() };
      await store.appendToStream(
        refusalStreamId('default'),
        [
          {
            id: randomUUID(),
            type: 'CommandRefused',
            data: { command: HOSTILE, deployment: 'default', input: {}, status: 404, error: { code: 'UNKNOWN_COMMAND', message: `no command named ${HOSTILE}`, details: {} } },
            metadata: auditMetadata(context, { deployment: 'default', command: HOSTILE }),
          },
        ],
        { expectedRevision: 'any' },
      );
    } finally {
      await store.close();
    }
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function expectSafe(output: { status: number | null; stdout: string; stderr: string }): void {
    expect(output.stdout).not.toMatch(RAW);
    expect(output.stderr).not.toMatch(RAW);
    // No stored text starts a line of its own.
    expect(output.stdout).not.toMatch(/^FAKE-LINE/m);
  }

  it('topo audit --outcome refused shows the refused command name escaped, on its own entry line', () => {
    const refused = topo('audit', '--outcome', 'refused');
    expect(refused.status).toBe(0);
    expectSafe(refused);
    expect(refused.stdout).toContain('REFUSED X\\x1b[31mRED\\x07\\x1b]0;owned\\x07\\r\\nFAKE-LINE');
    expect(refused.stdout).toContain('\\x9b2J \\u{202e}exe.ssecorp');
  });

  it('topo audit shows actors and reasons escaped, and --json stays the same JSON value', () => {
    const all = topo('audit');
    expect(all.status).toBe(0);
    expectSafe(all);
    expect(all.stdout).toContain('"X\\x1b[31mRED');
    const json = topo('audit', '--json');
    expect(json.status).toBe(0);
    expectSafe(json);
    const entries = JSON.parse(json.stdout).entries as Array<{ actor: string; reason: string | null }>;
    expect(entries.map((e) => e.actor)).toContain(HOSTILE);
  });

  it('topo history shows a stored display name escaped', () => {
    const history = topo('history', '--as-of', new Date(Date.now() + 60_000).toISOString());
    expect(history.status).toBe(0);
    expectSafe(history);
    expect(history.stdout).toContain("sip:evil@contoso.com -> pcpool.contoso.com  'X\\x1b[31mRED");
  });

  it('a cmdlet line shows stored values escaped (list view and JSON)', () => {
    const shown = topo('Get-CsPersistentChatEndpoint', '-Identity', 'sip:evil@contoso.com');
    expect(shown.status).toBe(0);
    expectSafe(shown);
    expect(shown.stdout).toContain('X\\x1b[31mRED');
    const json = topo('Get-CsPersistentChatEndpoint', '-Identity', 'sip:evil@contoso.com', '--json');
    expectSafe(json);
    expect(JSON.stringify(JSON.parse(json.stdout))).toContain(JSON.stringify(HOSTILE).slice(1, -1));
  });
});
