import { randomUUID } from 'node:crypto';
import {
  END,
  EventStoreDBClient,
  MaxAppendSizeExceededError,
  ResolvedEvent,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  jsonEvent,
} from '@eventstore/db-client';
import type { Position } from '@eventstore/db-client';
import { EsdbTestServer, startEsdbTestServer } from './esdb-test-server';

/**
 * The in-memory EventStoreDB protocol server, through the raw client, for what the adapter's contract
 * suite does not reach: checkpoints, stream subscriptions, deletes, size limits.
 */
describe('EventStoreDB protocol test server', () => {
  let server: EsdbTestServer;
  let client: EventStoreDBClient;
  let prefix: string;
  const e = (type = 'T', data: Record<string, number> = {}) => jsonEvent({ type, data });

  beforeEach(async () => {
    server = await startEsdbTestServer({ maxAppendSize: 64 * 1024 });
    client = EventStoreDBClient.connectionString(server.connectionString);
    prefix = `t${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  });
  afterEach(async () => {
    await client.dispose();
    await server.stop();
  });

  it('starts with system records, so that $all positions of client events are above 0', async () => {
    const first: ResolvedEvent[] = [];
    for await (const r of client.readAll({ fromPosition: START, maxCount: 10 })) first.push(r);
    expect(first.length).toBeGreaterThan(0);
    expect(first.every((r) => r.event!.streamId.startsWith('$'))).toBe(true);
    const result = await client.appendToStream(`${prefix}-a`, e());
    expect(result.position!.commit).toBeGreaterThan(0n);
    expect(result.position!.commit).toBe(result.position!.prepare);
  });

  it('a filtered $all subscription sends checkpoints every window × multiplier records scanned, in order', async () => {
    for (let i = 0; i < 20; i++) await client.appendToStream(`${prefix}-a`, e(i % 4 === 0 ? 'Wanted' : 'Other', { i }));
    const checkpoints: Position[] = [];
    const events: ResolvedEvent[] = [];
    const subscription = client.subscribeToAll({
      fromPosition: START,
      filter: eventTypeFilter({
        regex: '^Wanted$',
        maxSearchWindow: 2,
        checkpointInterval: 3,
        checkpointReached: (_s, position) => {
          checkpoints.push(position);
        },
      }),
    });
    for await (const r of subscription) {
      events.push(r);
      if (events.length === 5) break;
    }
    expect(events.map((r) => r.event!.type)).toEqual(Array(5).fill('Wanted'));
    expect(checkpoints.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < checkpoints.length; i++) expect(checkpoints[i]!.commit).toBeGreaterThan(checkpoints[i - 1]!.commit);
  });

  it('a stream subscription from a revision is exclusive, then goes live', async () => {
    await client.appendToStream(`${prefix}-s`, [e('A'), e('B'), e('C')]);
    const seen: bigint[] = [];
    const subscription = client.subscribeToStream(`${prefix}-s`, { fromRevision: 1n });
    setTimeout(() => void client.appendToStream(`${prefix}-s`, e('D')), 50);
    for await (const r of subscription) {
      seen.push(r.event!.revision);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([2n, 3n]);
  });

  it('soft delete reads as not found and appends continue the revisions; a tombstone refuses both', async () => {
    await client.appendToStream(`${prefix}-d`, [e(), e()]);
    await client.deleteStream(`${prefix}-d`);
    await expect(collect(client.readStream(`${prefix}-d`))).rejects.toBeInstanceOf(StreamNotFoundError);
    const after = await client.appendToStream(`${prefix}-d`, e(), { expectedRevision: 'no_stream' });
    expect(after.nextExpectedRevision).toBe(2n);

    await client.appendToStream(`${prefix}-t`, e());
    await client.tombstoneStream(`${prefix}-t`);
    await expect(collect(client.readStream(`${prefix}-t`))).rejects.toBeInstanceOf(StreamDeletedError);
    await expect(client.appendToStream(`${prefix}-t`, e())).rejects.toBeInstanceOf(StreamDeletedError);
    await expect(client.deleteStream(`${prefix}-x`, { expectedRevision: 3n })).rejects.toBeInstanceOf(WrongExpectedVersionError);
  });

  it('refuses an append above the maximum append size', async () => {
    const big = jsonEvent({ type: 'Big', data: { x: 'x'.repeat(65 * 1024) } });
    await expect(client.appendToStream(`${prefix}-big`, big)).rejects.toBeInstanceOf(MaxAppendSizeExceededError);
    await expect(collect(client.readStream(`${prefix}-big`))).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('reads $all backwards from a position exclusively and from the end', async () => {
    const a = await client.appendToStream(`${prefix}-r`, e('A'));
    await client.appendToStream(`${prefix}-r`, e('B'));
    const back = await collect(client.readAll({ direction: 'backwards', fromPosition: END, maxCount: 2 }));
    expect(back.map((r) => r.event!.type)).toEqual(['B', 'A']);
    const before = await collect(client.readAll({ direction: 'backwards', fromPosition: a.position!, maxCount: 1 }));
    expect(before[0]!.event!.streamId.startsWith('$')).toBe(true);
  });
});

async function collect<T>(read: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of read) out.push(item);
  return out;
}
