import 'reflect-metadata';
import { INestApplication, LogLevel as NestLogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import type { Config, LogLevel } from './config/config';
import { openEventStore } from './event-store/open-event-store';
import { setUpOpenApi } from './api/openapi';
import { serveConsole } from './api/console';

const NEST_LEVELS: Record<LogLevel, NestLogLevel[]> = {
  silent: [],
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  // Nest's own start-up chatter (one line per module and route) is debug material.
  info: ['fatal', 'error', 'warn'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/**
 * Opens the event store, then builds the HTTP application on it (not yet listening): used by
 * `main.ts` and `topo serve`. Closing the application closes the store.
 */
export async function createApp(config: Config): Promise<INestApplication> {
  const store = openEventStore(config);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, store), {
    logger: NEST_LEVELS[config.logLevel],
    abortOnError: false,
    bodyParser: false,
  });
  app.useBodyParser('json', { limit: '1mb' });
  app.disable('x-powered-by');
  // Command results and read models change with every write: an ETag would be computed and never match.
  app.set('etag', false);
  setUpOpenApi(app);
  serveConsole(app);
  return app;
}
