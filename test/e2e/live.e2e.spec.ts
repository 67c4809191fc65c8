import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer, command, seedTopology } from '../support/http';
import { RunningServer, startServer } from '../support/server';

jest.setTimeout(60_000);

interface LiveEvent {
  readonly event: string;
  readonly projections: Record<string, number>;
}

/** Follows `GET /api/live`, collecting its events until `stop()`. */
function follow(url: string): Promise<{ headers: http.IncomingHttpHeaders; events: LiveEvent[]; next(match: (e: LiveEvent) => boolean): Promise<LiveEvent>; stop(): void }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${url}/api/live`, { agent: false, headers: bearer() }, (response) => {
      const events: LiveEvent[] = [];
      const waiting: { match: (e: LiveEvent) => boolean; resolve: (e: LiveEvent) => void }[] = [];
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (name === undefined || data === undefined) continue;
          const event: LiveEvent = { event: name, projections: (JSON.parse(data) as { projections: Record<string, number> }).projections };
          events.push(event);
          for (const waiter of waiting.splice(0)) {
            if (waiter.match(event)) waiter.resolve(event);
            else waiting.push(waiter);
          }
        }
      });
      resolve({
        headers: response.headers,
        events,
        next: (match) =>
          new Promise((found) => {
            const seen = events.find(match);
            if (seen) found(seen);
            else waiting.push({ match, resolve: found });
          }),
        stop: () => request.destroy(),
      });
    });
    request.on('error', reject);
  });
}

describe('GET /api/live', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-live-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("streams the read models' checkpoints, then their progress after a change, and lets the server stop while a client follows", async () => {
    const live = await follow(server.url);
    try {
      expect(live.headers['content-type']).toContain('text/event-stream');
      const first = await live.next((e) => e.event === 'checkpoints');
      expect(Object.keys(first.projections)).toEqual(expect.arrayContaining(['topology', 'endpoint_directory', 'audit_trail', 'migrations']));

      const created = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
      expect(created.status).toBe(200);
      const position = created.body.position as number;
      const progress = await live.next((e) => e.event === 'progress' && (e.projections['topology'] ?? 0) >= position);
      expect(progress.projections['topology']).toBeGreaterThanOrEqual(position);
    } finally {
      // Stopping with a follower connected: the stream is ended, so the process exits promptly and cleanly.
      const started = Date.now();
      expect(await server.stop()).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      live.stop();
    }
  });
});
