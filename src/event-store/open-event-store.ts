import type { Config } from '../config/config';
import type { EventStore } from './event-store';
import { EsdbEventStore } from './esdb/esdb-event-store';
import { SqliteEventStore } from './sqlite/sqlite-event-store';

/** EventStoreDB / KurrentDB when a connection string is configured, the embedded SQLite file otherwise. */
export function openEventStore(config: Config): EventStore {
  if (config.eventStoreConnectionString !== undefined) return EsdbEventStore.connect(config.eventStoreConnectionString);
  return new SqliteEventStore({ dataDir: config.dataDir, synchronous: config.sqliteSynchronous });
}
