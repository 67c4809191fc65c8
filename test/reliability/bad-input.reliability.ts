import * as fs from 'node:fs';
import { command, getJson, seedTopology } from '../support/http';
import { RunningServer, startServer } from '../support/server';
import { readLog, tempDir } from './support';

/**
 * A corpus of bad input, each case sent to a running server: every one is refused with 400 and
 * `details.field` naming the field (413 for a body over the size limit), and nothing reaches the
 * topology (only the refusal's own audit record is appended).
 */

const POOL = 'pcpool.contoso.com';
const CYRILLIC_O = '\u043e'; // looks like the Latin "o"
const nest = (depth: number): unknown => {
  let value: unknown = 'x';
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};
const nestText = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

interface Case {
  readonly label: string;
  readonly name: string;
  /** A JSON-able body, or the raw text to send. */
  readonly body: unknown;
  /** The field `details.field` must name; `undefined` for the cases that cannot name one (413). */
  readonly field?: string;
  readonly status?: number;
}

const endpoint = (fields: Record<string, unknown>): Record<string, unknown> => ({ sipAddress: 'sip:room1@contoso.com', persistentChatPoolFqdn: POOL, ...fields });

const badSipAddresses: [string, unknown][] = [
  ['no scheme', 'room1@contoso.com'],
  ['scheme only', 'sip:'],
  ['no user', 'sip:@contoso.com'],
  ['no host', 'sip:room1@'],
  ['space in user', 'sip:room 1@contoso.com'],
  ['two @', 'sip:room1@x@contoso.com'],
  ['empty label', 'sip:room1@contoso..com'],
  ['label starting with a hyphen', 'sip:room1@-contoso.com'],
  ['Cyrillic o in the domain', `sip:room1@c${CYRILLIC_O}ntoso.com`],
  ['Cyrillic o in the user', `sip:r${CYRILLIC_O}om1@contoso.com`],
  ['zero-width space', 'sip:room\u200b1@contoso.com'],
  ['fullwidth letters', 'sip:\uff52oom1@contoso.com'],
  ['control character', 'sip:room1\u0000@contoso.com'],
  ['right-to-left override', 'sip:room1\u202e@contoso.com'],
  ['4,000-character user part', `sip:${'a'.repeat(4000)}@contoso.com`],
  ['a number', 42],
  ['null', null],
  ['an array', ['sip:room1@contoso.com']],
  ['an object', { uri: 'sip:room1@contoso.com' }],
  ['a boolean', true],
  ['empty string', ''],
  ['deeply nested object', nest(200)],
];

const badFqdns: [string, unknown][] = [
  ['single label', 'pcpool'],
  ['space', 'pc pool.contoso.com'],
  ['leading hyphen', '-pcpool.contoso.com'],
  ['empty label', 'pcpool..contoso.com'],
  ['64-character label', `${'a'.repeat(64)}.contoso.com`],
  ['300 characters', `${'a.'.repeat(150)}com`],
  ['Cyrillic o', `pcp${CYRILLIC_O}${CYRILLIC_O}l.contoso.com`],
  ['punctuation', 'pcpool!.contoso.com'],
  ['a URL', 'https://pcpool.contoso.com/'],
  ['a number', 7],
  ['an array', [POOL]],
];

