import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HashChainedEventStore } from '../../src/event-store/hash-chain';
import { SqliteEventStore, STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';
import { runUntilExit, startServer } from '../support/server';

describe('the server process', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'topo-e2e-')), 'data');
  });
  afterEach(() => fs.rmSync(path.dirname(dataDir), { recursive: true, force: true }));

  it('serves /health on the embedded SQLite store, creating DATA_DIR on first start, and keeps data across restarts', async () => {
    const first = await startServer({ DATA_DIR: dataDir });
    const health = await fetch(`${first.url}/health`);
    expect(health.status).toBe(200);
    // The first start's one event: the issue of the admin API token.
    expect(await health.json()).toMatchObject({ status: 'ok', eventStore: 'sqlite', headPosition: 1 });
    expect(fs.existsSync(path.join(dataDir, STORE_FILE_NAME))).toBe(true);
    expect(await first.stop()).toBe(0);

    // Through the hash chain, as the product appends: an unchained event after chained ones is a break.
    const store = new HashChainedEventStore(new SqliteEventStore({ dataDir }));
    await store.appendToStream('topology-default', [{ id: randomUUID(), type: 'SipDomainRegistered', data: { domain: 'contoso.com', isDefault: true, previousDefault: null } }], {
      expectedRevision: 'no_stream',
    });
    await store.close();

    const second = await startServer({ DATA_DIR: dataDir });
    expect(await (await fetch(`${second.url}/health`)).json()).toMatchObject({ status: 'ok', headPosition: 2 });
    await second.stop();
    const third = await startServer({ DATA_DIR: dataDir });
    expect(await (await fetch(`${third.url}/health`)).json()).toMatchObject({ headPosition: 2 });
    await third.stop();
  });

  it.each([
    [{ PORT: 'eighty' }, /^topology-ledger: invalid configuration: PORT must be an integer from 0 to 65535/],
    [{ LOG_LEVEL: 'loud' }, /^topology-ledger: invalid configuration: LOG_LEVEL must be one of silent, error, warn, info, debug/],
    [{ EVENTSTORE_CONNECTION_STRING: 'http://esdb:2113' }, /^topology-ledger: invalid configuration: EVENTSTORE_CONNECTION_STRING must start with esdb:\/\//],
    [{ LOG_FORMAT: 'xml' }, /^topology-ledger: invalid configuration: LOG_FORMAT must be one of json, pretty/],
    [{ METRICS_TOKEN: 'short' }, /^topology-ledger: invalid configuration: METRICS_TOKEN must be 16 to 256 printable characters without spaces \(got "<hidden>"\)$/],
  ])('refuses to start on bad configuration %p with one clear line', async (env, message) => {
    const result = await runUntilExit({ DATA_DIR: dataDir, ...env });
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it('refuses to start on a corrupt store file, naming it, and does not modify it', async () => {
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, STORE_FILE_NAME);
    fs.writeFileSync(file, 'garbage '.repeat(1000));
    const result = await runUntilExit({ DATA_DIR: dataDir });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining(`${file}: cannot be read as a SQLite database`)]);
    expect(fs.readFileSync(file, 'utf8')).toBe('garbage '.repeat(1000));
  });
});
