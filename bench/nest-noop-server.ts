/**
 * The framework's ceiling in `bench/commands.ts`: a NestJS application whose `POST /api/commands/:name`
 * reads the JSON body (the product's limit) and answers 200 with a small JSON object, doing nothing
 * else. On the product's HTTP platform (Express, the default) what it sustains under the same load
 * client is the most a command route of this stack could on this machine, before any authentication,
 * validation, decision or write. `--platform fastify` runs the same application on Nest's Fastify
 * platform, for comparison only: the product does not use it.
 *
 *   node dist/bench/nest-noop-server.js [--platform express|fastify] [--port 0] [--host 127.0.0.1]
 *
 * Prints `nest noop server listening on http://HOST:PORT` once listening; SIGTERM stops it.
 */
import 'reflect-metadata';
import { Body, Controller, HttpCode, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
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
  const platform = argValue(args, '--platform') ?? 'express';
  let app: INestApplication;
  if (platform === 'express') {
    const express = await NestFactory.create<NestExpressApplication>(NoopModule, { logger: ['error'], bodyParser: false });
    express.useBodyParser('json', { limit: BODY_LIMIT });
    express.disable('x-powered-by');
    express.set('etag', false);
    app = express;
  } else if (platform === 'fastify') {
    // A development dependency, loaded only when asked for.
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(NoopModule, new FastifyAdapter({ bodyLimit: parseBytes(BODY_LIMIT) }), { logger: ['error'] });
  } else {
    throw new Error(`--platform must be express or fastify (got ${platform})`);
  }
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(port, host);
  const address = app.getHttpServer().address() as { port: number };
  console.log(`nest noop server (${platform}) listening on http://${host}:${address.port}`);
}

/** A body-parser limit (`64kb`, `1mb`) as bytes. */
function parseBytes(limit: string): number {
  const match = /^(\d+)(b|kb|mb)$/i.exec(limit);
  if (!match) throw new Error(`unexpected body limit ${limit}`);
  return Number(match[1]) * { b: 1, kb: 1024, mb: 1024 * 1024 }[match[2]!.toLowerCase() as 'b' | 'kb' | 'mb'];
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
