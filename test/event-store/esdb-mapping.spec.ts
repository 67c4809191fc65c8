import { randomUUID } from 'node:crypto';
import { firstValueFrom } from 'rxjs';
import {
  ANY,
  AccessDeniedError,
  CancelledError,
  DeadlineExceededError,
  EVENT_TYPE,
  EventStoreDBClient,
  NO_STREAM,
  NotLeaderError,
  STREAM_EXISTS,
  STREAM_NAME,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import type { AllStreamResolvedEvent, ResolvedEvent } from '@eventstore/db-client';
import {
  EventStoreUnavailable,
  InvalidAppend,
  StreamNotFound,
  WrongExpectedVersion,
} from '../../src/event-store/event-store';
import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import {
  ClientResolvedEvent,
  MATCH_NOTHING,
  escapeRegex,
  eventTypesRegex,
  fromClientCurrentRevision,
  fromClientExpectedRevision,
  fromClientPosition,
  isSystemEvent,
  normaliseConnectionString,
  redactConnectionString,
  toClientEvent,
  toClientExpectedRevision,
  toClientPosition,
  toPortError,
  toRecordedEvent,
  toSafeNumber,
  toSubscriptionFilter,
} from '../../src/event-store/esdb/mapping';

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A gRPC error as @grpc/grpc-js delivers it: the client's `convertToCommandError` recognises it by its
 * numeric `code` and reads the server's `exception` from the metadata, exactly as for a real call.
 */
function grpcError(code: number, details: string, metadata: Record<string, string> = {}): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: { getMap: () => metadata } });
}

