import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { ALL_PROJECTIONS } from '../../projections';
import { findEndpoints } from '../../projections/endpoint-directory/endpoint-directory.query';
import { ProjectionLagging, type ReadModels } from '../../projections/runner/projection-runner';
import { readTopology } from '../../projections/topology/topology.query';
import { CommandContext } from '../../src/application/audit';
import { ExecuteTopologyCommand, ExecuteTopologyCommandHandler } from '../../src/application/execute-topology-command';
import { createReadModels, READ_MODELS_FILE } from '../../src/application/read-models.module';
import { ThreadedReadModels } from '../../src/application/threaded-read-models';
import { TopologyRepository } from '../../src/application/topology-repository';
import { parseFqdn, parseSipUri, TopologyCommand } from '../../src/domain';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

const context = (): CommandContext => ({
  actor: 'alice@contoso.com',
  roles: ['admin'],
  authenticated: false,
  commandId: randomUUID(),
  correlationId: randomUUID(),
  causationId: null,
  reason: 'CHG-7',
  clientAddress: null,
  occurredAt: new Date().toISOString(),
});

const ALL = ALL_PROJECTIONS.map((p) => p.name);
const TOPOLOGY = 'topology';
const DIRECTORY = 'endpoint_directory';

const endpoint = (i: number): TopologyCommand => ({
  type: 'CreateEndpoint',
  sipAddress: parseSipUri(`sip:chat${i}@contoso.com`, 'sipAddress'),
  poolFqdn: parseFqdn('pcpool.contoso.com', 'persistentChatPoolFqdn'),
});

/** The thread of a ThreadedReadModels, to end it as a crash would. */
const threadOf = (readModels: ReadModels): Worker => (readModels as unknown as { worker: Worker }).worker;

