import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStoreUnavailable } from '../../src/event-store/event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

const event = () => ({ id: randomUUID(), type: 'Happened', data: { n: 1 } });

describe('SQLite store: its file moved or deleted while open', () => {
  let root: string;
  let dataDir: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-file-faults-'));
    dataDir = path.join(root, 'data');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('refuses to commit while the directory is moved away (the commit would land out of sight), and resumes once it is back', async () => {
    const store = new SqliteEventStore({ dataDir });
    await store.appendToStream('s-1', [event()], { expectedRevision: 'no_stream' });
    fs.renameSync(dataDir, `${dataDir}.away`);
    await expect(store.appendToStream('s-1', [event()], { expectedRevision: 0 })).rejects.toBeInstanceOf(EventStoreUnavailable);
    await expect(store.ping()).rejects.toThrow(/no longer the file this process opened/);
    fs.renameSync(`${dataDir}.away`, dataDir);
    await expect(store.ping()).rejects.toThrow(/could not commit/); // the last commit failed, until one succeeds
    await store.appendToStream('s-1', [event()], { expectedRevision: 0 });
    await expect(store.ping()).resolves.toBeUndefined();
    expect((await store.readStream('s-1')).map((e) => e.revision)).toEqual([0, 1]);
    await store.close();
  });

  it('refuses to commit once the file is deleted, rather than acknowledging writes that vanish with the process', async () => {
    const store = new SqliteEventStore({ dataDir });
    await store.appendToStream('s-1', [event()], { expectedRevision: 'no_stream' });
    fs.rmSync(dataDir, { recursive: true, force: true });
    await expect(store.appendToStream('s-1', [event()], { expectedRevision: 0 })).rejects.toThrow(/it is gone\); nothing was written/);
    await store.close();
  });
});
