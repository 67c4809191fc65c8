/**
 * The framework's ceiling in `bench/commands.ts`: a NestJS application on the same HTTP platform as
 * the product (Express), with the same JSON body parser and limit, whose `POST /api/commands/:name`
 * reads the body and answers 200 with a small JSON object, doing nothing else. What it sustains under
 * the same load client is the most a command route of this stack could on this machine, before any
 * authentication, validation, decision or write.
 *
 *   node dist/bench/nest-noop-server.js [--port 0] [--host 127.0.0.1]
 *
 * Prints `nest noop server listening on http://HOST:PORT` once listening; SIGTERM stops it.
 */
import 'reflect-metadata';
import { Body, Controller, HttpCode, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { BODY_LIMIT } from '../src/app';
import { argValue } from './report';

@Controller('api/commands')
class NoopCommandsController {
  @Post(':name')
  @HttpCode(200)
  execute(@Param('name') name: string, @Body() body: unknown): { ok: true; name: string; keys: number } {
    return { ok: true, name, keys: typeof body === 'object' && body !== null ? Object.keys(body).length : 0 };
  }
}

@Module({ controllers: [NoopCommandsController] })
class NoopModule {}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const host = argValue(args, '--host') ?? '127.0.0.1';
  const port = Number(argValue(args, '--port') ?? 0);
  const app = await NestFactory.create<NestExpressApplication>(NoopModule, { logger: ['error'], bodyParser: false });
  app.useBodyParser('json', { limit: BODY_LIMIT });
  app.disable('x-powered-by');
  app.set('etag', false);
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(port, host);
  const address = app.getHttpServer().address() as { port: number };
  console.log(`nest noop server listening on http://${host}:${address.port}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
