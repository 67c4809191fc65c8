import type { Config } from '../config/config';
import type { EventStore } from './event-store';
import { EsdbEventStore } from './esdb/esdb-event-store';
import { HashChainedEventStore } from './hash-chain';
import { normaliseConnectionString, redactConnectionString } from './esdb/mapping';
import { SqliteEventStore, STORE_FILE_NAME } from './sqlite/sqlite-event-store';
import { createPrivateDirectory, openPrivately, widerThanPrivate } from './sqlite/private-files';
import { SqliteLogReader } from './sqlite/log-follower';

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

/**
 * What the tools that work on a store's files need of the adapters (backup and restore, the copy to
 * EventStoreDB, the read models' attached log and private files), named here so that nothing above the
 * port imports an adapter: the SQLite log's file name in DATA_DIR, DATA_DIR and files kept private, each adapter opened
 * without the hash chain (a copy moves events as they are stored), and a connection string's form
 * and redaction.
 */
export { createPrivateDirectory, normaliseConnectionString, openPrivately, redactConnectionString, STORE_FILE_NAME, widerThanPrivate };

/**
 * The SQLite log in `file` read through a read-only connection of its own (for the read models'
 * thread): what the projections need of a store, `subscribeToAll` and `headPosition`, plus `wake`.
 */
export function openSqliteLogReader(file: string): SqliteLogReader {
  return new SqliteLogReader(file);
}
export type { SqliteLogReader };

/** The SQLite event store in `dataDir`, as stored (no hash chain over it). */
export function openSqliteStoreAsStored(dataDir: string): EventStore {
  return new SqliteEventStore({ dataDir });
}

/** An EventStoreDB / KurrentDB store, as stored (no hash chain over it). */
export function openEsdbStoreAsStored(connectionString: string): EventStore {
  return EsdbEventStore.connect(connectionString);
}
