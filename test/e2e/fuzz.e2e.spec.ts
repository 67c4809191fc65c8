import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandNames } from '../../src/application/commands/command-registry';
import { COMMAND_POLICY } from '../../src/application/authorization';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { seedTopology } from '../support/http';
import { RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(120_000);

/** Cases per command route: bounded so that the whole file stays under about half a minute. */
const RUNS_PER_COMMAND = 25;

const FIELDS = ['sipAddress', 'persistentChatPoolFqdn', 'fqdn', 'domain', 'identity', 'servers', 'version', 'wellKnownSipAddress', 'kind', 'poolFqdn', 'state', 'deployment', 'commandId', 'reason', 'displayName', 'isDefault', 'migrationId', '__proto__', 'constructor'];
const headerText = fc.stringMatching(/^[!-~][ -~]{0,60}$/);

const body = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 12 })), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('sip:a@contoso.com', 'pcpool.contoso.com', 'contoso.com', '', ' ', 'x'.repeat(300))), { maxKeys: 6 }).map((value) => JSON.stringify(value)),
  fc.string({ maxLength: 80 }),
  fc.constant(''),
);

const headers = fc.record(
  {
    authorization: fc.oneof(
      fc.constant(`Bearer ${TEST_ADMIN_TOKEN}`),
      fc.constant(`Bearer ${TEST_ADMIN_TOKEN}`),
      headerText,
      headerText.map((t) => `Bearer ${t}`),
      fc.constant('Bearer topo_0123456789abcdef_' + 'A'.repeat(43)),
      fc.constant('Bearer a.b.c'),
    ),
    'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded'),
    'idempotency-key': headerText,
    'x-reason': headerText,
    'x-correlation-id': headerText,
  },
  { requiredKeys: ['content-type'] },
);

const query = fc.constantFrom('', '?whatIf=true', '?whatIf=maybe', '?deployment=contoso');

describe('fuzzing the command routes: generated bodies and headers', () => {
  let dataDir: string;
  let server: RunningServer;
  let store: SqliteEventStore;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-fuzz-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '0' });
    await seedTopology(server.url);
    store = new SqliteEventStore({ dataDir });
  });
  afterAll(async () => {
    await store.close();
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const topologyEvents = async (): Promise<number> => (await store.readAll({ filter: { streamPrefixes: ['topology-'] } })).length;

  // Every command the API accepts, those the policy names ahead of their routes, and one nobody knows.
  const names = [...new Set([...commandNames(), ...COMMAND_POLICY.keys(), 'NoSuchCommand'])];

  it.each(names)('%s: never a 500, always the error shape, and nothing appended unless the command succeeded', async (name) => {
    await fc.assert(
      fc.asyncProperty(body, headers, query, async (text, sent, search) => {
        const before = await topologyEvents();
        const response = await fetch(`${server.url}/api/commands/${name}${search}`, { method: 'POST', headers: sent, body: text });
        const answer = (await response.text()) || '{}';
        expect(response.status).toBeLessThan(500);
        const parsed = JSON.parse(answer) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
        if (response.status !== 200) {
          expect(typeof parsed.error?.code).toBe('string');
          expect(typeof parsed.error?.message).toBe('string');
          expect(typeof parsed.error?.details).toBe('object');
          expect(await topologyEvents()).toBe(before);
        }
        if (sent.authorization !== `Bearer ${TEST_ADMIN_TOKEN}`) expect(response.status).toBe(401);
      }),
      { numRuns: RUNS_PER_COMMAND },
    );
  });
});
