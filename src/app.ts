import 'reflect-metadata';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import type { Server } from 'node:http';
import { AppModule } from './app.module';
import { ConfigError } from './config/config';
import type { Config } from './config/config';
import { COMMANDS } from './application/commands/command-registry';
import { openEventStore } from './event-store/open-event-store';
import { randomBytes } from 'node:crypto';
import { setUpOpenApi } from './api/openapi';
import { doorMiddleware, principalOf } from './api/door';
import { DoorThrottler, doorThrottlers } from './api/rate-limit';
import { ThrottlerModule } from '@nestjs/throttler';
import { securityHeaders } from './api/security-headers';
import { answerRefusedHeaders } from './api/client-error';
import { ApiTokens } from './application/api-tokens';
import { Authenticator, LocalSession } from './application/authentication';
import { serveConsole } from './api/console';
import { observationBodyParser } from './api/observations.controller';
import { AuditMonitor } from './application/audit-monitor';
import { auditLogHeader } from './api/health.controller';
import { installGracefulStop } from './ops/graceful-stop';
import { Metrics } from './ops/metrics';
import { commandLog, createLog, NestPinoLogger, type Logger } from './ops/log';
import { MetricsController } from './api/metrics.controller';
import { ProbesController } from './api/probes.controller';

/** The largest JSON body accepted; a larger one is answered 413 PAYLOAD_TOO_LARGE. */
export const BODY_LIMIT = '64kb';

/** How long a client may take to send a request's headers, and the whole request; how long an idle keep-alive connection stays open. */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/**
 * A client trickling its headers or body holds a connection (and memory) only so long: past
 * HEADERS_TIMEOUT_MS for the headers or REQUEST_TIMEOUT_MS for the whole request, Node answers 408
 * and closes it. The live stream (`/api/live`) is a response, which these do not limit.
 */
function limitSlowRequests(server: Server): void {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // How often Node looks for connections past these limits (30 s by default: a limit could be overrun by that much).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = 1_000;
}

/**
 * Opens the event store, then builds the HTTP application on it (not yet listening): used by
 * `main.ts`, `topo serve` and the CLI's in-process server. Closing the application closes the store.
 * The local session's secret (see `LocalSession`) is `app.get(LOCAL_SESSION)`.
 */
export async function createApp(config: Config, log: Logger = createLog(config, process.stderr)): Promise<INestApplication> {
  const unknown = [...config.reasonRequiredFor].filter((name) => !COMMANDS.has(name));
  if (unknown.length > 0) {
    throw new ConfigError(
      'REASON_REQUIRED_FOR',
      `must name commands the API knows (${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not one; they are ${[...COMMANDS.keys()].join(', ')})`,
      [...config.reasonRequiredFor].join(','),
    );
  }
  const metrics = new Metrics(new Set(COMMANDS.keys()));
  const store = metrics.instrumentStore(openEventStore(config));
  const localSession: LocalSession = { secret: `topo_local_${randomBytes(32).toString('base64url')}` };
  // Case-sensitive routing: `/API/tokens` is no route at all (a 404, after the door), not `/api/tokens`
  // by another name. Express reads the setting once, when its router is created: before Nest's routes.
  const instance = express();
  instance.set('case sensitive routing', true);
  const root = AppModule.forRoot(config, store, localSession);
  // The rate limit's throttlers (none at RATE_LIMIT=0), called by the door.
  const limited = config.rateLimit > 0;
  const withOps = {
    ...root,
    imports: [...(root.imports ?? []), ...(limited ? [ThrottlerModule.forRoot(doorThrottlers(config.rateLimit))] : [])],
    controllers: [...(root.controllers ?? []), MetricsController, ProbesController],
    providers: [...(root.providers ?? []), { provide: Metrics, useValue: metrics }, ...(limited ? [DoorThrottler] : [])],
  };
  const app = await NestFactory.create<NestExpressApplication>(withOps, new ExpressAdapter(instance), {
    logger: config.logLevel === 'silent' ? false : new NestPinoLogger(log),
    abortOnError: false,
    bodyParser: false,
  });
  try {
    app.get(AuditMonitor).start();
    await app.get(ApiTokens).start();
  } catch (error) {
    await app.close();
    throw error;
  }
  // In this order: headers on every answer, then who is asking (and the rate limit), then the body.
  app.use(securityHeaders);
  installGracefulStop(app);
  app.use(metrics.http);
  app.use(auditLogHeader(app.get(AuditMonitor)));
  app.use(commandLog(log, (request) => principalOf(request)?.actor));
  app.use(doorMiddleware(app.get(Authenticator), limited ? app.get(DoorThrottler) : undefined));
  limitSlowRequests(app.getHttpServer() as Server);
  answerRefusedHeaders(app.getHttpServer() as Server);
  // Not strict: a body that is valid JSON but not an object (`null`, `5`, `"x"`) reaches the handler, which
  // says what it is instead of calling it invalid JSON.
  // Observations are documents (a snapshot, a topology XML), read as bytes and larger than any command.
  app.use('/api/observations', observationBodyParser());
  app.useBodyParser('json', { limit: BODY_LIMIT, strict: false });
  app.disable('x-powered-by');
  // Command results and read models change with every write: an ETag would be computed and never match.
  app.set('etag', false);
  setUpOpenApi(app);
  serveConsole(app);
  return app;
}
