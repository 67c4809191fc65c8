import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import { eventStoreContract } from './event-store.contract';

/**
 * Runs the event store contract against a real EventStoreDB / KurrentDB server when
 * EVENTSTORE_CONNECTION_STRING is set, e.g. `esdb://localhost:2113?tls=false`. The server is shared
 * between tests and runs: the contract gives every test its own random stream names.
 */
const connectionString = process.env['EVENTSTORE_CONNECTION_STRING']?.trim();

if (connectionString) {
  eventStoreContract(
    'esdb',
    async () => {
      const store = EsdbEventStore.connect(connectionString);
      await store.ping();
      return store;
    },
    async (store) => store.close(),
  );
} else {
  console.log(
    'EventStoreDB contract suite skipped: EVENTSTORE_CONNECTION_STRING is not set (see README, "Running the contract suite against EventStoreDB")',
  );
  describe.skip('EventStoreDB contract', () => {
    it('runs when EVENTSTORE_CONNECTION_STRING is set', () => undefined);
  });
}
