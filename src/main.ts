import { createApp } from './app';
import { ConfigError, loadConfig } from './config/config';
import { isCorruptionError, StoreFileError } from './event-store/sqlite/sqlite-schema';
import { announceServer, localUrl } from './config/running-server';

/** Starts the server; any error that stops it is one line on stderr and a non-zero exit. */
export async function serve(): Promise<void> {
  // Damage SQLite only finds while reading (a projection catching up at start, a query later) is thrown
  // where no caller can catch it: it too stops the process with one line, and nothing repairs the file.
  process.on('uncaughtException', (error) => {
    if (isCorruptionError(error)) {
      console.error(`topology-ledger: a SQLite file in DATA_DIR is damaged (${error.message}); stopping without modifying it`);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  });
  try {
    const config = loadConfig();
    const app = await createApp(config);
    await app.listen(config.port, config.host);
    const address = app.getHttpServer().address() as { port: number } | null;
    const withdraw = announceServer(config.dataDir, localUrl(config.host, address?.port ?? config.port));
    // Our own handlers (rather than Nest's shutdown hooks, which re-raise the signal) so that a
    // requested stop closes the store and exits 0.
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        withdraw();
        void app.close().then(() => process.exit(0), () => process.exit(1));
      });
    }
    const store = config.eventStoreConnectionString ? 'EventStoreDB' : `SQLite in ${config.dataDir}`;
    if (config.logLevel !== 'silent') {
      console.log(`topology-ledger listening on http://${config.host}:${address?.port ?? config.port} (event store: ${store})`);
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StoreFileError) {
      console.error(`topology-ledger: ${error.message}`);
      process.exit(2);
    }
    console.error(`topology-ledger: failed to start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

if (require.main === module) void serve();
