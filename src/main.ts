import { createApp } from './app';
import { ConfigError, loadConfig } from './config/config';
import { isCorruptionError, StoreFileError } from './event-store/event-store';
import { widerThanPrivate } from './event-store/open-event-store';
import { announceServer, localUrl } from './config/running-server';
import type { INestApplication } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApiTokens, FIRST_ADMIN_TOKEN_NAME } from './application/api-tokens';
import { LOCAL_SESSION, LocalSession } from './application/authentication';
import type { Config } from './config/config';
import { UNPROTECTED_WARNING } from './application/audit-monitor';
import { stopServer } from './ops/stop-server';
import { announcements, createLog, routeConsoleThrough, type Logger } from './ops/log';

/**
 * Starts the server. Once the configuration is read, every line goes through the logger (LOG_FORMAT,
 * see `ops/log.ts`); a start that fails (bad configuration, a damaged store) is one plain line on
 * stderr and a non-zero exit, in any format, as it is before the configuration can be read.
 */
export async function serve(): Promise<void> {
  const failAtStart = (line: string): void => void process.stderr.write(`topology-ledger: ${line}\n`);
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
    const log = createLog(config);
    const announce = announcements(log);
    routeConsoleThrough(log);
    const app = await createApp(config, log);
    await createFirstAdminToken(app, config, log, announce);
    await app.listen(config.port, config.host);
    const address = app.getHttpServer().address() as { port: number } | null;
    const withdraw = announceServer(config.dataDir, localUrl(config.host, address?.port ?? config.port), app.get<LocalSession>(LOCAL_SESSION).secret);
    // Our own handlers (rather than Nest's shutdown hooks, which re-raise the signal) so that a
    // requested stop drains the HTTP server, closes the store and exits 0 (see `stopServer`).
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        withdraw();
        void stopServer(app, signal, (line) => announce.info(line.replace(/^topology-ledger: /, ''))).then((code) => {
          log.flush();
          process.exit(code);
        });
      });
    }
    warnIfDataDirIsShared(config, log);
    const store = config.eventStoreConnectionString ? 'EventStoreDB' : `SQLite in ${config.dataDir}`;
    if (config.audit.keyFile === undefined) announce.warn(`WARNING: ${UNPROTECTED_WARNING}`);
    const url = `http://${config.host}:${address?.port ?? config.port}`;
    announce.info({ url, eventStore: config.eventStoreConnectionString ? 'esdb' : 'sqlite' }, `topology-ledger listening on ${url} (event store: ${store})`);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StoreFileError) {
      failAtStart(error.message);
      process.exit(2);
    }
    failAtStart(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

/** Says so when DATA_DIR (which the server creates 0700) already exists and others may read it: it holds every event. */
function warnIfDataDirIsShared(config: Config, log: Logger): void {
  if (config.eventStoreConnectionString !== undefined || config.logLevel === 'silent' || config.logLevel === 'error') return;
  const mode = widerThanPrivate(config.dataDir);
  if (mode === undefined) return;
  log.warn(
    `warning: DATA_DIR ${config.dataDir} has mode ${mode.toString(8).padStart(4, '0')}: other accounts on this machine may read the event log; ` +
      `'chmod 700' it (and 'chmod 600' its files) unless that is intended`,
  );
}

/**
 * On the first start of a store that never had an API token, creates the admin token: ADMIN_TOKEN
 * when it is set (not printed: its owner knows it), else a generated one, printed this once.
 */
async function createFirstAdminToken(app: INestApplication, config: Config, log: Logger, announce: Logger): Promise<void> {
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
      log.warn(`ADMIN_TOKEN is ignored: the store already has API tokens (manage them with 'topo tokens')`);
    }
    return;
  }
  if (config.adminToken !== undefined) {
    announce.info(`first start: API token '${FIRST_ADMIN_TOKEN_NAME}' (role admin) created from ADMIN_TOKEN`);
  } else {
    // The one line that carries a credential, on purpose: marked so (`firstStartAdminToken`, `shownOnce`) for log
    // pipelines to route or drop, and never written again (the next start finds the token stored).
    announce.info(
      { firstStartAdminToken: issued.secret, shownOnce: true },
      `first start: created API token '${FIRST_ADMIN_TOKEN_NAME}' (role admin), in firstStartAdminToken: it is shown this once, keep it. ` +
        `Send it as 'Authorization: Bearer <token>' (the CLI: --token or TOPO_TOKEN), and create named tokens with 'topo tokens create'.`,
    );
  }
}

if (require.main === module) void serve();
