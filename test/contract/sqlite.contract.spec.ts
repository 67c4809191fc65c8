import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStore } from '../../src/event-store/event-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { eventStoreContract } from './event-store.contract';

const dirs = new Map<EventStore, string>();

eventStoreContract(
  'sqlite',
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-contract-'));
    const store = new SqliteEventStore({ dataDir: dir });
    dirs.set(store, dir);
    return store;
  },
  async (store) => {
    await store.close();
    fs.rmSync(dirs.get(store)!, { recursive: true, force: true });
    dirs.delete(store);
  },
);
