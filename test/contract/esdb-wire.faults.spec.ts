import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { Subscription } from 'rxjs';
import { EventStoreUnavailable, EventToAppend, RecordedEvent } from '../../src/event-store/event-store';
import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import { EsdbTestServer, startEsdbTestServer } from '../support/esdb-test-server';

/**
 * Fault behaviour of the EventStoreDB adapter through the real client, against the in-memory protocol
 * server: a server that goes away or answers `unavailable` / `not leader` / too late is retried with
 * back-off, then surfaces as `EventStoreUnavailable`, and the store works again once the server is back.
 */
describe('esdb adapter faults (wire test server)', () => {
  let server: EsdbTestServer;
  let store: EsdbEventStore;
  let category: string;
  const stream = (id: string): string => `${category}-${id}`;
  const event = (i = 0): EventToAppend => ({ id: randomUUID(), type: 'Happened', data: { i } });

  beforeEach(async () => {
    server = await startEsdbTestServer();
    store = EsdbEventStore.connect(server.connectionString, { pingTimeoutMs: 1000 });
    await store.ping();
    category = `f${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  });
  afterEach(async () => {
    await store.close();
    await server.stop();
  });

  /** Retries `attempt` while it throws EventStoreUnavailable (the client reconnects between attempts). */
  async function untilAvailable<T>(attempt: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof EventStoreUnavailable) || i >= 50) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  it('a server restart mid-subscription errors the observable with EventStoreUnavailable; resubscribing from the checkpoint misses and repeats nothing', async () => {
    const filter = { streamPrefixes: [`${category}-`] };
    for (let i = 0; i < 10; i++) await store.appendToStream(stream('s'), [event(i)], { expectedRevision: 'any' });

    const received: RecordedEvent[] = [];
    let subscription: Subscription | undefined;
    const failed = new Promise<unknown>((resolve) => {
      subscription = store.subscribeToAll({ filter }).subscribe({ next: (e) => received.push(e), error: resolve });
    });
    while (received.length < 10) await new Promise((r) => setTimeout(r, 10));

    await server.restart();
    const error = await failed;
    expect(error).toBeInstanceOf(EventStoreUnavailable);
    subscription!.unsubscribe();

    // Written after the restart, while no one is subscribed.
    for (let i = 10; i < 15; i++) {
      await untilAvailable(() => store.appendToStream(stream('s'), [event(i)], { expectedRevision: i - 1 }));
    }
    const checkpoint = received[received.length - 1]!.position;
    const resumed: RecordedEvent[] = [];
    const done = new Promise<void>((resolve, reject) => {
      subscription = store.subscribeToAll({ fromPosition: checkpoint, filter }).subscribe({
        next: (e) => {
          resumed.push(e);
          if (resumed.length === 10) resolve();
        },
        error: reject,
      });
    });
    for (let i = 15; i < 20; i++) await store.appendToStream(stream('s'), [event(i)], { expectedRevision: i - 1 });
    await done;
    await new Promise((r) => setTimeout(r, 200));
    subscription!.unsubscribe();
    expect([...received, ...resumed].map((e) => e.data['i'])).toEqual([...Array(20).keys()]);
  });

  it('an append while the server is down is EventStoreUnavailable; after a restart it goes through', async () => {
    await store.appendToStream(stream('a'), [event()], { expectedRevision: 'no_stream' });
    await server.stop();
    await expect(store.appendToStream(stream('a'), [event()], { expectedRevision: 0 })).rejects.toBeInstanceOf(EventStoreUnavailable);
    await expect(store.ping()).rejects.toBeInstanceOf(EventStoreUnavailable);
    await server.restart();
    const result = await untilAvailable(() => store.appendToStream(stream('a'), [event()], { expectedRevision: 0 }));
    expect(result.nextExpectedRevision).toBe(1);
  });

  it('a passing unavailable is retried with back-off: the batch lands once and the caller never sees the fault', async () => {
    server.injectFault({ method: 'Append', status: status.UNAVAILABLE, details: 'Server Is Not Ready', times: 2 });
    const batch = [event(1), event(2)];
    const result = await store.appendToStream(stream('u'), batch, { expectedRevision: 'no_stream' });
    expect(result.nextExpectedRevision).toBe(1);
    expect(await store.readStream(stream('u'))).toHaveLength(2);
  });

  it('a persistent unavailable is surfaced clearly once the retries are used up, and nothing is stored', async () => {
    server.injectFault({ method: 'Append', status: status.UNAVAILABLE, details: 'Server Is Not Ready', times: 4 });
    const started = Date.now();
    await expect(store.appendToStream(stream('p'), [event()], { expectedRevision: 'no_stream' })).rejects.toMatchObject({
      code: 'EVENT_STORE_UNAVAILABLE',
      message: expect.stringMatching(/append to f\w+-p: EventStoreDB still unavailable after 4 attempts over \d+ ms: .*Server Is Not Ready/),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100 + 200 + 400 - 20); // backed off between attempts
    await expect(store.readStream(stream('p'))).rejects.toMatchObject({ code: 'STREAM_NOT_FOUND' });
  });

  it('not leader is retried: the client reconnects to the leader it was given and the append goes through', async () => {
    server.injectFault({
      method: 'Append',
      status: status.NOT_FOUND,
      details: 'Leader info available',
      metadata: { exception: 'not-leader', 'leader-endpoint-host': '127.0.0.1', 'leader-endpoint-port': String(server.port) },
    });
    const result = await store.appendToStream(stream('l'), [event()], { expectedRevision: 'any' });
    expect(result.nextExpectedRevision).toBe(0);
  });

  it('a deadline exceeded is EventStoreUnavailable; the append may still land, and its retry returns the earlier result', async () => {
    const impatient = EsdbEventStore.connect(`${server.connectionString}&defaultDeadline=300`);
    try {
      server.delay('Append', 800);
      const batch = [event()];
      await expect(impatient.appendToStream(stream('d'), batch, { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(
        EventStoreUnavailable,
      );
      server.delay('Append', 0);
      await new Promise((r) => setTimeout(r, 800));
      const landed = await store.readStream(stream('d'));
      expect(landed.map((e) => e.id)).toEqual([batch[0]!.id]);
      const retry = await untilAvailable(() => impatient.appendToStream(stream('d'), batch, { expectedRevision: 'no_stream' }));
      expect(retry).toEqual({ nextExpectedRevision: 0, position: landed[0]!.position });
    } finally {
      await impatient.close();
    }
  });

  it('persistent unavailability is surfaced as EventStoreUnavailable by every operation', async () => {
    await server.stop();
    await expect(store.readStream(stream('x'))).rejects.toBeInstanceOf(EventStoreUnavailable);
    await expect(store.readAll({ maxCount: 1 })).rejects.toBeInstanceOf(EventStoreUnavailable);
    await expect(store.headPosition()).rejects.toBeInstanceOf(EventStoreUnavailable);
    await expect(store.ping()).rejects.toBeInstanceOf(EventStoreUnavailable);
    const error = await new Promise((resolve) => store.subscribeToAll().subscribe({ error: resolve }));
    expect(error).toBeInstanceOf(EventStoreUnavailable);
  });
});

describe('esdb adapter against a server that answers idempotent retries without a position (wire test server)', () => {
  it('reads the position of the earlier write from the stream', async () => {
    const server = await startEsdbTestServer({ positionOnIdempotentRetry: false });
    const store = EsdbEventStore.connect(server.connectionString);
    try {
      const streamId = `n${randomUUID().replace(/-/g, '')}-1`;
      const batch: EventToAppend[] = [1, 2].map((i) => ({ id: randomUUID(), type: 'Happened', data: { i } }));
      const first = await store.appendToStream(streamId, batch, { expectedRevision: 'no_stream' });
      await store.appendToStream(streamId, [{ id: randomUUID(), type: 'Later', data: {} }], { expectedRevision: 1 });
      await expect(store.appendToStream(streamId, batch, { expectedRevision: 'no_stream' })).resolves.toEqual(first);
      await expect(store.appendToStream(streamId, batch, { expectedRevision: 'any' })).resolves.toEqual(first);
    } finally {
      await store.close();
      await server.stop();
    }
  });
});