describe('EventStoreDB mapping', () => {
  describe('connection string', () => {
    it.each([
      ['esdb://localhost:2113?tls=false', 'esdb://localhost:2113?tls=false'],
      ['esdb+discover://cluster.local:2113', 'esdb+discover://cluster.local:2113'],
      ['kurrentdb://admin:changeit@localhost:2113?tls=false', 'esdb://admin:changeit@localhost:2113?tls=false'],
      ['kurrentdb+discover://cluster.local:2113', 'esdb+discover://cluster.local:2113'],
      ['kurrent://localhost:2113', 'esdb://localhost:2113'],
      ['kurrent+discover://cluster.local', 'esdb+discover://cluster.local'],
      ['kdb://localhost:2113', 'esdb://localhost:2113'],
      ['kdb+discover://cluster.local', 'esdb+discover://cluster.local'],
      ['  KurrentDB://localhost:2113?tls=false \n', 'esdb://localhost:2113?tls=false'],
    ])('%j becomes %j', (raw, expected) => {
      expect(normaliseConnectionString(raw)).toBe(expected);
    });

    it('produces strings the db-client 6 parser accepts', async () => {
      for (const raw of ['kurrentdb://admin:changeit@localhost:2113?tls=false', 'kdb+discover://a:2113,b:2113,c:2113?tls=false']) {
        const client = EventStoreDBClient.connectionString(normaliseConnectionString(raw));
        expect(client).toBeInstanceOf(EventStoreDBClient);
        await client.dispose();
      }
      // …which on its own refuses the KurrentDB schemes: the reason the mapping exists.
      expect(() => EventStoreDBClient.connectionString('kurrentdb://localhost:2113?tls=false')).toThrow(/esdb:\/\//);
    });

    it.each(['http://localhost:2113', 'tcp://admin:hunter2@localhost:1113', 'localhost:2113', 'esdb:/localhost', 'kurrentdbx://h'])(
      'refuses %j, naming the variable and the accepted schemes without echoing the string',
      (raw) => {
        let message = '';
        try {
          normaliseConnectionString(raw);
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message).toMatch(/^EVENTSTORE_CONNECTION_STRING must start with one of esdb:\/\/, esdb\+discover:\/\/, kurrentdb:\/\//);
        expect(message).toContain('kdb+discover://');
        expect(message).not.toContain('hunter2');
        expect(message).not.toContain('localhost');
      },
    );

    it('refuses an empty or missing string', () => {
      expect(() => normaliseConnectionString('  ')).toThrow(/^EVENTSTORE_CONNECTION_STRING is empty/);
      expect(() => normaliseConnectionString(undefined)).toThrow(/^EVENTSTORE_CONNECTION_STRING is empty/);
    });

    it('redacts the password of a connection string from a message', () => {
      const cs = 'esdb://admin:s3cr3t@localhost:2113';
      expect(redactConnectionString(`bad input near "s3cr3t@local"`, cs)).toBe('bad input near "***@local"');
      expect(redactConnectionString('nothing to hide', 'esdb://localhost:2113')).toBe('nothing to hide');
    });

    it('EsdbEventStore.connect maps the scheme and reports parse errors against the variable', async () => {
      const store = EsdbEventStore.connect('kurrentdb://localhost:2113?tls=false');
      expect(store.kind).toBe('esdb');
      await store.close();
      expect(() => EsdbEventStore.connect('kurrentdb://admin:pw@localhost:notaport')).toThrow(
        /^EVENTSTORE_CONNECTION_STRING is not a valid EventStoreDB connection string: .*port number/,
      );
      expect(() => EsdbEventStore.connect('mysql://localhost')).toThrow(/EVENTSTORE_CONNECTION_STRING must start with/);
    });
  });

  describe('expected revision', () => {
    it('maps port → client', () => {
      expect(toClientExpectedRevision('any')).toBe(ANY);
      expect(toClientExpectedRevision('no_stream')).toBe(NO_STREAM);
      expect(toClientExpectedRevision('stream_exists')).toBe(STREAM_EXISTS);
      expect(toClientExpectedRevision(0)).toBe(0n);
      expect(toClientExpectedRevision(41)).toBe(41n);
      expect(toClientExpectedRevision(Number.MAX_SAFE_INTEGER)).toBe(MAX);
    });

    it('refuses a revision that is not a non-negative safe integer', () => {
      for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
        expect(() => toClientExpectedRevision(bad)).toThrow(InvalidAppend);
      }
    });

    it('maps client → port, including the server sentinels', () => {
      expect(fromClientExpectedRevision(ANY)).toBe('any');
      expect(fromClientExpectedRevision(NO_STREAM)).toBe('no_stream');
      expect(fromClientExpectedRevision(STREAM_EXISTS)).toBe('stream_exists');
      expect(fromClientExpectedRevision(7n)).toBe(7);
      expect(fromClientExpectedRevision(-1n)).toBe('no_stream');
      expect(fromClientExpectedRevision(-2n)).toBe('any');
      expect(fromClientExpectedRevision(-4n)).toBe('stream_exists');
      expect(() => fromClientExpectedRevision(MAX + 1n)).toThrow(RangeError);
    });

    it('round-trips', () => {
      for (const r of ['any', 'no_stream', 'stream_exists', 0, 1, 123456789] as const) {
        expect(fromClientExpectedRevision(toClientExpectedRevision(r))).toBe(r);
      }
    });

    it('maps a current revision to the port `actual`', () => {
      expect(fromClientCurrentRevision(NO_STREAM)).toBe('no_stream');
      expect(fromClientCurrentRevision(-1n)).toBe('no_stream');
      expect(fromClientCurrentRevision(0n)).toBe(0);
      expect(fromClientCurrentRevision(12n)).toBe(12);
    });
  });

  describe('position', () => {
    it('uses the commit position', () => {
      expect(fromClientPosition({ commit: 4242n, prepare: 4242n })).toBe(4242);
      expect(fromClientPosition({ commit: 100n, prepare: 50n })).toBe(100);
      expect(fromClientPosition(77n)).toBe(77);
      expect(fromClientPosition({ commit: MAX, prepare: MAX })).toBe(Number.MAX_SAFE_INTEGER);
    });

    it('throws rather than lose precision beyond Number.MAX_SAFE_INTEGER', () => {
      expect(() => fromClientPosition({ commit: MAX + 1n, prepare: 0n })).toThrow(RangeError);
      expect(() => fromClientPosition({ commit: MAX + 1n, prepare: 0n })).toThrow(/commit position 9007199254740992/);
      expect(() => fromClientPosition(-1n)).toThrow(RangeError);
      expect(() => toSafeNumber(2n ** 64n, 'revision')).toThrow(/revision/);
    });

    it('reads from a port position at { commit: p, prepare: p }', () => {
      expect(toClientPosition(0)).toEqual({ commit: 0n, prepare: 0n });
      expect(toClientPosition(123456)).toEqual({ commit: 123456n, prepare: 123456n });
      expect(fromClientPosition(toClientPosition(987654321))).toBe(987654321);
      expect(() => toClientPosition(-5)).toThrow(InvalidAppend);
      expect(() => toClientPosition(0.5)).toThrow(InvalidAppend);
    });
  });

  describe('errors', () => {
    it('WrongExpectedVersionError → WrongExpectedVersion with the actual revision', () => {
      const error = new WrongExpectedVersionError(undefined, { streamName: 'site-1', expected: 2n, current: 3n });
      const mapped = toPortError(error, { streamId: 'site-1', expectedRevision: 2 });
      expect(mapped).toBeInstanceOf(WrongExpectedVersion);
      expect(mapped).toMatchObject({ code: 'WRONG_EXPECTED_VERSION', streamId: 'site-1', expected: 2, actual: 3 });
    });

    it('reports no_stream when the stream does not exist', () => {
      const error = new WrongExpectedVersionError(undefined, { streamName: 'site-2', expected: STREAM_EXISTS, current: NO_STREAM });
      expect(toPortError(error, { streamId: 'site-2', expectedRevision: 'stream_exists' })).toMatchObject({
        streamId: 'site-2',
        expected: 'stream_exists',
        actual: 'no_stream',
      });
    });

    it('falls back to what the client error says when there is no context', () => {
      const error = new WrongExpectedVersionError(undefined, { streamName: 'pool-9', expected: NO_STREAM, current: 0n });
      expect(toPortError(error)).toMatchObject({ streamId: 'pool-9', expected: 'no_stream', actual: 0 });
    });

    it('converts a raw gRPC wrong-expected-version error, server sentinels included', () => {
      const raw = grpcError(9, 'Wrong expected version', {
        exception: 'wrong-expected-version',
        'stream-name': 'site-3',
        'expected-version': '-1',
        'actual-version': '5',
      });
      const mapped = toPortError(raw);
      expect(mapped).toBeInstanceOf(WrongExpectedVersion);
      expect(mapped).toMatchObject({ streamId: 'site-3', expected: 'no_stream', actual: 5 });
    });

    it('StreamNotFoundError → StreamNotFound', () => {
      const mapped = toPortError(new StreamNotFoundError(undefined, 'client-name'), { streamId: 'site-4' });
      expect(mapped).toBeInstanceOf(StreamNotFound);
      expect(mapped).toMatchObject({ code: 'STREAM_NOT_FOUND', streamId: 'site-4' });
      expect(toPortError(new StreamNotFoundError(undefined, 'client-name'))).toMatchObject({ streamId: 'client-name' });
    });

    it.each([
      ['UnavailableError', new UnavailableError()],
      ['DeadlineExceededError', new DeadlineExceededError()],
      ['TimeoutError', new TimeoutError()],
      ['CancelledError', new CancelledError()],
      ['a raw UNAVAILABLE', grpcError(14, 'No connection established')],
      ['a raw DEADLINE_EXCEEDED', grpcError(4, 'Deadline exceeded')],
      ['a discovery failure', new Error('Failed to discover after 10 attempts.')],
    ])('%s → EventStoreUnavailable', (_name, error) => {
      const mapped = toPortError(error);
      expect(mapped).toBeInstanceOf(EventStoreUnavailable);
      expect(mapped).toMatchObject({ code: 'EVENT_STORE_UNAVAILABLE' });
      expect((mapped as EventStoreUnavailable).message).toMatch(/^EventStoreDB is unavailable/);
    });

    it('NotLeaderError → EventStoreUnavailable, keeping the client error as the cause', () => {
      const raw = grpcError(5, 'Leader info available', {
        exception: 'not-leader',
        'leader-endpoint-host': 'node2.local',
        'leader-endpoint-port': '2113',
      });
      const mapped = toPortError(raw);
      expect(mapped).toBeInstanceOf(EventStoreUnavailable);
      const cause = (mapped as EventStoreUnavailable).cause;
      expect(cause).toBeInstanceOf(NotLeaderError);
      expect((cause as NotLeaderError).leader).toEqual({ address: 'node2.local', port: 2113 });
    });

    it('returns other errors unchanged', () => {
      const denied = new AccessDeniedError();
      expect(toPortError(denied)).toBe(denied);
      const plain = new Error('boom');
      expect(toPortError(plain)).toBe(plain);
      const portError = new StreamNotFound('x');
      expect(toPortError(portError)).toBe(portError);
      expect(toPortError('a string')).toBe('a string');
      // A raw gRPC error of another kind comes back as the client's converted error.
      expect(toPortError(grpcError(16, 'Unauthenticated'))).toBeInstanceOf(AccessDeniedError);
    });
  });

  describe('events', () => {
    const created = new Date('2024-05-01T10:00:00.000Z');
    const jsonResolved = (overrides: { streamId?: string; type?: string; data?: Record<string, unknown>; metadata?: unknown } = {}): AllStreamResolvedEvent => ({
      event: {
        streamId: overrides.streamId ?? 'site-1',
        id: '0f8fad5b-d9cb-469f-a165-70867728950e',
        isJson: true,
        revision: 3n,
        type: overrides.type ?? 'SiteCreated',
        created,
        data: overrides.data ?? { name: 'Redmond', pools: ['a', 'b'], nested: { n: 1 } },
        metadata: 'metadata' in overrides ? (overrides.metadata as Record<string, unknown> | undefined) : { actor: 'alice' },
        position: { commit: 1000n, prepare: 1000n },
      },
      commitPosition: 1000n,
    });

    it('converts a JSON event from $all', () => {
      expect(toRecordedEvent(jsonResolved())).toEqual({
        id: '0f8fad5b-d9cb-469f-a165-70867728950e',
        streamId: 'site-1',
        revision: 3,
        position: 1000,
        type: 'SiteCreated',
        data: { name: 'Redmond', pools: ['a', 'b'], nested: { n: 1 } },
        metadata: { actor: 'alice' },
        created,
      });
    });

    it('gives empty metadata when there is none, or when it is binary or not an object', () => {
      expect(toRecordedEvent(jsonResolved({ metadata: undefined }))?.metadata).toEqual({});
      expect(toRecordedEvent(jsonResolved({ metadata: new Uint8Array([1, 2]) }))?.metadata).toEqual({});
      expect(toRecordedEvent(jsonResolved({ metadata: ['x'] }))?.metadata).toEqual({});
    });

    it('takes the position from the resolved event when the record has none (stream reads)', () => {
      const resolved: ResolvedEvent = {
        event: {
          streamId: 'site-1',
          id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
          isJson: true,
          revision: 0n,
          type: 'SiteCreated',
          created,
          data: { name: 'x' },
          metadata: undefined,
        },
        commitPosition: 555n,
      };
      expect(toRecordedEvent(resolved)).toMatchObject({ revision: 0, position: 555, metadata: {} });
      // Neither the record nor the resolved event carries a position: refuse rather than invent one.
      expect(() => toRecordedEvent({ event: resolved.event! })).toThrow(/without a position/);
    });

    it('skips system events ($-prefixed type or stream), link events and empty resolved events', () => {
      expect(toRecordedEvent(jsonResolved({ type: '$metadata' }))).toBeNull();
      expect(toRecordedEvent(jsonResolved({ streamId: '$stats-127.0.0.1:2113' }))).toBeNull();
      expect(toRecordedEvent(jsonResolved({ streamId: '$$site-1' }))).toBeNull();
      expect(toRecordedEvent(jsonResolved({ type: '$>' }))).toBeNull();
      expect(toRecordedEvent({})).toBeNull();
      expect(isSystemEvent('site-1', 'SiteCreated')).toBe(false);
      expect(isSystemEvent('$ce-site', 'SiteCreated')).toBe(true);
    });

    it('skips binary events and JSON events whose data is not an object', () => {
      const binary: AllStreamResolvedEvent = {
        event: {
          streamId: 'site-1',
          id: '16fd2706-8baf-433b-82eb-8c7fada847da',
          isJson: false,
          revision: 1n,
          type: 'Blob',
          created,
          data: new Uint8Array([0, 1, 2]),
          metadata: undefined,
          position: { commit: 2000n, prepare: 2000n },
        },
      };
      expect(toRecordedEvent(binary)).toBeNull();
      // The client hands over JSON data that is an array, or the raw string when it does not parse.
      const json = jsonResolved().event!;
      const arrayData: ClientResolvedEvent = { event: { ...json, data: [1, 2] } };
      expect(toRecordedEvent(arrayData)).toBeNull();
      const malformed: ClientResolvedEvent = { event: { ...json, data: '{not json' } };
      expect(toRecordedEvent(malformed)).toBeNull();
      expect(toRecordedEvent({ event: { ...json, data: null } })).toBeNull();
    });

    it('refuses positions and revisions it cannot represent exactly', () => {
      const event = jsonResolved().event!;
      expect(() => toRecordedEvent({ event: { ...event, position: { commit: MAX + 1n, prepare: MAX + 1n } } })).toThrow(RangeError);
      expect(() => toRecordedEvent({ event: { ...event, revision: MAX + 1n } })).toThrow(RangeError);
    });

    it('builds JSON event data with the caller id, type, data and metadata', () => {
      const id = randomUUID();
      expect(toClientEvent({ id, type: 'PoolAdded', data: { fqdn: 'pool.contoso.com' }, metadata: { actor: 'bob' } })).toEqual({
        id,
        contentType: 'application/json',
        type: 'PoolAdded',
        data: { fqdn: 'pool.contoso.com' },
        metadata: { actor: 'bob' },
      });
      const bare = toClientEvent({ id, type: 'PoolAdded', data: {} });
      expect(bare.id).toBe(id);
      expect(bare.metadata).toBeUndefined();
    });
  });

  describe('filters', () => {
    const asRegex = (filter: ReturnType<typeof toSubscriptionFilter>): RegExp => {
      if (!('regex' in filter)) throw new Error('expected a regex filter');
      return new RegExp(filter.regex);
    };

    it('excludes system events when there is no filter', () => {
      const filter = toSubscriptionFilter(undefined);
      expect(filter.filterOn).toBe(EVENT_TYPE);
      expect(asRegex(filter).test('SiteCreated')).toBe(true);
      expect(asRegex(filter).test('$metadata')).toBe(false);
      expect(toSubscriptionFilter({})).toEqual(filter);
    });

    it('filters event types server-side with an anchored, escaped alternation', () => {
      const filter = toSubscriptionFilter({ eventTypes: ['Site.Created', 'Pool(Added)', 'A|B'] });
      expect(filter.filterOn).toBe(EVENT_TYPE);
      expect('regex' in filter && filter.regex).toBe('^(?:Site\\.Created|Pool\\(Added\\)|A\\|B)$');
      const re = asRegex(filter);
      expect(['Site.Created', 'Pool(Added)', 'A|B'].map((t) => re.test(t))).toEqual([true, true, true]);
      expect(['SiteXCreated', 'Site.CreatedAgain', 'A', 'PoolAdded', 'XSite.Created'].map((t) => re.test(t))).toEqual([
        false,
        false,
        false,
        false,
        false,
      ]);
    });

    it('filters stream prefixes server-side with the prefixes filter', () => {
      const filter = toSubscriptionFilter({ streamPrefixes: ['site-', 'pool-'] });
      expect(filter).toMatchObject({ filterOn: STREAM_NAME, prefixes: ['site-', 'pool-'] });
    });

    it('with both, sends the event types to the server (prefixes are checked client-side)', () => {
      const filter = toSubscriptionFilter({ eventTypes: ['SiteCreated'], streamPrefixes: ['site-'] });
      expect(filter.filterOn).toBe(EVENT_TYPE);
      expect('prefixes' in filter).toBe(false);
      expect(asRegex(filter).test('SiteCreated')).toBe(true);
    });

    it('an empty list matches nothing', () => {
      expect(eventTypesRegex([])).toBe(MATCH_NOTHING);
      expect(new RegExp(MATCH_NOTHING).test('')).toBe(false);
      expect(new RegExp(MATCH_NOTHING).test('SiteCreated')).toBe(false);
      expect(toSubscriptionFilter({ eventTypes: [] })).toMatchObject({ filterOn: EVENT_TYPE, regex: MATCH_NOTHING });
      expect(toSubscriptionFilter({ streamPrefixes: [] })).toMatchObject({ filterOn: STREAM_NAME, regex: MATCH_NOTHING });
    });

    it('escapes every regex metacharacter', () => {
      const nasty = 'a.b*c+d?e^f$g{h}i(j)k|l[m]n\\o';
      expect(new RegExp(`^${escapeRegex(nasty)}$`).test(nasty)).toBe(true);
      expect(new RegExp(`^${escapeRegex('a.b')}$`).test('axb')).toBe(false);
    });
  });

  describe('EsdbEventStore with no server listening', () => {
    // Port 1 on the loopback interface: nothing listens there, so the connection is refused at once.
    const unreachable = 'esdb://127.0.0.1:1?tls=false';
    let store: EsdbEventStore;
    beforeEach(() => {
      store = EsdbEventStore.connect(unreachable, { pingTimeoutMs: 5_000 });
    });
    afterEach(async () => store.close());

    it('ping throws EventStoreUnavailable', async () => {
      await expect(store.ping()).rejects.toBeInstanceOf(EventStoreUnavailable);
    });

    it('reads and appends fail with EventStoreUnavailable', async () => {
      await expect(store.readStream('site-1')).rejects.toBeInstanceOf(EventStoreUnavailable);
      await expect(store.readAll({ maxCount: 1 })).rejects.toBeInstanceOf(EventStoreUnavailable);
      await expect(store.headPosition()).rejects.toBeInstanceOf(EventStoreUnavailable);
      const append = store.appendToStream('site-1', [{ id: randomUUID(), type: 'SiteCreated', data: {} }], { expectedRevision: 'any' });
      await expect(append).rejects.toBeInstanceOf(EventStoreUnavailable);
    });

    it('a subscription errors with EventStoreUnavailable', async () => {
      await expect(firstValueFrom(store.subscribeToAll())).rejects.toBeInstanceOf(EventStoreUnavailable);
    });

    it('validates arguments before calling the server', async () => {
      await expect(store.appendToStream('$system', [{ id: randomUUID(), type: 'X', data: {} }], { expectedRevision: 'any' })).rejects.toBeInstanceOf(
        InvalidAppend,
      );
      await expect(store.appendToStream('site-1', [], { expectedRevision: 'any' })).rejects.toBeInstanceOf(InvalidAppend);
      await expect(store.readStream('site-1', { fromRevision: -1 })).rejects.toBeInstanceOf(InvalidAppend);
      await expect(store.readAll({ fromPosition: 1.5 })).rejects.toBeInstanceOf(InvalidAppend);
      await expect(firstValueFrom(store.subscribeToAll({ fromPosition: -3 }))).rejects.toBeInstanceOf(InvalidAppend);
    });

    it('refuses every call once closed', async () => {
      await store.close();
      await expect(store.ping()).rejects.toThrow('event store is closed');
      await expect(store.readAll()).rejects.toBeInstanceOf(EventStoreUnavailable);
    });
  });
});
