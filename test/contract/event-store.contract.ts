import { randomUUID } from 'node:crypto';
import { firstValueFrom, take, toArray, Subscription } from 'rxjs';
import {
  EventStore,
  EventToAppend,
  JsonObject,
  RecordedEvent,
  StreamNotFound,
  WrongExpectedVersion,
} from '../../src/event-store/event-store';

/**
 * The one contract every event store adapter passes. Stream names are unique per test (a real
 * EventStoreDB server is shared between runs), so reads of `$all` filter on this run's prefix.
 */
export function eventStoreContract(
  name: string,
  open: () => Promise<EventStore>,
  close: (store: EventStore) => Promise<void>,
  /** Bytes a decorator adds to each event (the hash chain's two hashes), kept free in the size test. */
  options: { readonly addedBytesPerEvent?: number } = {},
): void {
  describe(`event store contract: ${name}`, () => {
    let store: EventStore;
    let category: string;
    const stream = (id: string): string => `${category}-${id}`;
    const event = (type = 'Happened', data: JsonObject = {}): EventToAppend => ({
      id: randomUUID(),
      type,
      data: { ...data },
      metadata: { actor: 'contract' },
    });

    beforeEach(async () => {
      store = await open();
      category = `c${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    });
    afterEach(async () => close(store));

    describe('expected revision', () => {
      it('no_stream creates a stream at revision 0 and refuses an existing one', async () => {
        const first = await store.appendToStream(stream('a'), [event()], { expectedRevision: 'no_stream' });
        expect(first.nextExpectedRevision).toBe(0);
        expect(first.position).toBeGreaterThan(0);
        const refused = store.appendToStream(stream('a'), [event()], { expectedRevision: 'no_stream' });
        await expect(refused).rejects.toBeInstanceOf(WrongExpectedVersion);
        await expect(refused).rejects.toMatchObject({ actual: 0, streamId: stream('a') });
      });

      it('stream_exists refuses a missing stream and accepts an existing one', async () => {
        const refused = store.appendToStream(stream('b'), [event()], { expectedRevision: 'stream_exists' });
        await expect(refused).rejects.toMatchObject({ code: 'WRONG_EXPECTED_VERSION', actual: 'no_stream' });
        await store.appendToStream(stream('b'), [event()], { expectedRevision: 'any' });
        const ok = await store.appendToStream(stream('b'), [event(), event()], { expectedRevision: 'stream_exists' });
        expect(ok.nextExpectedRevision).toBe(2);
      });

      it('an exact revision must equal the last revision, and the error carries the actual one', async () => {
        await store.appendToStream(stream('c'), [event(), event(), event()], { expectedRevision: 'no_stream' });
        const ok = await store.appendToStream(stream('c'), [event()], { expectedRevision: 2 });
        expect(ok.nextExpectedRevision).toBe(3);
        const stale = store.appendToStream(stream('c'), [event()], { expectedRevision: 2 });
        await expect(stale).rejects.toMatchObject({ code: 'WRONG_EXPECTED_VERSION', expected: 2, actual: 3 });
        const ahead = store.appendToStream(stream('c'), [event()], { expectedRevision: 9 });
        await expect(ahead).rejects.toMatchObject({ actual: 3 });
        const onMissing = store.appendToStream(stream('missing'), [event()], { expectedRevision: 0 });
        await expect(onMissing).rejects.toMatchObject({ actual: 'no_stream' });
        expect(await store.readStream(stream('c'))).toHaveLength(4);
      });

      it('any appends whatever the stream holds', async () => {
        const a = await store.appendToStream(stream('d'), [event()], { expectedRevision: 'any' });
        const b = await store.appendToStream(stream('d'), [event()], { expectedRevision: 'any' });
        expect([a.nextExpectedRevision, b.nextExpectedRevision]).toEqual([0, 1]);
        expect(b.position).toBeGreaterThan(a.position);
      });

      it('a refused append stores nothing', async () => {
        await store.appendToStream(stream('e'), [event()], { expectedRevision: 'no_stream' });
        await expect(store.appendToStream(stream('e'), [event(), event()], { expectedRevision: 5 })).rejects.toThrow(
          WrongExpectedVersion,
        );
        expect(await store.readStream(stream('e'))).toHaveLength(1);
      });
    });

    describe('idempotency', () => {
      it('re-appending the same ids at the same expected revision returns the earlier result and stores nothing', async () => {
        const batch = [event('A'), event('B')];
        const first = await store.appendToStream(stream('i'), batch, { expectedRevision: 'no_stream' });
        const again = await store.appendToStream(stream('i'), batch, { expectedRevision: 'no_stream' });
        expect(again).toEqual(first);
        await store.appendToStream(stream('i'), [event('C')], { expectedRevision: 1 });
        // A late retry, after the stream moved on, still gets the earlier result.
        const late = await store.appendToStream(stream('i'), batch, { expectedRevision: 'no_stream' });
        expect(late).toEqual(first);
        const events = await store.readStream(stream('i'));
        expect(events.map((e) => e.type)).toEqual(['A', 'B', 'C']);
      });

      it('a retry with expectedRevision any is also idempotent', async () => {
        const batch = [event('A')];
        const first = await store.appendToStream(stream('j'), batch, { expectedRevision: 'any' });
        const again = await store.appendToStream(stream('j'), batch, { expectedRevision: 'any' });
        expect(again).toEqual(first);
        expect(await store.readStream(stream('j'))).toHaveLength(1);
      });
    });

    describe('ordering and reads', () => {
      it('revisions are gapless from 0 and global positions strictly increase across streams', async () => {
        for (let i = 0; i < 5; i++) {
          await store.appendToStream(stream('x'), [event('X', { i })], { expectedRevision: 'any' });
          await store.appendToStream(stream('y'), [event('Y', { i }), event('Y', { i })], { expectedRevision: 'any' });
        }
        expect((await store.readStream(stream('x'))).map((e) => e.revision)).toEqual([0, 1, 2, 3, 4]);
        expect((await store.readStream(stream('y'))).map((e) => e.revision)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        const all = await store.readAll({ filter: { streamPrefixes: [`${category}-`] } });
        expect(all).toHaveLength(15);
        for (let i = 1; i < all.length; i++) expect(all[i]!.position).toBeGreaterThan(all[i - 1]!.position);
        expect(all.slice(0, 3).map((e) => e.streamId)).toEqual([stream('x'), stream('y'), stream('y')]);
      });

      it('readStream reads forwards, backwards, from a revision, up to a count; a missing stream is StreamNotFound', async () => {
        await store.appendToStream(stream('r'), [0, 1, 2, 3, 4].map((i) => event('R', { i })), { expectedRevision: 'no_stream' });
        const forwards = await store.readStream(stream('r'), { fromRevision: 1, maxCount: 2 });
        expect(forwards.map((e) => e.data['i'])).toEqual([1, 2]);
        const backwards = await store.readStream(stream('r'), { direction: 'backwards', maxCount: 2 });
        expect(backwards.map((e) => e.revision)).toEqual([4, 3]);
        const backFrom = await store.readStream(stream('r'), { direction: 'backwards', fromRevision: 1 });
        expect(backFrom.map((e) => e.revision)).toEqual([1, 0]);
        await expect(store.readStream(stream('nope'))).rejects.toBeInstanceOf(StreamNotFound);
      });

      it('a stored event keeps its id, type, data, metadata, stream, revision, position and time', async () => {
        const before = Date.now();
        const e = { id: randomUUID(), type: 'EndpointCreated', data: { sipAddress: 'sip:a@contoso.com', n: 1, nested: { ok: true, list: [1, 'x', null] } }, metadata: { actor: 'alice', roles: ['admin'] } };
        const result = await store.appendToStream(stream('m'), [e], { expectedRevision: 'no_stream' });
        const [stored] = await store.readStream(stream('m'));
        expect(stored).toMatchObject({ id: e.id, type: e.type, data: e.data, streamId: stream('m'), revision: 0, position: result.position });
        expect(stored!.metadata).toMatchObject(e.metadata);
        expect(stored!.created).toBeInstanceOf(Date);
        expect(stored!.created.getTime()).toBeGreaterThanOrEqual(before - 5_000);
      });

      it('readAll filters by event type and by stream prefix, from a position (inclusive), in both directions', async () => {
        await store.appendToStream(stream('p1'), [event('Alpha'), event('Beta')], { expectedRevision: 'any' });
        await store.appendToStream(`${category}other-1`, [event('Alpha')], { expectedRevision: 'any' });
        await store.appendToStream(stream('p2'), [event('Gamma'), event('Alpha')], { expectedRevision: 'any' });
        const mine = { streamPrefixes: [`${category}-`, `${category}other-`] };
        const all = await store.readAll({ filter: mine });
        expect(all.map((e) => e.type)).toEqual(['Alpha', 'Beta', 'Alpha', 'Gamma', 'Alpha']);
        const prefixed = await store.readAll({ filter: { streamPrefixes: [`${category}-p`] } });
        expect(prefixed.map((e) => e.type)).toEqual(['Alpha', 'Beta', 'Gamma', 'Alpha']);
        const alphas = (await store.readAll({ filter: { eventTypes: ['Alpha'] } })).filter((e) => e.streamId.startsWith(category));
        expect(alphas.map((e) => e.streamId)).toEqual([stream('p1'), `${category}other-1`, stream('p2')]);
        const both = await store.readAll({ filter: { eventTypes: ['Alpha', 'Gamma'], streamPrefixes: [`${category}-`] } });
        expect(both.map((e) => e.type)).toEqual(['Alpha', 'Gamma', 'Alpha']);
        const fromThird = await store.readAll({ fromPosition: all[2]!.position, filter: mine, maxCount: 2 });
        expect(fromThird.map((e) => e.position)).toEqual([all[2]!.position, all[3]!.position]);
        const backwards = await store.readAll({ direction: 'backwards', fromPosition: all[3]!.position, filter: mine, maxCount: 2 });
        expect(backwards.map((e) => e.position)).toEqual([all[3]!.position, all[2]!.position]);
        expect(await store.headPosition()).toBeGreaterThanOrEqual(all[4]!.position);
      });
    });

    describe('readAllStored', () => {
      it('gives the log from a position (inclusive) with data and metadata as JSON text that decodes to what readAll gives', async () => {
        const first = await store.appendToStream(stream('t'), [event('Alpha', { n: 1, nested: { list: [1, 'two', null] } })], { expectedRevision: 'any' });
        await store.appendToStream(stream('t'), [event('Beta', { text: 'é "quoted" \\ back' })], { expectedRevision: 'any' });
        const decoded = await store.readAll({ fromPosition: first.position, maxCount: 2 });
        const stored = await store.readAllStored(first.position, 2);
        expect(stored.map((e) => e.position)).toEqual(decoded.map((e) => e.position));
        stored.forEach((e, i) => {
          const d = decoded[i]!;
          expect({ streamId: e.streamId, revision: e.revision, type: e.type }).toEqual({ streamId: d.streamId, revision: d.revision, type: d.type });
          expect(typeof e.data).toBe('string');
          expect(JSON.parse(e.data)).toEqual(d.data);
          expect(JSON.parse(e.metadata)).toEqual(d.metadata);
        });
        expect(await store.readAllStored(decoded[1]!.position + 1_000_000, 5)).toEqual([]);
      });
    });

    describe('subscribeToAll', () => {
      it('catches up from a checkpoint (exclusive), then goes live with no gap and no duplicate', async () => {
        const filter = { streamPrefixes: [`${category}-`] };
        const earlier = [];
        for (let i = 0; i < 30; i++) {
          earlier.push(await store.appendToStream(stream(`s${i % 3}`), [event('S', { i })], { expectedRevision: 'any' }));
        }
        const checkpoint = earlier[9]!.position;
        const total = 20 + 40; // 20 after the checkpoint, 40 appended while subscribed
        const received: RecordedEvent[] = [];
        let subscription: Subscription | undefined;
        const done = new Promise<void>((resolve, reject) => {
          subscription = store.subscribeToAll({ fromPosition: checkpoint, filter }).subscribe({
            next: (e) => {
              received.push(e);
              if (received.length === total) resolve();
            },
            error: reject,
          });
        });
        // Appends race with the catch-up: the handover must neither skip nor repeat one.
        const appenders = [0, 1, 2, 3].map(async (w) => {
          for (let i = 0; i < 10; i++) await store.appendToStream(stream(`live${w}`), [event('L', { w, i })], { expectedRevision: 'any' });
        });
        await Promise.all(appenders);
        await done;
        await new Promise((r) => setTimeout(r, 300)); // anything extra would show up here
        subscription!.unsubscribe();
        expect(received).toHaveLength(total);
        expect(new Set(received.map((e) => e.id)).size).toBe(total);
        expect(received[0]!.position).toBeGreaterThan(checkpoint);
        expect(received.slice(0, 20).map((e) => e.data['i'])).toEqual([...Array(20).keys()].map((k) => k + 10));
        for (let i = 1; i < received.length; i++) expect(received[i]!.position).toBeGreaterThan(received[i - 1]!.position);
      });

      it('applies the filter to catch-up and live events alike', async () => {
        await store.appendToStream(stream('f'), [event('Keep'), event('Drop')], { expectedRevision: 'any' });
        const got = firstValueFrom(
          store.subscribeToAll({ filter: { eventTypes: ['Keep'], streamPrefixes: [`${category}-`] } }).pipe(take(2), toArray()),
        );
        await store.appendToStream(stream('f'), [event('Drop'), event('Keep')], { expectedRevision: 'any' });
        const events = await got;
        expect(events.map((e) => [e.type, e.revision])).toEqual([
          ['Keep', 0],
          ['Keep', 3],
        ]);
      });
    });

    describe('concurrency and size', () => {
      it('32 appenders racing at the same expected revision: exactly one wins, the others see the winner', async () => {
        await store.appendToStream(stream('race'), [event()], { expectedRevision: 'no_stream' });
        const results = await Promise.allSettled(
          Array.from({ length: 32 }, (_, i) => store.appendToStream(stream('race'), [event('Raced', { i })], { expectedRevision: 0 })),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(31);
        for (const r of lost) expect(r.reason).toMatchObject({ code: 'WRONG_EXPECTED_VERSION', actual: 1 });
        expect(await store.readStream(stream('race'))).toHaveLength(2);
      });

      it('32 appenders each retrying on conflict all land, gapless, on one stream', async () => {
        const writer = async (w: number): Promise<void> => {
          for (;;) {
            const last = await store.readStream(stream('queue'), { direction: 'backwards', maxCount: 1 }).then(
              (es) => es[0]!.revision,
              () => -1,
            );
            try {
              await store.appendToStream(stream('queue'), [event('Q', { w })], { expectedRevision: last < 0 ? 'no_stream' : last });
              return;
            } catch (error) {
              if (!(error instanceof WrongExpectedVersion)) throw error;
            }
          }
        };
        await Promise.all(Array.from({ length: 32 }, (_, w) => writer(w)));
        const events = await store.readStream(stream('queue'));
        expect(events.map((e) => e.revision)).toEqual([...Array(32).keys()]);
        expect(new Set(events.map((e) => e.data['w'])).size).toBe(32);
      });

      it('stores and returns a 1 MiB event intact', async () => {
        const big = 'x'.repeat(1024 * 1024 - 64 - (options.addedBytesPerEvent ?? 0));
        const e = event('Large', { big });
        await store.appendToStream(stream('big'), [e], { expectedRevision: 'no_stream' });
        const [stored] = await store.readStream(stream('big'));
        expect(stored!.id).toBe(e.id);
        expect((stored!.data['big'] as string).length).toBe(big.length);
        expect(stored!.data['big']).toBe(big);
      });
    });
  });
}
