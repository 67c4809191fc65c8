import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import { EsdbTestServer, startEsdbTestServer } from '../support/esdb-test-server';
import { eventStoreContract } from './event-store.contract';

/**
 * The event store contract through the real `@eventstore/db-client`, over a real socket, against the
 * in-memory EventStoreDB protocol server of `test/support/esdb-test-server.ts`. Runs in every `npm test`.
 */
let server: EsdbTestServer;

beforeAll(async () => {
  server = await startEsdbTestServer();
});
afterAll(async () => server.stop());

eventStoreContract(
  'esdb (wire test server)',
  async () => {
    const store = EsdbEventStore.connect(server.connectionString);
    await store.ping();
    return store;
  },
  async (store) => store.close(),
);
