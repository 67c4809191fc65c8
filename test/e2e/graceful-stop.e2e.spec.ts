import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { startServer, TEST_ADMIN_TOKEN } from '../support/server';

const CLIENTS = 16;
const TRIALS = 5;

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function post(agent: http.Agent, url: URL, pathname: string, body: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const request = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

describe('a requested stop under load', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-stop-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it(`exits 0 within 10 s on SIGTERM with ${CLIENTS} keep-alive clients sending commands, ${TRIALS} times, and keeps every acknowledged command`, async () => {
    const dataDir = path.join(root, 'data');
    // Every command answered 200: its position and the domain it registered.
    const acknowledged = new Map<number, string>();
    const exitTimes: number[] = [];
    let refusedWithRetryAfter = 0;
    let closedAfterStop = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      // Each trial after the first is a restart on the store the previous one stopped.
      const server = await startServer({ DATA_DIR: dataDir, RATE_LIMIT: '0' });
      const url = new URL(server.url);
      const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
      let signalled = false;
      let sent = 0;
      const client = async (index: number): Promise<void> => {
        for (let n = 0; ; n++) {
          const domain = `t${trial}c${index}n${n}.contoso.com`;
          let answer: Answer;
          try {
            sent++;
            answer = await post(agent, url, '/api/commands/RegisterSipDomain', { deployment: `load${index}`, domain });
          } catch {
            // The connection was closed or refused: the server has stopped listening.
            if (signalled) return;
            throw new Error(`request failed before the stop (trial ${trial})`);
          }
          if (answer.status === 200) {
            const body = JSON.parse(answer.body) as { position: number };
            acknowledged.set(body.position, domain);
            if (signalled && answer.headers.connection === 'close') closedAfterStop++;
          } else if (answer.status === 503) {
            expect(answer.headers['retry-after']).toMatch(/^\d+$/);
            expect(answer.headers.connection).toBe('close');
            refusedWithRetryAfter++;
          } else {
            throw new Error(`unexpected ${answer.status}: ${answer.body}`);
          }
          if (signalled && answer.status !== 200) return;
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
      // Let the load build up: every client has had several answers on its kept-alive connection.
      while (sent < CLIENTS * 4) await new Promise((resolve) => setTimeout(resolve, 20));
      const exited = new Promise<number | null>((resolve) => server.process.once('exit', (code) => resolve(code)));
      const signalledAt = Date.now();
      signalled = true;
      server.process.kill('SIGTERM');
      const code = await exited;
      exitTimes.push(Date.now() - signalledAt);
      await Promise.all(clients);
      agent.destroy();
      expect(code).toBe(0);
      const output = server.output();
      expect(output).toMatch(/SIGTERM received: stopping; no new connections, \d+ request\(s\) in flight/);
      expect(output).toMatch(/stopped after SIGTERM in \d+ ms: \d+ request\(s\) answered, \d+ refused with 503, 0 cut unanswered .*last commit at position \d+; read models caught up/);
    }
    for (const ms of exitTimes) expect(ms).toBeLessThan(10_000);
    expect(acknowledged.size).toBeGreaterThan(TRIALS * CLIENTS);
    // An answer sent once the stop began told its client to go elsewhere (Connection: close or 503).
    expect(closedAfterStop + refusedWithRetryAfter).toBeGreaterThan(0);

    // After the last restart stopped: every acknowledged command is in the log, at the position it was acknowledged with.
    const store = new SqliteEventStore({ dataDir });
    try {
      const events = await store.readAll();
      const byPosition = new Map(events.map((e) => [e.position, e]));
      const missing = [...acknowledged].filter(([position, domain]) => (byPosition.get(position)?.data as { domain?: string } | undefined)?.domain !== domain);
      expect(missing).toEqual([]);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('ends live streams with a reason, and neither a half-sent request nor an idle connection holds the stop', async () => {
    const server = await startServer({ DATA_DIR: path.join(root, 'streams') });
    const url = new URL(server.url);
    const live = await fetch(`${server.url}/api/live`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(live.status).toBe(200);
    const reader = live.body!.getReader();
    let streamed = '';
    const streamEnded = (async () => {
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (done) return;
        streamed += Buffer.from(value!).toString();
      }
    })();
    // A client that sends half its headers and then nothing; another that keeps an idle connection.
    const slow = net.connect(Number(url.port), url.hostname);
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write('POST /api/commands/RegisterSipDomain HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n');
    slow.on('error', () => undefined);
    const idle = new http.Agent({ keepAlive: true });
    await post(idle, url, '/api/commands/RegisterSipDomain', { domain: 'contoso.com' });
    while (!streamed.includes('event: checkpoints')) await new Promise((resolve) => setTimeout(resolve, 20));

    const started = Date.now();
    const code = await server.stop();
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    await streamEnded;
    expect(streamed).toContain('event: closed\ndata: {"reason":"server stopping"}');
    expect(server.output()).toMatch(/1 live stream\(s\) ended/);
    slow.destroy();
    idle.destroy();
  });
});
