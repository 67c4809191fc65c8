import Database from 'better-sqlite3';
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { verifyLog } from '../../src/application/log-verification';
import { EventToAppend, JsonObject, WrongExpectedVersion } from '../../src/event-store/event-store';
import fc from 'fast-check';
import { EMPTY_LOG_DIGEST, eventHash, nextLogDigest, provenChainFields } from '../../src/event-store/chain-hash';
import { HashChainedEventStore } from '../../src/event-store/hash-chain';
import { SqliteEventStore, STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';

const event = (type = 'Happened', data: JsonObject = {}): EventToAppend => ({ id: randomUUID(), type, data, metadata: { actor: 'alice', roles: ['admin'] } });

describe('the hash chain over the SQLite store', () => {
  let dir: string;
  const opened: { close(): Promise<void> }[] = [];
  const open = (): { raw: SqliteEventStore; chained: HashChainedEventStore } => {
    const raw = new SqliteEventStore({ dataDir: dir });
    const chained = new HashChainedEventStore(raw);
    opened.push(raw);
    return { raw, chained };
  };
  const sql = (statement: string, ...params: (string | number)[]): void => {
    const db = new Database(path.join(dir, STORE_FILE_NAME));
    db.prepare(statement).run(...params);
    db.close();
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-chain-'));
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('links every event to the one before it in its stream, with the hash of its canonical content', async () => {
    const { chained } = open();
    await chained.appendToStream('topology-a', [event('A', { b: 2, a: 1 }), event('B')], { expectedRevision: 'no_stream' });
    await chained.appendToStream('topology-a', [event('C')], { expectedRevision: 1 });
    await chained.appendToStream('refused_command-a', [event('CommandRefused')], { expectedRevision: 'any' });
    const stream = await chained.readStream('topology-a');
    expect(stream[0]!.metadata['prevHash']).toBeNull();
    for (const e of stream) {
      const { hash, ...rest } = e.metadata;
      expect(hash).toBe(eventHash(e.streamId, e.revision, e.type, e.data, rest));
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(stream[1]!.metadata['prevHash']).toBe(stream[0]!.metadata['hash']);
    expect(stream[2]!.metadata['prevHash']).toBe(stream[1]!.metadata['hash']);
    expect(stream[0]!.metadata).toMatchObject({ actor: 'alice', roles: ['admin'] });
    const verified = await verifyLog(chained);
    expect(verified).toMatchObject({ events: 4, chained: 4, unchained: 0, broken: null });
  });

  it('keeps one chain when two processes append with expectedRevision any to one stream at once', async () => {
    const one = open().chained;
    const two = open().chained;
    await one.appendToStream('refused_command-a', [event()], { expectedRevision: 'any' });
    await two.appendToStream('refused_command-a', [event()], { expectedRevision: 'any' });
    // Both now hold a head for the stream; each one's is stale after the other appends.
    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) appends.push((i % 2 === 0 ? one : two).appendToStream('refused_command-a', [event('R', { i })], { expectedRevision: 'any' }));
    await Promise.all(appends);
    const stream = await one.readStream('refused_command-a');
    expect(stream.map((e) => e.revision)).toEqual(Array.from({ length: 42 }, (_, i) => i));
    expect(await verifyLog(one)).toMatchObject({ events: 42, broken: null });
  });

  it('keeps one chain when exact-revision writers race each other and any-appends on one stream', async () => {
    const { chained } = open();
    const other = open().chained;
    const writer = async (store: HashChainedEventStore, w: number): Promise<void> => {
      for (;;) {
        const last = await store.readStream('topology-q', { direction: 'backwards', maxCount: 1 }).then((es) => es[0]!.revision, () => -1);
        try {
          await store.appendToStream('topology-q', [event('Q', { w })], { expectedRevision: last < 0 ? 'no_stream' : last });
          return;
        } catch (error) {
          if (!(error instanceof WrongExpectedVersion)) throw error;
        }
      }
    };
    await Promise.all([
      ...Array.from({ length: 16 }, (_, w) => writer(w % 2 === 0 ? chained : other, w)),
      ...Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? chained : other).appendToStream('topology-q', [event('R', { i })], { expectedRevision: 'any' })),
    ]);
    expect((await chained.readStream('topology-q')).map((e) => e.revision)).toEqual([...Array(24).keys()]);
    expect(await verifyLog(chained)).toMatchObject({ events: 24, broken: null });
  });

  it('answers a retry with the same event ids with the earlier result and stores nothing', async () => {
    const { chained } = open();
    const batch = [event('A'), event('B')];
    const first = await chained.appendToStream('s-1', batch, { expectedRevision: 'no_stream' });
    expect(await chained.appendToStream('s-1', batch, { expectedRevision: 'no_stream' })).toEqual(first);
    const refusal = [event('CommandRefused')];
    const any = await chained.appendToStream('s-1', refusal, { expectedRevision: 'any' });
    expect(await chained.appendToStream('s-1', refusal, { expectedRevision: 'any' })).toEqual(any);
    await chained.appendToStream('s-1', [event('C')], { expectedRevision: 2 });
    // A late retry of an earlier batch, with any, after the stream moved on.
    expect(await chained.appendToStream('s-1', batch, { expectedRevision: 'any' })).toEqual(first);
    expect((await chained.readStream('s-1')).map((e) => e.type)).toEqual(['A', 'B', 'CommandRefused', 'C']);
    expect(await verifyLog(chained)).toMatchObject({ events: 4, broken: null });
  });

  it('reports events written before the chain as unchained and links the first chained event to them', async () => {
    const { raw, chained } = open();
    await raw.appendToStream('topology-old', [event('Old'), event('Old')], { expectedRevision: 'no_stream' });
    await chained.appendToStream('topology-old', [event('New')], { expectedRevision: 1 });
    await chained.appendToStream('topology-old', [event('Newer')], { expectedRevision: 'any' });
    const result = await verifyLog(chained);
    expect(result).toMatchObject({ events: 4, chained: 2, unchained: 2, broken: null });
    // An event written without the chain after chained ones is not "before the chain": it is flagged.
    await raw.appendToStream('topology-old', [event('Sneaked')], { expectedRevision: 'any' });
    expect((await verifyLog(chained)).broken).toMatchObject({ problem: 'unchained_after_chained', streamId: 'topology-old', revision: 4 });
  });

  it('reports a stream whose every event had its chain fields stripped, when chained events come before it in the log', async () => {
    const { raw, chained } = open();
    await chained.appendToStream('topology-first', [event('A')], { expectedRevision: 'no_stream' });
    await chained.appendToStream('topology-stripped', [event('B', { i: 1 }), event('B', { i: 2 })], { expectedRevision: 'no_stream' });
    expect(await verifyLog(chained)).toMatchObject({ events: 3, broken: null });
    await raw.close();
    const db = new Database(path.join(dir, STORE_FILE_NAME));
    for (const row of db.prepare(`SELECT revision, metadata FROM events WHERE stream_id = 'topology-stripped'`).all() as { revision: number; metadata: string }[]) {
      const { hash: _h, prevHash: _p, ...rest } = JSON.parse(row.metadata) as JsonObject;
      db.prepare(`UPDATE events SET metadata = ?, data = '{"i":99}' WHERE stream_id = 'topology-stripped' AND revision = ?`).run(JSON.stringify(rest), row.revision);
    }
    db.close();
    expect((await verifyLog(open().chained)).broken).toMatchObject({ problem: 'unchained_after_chained', streamId: 'topology-stripped', revision: 0 });
  });

  describe('proving an event from its stored text', () => {
    const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonObject[string]>;
    const object = fc.dictionary(fc.string({ maxLength: 12 }), json, { maxKeys: 6 });

    it('gives the same hash and prevHash as decoding, or leaves the event to decoding, for any content', async () => {
      const { chained } = open();
      let revision = -1;
      await fc.assert(
        fc.asyncProperty(object, object, fc.string({ maxLength: 10 }), async (data, metadata, type) => {
          await chained.appendToStream('topology-any', [{ id: randomUUID(), type: `T${type}`, data, metadata }], { expectedRevision: revision < 0 ? 'no_stream' : revision });
          revision += 1;
          const [stored] = await chained.readAllStored(await chained.headPosition(), 1);
          const [decoded] = await chained.readStream('topology-any', { fromRevision: revision, maxCount: 1 });
          const proven = provenChainFields(stored!);
          // With no object opened before prevHash, an event is always proven from its text, unless a key
          // starts with a digit (JavaScript may store such an object out of canonical order) or the text
          // has escapes (the check leaves those to decoding).
          const indexKey = /"[0-9][^"]*":/.test(stored!.data + stored!.metadata);
          const objectBefore = stored!.metadata.slice(1, stored!.metadata.indexOf('"prevHash":')).includes('{');
          const escapes = (stored!.data + stored!.metadata).includes('\\');
          if (!objectBefore && !indexKey && !escapes) {
            expect(proven).toBeDefined();
          }
          if (proven !== undefined) expect(proven).toEqual({ hash: decoded!.metadata['hash'], prevHash: decoded!.metadata['prevHash'] });
        }),
        { numRuns: 150 },
      );
      expect(await verifyLog(chained)).toMatchObject({ events: revision + 1, chained: revision + 1, broken: null });
    });

    it('proves the product\'s metadata, warnings included; an object before prevHash is left to decoding', async () => {
      const { chained } = open();
      const warnings = [{ code: 'ANOTHER_ENDPOINT_ON_POOL', rule: 'R8', message: 'pcpool already has an endpoint {sip:a@contoso.com}' }];
      await chained.appendToStream('topology-n', [{ id: randomUUID(), type: 'N', data: { sipAddress: 'sip:b@contoso.com' }, metadata: { actor: 'alice', warnings } }], { expectedRevision: 'no_stream' });
      await chained.appendToStream('topology-n', [{ id: randomUUID(), type: 'N', data: {}, metadata: { migration: { prevHash: null, step: 2 } } }], { expectedRevision: 0 });
      const [withWarnings, nestedFirst] = await chained.readAllStored(1, 2);
      expect(provenChainFields(withWarnings!)).toEqual({ hash: expect.stringMatching(/^[0-9a-f]{64}$/), prevHash: null });
      expect(provenChainFields(nestedFirst!)).toBeUndefined();
      expect(await verifyLog(chained)).toMatchObject({ events: 2, chained: 2, decoded: 1, broken: null });
    });
  });

  describe('tampering with the SQLite file', () => {
    beforeEach(async () => {
      const { chained } = open();
      for (let i = 0; i < 5; i++) {
        await chained.appendToStream('topology-a', [event('A', { i })], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
        await chained.appendToStream('topology-b', [event('B', { i })], { expectedRevision: 'any' });
      }
      await opened.splice(0)[0]!.close();
    });

    it('an edited event is reported by stream and revision', async () => {
      sql(`UPDATE events SET data = '{"i":99}' WHERE stream_id = 'topology-b' AND revision = 2`);
      const result = await verifyLog(open().chained);
      expect(result.broken).toMatchObject({ problem: 'altered', streamId: 'topology-b', revision: 2 });
      expect(result.events).toBe(5); // a0 b0 a1 b1 a2 are checked before b2
    });

    it('the same content with its keys in another order is not a change', async () => {
      const db = new Database(path.join(dir, STORE_FILE_NAME));
      const row = db.prepare(`SELECT metadata FROM events WHERE stream_id = 'topology-a' AND revision = 1`).get() as { metadata: string };
      const reordered = Object.fromEntries(Object.entries(JSON.parse(row.metadata) as JsonObject).reverse());
      db.prepare(`UPDATE events SET metadata = ? WHERE stream_id = 'topology-a' AND revision = 1`).run(JSON.stringify(reordered));
      db.close();
      expect(Object.keys(reordered)[0]).toBe('hash');
      expect(await verifyLog(open().chained)).toMatchObject({ events: 10, broken: null });
    });

    it('an edited event whose hash was recomputed breaks the link of the next one', async () => {
      const db = new Database(path.join(dir, STORE_FILE_NAME));
      const row = db.prepare(`SELECT data, metadata FROM events WHERE stream_id = 'topology-a' AND revision = 1`).get() as { data: string; metadata: string };
      const metadata = JSON.parse(row.metadata) as JsonObject;
      delete metadata['hash'];
      const data = { i: 1000 };
      metadata['hash'] = eventHash('topology-a', 1, 'A', data, metadata);
      db.prepare(`UPDATE events SET data = ?, metadata = ? WHERE stream_id = 'topology-a' AND revision = 1`).run(JSON.stringify(data), JSON.stringify(metadata));
      db.close();
      expect((await verifyLog(open().chained)).broken).toMatchObject({ problem: 'unlinked', streamId: 'topology-a', revision: 2 });
    });

    it('text moved between the data and the metadata, keeping the hashed text the same, is reported', async () => {
      const store = open().chained;
      await store.appendToStream('topology-c', [event('C', { a: 1, metadata: 2 }), event('D')], { expectedRevision: 'no_stream' });
      await opened.splice(0)[0]!.close();
      const db = new Database(path.join(dir, STORE_FILE_NAME));
      const row = db.prepare(`SELECT data, metadata FROM events WHERE stream_id = 'topology-c' AND revision = 0`).get() as { data: string; metadata: string };
      expect(row.data).toBe('{"a":1,"metadata":2}');
      // {"a":1 | 2},"metadata":{"actor"…: the text the hash covers, data then metadata, is unchanged.
      const data = '{"a":1';
      const metadata = `2},"metadata":${row.metadata}`;
      const hash = (JSON.parse(row.metadata) as JsonObject)['hash'];
      const concatenation = (d: string, m: string) => `{"data":${d},"metadata":${m.slice(0, -75)}}`;
      expect(concatenation(data, metadata)).toBe(concatenation(row.data, row.metadata));
      db.prepare(`UPDATE events SET data = ?, metadata = ? WHERE stream_id = 'topology-c' AND revision = 0`).run(data, metadata);
      db.close();
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect((await verifyLog(open().chained)).broken).toMatchObject({ problem: 'altered', streamId: 'topology-c', revision: 0 });
    });

    it('a row whose stored text is not JSON is reported as altered', async () => {
      sql(`UPDATE events SET metadata = substr(metadata, 2) WHERE stream_id = 'topology-b' AND revision = 3`);
      expect((await verifyLog(open().chained)).broken).toMatchObject({ problem: 'altered', streamId: 'topology-b', revision: 3 });
    });

    it('walks the log page by page with the same result whatever the page size', async () => {
      const store = open().chained;
      const whole = await verifyLog(store);
      // The digest at position 6, folded here from the first six recorded hashes.
      const first = (await store.readAll({ maxCount: 6 })).map((e) => e.metadata['hash'] as string);
      const atSix = { position: 6, hash: first.reduce((digest, hash) => nextLogDigest(digest, hash), EMPTY_LOG_DIGEST) };
      for (const pageSize of [1, 3, 7]) {
        const paged = await verifyLog(store, { pageSize, digest: atSix });
        expect(paged.digestChecked).toBe(true);
        expect(paged.broken).toBeNull();
        expect(paged.digest).toEqual(whole.digest);
      }
      sql(`UPDATE events SET data = '{"i":7}' WHERE stream_id = 'topology-a' AND revision = 4`);
      for (const pageSize of [1, 4, 1000]) {
        expect((await verifyLog(store, { pageSize })).broken).toMatchObject({ problem: 'altered', streamId: 'topology-a', revision: 4 });
      }
    });

    /** A verification without its count of decoded events, which differs by design between the two ways. */
    const verdict = ({ decoded: _decoded, ...rest }: Awaited<ReturnType<typeof verifyLog>>) => rest;
    /** Rewrites a row and records, as its hash, the SHA-256 of the text verify builds from it: what a forger who knows the encoding does. */
    const forge = (db: Database.Database, stream: string, revision: number, data: string, covered: string): void => {
      const text = `{"data":${data},"metadata":${covered}},"revision":${revision},"stream":${JSON.stringify(stream)},"type":${JSON.stringify(stream === 'topology-a' ? 'A' : 'B')}}`;
      const hash = createHash('sha256').update(text).digest('hex');
      db.prepare('UPDATE events SET data = ?, metadata = ? WHERE stream_id = ? AND revision = ?').run(data, `${covered},"hash":"${hash}"}`, stream, revision);
    };
    const coveredOf = (db: Database.Database, stream: string, revision: number): string => {
      const row = db.prepare('SELECT metadata FROM events WHERE stream_id = ? AND revision = ?').get(stream, revision) as { metadata: string };
      return row.metadata.slice(0, -75);
    };

    it.each([
      ['not JSON', '{"i":4,,,garbage'],
      ['whitespace', '{ "i" : 4 }'],
      ['a repeated key', '{"i":4,"i":999}'],
      ['a number not as written back', '{"i":4.0}'],
      ['a needless escape', '{"i":"\\u0041"}'],
    ])('a stream head rewritten as %s, with a hash forged over it, is reported as decoding reports it', async (_name, data) => {
      const db = new Database(path.join(dir, STORE_FILE_NAME));
      forge(db, 'topology-a', 4, data, coveredOf(db, 'topology-a', 4));
      db.close();
      const store = open().chained;
      const reference = await verifyLog(store, { decodeAll: true });
      expect(reference.broken).toMatchObject({ problem: 'altered', streamId: 'topology-a', revision: 4 });
      expect(verdict(await verifyLog(store))).toEqual(verdict(reference));
    });

    it('metadata with prevHash twice, forged, is judged as decoding judges it (JSON.parse keeps the last)', async () => {
      const db = new Database(path.join(dir, STORE_FILE_NAME));
      const covered = coveredOf(db, 'topology-b', 4);
      const twice = `${covered},"prevHash":null`;
      forge(db, 'topology-b', 4, '{"i":4}', twice);
      db.close();
      const store = open().chained;
      const reference = await verifyLog(store, { decodeAll: true });
      expect(reference.broken).not.toBeNull();
      expect(verdict(await verifyLog(store))).toEqual(verdict(reference));
    });

    it('a metadata cell rewritten as a BLOB of the same bytes still verifies; metadata that is JSON null is reported, not a crash', async () => {
      sql(`UPDATE events SET metadata = CAST(metadata AS BLOB) WHERE stream_id = 'topology-a' AND revision = 1`);
      expect(await verifyLog(open().chained)).toMatchObject({ events: 10, broken: null });
      sql(`UPDATE events SET metadata = 'null' WHERE stream_id = 'topology-b' AND revision = 1`);
      expect((await verifyLog(open().chained)).broken).toMatchObject({ problem: 'altered', streamId: 'topology-b', revision: 1 });
    });

    it('gives the verdict of decoding every event, whatever is edited in the file (random edits, forged hashes)', async () => {
      const original = new Database(path.join(dir, STORE_FILE_NAME));
      const rows = original.prepare('SELECT position, data, metadata FROM events ORDER BY position').all() as { position: number; data: string; metadata: string }[];
      original.close();
      // One store for every run: it reads what the test's own connection commits.
      const store = open().chained;
      const pieces = ['"', '\\', '{', '}', ',', ':', ' ', '"metadata":', '"prevHash":null', '"hash":"', '0', '-0', '1e5', 'é', '\\n', '"0":1'];
      await fc.assert(
        fc.asyncProperty(
          // Not the first or the last row: opening the store reads both and refuses a file where they are not JSON.
          fc.integer({ min: 1, max: rows.length - 2 }),
          fc.constantFrom('data', 'metadata'),
          fc.nat(),
          fc.nat({ max: 3 }),
          fc.constantFrom(...pieces),
          fc.boolean(),
          async (index, column, offset, cut, piece, forgeHash) => {
            const row = rows[index]!;
            const db = new Database(path.join(dir, STORE_FILE_NAME));
            try {
              const text = column === 'data' ? row.data : row.metadata.slice(0, -75);
              const at = offset % (text.length + 1);
              const edited = text.slice(0, at) + piece + text.slice(at + cut);
              const [stream, revision] = Object.values(db.prepare('SELECT stream_id, revision FROM events WHERE position = ?').raw(true).get(row.position) as [string, number]);
              if (forgeHash) forge(db, stream as unknown as string, revision as unknown as number, column === 'data' ? edited : row.data, column === 'data' ? row.metadata.slice(0, -75) : edited);
              else db.prepare(`UPDATE events SET ${column} = ? WHERE position = ?`).run(column === 'data' ? edited : `${edited}${row.metadata.slice(-75)}`, row.position);
              db.close();
              expect(verdict(await verifyLog(store, { pageSize: 3 }))).toEqual(verdict(await verifyLog(store, { decodeAll: true })));
            } finally {
              if (db.open) db.close();
              const restore = new Database(path.join(dir, STORE_FILE_NAME));
              restore.prepare('UPDATE events SET data = ?, metadata = ? WHERE position = ?').run(row.data, row.metadata, row.position);
              restore.close();
            }
          },
        ),
        { numRuns: 200 },
      );
    });

    it('a deleted event is reported as the missing revision of its stream', async () => {
      sql(`DELETE FROM events WHERE stream_id = 'topology-a' AND revision = 3`);
      expect((await verifyLog(open().chained)).broken).toMatchObject({ problem: 'missing', streamId: 'topology-a', revision: 3 });
      sql(`DELETE FROM events WHERE stream_id = 'topology-b' AND revision = 0`);
      expect((await verifyLog(open().chained)).broken).toMatchObject({ problem: 'missing', streamId: 'topology-b', revision: 0 });
    });

    it('a saved digest proves the log up to it unchanged, and catches a deleted last event that no link shows', async () => {
      const store = open().chained;
      const before = await verifyLog(store);
      expect(before).toMatchObject({ events: 10, broken: null });
      await store.appendToStream('topology-a', [event('Later')], { expectedRevision: 4 });
      const later = await verifyLog(store, { digest: before.digest });
      expect(later).toMatchObject({ events: 11, broken: null, digestChecked: true });
      expect(later.digest.hash).not.toBe(before.digest.hash);

      sql(`DELETE FROM events WHERE stream_id = 'topology-b' AND revision = 4`); // the last event of its stream
      expect((await verifyLog(store)).broken).toBeNull();
      expect((await verifyLog(store, { digest: before.digest })).broken).toMatchObject({ problem: 'digest_mismatch', position: before.digest.position });
      expect((await verifyLog(store, { digest: { position: before.digest.position, hash: '0'.repeat(64) } })).broken).toMatchObject({ problem: 'digest_mismatch' });
    });
  });
});
