/**
 * The HTTP ceiling of `bench/commands.ts`: a `node:http` server that reads each request body and
 * answers 200 with a small JSON object, doing nothing else. Whatever it sustains under the same
 * load client is the most any Node.js HTTP service could on this machine.
 *
 *   node dist/bench/noop-server.js [--port 0] [--host 127.0.0.1]
 *
 * Prints `noop server listening on http://HOST:PORT` once listening; SIGTERM stops it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { argValue } from './report';

const args = process.argv.slice(2);
const host = argValue(args, '--host') ?? '127.0.0.1';
const port = Number(argValue(args, '--port') ?? 0);
const reply = JSON.stringify({ ok: true });

const server = http.createServer((request, response) => {
  request.on('data', () => undefined);
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(reply) });
    response.end(reply);
  });
});

server.listen(port, host, () => {
  const address = server.address() as AddressInfo;
  console.log(`noop server listening on http://${host}:${address.port}`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
