import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { auditDigestProjection } from '../../projections/audit-digest/audit-digest.projection';
import { logDigestAt } from '../../projections/audit-digest/audit-digest.query';
import { projectEvents } from '../../projections/runner/testing';
import { verifyLog } from '../../src/application/log-verification';
import { EMPTY_LOG_DIGEST } from '../../src/event-store/chain-hash';
import { HashChainedEventStore } from '../../src/event-store/hash-chain';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

describe('the store-wide digest read model', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-digest-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives, at every position, the digest that topo audit verify computes from the events themselves', async () => {
    const raw = new SqliteEventStore({ dataDir: dir });
    const store = new HashChainedEventStore(raw);
    // Some events from before the chain, then chained ones in several streams.
    await raw.appendToStream('topology-a', [{ id: randomUUID(), type: 'Old', data: { n: 0 } }], { expectedRevision: 'no_stream' });
    for (let i = 1; i <= 12; i++) {
      await store.appendToStream(`topology-${i % 3 === 0 ? 'a' : 'b'}`, [{ id: randomUUID(), type: 'E', data: { i }, metadata: { actor: 'x' } }], { expectedRevision: 'any' });
    }
    const events = await store.readAll();
    const reader = projectEvents(auditDigestProjection, events);

    const head = logDigestAt(reader);
    const verified = await verifyLog(store);
    expect(verified).toMatchObject({ broken: null, unchained: 1, chained: 12 });
    expect(head).toEqual(verified.digest);

    const middle = events[6]!.position;
    const atMiddle = logDigestAt(reader, middle);
    expect(atMiddle).toMatchObject({ position: middle, events: 7 });
    expect(await verifyLog(store, { digest: atMiddle })).toMatchObject({ broken: null, digestChecked: true });
    expect(await verifyLog(store, { digest: { ...atMiddle, hash: head.hash } })).toMatchObject({ broken: { problem: 'digest_mismatch' } });
    expect(logDigestAt(reader, 0)).toMatchObject({ position: 0, events: 0, hash: EMPTY_LOG_DIGEST });
    await store.close();
  });
});
