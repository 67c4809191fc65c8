import type { Config } from '../config/config';
import type { EventStore } from './event-store';
import { EsdbEventStore } from './esdb/esdb-event-store';
import { HashChainedEventStore } from './hash-chain';
import { SqliteEventStore } from './sqlite/sqlite-event-store';

/**
 * EventStoreDB / KurrentDB when a connection string is configured, the embedded SQLite file
 * otherwise; either way behind the hash chain, so every event appended is linked to its stream's last.
 */
export function openEventStore(config: Config): EventStore {
  const store =
    config.eventStoreConnectionString !== undefined
      ? EsdbEventStore.connect(config.eventStoreConnectionString)
      : new SqliteEventStore({ dataDir: config.dataDir, synchronous: config.sqliteSynchronous });
  return new HashChainedEventStore(store);
}
