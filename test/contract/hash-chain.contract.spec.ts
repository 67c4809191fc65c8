import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStore } from '../../src/event-store/event-store';
import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import { HashChainedEventStore } from '../../src/event-store/hash-chain';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { EsdbTestServer, startEsdbTestServer } from '../support/esdb-test-server';
import { eventStoreContract } from './event-store.contract';

/** The hash chain sits on the port: the chained store must keep every promise of the port, on both adapters. */
const dirs = new Map<EventStore, string>();

eventStoreContract(
  'sqlite, hash-chained',
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-chain-contract-'));
    const store = new HashChainedEventStore(new SqliteEventStore({ dataDir: dir }));
    dirs.set(store, dir);
    return store;
  },
  async (store) => {
    await store.close();
    fs.rmSync(dirs.get(store)!, { recursive: true, force: true });
    dirs.delete(store);
  },
);

const CHAIN_BYTES = 256;
let server: EsdbTestServer;
beforeAll(async () => {
  server = await startEsdbTestServer();
});
afterAll(async () => server.stop());

eventStoreContract(
  'esdb (wire test server), hash-chained',
  async () => {
    const store = new HashChainedEventStore(EsdbEventStore.connect(server.connectionString));
    await store.ping();
    return store;
  },
  async (store) => store.close(),
  // EventStoreDB's append limit (1 MiB by default) counts the chain's two hashes in the metadata.
  { addedBytesPerEvent: CHAIN_BYTES },
);