const corpus: Case[] = [
  ...badSipAddresses.map(([label, value]): Case => ({ label: `CreateEndpoint sipAddress: ${label}`, name: 'CreateEndpoint', body: endpoint({ sipAddress: value }), field: 'sipAddress' })),
  ...badFqdns.map(([label, value]): Case => ({ label: `CreateEndpoint pool FQDN: ${label}`, name: 'CreateEndpoint', body: endpoint({ persistentChatPoolFqdn: value }), field: 'persistentChatPoolFqdn' })),
  ...badFqdns.map(([label, value]): Case => ({ label: `RegisterSipDomain domain: ${label}`, name: 'RegisterSipDomain', body: { domain: value }, field: 'domain' })),
  { label: 'RegisterSipDomain isDefault: a string', name: 'RegisterSipDomain', body: { domain: 'fabrikam.com', isDefault: 'yes' }, field: 'isDefault' },
  { label: 'CreateEndpoint displayName: 10,000 characters', name: 'CreateEndpoint', body: endpoint({ displayName: 'x'.repeat(10_000) }), field: 'displayName' },
  { label: 'CreateEndpoint displayName: a number', name: 'CreateEndpoint', body: endpoint({ displayName: 5 }), field: 'displayName' },
  { label: 'CreateEndpoint displayName: a terminal escape', name: 'CreateEndpoint', body: endpoint({ displayName: 'x\u001b[31mred' }), field: 'displayName' },
  { label: 'CreateEndpoint displayName: a zero-width space', name: 'CreateEndpoint', body: endpoint({ displayName: 'Chat\u200b' }), field: 'displayName' },
  { label: 'CreateEndpoint displayName: a right-to-left override', name: 'CreateEndpoint', body: endpoint({ displayName: 'abc\u202edef' }), field: 'displayName' },
  { label: 'CreateEndpoint reason: a NUL', name: 'CreateEndpoint', body: endpoint({ reason: 'CHG-1\u0000' }), field: 'reason' },
  { label: 'CreateEndpoint: sipAddress missing', name: 'CreateEndpoint', body: { persistentChatPoolFqdn: POOL }, field: 'sipAddress' },
  { label: 'CreateEndpoint: unknown field', name: 'CreateEndpoint', body: endpoint({ owner: 'me' }), field: 'owner' },
  { label: 'CreateEndpoint: deeply nested unknown field', name: 'CreateEndpoint', body: endpoint({ extra: nest(500) }), field: 'extra' },
  { label: 'CreateEndpoint: __proto__ field', name: 'CreateEndpoint', body: '{"sipAddress":"sip:room1@contoso.com","persistentChatPoolFqdn":"pcpool.contoso.com","__proto__":{"admin":true}}', field: '__proto__' },
  { label: 'CreateEndpoint deployment: an object', name: 'CreateEndpoint', body: endpoint({ deployment: { name: 'default' } }), field: 'deployment' },
  { label: 'InstallPersistentChatPool servers: a string', name: 'InstallPersistentChatPool', body: { fqdn: 'pcpool2.contoso.com', servers: 'pc5.contoso.com' }, field: 'servers' },
  { label: 'InstallPersistentChatPool servers: numbers', name: 'InstallPersistentChatPool', body: { fqdn: 'pcpool2.contoso.com', servers: [1, 2] }, field: 'servers' },
  { label: 'InstallPersistentChatPool servers: nested arrays', name: 'InstallPersistentChatPool', body: { fqdn: 'pcpool2.contoso.com', servers: [['pc5.contoso.com']] }, field: 'servers' },
  { label: 'InstallPersistentChatPool servers: Cyrillic o', name: 'InstallPersistentChatPool', body: { fqdn: 'pcpool2.contoso.com', servers: [`pc5.c${CYRILLIC_O}ntoso.com`] }, field: 'servers' },
  { label: 'InstallPersistentChatPool servers: 2,000 of them', name: 'InstallPersistentChatPool', body: { fqdn: 'pcpool2.contoso.com', servers: Array.from({ length: 2000 }, (_, i) => `pc${i}.contoso.com`) }, field: 'servers' },
  { label: 'body: an array', name: 'CreateEndpoint', body: [endpoint({})], field: 'body' },
  { label: 'body: a string', name: 'CreateEndpoint', body: '"sip:room1@contoso.com"', field: 'body' },
  { label: 'body: null', name: 'CreateEndpoint', body: 'null', field: 'body' },
  { label: 'body: not JSON', name: 'CreateEndpoint', body: '{"sipAddress": sip:room1@contoso.com}', field: 'body' },
  { label: 'body: truncated JSON', name: 'CreateEndpoint', body: '{"sipAddress":"sip:room1@contoso.com","persistentChat', field: 'body' },
  { label: 'body: 5,000 nested arrays', name: 'CreateEndpoint', body: nestText(5_000), field: 'body' },
  { label: 'body: 30,000 nested arrays', name: 'CreateEndpoint', body: nestText(30_000), field: 'body' },
  // Over the 64 kB body limit: refused before parsing.
  { label: 'body: 100,000 nested arrays (200 kB)', name: 'CreateEndpoint', body: nestText(100_000), status: 413 },
  { label: 'CreateEndpoint displayName: 100,000 characters', name: 'CreateEndpoint', body: endpoint({ displayName: 'x'.repeat(100_000) }), status: 413 },
  { label: 'body: 2 MB', name: 'CreateEndpoint', body: endpoint({ displayName: 'x'.repeat(2_000_000) }), status: 413 },
];

/** `details.field` names the field itself or a part of it (`servers[0]`, `sipAddress.a`). */
const names = (field: unknown, expected: string): boolean =>
  typeof field === 'string' && (field === expected || field.startsWith(`${expected}.`) || field.startsWith(`${expected}[`));

describe('bad input', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = tempDir('input');
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
  }, 60_000);
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(`refuses each of ${corpus.length} bad bodies with 400 and the field, appending nothing to the topology`, async () => {
    const topologyBefore = readLog(dataDir).filter((e) => !e.streamId.startsWith('refused_command-'));
    const headBefore = (await getJson(server.url, '/health')).body as { headPosition: number };
    const wrong: string[] = [];
    for (const item of corpus) {
      let reply: Awaited<ReturnType<typeof command>>;
      try {
        reply = await command(server.url, item.name, item.body);
      } catch (failure) {
        wrong.push(`${item.label}: no answer (${String(failure)}); server output: ${server.output().slice(-1500)}`);
        break;
      }
      const expectedStatus = item.status ?? 400;
      const error = (reply.body as { error?: { code?: string; details?: { field?: unknown } } } | undefined)?.error;
      const field = error?.details?.field;
      if (reply.status !== expectedStatus || typeof error?.code !== 'string' || (item.field !== undefined && !names(field, item.field))) {
        wrong.push(`${item.label}: ${reply.status} ${error?.code ?? ''} field=${String(field)} (expected ${expectedStatus} field=${String(item.field)})`);
      }
    }
    expect(wrong).toEqual([]);
    // The process is still up and well, and nothing but refusal records was appended.
    const health = await getJson(server.url, '/health');
    expect(health.status).toBe(200);
    const after = readLog(dataDir);
    expect(after.filter((e) => !e.streamId.startsWith('refused_command-'))).toEqual(topologyBefore);
    const added = after.filter((e) => e.position > headBefore.headPosition);
    expect(added.every((e) => e.type === 'CommandRefused')).toBe(true);
  }, 120_000);

  it('still accepts the well-formed command the corpus was built from; surrounding white space is trimmed, never stored', async () => {
    const reply = await command(server.url, 'CreateEndpoint', endpoint({ sipAddress: ' sip:room1@contoso.com\n' }));
    expect(reply.status).toBe(200);
    const created = readLog(dataDir).filter((e) => e.type === 'PersistentChatEndpointCreated');
    expect(created.map((e) => e.data['sipAddress'])).toEqual(['sip:room1@contoso.com']);
  });
});
