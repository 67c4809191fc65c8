import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CommandContext } from '../../src/application/audit';
import { ExecuteTopologyCommand, ExecuteTopologyCommandHandler, TopologyCommandResult } from '../../src/application/execute-topology-command';
import { TopologyRepository } from '../../src/application/topology-repository';
import { Refusal } from '../../src/common/refusal';
import { parseFqdn, parseSipUri, TopologyCommand } from '../../src/domain';
import { AppendOptions, AppendResult, EventStore, EventStoreUnavailable, EventToAppend, StoredEvent } from '../../src/event-store/event-store';
import { HashChainedEventStore } from '../../src/event-store/hash-chain';
import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { startEsdbTestServer } from '../support/esdb-test-server';
import { topologyCommand } from '../support/topology-commands';

/**
 * Group commit within one deployment, on the real SQLite store behind the hash chain (as the server
 * opens it). Commands sent concurrently are decided in batches; the properties compare that with
 * deciding the same commands one by one, in the order they were sent (the order they are batched in).
 */

const DEPLOYMENT = 'default';
const STREAM = `topology-${DEPLOYMENT}`;
const OCCURRED_AT = '2026-12-07T12:00:00.000Z';

const fqdn = (name: string) => parseFqdn(name, 'fqdn');
const setUp: TopologyCommand[] = [
  { type: 'RegisterSipDomain', domain: fqdn('contoso.com') },
  { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: [fqdn('pc1.contoso.com')] },
];

/** `request` numbers the request: its correlation id tells its events from those of another request with the same command id. */
const contextOf = (commandId: string, request = 0): CommandContext => ({
  actor: 'tester',
  roles: ['admin'],
  authenticated: false,
  commandId,
  correlationId: `c0000000-0000-4000-8000-${String(request).padStart(12, '0')}`,
  causationId: null,
  reason: 'CHG-1',
  clientAddress: null,
  occurredAt: OCCURRED_AT,
});

/**
 * The store under the handler, with faults to inject: a delay before each append (so that batches
 * of different sizes form), and a failure of an append before it reaches the store or after the
 * store committed it (as when the answer is lost). Records every append it passes on.
 */
class FaultyStore implements EventStore {
  readonly kind = 'sqlite' as const;
  delays: number[] = [];
  /** The delay once `delays` is used up (ms). */
  delay = 0;
  failures: ('none' | 'before' | 'after')[] = [];
  readonly appends: { events: readonly EventToAppend[]; failed: boolean }[] = [];
  constructor(private readonly inner: EventStore) {}

  async appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    const delay = this.delays.shift() ?? this.delay;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const failure = this.failures.shift() ?? 'none';
    const record = { events, failed: failure !== 'none' };
    this.appends.push(record);
    if (failure === 'before') throw new EventStoreUnavailable('injected: the commit failed');
    const result = await this.inner.appendToStream(streamId, events, options);
    if (failure === 'after') throw new EventStoreUnavailable('injected: the answer of a committed append was lost');
    return result;
  }
  readStream: EventStore['readStream'] = (...args) => this.inner.readStream(...args);
  readAll: EventStore['readAll'] = (...args) => this.inner.readAll(...args);
  readAllStored: EventStore['readAllStored'] = (...args) => this.inner.readAllStored(...args);
  subscribeToAll: EventStore['subscribeToAll'] = (...args) => this.inner.subscribeToAll(...args);
  headPosition: EventStore['headPosition'] = () => this.inner.headPosition();
  knownRevision = (streamId: string): number | undefined => this.inner.knownRevision?.(streamId);
  ping: EventStore['ping'] = () => this.inner.ping();
  close: EventStore['close'] = () => this.inner.close();
}

