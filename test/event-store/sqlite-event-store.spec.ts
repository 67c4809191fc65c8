import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { EventToAppend } from '../../src/event-store/event-store';
import { SqliteEventStore, STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';
import { StoreFileError } from '../../src/event-store/sqlite/sqlite-schema';

const event = (type = 'Happened'): EventToAppend => ({ id: randomUUID(), type, data: { n: 1 } });

describe('SQLite event store', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-sqlite-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const fileBytes = (): Buffer => fs.readFileSync(path.join(dir, STORE_FILE_NAME));

  it('creates its file in DATA_DIR in WAL mode with synchronous=FULL, and keeps events across reopen', async () => {
    const store = new SqliteEventStore({ dataDir: path.join(dir, 'nested', 'data') });
    await store.appendToStream('s-1', [event()], { expectedRevision: 'no_stream' });
    await store.close();
    const db = new Database(path.join(dir, 'nested', 'data', STORE_FILE_NAME), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const reopened = new SqliteEventStore({ dataDir: path.join(dir, 'nested', 'data') });
    expect(await reopened.readStream('s-1')).toHaveLength(1);
    expect((reopened as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    await reopened.close();
  });

  it('group commit: appends that arrive together share one transaction, and each is checked on its own', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    await store.appendToStream('g-0', [event()], { expectedRevision: 'no_stream' });
    const before = store.stats();
    const results = await Promise.allSettled([
      ...Array.from({ length: 31 }, (_, i) => store.appendToStream(`g-${i + 1}`, [event()], { expectedRevision: 'no_stream' })),
      store.appendToStream('g-0', [event()], { expectedRevision: 'no_stream' }), // wrong: fails alone
    ]);
    const after = store.stats();
    expect(after.commits - before.commits).toBe(1);
    expect(after.appends - before.appends).toBe(32);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(31);
    expect(results[31]).toMatchObject({ status: 'rejected', reason: { code: 'WRONG_EXPECTED_VERSION', actual: 0 } });
    expect(await store.readStream('g-0')).toHaveLength(1);
    await store.close();
  });

  it('says where an append starts (its events take consecutive positions), a retry answered with the earlier result too', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    await store.appendToStream('p-0', [event()], { expectedRevision: 'no_stream' });
    const three = [event(), event(), event()];
    const [appended, other] = await Promise.all([
      store.appendToStream('p-1', three, { expectedRevision: 'no_stream' }),
      store.appendToStream('p-2', [event(), event()], { expectedRevision: 'no_stream' }),
    ]);
    const stored = await store.readStream('p-1');
    expect(stored.map((e) => e.position)).toEqual([0, 1, 2].map((i) => appended.firstPosition! + i));
    expect(appended.position).toBe(stored[2]!.position);
    expect((await store.readStream('p-2')).map((e) => e.position)).toEqual([other.firstPosition!, other.firstPosition! + 1]);
    const retry = await store.appendToStream('p-1', three, { expectedRevision: 'no_stream' });
    expect(retry).toEqual(appended);
    await store.close();
  });

  it('knows the revision of the streams it appended to last, until another process appends to the file', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    const other = new SqliteEventStore({ dataDir: dir });
    expect(store.knownRevision('k-1')).toBeUndefined();
    await store.appendToStream('k-1', [event(), event()], { expectedRevision: 'no_stream' });
    await store.appendToStream('k-2', [event()], { expectedRevision: 'no_stream' });
    expect(store.knownRevision('k-1')).toBe(1);
    expect(store.knownRevision('k-2')).toBe(0);
    expect(store.knownRevision('never-written')).toBeUndefined();
    // An idempotent retry writes nothing and changes nothing known.
    const [retried] = [event()];
    await store.appendToStream('k-2', [retried!], { expectedRevision: 0 });
    await store.appendToStream('k-2', [retried!], { expectedRevision: 0 });
    expect(store.knownRevision('k-2')).toBe(1);
    // Another process appends, to another stream even: nothing is known any more.
    await other.appendToStream('k-3', [event()], { expectedRevision: 'no_stream' });
    expect(store.knownRevision('k-1')).toBeUndefined();
    expect(store.knownRevision('k-2')).toBeUndefined();
    // This store's next commit sees the other's append: only what it wrote since is known.
    await store.appendToStream('k-1', [event()], { expectedRevision: 1 });
    expect(store.knownRevision('k-1')).toBe(2);
    expect(store.knownRevision('k-2')).toBeUndefined();
    // A refused append in a group commit leaves the others known, and the head where they left it.
    await Promise.allSettled([
      store.appendToStream('k-1', [event()], { expectedRevision: 2 }),
      store.appendToStream('k-4', [event()], { expectedRevision: 5 }),
    ]);
    expect(store.knownRevision('k-1')).toBe(3);
    expect(store.knownRevision('k-4')).toBeUndefined();
    await other.appendToStream('k-5', [event()], { expectedRevision: 'no_stream' });
    expect(store.knownRevision('k-1')).toBeUndefined();
    await other.close();
    await store.close();
    expect(store.knownRevision('k-1')).toBeUndefined();
  });

  it('refuses an append whose event ids partly repeat another append, storing nothing', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    const a = event();
    await store.appendToStream('d-1', [a], { expectedRevision: 'no_stream' });
    await expect(store.appendToStream('d-1', [event(), a], { expectedRevision: 0 })).rejects.toMatchObject({
      code: 'DUPLICATE_EVENT_ID',
    });
    await expect(store.appendToStream('d-2', [a], { expectedRevision: 'any' })).rejects.toMatchObject({
      code: 'DUPLICATE_EVENT_ID',
    });
    expect(await store.readAll()).toHaveLength(1);
    await store.close();
  });

  it('refuses invalid appends before touching the file', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    await expect(store.appendToStream('', [event()], { expectedRevision: 'any' })).rejects.toMatchObject({ code: 'INVALID_APPEND' });
    await expect(store.appendToStream('s', [{ ...event(), id: 'nope' }], { expectedRevision: 'any' })).rejects.toThrow(/UUID/);
    await expect(store.appendToStream('s', [], { expectedRevision: 'any' })).rejects.toThrow(/at least one/);
    await expect(store.appendToStream('s', [event()], { expectedRevision: -1 })).rejects.toThrow(/expectedRevision/);
    expect(await store.headPosition()).toBe(0);
    await store.close();
  });

  it('a live subscription sees commits made by another process on the same file', async () => {
    const store = new SqliteEventStore({ dataDir: dir, pollIntervalMs: 20 });
    const other = new SqliteEventStore({ dataDir: dir });
    const got = firstValueFrom(store.subscribeToAll().pipe(take(2), toArray()));
    await new Promise((r) => setTimeout(r, 50));
    await other.appendToStream('o-1', [event('FromElsewhere'), event('FromElsewhere')], { expectedRevision: 'no_stream' });
    expect((await got).map((e) => e.type)).toEqual(['FromElsewhere', 'FromElsewhere']);
    await other.close();
    await store.close();
  });

  it('refuses a file from a newer schema, and leaves it byte for byte as it was', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    await store.appendToStream('s-1', [event()], { expectedRevision: 'no_stream' });
    await store.close();
    const db = new Database(path.join(dir, STORE_FILE_NAME));
    db.pragma('user_version = 99');
    db.pragma('journal_mode = DELETE');
    db.close();
    const bytes = fileBytes();
    expect(() => new SqliteEventStore({ dataDir: dir })).toThrow(/schema version 99, newer than this build supports/);
    expect(fileBytes().equals(bytes)).toBe(true);
  });

  it('refuses a corrupt file and a foreign SQLite database without modifying either', () => {
    fs.writeFileSync(path.join(dir, STORE_FILE_NAME), Buffer.from('this is not a database at all, just text'.repeat(200)));
    const garbage = fileBytes();
    expect(() => new SqliteEventStore({ dataDir: dir })).toThrow(StoreFileError);
    expect(() => new SqliteEventStore({ dataDir: dir })).toThrow(/may be corrupt; the file was not modified/);
    expect(fileBytes().equals(garbage)).toBe(true);

    fs.rmSync(path.join(dir, STORE_FILE_NAME));
    const foreign = new Database(path.join(dir, STORE_FILE_NAME));
    foreign.exec('CREATE TABLE customers (id INTEGER)');
    foreign.close();
    const foreignBytes = fileBytes();
    expect(() => new SqliteEventStore({ dataDir: dir })).toThrow(/not a topology-ledger event store .*customers/);
    expect(fileBytes().equals(foreignBytes)).toBe(true);
  });

  it('checkpoints the WAL from another thread, so no commit pays for a checkpoint', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    const file = path.join(dir, STORE_FILE_NAME);
    const before = fs.statSync(file).size;
    for (let i = 0; i < 200; i++) await store.appendToStream(`c-${i}`, [{ ...event(), data: { padding: 'x'.repeat(2000) } }], { expectedRevision: 'no_stream' });
    // Far below the writer's own checkpoint mark (50,000 pages): only the checkpointer moves pages into the file.
    // The checkpoint thread may start late on a busy machine: the bound is generous, the check is that it happens.
    const deadline = Date.now() + 30_000;
    while (fs.statSync(file).size <= before + 200 * 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(fs.statSync(file).size).toBeGreaterThan(before + 200 * 2000);
    await store.close();
  }, 40_000);

  it('commits the appends it accepted before close, and refuses those after', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    const accepted = Array.from({ length: 10 }, (_, i) => store.appendToStream(`close-${i}`, [event()], { expectedRevision: 'no_stream' }));
    const closing = store.close();
    await expect(store.appendToStream('late', [event()], { expectedRevision: 'any' })).rejects.toMatchObject({ code: 'EVENT_STORE_UNAVAILABLE' });
    await closing;
    expect((await Promise.all(accepted)).map((r) => r.position).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const reopened = new SqliteEventStore({ dataDir: dir });
    expect(await reopened.headPosition()).toBe(10);
    await reopened.close();
  });

  it('a writer thread that dies fails the batch in hand as unavailable; the next batch gets a new writer', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    await store.appendToStream('w-1', [event()], { expectedRevision: 'no_stream' });
    const writer = (store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer;
    const inHand = store.appendToStream('w-1', [event()], { expectedRevision: 0 });
    void writer.worker.terminate();
    const outcome = await inHand.then(() => 'committed', (error: { code?: string }) => error.code);
    // Terminated before or after its commit: either way, nothing acknowledged is missing.
    const stored = (await store.readStream('w-1')).length;
    expect(outcome === 'committed' ? stored === 2 : outcome === 'EVENT_STORE_UNAVAILABLE').toBe(true);
    await store.appendToStream('w-1', [event()], { expectedRevision: stored - 1 });
    expect(await store.readStream('w-1')).toHaveLength(stored + 1);
    await store.close();
  });

  it('fails appends with EventStoreUnavailable once closed', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    await store.close();
    await expect(store.appendToStream('s', [event()], { expectedRevision: 'any' })).rejects.toMatchObject({
      code: 'EVENT_STORE_UNAVAILABLE',
    });
  });
});
