import Database from 'better-sqlite3';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkpointProblem, keyFingerprint, signCheckpoint } from '../../src/application/audit-signing';
import { LogReference, TrustedCheckpoint, VerifiedPrefix, verifyLog } from '../../src/application/log-verification';
import type { JsonObject } from '../../src/event-store/event-store';
import { EMPTY_LOG_DIGEST, eventHash, hashOfRecorded, nextLogDigest } from '../../src/event-store/chain-hash';
import { HashChainedEventStore } from '../../src/event-store/hash-chain';
import { SqliteEventStore, STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';

/** The log against signed checkpoints, on a real SQLite store edited as an attacker would. */
describe('verifying the log against signed checkpoints', () => {
  let dir: string;
  let raw: SqliteEventStore;
  let store: HashChainedEventStore;
  /** What the log was when signed: the digest after each event and the event itself, by position. */
  let original: Map<number, { digest: string; streamId: string; revision: number; type: string; data: JsonObject; metadata: JsonObject }>;
  const checkpointsAt = (...positions: number[]): TrustedCheckpoint[] => positions.map((position) => ({ position, digest: original.get(position)!.digest }));
  const reference: LogReference = {
    digestAt: (position) => original.get(position)?.digest,
    eventAt: (position) => original.get(position),
    positionAfter: (position) => [...original.keys()].filter((p) => p > position).sort((a, b) => a - b)[0],
  };

  /** Edits an event's data, recomputes its hash by the README's formula and relinks the rest of its stream. */
  const forge = (position: number, data: JsonObject): void => {
    const db = new Database(path.join(dir, STORE_FILE_NAME));
    const target = db.prepare('SELECT stream_id, revision FROM events WHERE position = ?').get(position) as { stream_id: string; revision: number };
    db.prepare('UPDATE events SET data = ? WHERE position = ?').run(JSON.stringify(data), position);
    let previous: string | null = null;
    for (const row of db.prepare('SELECT * FROM events WHERE stream_id = ? ORDER BY revision').all(target.stream_id) as { position: number; revision: number; type: string; data: string; metadata: string }[]) {
      const metadata = JSON.parse(row.metadata) as JsonObject;
      if (row.revision >= target.revision) {
        delete metadata['hash'];
        metadata['prevHash'] = previous;
        metadata['hash'] = eventHash(target.stream_id, row.revision, row.type, JSON.parse(row.data) as JsonObject, metadata);
        db.prepare('UPDATE events SET metadata = ? WHERE position = ?').run(JSON.stringify(metadata), row.position);
      }
      previous = metadata['hash'] as string;
    }
    db.close();
  };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-checkpoints-'));
    raw = new SqliteEventStore({ dataDir: dir });
    store = new HashChainedEventStore(raw);
    for (let i = 0; i < 10; i++) {
      await store.appendToStream(i % 2 === 0 ? 'topology-a' : 'topology-b', [{ id: randomUUID(), type: 'Happened', data: { n: i, pool: 'pcpool.contoso.com' }, metadata: { actor: 'alice' } }], {
        expectedRevision: 'any',
      });
    }
    original = new Map();
    let digest = EMPTY_LOG_DIGEST;
    for (const e of await store.readAll()) {
      digest = nextLogDigest(digest, hashOfRecorded(e));
      original.set(e.position, { digest, streamId: e.streamId, revision: e.revision, type: e.type, data: e.data, metadata: e.metadata });
    }
  });
  afterEach(async () => {
    await raw.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('holds when nothing changed, counting the events after the latest checkpoint as unsigned', async () => {
    const result = await verifyLog(store, { checkpoints: checkpointsAt(3, 7), reference });
    expect(result).toMatchObject({ broken: null, breaks: [], checkpoints: { checked: 2, latest: { position: 7 } }, unsigned: 3 });
  });

  it('a forged edit (hash recomputed, stream relinked) passes the chain, not the checkpoints; the read models name the event and field', async () => {
    forge(5, { n: 4, pool: 'evil.contoso.com' });
    expect((await verifyLog(store)).broken).toBeNull();
    const alone = await verifyLog(store, { checkpoints: checkpointsAt(3, 7) });
    expect(alone.broken).toMatchObject({ problem: 'checkpoint_mismatch', position: 7, message: expect.stringContaining('between positions 3 and 7') });
    const named = await verifyLog(store, { checkpoints: checkpointsAt(3, 7), reference });
    expect(named.broken).toMatchObject({
      problem: 'checkpoint_mismatch',
      streamId: 'topology-a',
      revision: 2,
      position: 5,
      eventType: 'Happened',
      changes: expect.arrayContaining([{ field: 'data.pool', before: 'pcpool.contoso.com', after: 'evil.contoso.com' }]),
    });
  });

  it('--all: every break, each against the checkpoint after it', async () => {
    // The last events of their streams: nothing after them needs relinking.
    forge(9, { n: 8, pool: 'x' });
    forge(10, { n: 9, pool: 'y' });
    const result = await verifyLog(store, { checkpoints: checkpointsAt(3, 9, 10), reference, all: true });
    expect(result.breaks.map((b) => [b.problem, b.position, b.changes?.[0]?.field])).toEqual([
      ['checkpoint_mismatch', 9, 'data.pool'],
      ['checkpoint_mismatch', 10, 'data.pool'],
    ]);
    expect((await verifyLog(store, { checkpoints: checkpointsAt(3, 9, 10), reference })).breaks).toHaveLength(1);
  });

  it('the tail cut before the latest checkpoint: truncated', async () => {
    const db = new Database(path.join(dir, STORE_FILE_NAME));
    db.prepare('DELETE FROM events WHERE position > 8').run();
    db.close();
    const cut = (await verifyLog(store, { checkpoints: checkpointsAt(3, 10) })).broken;
    // SQLite's positions follow one another: the checkpoint says how many events are gone, and where.
    expect(cut).toMatchObject({ problem: 'truncated', position: 10, missing: { afterPosition: 8, throughPosition: 10, events: 2, named: [] } });
    expect(cut?.message).toContain('missing: 2 event(s), positions 9 to 10, vouched for by the signed checkpoint at position 10');
    // The read models' copy names them.
    const named = (await verifyLog(store, { checkpoints: checkpointsAt(3, 10), reference })).broken;
    expect(named?.missing).toEqual({
      afterPosition: 8,
      throughPosition: 10,
      events: 2,
      named: [
        { position: 9, streamId: 'topology-a', revision: 4, type: 'Happened' },
        { position: 10, streamId: 'topology-b', revision: 4, type: 'Happened' },
      ],
    });
    expect(named?.message).toContain('topology-a@4 (Happened) at position 9, topology-b@4 (Happened) at position 10');
  });

  it('goes on from the end of an earlier verification, reading only what came after it; the full verification still finds an edit before it', async () => {
    let prefix: VerifiedPrefix | undefined;
    const full = await verifyLog(store, { checkpoints: checkpointsAt(3, 10), reference, onVerified: (p) => (prefix = p) });
    expect(full.broken).toBeNull();
    expect(prefix).toMatchObject({ position: 10, events: 10 });
    for (let i = 10; i < 12; i++) {
      await store.appendToStream('topology-b', [{ id: randomUUID(), type: 'Happened', data: { n: i, pool: 'pcpool.contoso.com' }, metadata: { actor: 'alice' } }], { expectedRevision: 'any' });
    }
    // What the store is asked for: an incremental walk reads the seam (position 10) and what follows, nothing before.
    const reads: number[] = [];
    const counted = Object.assign(Object.create(store) as HashChainedEventStore, {
      readAllStored: (from: number, count: number) => (reads.push(from), store.readAllStored(from, count)),
    });
    let next: VerifiedPrefix | undefined;
    const incremental = await verifyLog(counted, { checkpoints: checkpointsAt(3, 10), reference, resume: prefix!, onVerified: (p) => (next = p) });
    expect(incremental).toMatchObject({ broken: null, events: 12, digest: { position: 12 } });
    expect(Math.min(...reads)).toBe(10);
    expect(incremental.digest.hash).toBe((await verifyLog(store)).digest.hash);

    // An edit before the verified end (hash recomputed, stream relinked; position 12 is topology-b's, untouched).
    forge(5, { n: 4, pool: 'evil.contoso.com' });
    expect((await verifyLog(store, { checkpoints: checkpointsAt(3, 10), reference, resume: next! })).broken).toBeNull();
    expect((await verifyLog(store, { checkpoints: checkpointsAt(3, 10), reference })).broken).toMatchObject({ problem: 'checkpoint_mismatch', position: 5, eventType: 'Happened' });
    // The edited stream appended to afterwards: the walk past the seam meets a link that no longer holds, and names the edited event.
    const reopened = new HashChainedEventStore(new SqliteEventStore({ dataDir: dir }));
    await reopened.appendToStream('topology-a', [{ id: randomUUID(), type: 'Happened', data: { n: 12, pool: 'pcpool.contoso.com' }, metadata: { actor: 'alice' } }], { expectedRevision: 'any' });
    await reopened.close();
    const relinked = (await verifyLog(store, { reference, resume: next! })).broken!;
    expect(relinked).toMatchObject({ problem: 'altered', streamId: 'topology-a', position: 5, eventType: 'Happened', changes: [{ field: 'data.pool', before: 'pcpool.contoso.com', after: 'evil.contoso.com' }] });
    expect(relinked.message).toContain('found at topology-a@5 (position 13)');

    // The seam itself cut or edited: found by the incremental walk.
    const db = new Database(path.join(dir, STORE_FILE_NAME));
    db.prepare('DELETE FROM events WHERE position >= 11').run();
    db.close();
    // A cut tail: how many events and which positions are gone, named by the read models' copy.
    const cut = (await verifyLog(store, { resume: next!, reference })).broken!;
    expect(cut).toMatchObject({ problem: 'truncated', position: 12, missing: { afterPosition: 10, throughPosition: 12, events: 2 } });
    expect(cut.message).toContain('missing: 2 event(s), positions 11 to 12, verified before up to position 12');
  });

  it('a rejected line of the witness is a break of its own', async () => {
    const result = await verifyLog(store, { checkpoints: checkpointsAt(3), rejectedCheckpoints: [{ line: 2, problem: 'its signature does not verify with the trusted key' }] });
    expect(result.broken).toMatchObject({ problem: 'checkpoint_invalid', message: 'witness line 2: its signature does not verify with the trusted key' });
  });
});

describe('signed checkpoints', () => {
  const pair = () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return { privateKey, publicKey, fingerprint: keyFingerprint(publicKey) };
  };

  it('verify with the key that signed them, and with no other; any field edited breaks the signature', () => {
    const key = pair();
    const checkpoint = signCheckpoint(key, 42, 'a'.repeat(64), new Date('2026-12-07T10:00:00Z'));
    expect(checkpoint).toMatchObject({ version: 1, position: 42, algorithm: 'sha256-chain-v1', time: '2026-12-07T10:00:00.000Z', key: key.fingerprint });
    expect(checkpointProblem(checkpoint, key.publicKey, key.fingerprint)).toBeUndefined();
    const other = pair();
    expect(checkpointProblem(checkpoint, other.publicKey, other.fingerprint)).toMatch(/^signed by key sha256:[0-9a-f]{64}, not by the trusted key/);
    // Claiming the trusted key's fingerprint does not help a signature made with another key.
    const forged = { ...signCheckpoint(other, 42, 'a'.repeat(64), new Date()), key: key.fingerprint };
    expect(checkpointProblem(forged, key.publicKey, key.fingerprint)).toBe('its signature does not verify with the trusted key');
    expect(checkpointProblem({ ...checkpoint, digest: 'b'.repeat(64) }, key.publicKey, key.fingerprint)).toBe('its signature does not verify with the trusted key');
    expect(checkpointProblem({ ...checkpoint, position: 43 }, key.publicKey, key.fingerprint)).toBe('its signature does not verify with the trusted key');
    expect(checkpointProblem({ ...checkpoint, digest: 'nope' }, key.publicKey, key.fingerprint)).toBe('digest must be 64 hex digits');
  });
});