interface Fixture {
  readonly dir: string;
  readonly store: FaultyStore;
  readonly handler: ExecuteTopologyCommandHandler;
  close(): Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-group-commit-'));
  const sqlite = new SqliteEventStore({ dataDir: dir, synchronous: 'NORMAL' });
  const store = new FaultyStore(new HashChainedEventStore(sqlite));
  const handler = new ExecuteTopologyCommandHandler(store, new TopologyRepository(store));
  for (const [i, command] of setUp.entries()) {
    await handler.execute(new ExecuteTopologyCommand(DEPLOYMENT, command, contextOf(`00000000-0000-4000-8000-00000000000${i}`), `set-up-${i}`, false));
  }
  store.appends.length = 0;
  return {
    dir,
    store,
    handler,
    close: async () => {
      await sqlite.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One request: its command id may be one of an earlier request's (a retry, or a key reused for another request). */
interface Request {
  readonly command: TopologyCommand;
  readonly commandId: string;
  readonly fingerprint: string;
  readonly whatIf: boolean;
  /** Timer turns the sender waits before sending it. */
  readonly pause: number;
}

/** Endpoints on the pool the set-up installs: mostly accepted, now and then an address already taken (R3). */
const createEndpoint: fc.Arbitrary<TopologyCommand> = fc.nat({ max: 30 }).map((n) => ({
  type: 'CreateEndpoint',
  sipAddress: parseSipUri(`sip:chat${n}@contoso.com`, 'sipAddress'),
  poolFqdn: fqdn('pcpool.contoso.com'),
}));

const request = fc.record({
  command: fc.oneof({ arbitrary: topologyCommand, weight: 1 }, { arbitrary: createEndpoint, weight: 1 }),
  reuse: fc.option(fc.nat({ max: 20 }), { freq: 5 }),
  sameRequest: fc.boolean(),
  whatIf: fc.nat({ max: 9 }).map((n) => n < 2),
  pause: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.nat({ max: 2 })),
});

const requests = fc.array(request, { minLength: 2, maxLength: 24 }).map((raw) => {
  const out: Request[] = [];
  for (const r of raw) {
    const earlier = r.reuse === null || out.length === 0 ? undefined : out[r.reuse % out.length]!;
    if (earlier && r.sameRequest) out.push({ ...earlier, pause: r.pause });
    else {
      const commandId = earlier?.commandId ?? randomUUID();
      out.push({ command: r.command, commandId, fingerprint: JSON.stringify(r.command), whatIf: r.whatIf, pause: r.pause });
    }
  }
  return out;
});

type Settled = { ok: TopologyCommandResult } | { refused: string };

async function settle(promise: Promise<TopologyCommandResult>): Promise<Settled> {
  try {
    return { ok: await promise };
  } catch (error) {
    if (error instanceof Refusal) return { refused: error.code };
    if (error instanceof EventStoreUnavailable) return { refused: error.code };
    throw error;
  }
}

const send = (handler: ExecuteTopologyCommandHandler, r: Request, index: number): Promise<TopologyCommandResult> =>
  handler.execute(new ExecuteTopologyCommand(DEPLOYMENT, r.command, contextOf(r.commandId, index), r.fingerprint, r.whatIf));

/** Sends in order, each after its pause, without waiting for the answers. */
async function sendConcurrently(handler: ExecuteTopologyCommandHandler, list: readonly Request[]): Promise<Settled[]> {
  const pending: Promise<Settled>[] = [];
  for (const [index, r] of list.entries()) {
    for (let i = 0; i < r.pause; i++) await new Promise((resolve) => setImmediate(resolve));
    pending.push(settle(send(handler, r, index)));
  }
  return Promise.all(pending);
}

/** The log as stored: every field but the time of the commit, the hash chain's fields included. */
async function storedLog(store: EventStore): Promise<StoredEvent[]> {
  return store.readAllStored(0, 1_000_000);
}

/** An answer without what differs only in key order or by a replay's read-back. */
const comparable = (s: Settled) =>
  'refused' in s ? s : { ok: { ...s.ok, events: s.ok.events.map((e) => ({ type: e.type, streamId: e.streamId, revision: e.revision, data: JSON.parse(JSON.stringify(e.data)) as unknown })) } };

describe('group commit within a deployment', () => {
  let largestBatch = 0;
  let propertyRan = false;
  afterAll(() => {
    if (!propertyRan) return;
    // The property means something only if commands really shared appends (how many share one
    // depends on the random commands: most are refused in the small state they meet).
    expect(largestBatch).toBeGreaterThanOrEqual(2);
  });

  it('any interleaving of concurrent commands gives the log, and the answers, of deciding them one by one in batch order', async () => {
    await fc.assert(
      fc.asyncProperty(requests, fc.array(fc.nat({ max: 5 }), { maxLength: 30 }), async (list, delays) => {
        propertyRan = true;
        const concurrent = await fixture();
        const sequential = await fixture();
        try {
          concurrent.store.delays = [...delays];
          concurrent.store.delay = 1;
          const together = await sendConcurrently(concurrent.handler, list);
          const oneByOne: Settled[] = [];
          for (const [index, r] of list.entries()) oneByOne.push(await settle(send(sequential.handler, r, index)));

          expect(together.map(comparable)).toEqual(oneByOne.map(comparable));
          expect(await storedLog(concurrent.store)).toEqual(await storedLog(sequential.store));
          for (const a of concurrent.store.appends) {
            const commands = new Set(a.events.map((e) => e.metadata?.['commandId']));
            largestBatch = Math.max(largestBatch, commands.size);
          }
        } finally {
          await concurrent.close();
          await sequential.close();
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('when a batch commit fails no command of it is acknowledged, no acknowledged command is lost, and a retry stores none twice', async () => {
    const failure = fc.constantFrom('none' as const, 'none' as const, 'before' as const, 'after' as const);
    await fc.assert(
      fc.asyncProperty(requests, fc.array(failure, { minLength: 1, maxLength: 20 }), fc.array(fc.nat({ max: 3 }), { maxLength: 20 }), async (list, failures, delays) => {
        const f = await fixture();
        try {
          f.store.failures = [...failures];
          f.store.delays = [...delays];
          f.store.delay = 1;
          const first = await sendConcurrently(f.handler, list);

          // No request whose events were in a failed append was acknowledged (a later request with the
          // same command id may be: it is answered with what the store holds).
          const inFailed = new Set(f.store.appends.filter((a) => a.failed).flatMap((a) => a.events.map((e) => e.metadata?.['correlationId'])));
          list.forEach((_, i) => {
            if (inFailed.has(contextOf('', i).correlationId)) expect(first[i]).toEqual({ refused: 'EVENT_STORE_UNAVAILABLE' });
          });

          // Every acknowledged command is in the log, once, where it was told.
          const check = async (answers: Settled[]): Promise<void> => {
            const log = await f.store.readStream(STREAM);
            const byCommand = new Map<unknown, typeof log>();
            for (const e of log) byCommand.set(e.metadata['commandId'], [...(byCommand.get(e.metadata['commandId']) ?? []), e]);
            list.forEach((r, i) => {
              const answer = answers[i]!;
              if (!('ok' in answer) || answer.ok.whatIf || answer.ok.events.length === 0) return;
              const stored = byCommand.get(r.commandId) ?? [];
              expect(stored.map((e) => [e.type, e.revision])).toEqual(answer.ok.events.map((e) => [e.type, e.revision]));
              expect(stored[stored.length - 1]!.position).toBe(answer.ok.position);
            });
          };
          await check(first);

          // Retried with the same ids, the store working again: what was acknowledged is replayed,
          // nothing is stored twice, and the log is one valid history.
          f.store.failures = [];
          const retried: Settled[] = [];
          for (const [index, r] of list.entries()) retried.push(await settle(send(f.handler, r, index + list.length)));
          list.forEach((r, i) => {
            const before = first[i]!;
            const after = retried[i]!;
            if ('ok' in before && !before.ok.whatIf && before.ok.events.length > 0) {
              expect(after).toMatchObject({ ok: { replayed: true, position: before.ok.position } });
            }
            expect('refused' in after && after.refused === 'EVENT_STORE_UNAVAILABLE').toBe(false);
          });
          await check(retried);
          const ids = (await f.store.readStream(STREAM)).map((e) => e.id);
          expect(new Set(ids).size).toBe(ids.length);
        } finally {
          await f.close();
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('commands sent while a commit is under way share the next append, in the order they were sent', async () => {
    const f = await fixture();
    try {
      const sip = (a: string) => parseSipUri(a, 'sipAddress');
      const list: Request[] = Array.from({ length: 10 }, (_, i) => ({
        command: { type: 'CreateEndpoint', sipAddress: sip(`sip:n${i}@contoso.com`), poolFqdn: fqdn('pcpool.contoso.com') },
        commandId: randomUUID(),
        fingerprint: String(i),
        whatIf: false,
        pause: 0,
      }));
      const answers = await sendConcurrently(f.handler, list);
      // The first alone when nothing was under way, the nine that came during its commit together
      // (all ten together when the set-up's last commit was still being answered).
      expect([[1, 9], [10]]).toContainEqual(f.store.appends.map((a) => a.events.length));
      const log = (await f.store.readStream(STREAM)).slice(2);
      expect(log.map((e) => e.data['sipAddress'])).toEqual(list.map((r) => String((r.command as { sipAddress: string }).sipAddress)));
      answers.forEach((a, i) => expect(a).toMatchObject({ ok: { replayed: false, position: log[i]!.position, events: [{ revision: i + 2 }] } }));
    } finally {
      await f.close();
    }
  });

  it('on EventStoreDB (over the wire to the test server) a group is one append, each command answered with its own position', async () => {
    const server = await startEsdbTestServer();
    const store = new FaultyStore(new HashChainedEventStore(EsdbEventStore.connect(server.connectionString)));
    const handler = new ExecuteTopologyCommandHandler(store, new TopologyRepository(store));
    try {
      for (const [i, command] of setUp.entries()) await handler.execute(new ExecuteTopologyCommand(DEPLOYMENT, command, contextOf(randomUUID(), i), `set-up-${i}`, false));
      store.appends.length = 0;
      const sip = (a: string) => parseSipUri(a, 'sipAddress');
      const list: Request[] = Array.from({ length: 6 }, (_, i) => ({
        command: { type: 'CreateEndpoint', sipAddress: sip(`sip:e${i}@contoso.com`), poolFqdn: fqdn('pcpool.contoso.com') },
        commandId: randomUUID(),
        fingerprint: String(i),
        whatIf: false,
        pause: 0,
      }));
      const answers = await sendConcurrently(handler, list);
      // Sent together: they share appends (one or two, as the set-up's last commit ends before or after them).
      expect(store.appends.length).toBeLessThanOrEqual(2);
      expect(store.appends.reduce((n, a) => n + a.events.length, 0)).toBe(6);
      const log = (await store.readStream(STREAM)).slice(2);
      // Positions are log offsets there, not consecutive numbers: each answer has its own event's.
      answers.forEach((a, i) => expect(a).toMatchObject({ ok: { position: log[i]!.position, events: [{ revision: i + 2 }] } }));
      expect(new Set(log.map((e) => e.position)).size).toBe(6);
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('a version conflict decides the whole batch again on the newer state', async () => {
    const f = await fixture();
    const otherStore = new HashChainedEventStore(new SqliteEventStore({ dataDir: f.dir, synchronous: 'NORMAL' }));
    const other = new ExecuteTopologyCommandHandler(otherStore, new TopologyRepository(otherStore));
    try {
      const sip = (a: string) => parseSipUri(a, 'sipAddress');
      const create = (a: string): Request => ({
        command: { type: 'CreateEndpoint', sipAddress: sip(a), poolFqdn: fqdn('pcpool.contoso.com') },
        commandId: randomUUID(),
        fingerprint: a,
        whatIf: false,
        pause: 0,
      });
      // The first command goes alone; the three sent while it commits form one batch, which meets
      // an append of another process (it takes sip:b) between its decision and its append.
      const batch = [create('sip:a@contoso.com'), create('sip:b@contoso.com'), create('sip:c@contoso.com')];
      f.store.delays = [0, 0];
      const lone = send(f.handler, create('sip:lone@contoso.com'), 9);
      let raced = false;
      const original = f.store.appendToStream.bind(f.store);
      f.store.appendToStream = async (streamId, events, options) => {
        if (!raced && events.length === 3) {
          raced = true;
          await other.execute(new ExecuteTopologyCommand(DEPLOYMENT, create('sip:b@contoso.com').command, contextOf(randomUUID(), 99), 'other', false));
        }
        return original(streamId, events, options);
      };
      const answers = await Promise.all(batch.map((r, i) => settle(send(f.handler, r, i))));
      await lone;
      expect(raced).toBe(true);
      expect(answers.map((a) => ('ok' in a ? 'ok' : a.refused))).toEqual(['ok', 'SIP_ADDRESS_IN_USE', 'ok']);
      const created = (await f.store.readStream(STREAM)).filter((e) => e.type === 'PersistentChatEndpointCreated').map((e) => e.data['sipAddress']);
      expect(created).toEqual(['sip:lone@contoso.com', 'sip:b@contoso.com', 'sip:a@contoso.com', 'sip:c@contoso.com']);
      // The re-decided batch was one append again.
      expect(f.store.appends.filter((a) => !a.failed).map((a) => a.events.length)).toEqual([1, 3, 2]);
    } finally {
      await otherStore.close();
      await f.close();
    }
  });
});
