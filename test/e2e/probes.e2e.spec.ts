import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';
import { command } from '../support/http';
import { startServer } from '../support/server';

describe('/health/live and /health/ready', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-probes-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('are public; ready reports the store and the read models, and says not ready when the store file is gone while live stays up', async () => {
    const dataDir = path.join(root, 'data');
    const server = await startServer({ DATA_DIR: dataDir });
    try {
      expect((await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com' })).status).toBe(200);
      const live = await fetch(`${server.url}/health/live`);
      expect([live.status, await live.json()]).toEqual([200, { status: 'ok' }]);
      // Read models catch up within milliseconds of the commit.
      let ready = await fetch(`${server.url}/health/ready`);
      for (let i = 0; i < 50 && ready.status !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        ready = await fetch(`${server.url}/health/ready`);
      }
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', eventStore: 'ok', headPosition: 2 });
      expect((await fetch(`${server.url}/health`)).status).toBe(200);

      const file = path.join(dataDir, STORE_FILE_NAME);
      fs.renameSync(file, `${file}.moved`);
      const notReady = await fetch(`${server.url}/health/ready`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({ status: 'not_ready', eventStore: 'unavailable' });
      expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
      fs.renameSync(`${file}.moved`, file);
      expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
