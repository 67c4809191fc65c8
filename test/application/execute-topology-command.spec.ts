import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CommandContext } from '../../src/application/audit';
import { ExecuteTopologyCommand, ExecuteTopologyCommandHandler } from '../../src/application/execute-topology-command';
import { TopologyRepository } from '../../src/application/topology-repository';
import { parseFqdn, parseSipUri, TopologyCommand } from '../../src/domain';
import { AppendOptions, AppendResult, EventStore, EventToAppend } from '../../src/event-store/event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

const context = (): CommandContext => ({
  actor: 'tester',
  roles: ['admin'],
  authenticated: false,
  commandId: randomUUID(),
  correlationId: randomUUID(),
  causationId: null,
  reason: null,
  clientAddress: null,
  occurredAt: new Date().toISOString(),
});

const run = (handler: ExecuteTopologyCommandHandler, command: TopologyCommand, whatIf = false) =>
  handler.execute(new ExecuteTopologyCommand('default', command, context(), randomUUID(), whatIf));

const createEndpoint = (address: string): TopologyCommand => ({
  type: 'CreateEndpoint',
  sipAddress: parseSipUri(address, 'sipAddress'),
  poolFqdn: parseFqdn('pcpool.contoso.com', 'persistentChatPoolFqdn'),
});

/**
 * The real SQLite store, with one injected fault: just before the handler's append, "another
 * process" appends first (by running another handler on the same store), as happens when two
 * servers share one store.
 */
class RacingStore implements EventStore {
  readonly kind = 'sqlite' as const;
  racesLeft = 0;
  raceWith: (() => Promise<unknown>) | undefined;
  constructor(private readonly inner: SqliteEventStore) {}

  async appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    if (this.racesLeft > 0 && this.raceWith) {
      this.racesLeft -= 1;
      await this.raceWith();
    }
    return this.inner.appendToStream(streamId, events, options);
  }
  readStream: EventStore['readStream'] = (...args) => this.inner.readStream(...args);
  readAll: EventStore['readAll'] = (...args) => this.inner.readAll(...args);
  readAllStored: EventStore['readAllStored'] = (...args) => this.inner.readAllStored(...args);
  subscribeToAll: EventStore['subscribeToAll'] = (...args) => this.inner.subscribeToAll(...args);
  headPosition: EventStore['headPosition'] = () => this.inner.headPosition();
  ping: EventStore['ping'] = () => this.inner.ping();
  close: EventStore['close'] = () => this.inner.close();
}

describe('ExecuteTopologyCommandHandler', () => {
  let dir: string;
  let sqlite: SqliteEventStore;
  let store: RacingStore;
  let handler: ExecuteTopologyCommandHandler;
  let otherProcess: ExecuteTopologyCommandHandler;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-handler-'));
    sqlite = new SqliteEventStore({ dataDir: dir });
    store = new RacingStore(sqlite);
    handler = new ExecuteTopologyCommandHandler(store, new TopologyRepository(store));
    // Its own repository (its own cache), straight on the store: a second server.
    otherProcess = new ExecuteTopologyCommandHandler(sqlite, new TopologyRepository(sqlite));
    await run(handler, { type: 'RegisterSipDomain', domain: parseFqdn('contoso.com', 'domain') });
    await run(handler, { type: 'InstallPersistentChatPool', fqdn: parseFqdn('pcpool.contoso.com', 'fqdn'), servers: [parseFqdn('pc1.contoso.com', 'servers')] });
  });
  afterEach(async () => {
    await sqlite.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('on a version conflict reloads and decides again: a URI taken meanwhile is refused (R3), nothing appended twice', async () => {
    store.racesLeft = 1;
    store.raceWith = () => run(otherProcess, createEndpoint('sip:persistentchat@contoso.com'));
    await expect(run(handler, createEndpoint('sip:persistentchat@contoso.com'))).rejects.toMatchObject({ code: 'SIP_ADDRESS_IN_USE', rule: 'R3' });
    const created = (await sqlite.readStream('topology-default')).filter((e) => e.type === 'PersistentChatEndpointCreated');
    expect(created).toHaveLength(1);
  });

  it('on a version conflict over something unrelated, it lands after the other change', async () => {
    store.racesLeft = 2;
    let n = 0;
    store.raceWith = () => run(otherProcess, createEndpoint(`sip:other${n++}@contoso.com`));
    const result = await run(handler, createEndpoint('sip:persistentchat@contoso.com'));
    expect(result.events[0]).toMatchObject({ type: 'PersistentChatEndpointCreated', revision: 4 }); // after 0-1 set-up and the two others
    const types = (await sqlite.readStream('topology-default')).map((e) => e.type);
    expect(types.filter((t) => t === 'PersistentChatEndpointCreated')).toHaveLength(3);
  });

  it('gives up with CONCURRENCY_CONFLICT when other writers keep winning', async () => {
    store.racesLeft = 100;
    let n = 0;
    store.raceWith = () => run(otherProcess, createEndpoint(`sip:busy${n++}@contoso.com`));
    await expect(run(handler, createEndpoint('sip:persistentchat@contoso.com'))).rejects.toMatchObject({ code: 'CONCURRENCY_CONFLICT', details: { attempts: 8 } });
    const addresses = (await sqlite.readStream('topology-default')).map((e) => e.data['sipAddress']);
    expect(addresses).not.toContain('sip:persistentchat@contoso.com');
  });

  it('a retry after a restart (a fresh cache) gets the first result back from the store, and appends nothing', async () => {
    const first = await handler.execute(new ExecuteTopologyCommand('default', createEndpoint('sip:persistentchat@contoso.com'), { ...context(), commandId: 'c0ffee00-0000-4000-8000-000000000001' }, 'same-request', false));
    const before = await sqlite.headPosition();
    const restarted = new ExecuteTopologyCommandHandler(sqlite, new TopologyRepository(sqlite));
    const retry = await restarted.execute(new ExecuteTopologyCommand('default', createEndpoint('sip:persistentchat@contoso.com'), { ...context(), commandId: 'c0ffee00-0000-4000-8000-000000000001' }, 'same-request', false));
    expect(retry).toEqual({ ...first, replayed: true });
    expect(await sqlite.headPosition()).toBe(before);
    await expect(
      restarted.execute(new ExecuteTopologyCommand('default', createEndpoint('sip:other@contoso.com'), { ...context(), commandId: 'c0ffee00-0000-4000-8000-000000000001' }, 'another-request', false)),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('decides against what another process appended, even when this process appended to the deployment last', async () => {
    // Two servers on one file: each has its own store connection and its own cache.
    const otherStore = new SqliteEventStore({ dataDir: dir });
    const other = new ExecuteTopologyCommandHandler(otherStore, new TopologyRepository(otherStore));
    const here = new ExecuteTopologyCommandHandler(sqlite, new TopologyRepository(sqlite));
    await run(here, createEndpoint('sip:first@contoso.com'));
    await run(other, createEndpoint('sip:taken@contoso.com'));
    // A dry run appends nothing, so only a read of the stream can tell it the address is taken.
    await expect(run(here, createEndpoint('sip:taken@contoso.com'), true)).rejects.toMatchObject({ code: 'SIP_ADDRESS_IN_USE' });
    await otherStore.close();
  });

  it('whatIf decides against the current topology and appends nothing', async () => {
    const before = await sqlite.headPosition();
    const preview = await run(handler, createEndpoint('sip:persistentchat@contoso.com'), true);
    expect(preview).toMatchObject({ whatIf: true, events: [{ type: 'PersistentChatEndpointCreated', revision: 2 }] });
    expect(await sqlite.headPosition()).toBe(before);
  });
});
