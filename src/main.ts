import { createApp } from './app';
import { ConfigError, loadConfig } from './config/config';
import { isCorruptionError, StoreFileError } from './event-store/event-store';
import { widerThanPrivate } from './event-store/sqlite/private-files';
import { announceServer, localUrl } from './config/running-server';
import type { INestApplication } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApiTokens, FIRST_ADMIN_TOKEN_NAME } from './application/api-tokens';
import { LOCAL_SESSION, LocalSession } from './application/authentication';
import type { Config } from './config/config';

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
    await createFirstAdminToken(app, config);
    await app.listen(config.port, config.host);
    const address = app.getHttpServer().address() as { port: number } | null;
    const withdraw = announceServer(config.dataDir, localUrl(config.host, address?.port ?? config.port), app.get<LocalSession>(LOCAL_SESSION).secret);
    // Our own handlers (rather than Nest's shutdown hooks, which re-raise the signal) so that a
    // requested stop closes the store and exits 0.
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        withdraw();
        void app.close().then(() => process.exit(0), () => process.exit(1));
      });
    }
    warnIfDataDirIsShared(config);
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

/** Says so when DATA_DIR (which the server creates 0700) already exists and others may read it: it holds every event. */
function warnIfDataDirIsShared(config: Config): void {
  if (config.eventStoreConnectionString !== undefined || config.logLevel === 'silent' || config.logLevel === 'error') return;
  const mode = widerThanPrivate(config.dataDir);
  if (mode === undefined) return;
  console.error(
    `topology-ledger: warning: DATA_DIR ${config.dataDir} has mode ${mode.toString(8).padStart(4, '0')}: other accounts on this machine may read the event log; ` +
      `'chmod 700' it (and 'chmod 600' its files) unless that is intended`,
  );
}

/**
 * On the first start of a store that never had an API token, creates the admin token: ADMIN_TOKEN
 * when it is set (not printed: its owner knows it), else a generated one, printed this once.
 */
async function createFirstAdminToken(app: INestApplication, config: Config): Promise<void> {
  if (config.authentication === 'off') return;
  const tokens = app.get(ApiTokens);
  const commandId = randomUUID();
  const issued = await tokens.issue(
    { name: FIRST_ADMIN_TOKEN_NAME, role: 'admin', expiresAt: null, secret: config.adminToken },
    {
      actor: 'topology-ledger',
      roles: [],
      authenticated: false,
      commandId,
      correlationId: commandId,
      causationId: null,
      reason: 'first start',
      clientAddress: null,
      occurredAt: new Date().toISOString(),
    },
    true,
  );
  if (issued === undefined) {
    if (config.adminToken !== undefined && !(await tokens.check(config.adminToken)).ok) {
      console.error(`topology-ledger: ADMIN_TOKEN is ignored: the store already has API tokens (manage them with 'topo tokens')`);
    }
    return;
  }
  if (config.adminToken !== undefined) {
    console.log(`topology-ledger: first start: API token '${FIRST_ADMIN_TOKEN_NAME}' (role admin) created from ADMIN_TOKEN`);
  } else {
    console.log(
      `topology-ledger: first start: created API token '${FIRST_ADMIN_TOKEN_NAME}' (role admin). It is shown this once; keep it:\n\n    ${issued.secret}\n\n` +
        `Send it as 'Authorization: Bearer <token>' (the CLI: --token or TOPO_TOKEN), and create named tokens with 'topo tokens create'.`,
    );
  }
}

if (require.main === module) void serve();
