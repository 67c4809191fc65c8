import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(60_000);

/** Sends `request` as raw bytes (no client library would send them) and reads the answer until the server closes. */
function raw(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(Buffer.from(request, 'latin1')));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

function parse(answer: string): { status: number; headers: string; body: any } {
  const [head, ...rest] = answer.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1]), headers: head ?? '', body: JSON.parse(rest.join('\r\n\r\n')) };
}

describe('a request header with bytes the HTTP parser refuses', () => {
  let dataDir: string;
  let server: RunningServer;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-client-error-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['ESC', '\x1b', 'U+001B'],
    ['DEL', '\x7f', 'U+007F'],
  ])('answers a raw %s in a header value with the product error naming the header and the rule', async (_name, byte, codePoint) => {
    const answer = await raw(
      server.url,
      `POST /api/commands/RegisterSipDomain HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TEST_ADMIN_TOKEN}\r\nX-Reason: CHG-1${byte}[31m\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{"domain":"contoso.com"}\r\n`,
    );
    const { status, headers, body } = parse(answer);
    expect(status).toBe(400);
    expect(headers).toMatch(/\r\ncontent-type: application\/json; charset=utf-8\r\n/i);
    expect(headers).toMatch(/\r\nconnection: close(\r\n|$)/i);
    // The security headers of every other answer, as they are on an ordinary refusal.
    const ordinary = await fetch(`${server.url}/api/commands/RegisterSipDomain`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{}' });
    for (const name of ['content-security-policy', 'x-frame-options', 'x-content-type-options', 'referrer-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'permissions-policy', 'cache-control']) {
      const value = ordinary.headers.get(name);
      expect(value).not.toBeNull();
      expect(headers.toLowerCase()).toContain(`\r\n${name}: ${value!.toLowerCase()}\r\n`);
    }
    expect(body).toEqual({
      error: {
        code: 'INVALID_INPUT',
        message: `The x-reason header must be plain text: no control or invisible characters; found ${codePoint} at character 6. Nothing was done.`,
        details: { field: 'x-reason', rule: 'schema' },
      },
    });
  });

  it('names a header whose name holds such a byte, and leaves the server answering', async () => {
    const { status, body } = parse(await raw(server.url, 'GET /health HTTP/1.1\r\nHost: localhost\r\nX-Bad\x1bName: 1\r\n\r\n'));
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'x-bad', rule: 'schema' } });
    expect(body.error.message).toContain('header name');
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });
});