describe('the read models in a thread of their own (SQLite event store)', () => {
  let dir: string;
  let store: SqliteEventStore;
  let handler: ExecuteTopologyCommandHandler;
  let readModels: ReadModels | undefined;

  const run = async (command: TopologyCommand): Promise<number> =>
    (await handler.execute(new ExecuteTopologyCommand('contoso', command, context(), randomUUID(), false))).position;

  const open = async (): Promise<ReadModels> => {
    // The old tables of a build taken over go at once here; the server keeps them a minute (see the test below).
    readModels = await createReadModels(store, dir, undefined, { retiredTablesGraceMs: 0 });
    readModels.start();
    return readModels;
  };

  /** The tables of one build of a projection in the read models' file, looked at through a connection of the test's own. */
  const tablesOf = (name: string, generation: number): string[] => {
    const db = new Database(path.join(dir, READ_MODELS_FILE), { readonly: true });
    try {
      return db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ?`).pluck().all(`${name}_g${generation}_*`) as string[];
    } finally {
      db.close();
    }
  };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-rm-thread-'));
    store = new SqliteEventStore({ dataDir: dir, pollIntervalMs: 20 });
    handler = new ExecuteTopologyCommandHandler(store, new TopologyRepository(store));
    await run({ type: 'RegisterSipDomain', domain: parseFqdn('contoso.com', 'domain') });
    await run({ type: 'InstallPersistentChatPool', fqdn: parseFqdn('pcpool.contoso.com', 'fqdn'), servers: [parseFqdn('pc1.contoso.com', 'servers')] });
  });
  afterEach(async () => {
    await readModels?.stop();
    readModels = undefined;
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers each command with its own write (minPosition), from builds written by another thread', async () => {
    const models = await open();
    expect(models).toBeInstanceOf(ThreadedReadModels);
    for (let i = 0; i < 20; i++) {
      const position = await run(endpoint(i));
      await models.waitFor([TOPOLOGY, DIRECTORY], position, 5_000);
      const found = findEndpoints(models.reader(DIRECTORY), { deployment: 'contoso', filter: `chat${i}@contoso.com` });
      expect(found.map((e) => e.sipAddress)).toEqual([`sip:chat${i}@contoso.com`]);
      expect(models.checkpoint(TOPOLOGY)).toBeGreaterThanOrEqual(position);
    }
    const head = await store.headPosition();
    await models.waitFor(ALL, head, 5_000);
    const statuses = await models.statuses();
    expect(statuses.map((s) => [s.name, s.state, s.checkpoint, s.lagEvents])).toEqual(ALL.map((name) => [name, 'live', head, 0]));
    expect(readTopology(models.reader(TOPOLOGY), 'contoso').persistentChatPools[0]).toMatchObject({ fqdn: 'pcpool.contoso.com', endpointCount: 20 });
  });

  it('a query without minPosition still reads every write made before it (readAfter waits for the live builds up to the head)', async () => {
    const models = await open();
    const first = await run(endpoint(0));
    await models.waitFor(ALL, first, 5_000);
    for (let i = 1; i <= 30; i++) {
      await run(endpoint(i));
      await models.readAfter([DIRECTORY], undefined, 5_000);
      const found = findEndpoints(models.reader(DIRECTORY), { deployment: 'contoso', filter: `chat${i}@contoso.com` });
      expect(found.map((e) => e.sipAddress)).toEqual([`sip:chat${i}@contoso.com`]);
    }
  });

  it('learns of commits made by another process (the CLI on the same DATA_DIR) through the log file', async () => {
    const models = await open();
    const other = new SqliteEventStore({ dataDir: dir });
    try {
      const cli = new ExecuteTopologyCommandHandler(other, new TopologyRepository(other));
      const { position } = await cli.execute(new ExecuteTopologyCommand('contoso', endpoint(99), context(), randomUUID(), false));
      await models.waitFor([DIRECTORY], position, 5_000);
      expect(findEndpoints(models.reader(DIRECTORY), { deployment: 'contoso', filter: 'chat99@contoso.com' })).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('takes a rebuild over without a query failing or changing its answer during the switch, then drops the old tables', async () => {
    for (let i = 0; i < 150; i++) await run(endpoint(i));
    const models = await open();
    const head = await store.headPosition();
    await models.waitFor(ALL, head, 10_000);
    const expected = readTopology(models.reader(TOPOLOGY), 'contoso');
    const before = models.serving(TOPOLOGY).generation;

    let queries = 0;
    let switching = true;
    const querying = (async () => {
      while (switching) {
        // Each query takes the reader of the build serving at that moment, as the HTTP handlers do.
        expect(readTopology(models.reader(TOPOLOGY), 'contoso')).toEqual(expected);
        queries += 1;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const generation = await models.rebuild(TOPOLOGY);
    expect(generation).toBeGreaterThan(before);
    expect((await models.statuses()).find((s) => s.name === TOPOLOGY)?.rebuild).toMatchObject({ generation });
    const deadline = Date.now() + 10_000;
    while (models.serving(TOPOLOGY).generation !== generation && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    // Some more queries on the new build while the old one's tables are dropped.
    await new Promise((resolve) => setTimeout(resolve, 50));
    switching = false;
    await querying;

    expect(models.serving(TOPOLOGY)).toMatchObject({ generation, state: 'live', checkpoint: head, rebuild: null });
    expect(queries).toBeGreaterThan(10);
    while (tablesOf(TOPOLOGY, before).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(tablesOf(TOPOLOGY, before)).toEqual([]);
    expect(tablesOf(TOPOLOGY, generation).length).toBeGreaterThan(0);
  });

  it('keeps the tables of a build taken over for a while, so a request that took its reader before an await still reads it', async () => {
    for (let i = 0; i < 20; i++) await run(endpoint(i));
    const models = await createReadModels(store, dir, undefined, { retiredTablesGraceMs: 60_000 });
    readModels = models;
    models.start();
    const head = await store.headPosition();
    await models.waitFor(ALL, head, 10_000);
    const held = models.reader(TOPOLOGY);
    const expected = readTopology(held, 'contoso');
    const generation = await models.rebuild(TOPOLOGY);
    const deadline = Date.now() + 10_000;
    while (models.serving(TOPOLOGY).generation !== generation && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(models.serving(TOPOLOGY).generation).toBe(generation);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The reader taken before the take-over, used after it (as a handler that awaited in between).
    expect(readTopology(held, 'contoso')).toEqual(expected);
  });

  it('shows every projection failed, with the cause, once its thread is gone; queries still answer what was stored', async () => {
    const models = await open();
    const position = await run(endpoint(1));
    await models.waitFor(ALL, position, 5_000);
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      await threadOf(models).terminate();
      const statuses = await models.statuses();
      expect(statuses.map((s) => s.state)).toEqual(ALL.map(() => 'failed'));
      expect(statuses[0]?.failedAt).toMatchObject({ position, error: expect.stringMatching(/read models' thread exited/) });
      // Logged once, not once per projection.
      expect(errors.mock.calls.filter(([line]) => String(line).includes("read models' thread"))).toHaveLength(1);
    } finally {
      errors.mockRestore();
    }
    const later = await run(endpoint(2));
    const started = Date.now();
    await expect(models.waitFor([DIRECTORY], later, 5_000)).rejects.toBeInstanceOf(ProjectionLagging);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(findEndpoints(models.reader(DIRECTORY), { deployment: 'contoso', filter: 'chat1@contoso.com' })).toHaveLength(1);
    await expect(models.rebuild(TOPOLOGY)).rejects.toThrow(/thread exited/);
  });

  it('stops cleanly: the last batch committed, the thread ended, the write-ahead log folded back; the next start resumes there', async () => {
    const models = await open();
    let position = 0;
    for (let i = 0; i < 10; i++) position = await run(endpoint(i));
    await models.waitFor(ALL, position, 5_000);
    const exited = new Promise<number>((resolve) => threadOf(models).once('exit', resolve));
    const stopped = models.stop();
    expect(models.stop()).toBe(stopped);
    await stopped;
    expect(await exited).toBe(0);
    expect(fs.existsSync(path.join(dir, `${READ_MODELS_FILE}-wal`))).toBe(false);

    const again = await open();
    // Restored from the file before the first batch: nothing to catch up.
    expect((await again.statuses()).map((s) => [s.checkpoint, s.lagEvents])).toEqual(ALL.map(() => [position, 0]));
  });
});
