import type { INestApplication } from '@nestjs/common';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createApp } from '../../src/app';
import { ROUTE_POLICY } from '../../src/application/authorization';
import { loadConfig } from '../../src/config/config';

interface Layer {
  readonly route?: { readonly path: string; readonly methods: Record<string, boolean> };
}

/** Routes outside the door, each checking its own access (or needing none). */
const OUTSIDE_THE_DOOR = new Set(['GET /health', 'GET /health/ready', 'GET /health/live', 'GET /metrics']);

/** Every route the application serves is in the policy table, or is one outside the door: none is left to the default by accident. */
describe('the policy covers every route', () => {
  let dataDir: string;
  let app: INestApplication;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-routes-'));
    app = await createApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists each served route, and the served /api routes are those the policy names', () => {
    const express = app.getHttpAdapter().getInstance() as { router: { stack: Layer[] } };
    const served = express.router.stack
      .flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path}`) : []))
      .filter((route) => !/^(GET|HEAD) \/api\/docs/.test(route));
    expect(served).toContain('GET /health');
    const unlisted = served.filter((route) => !OUTSIDE_THE_DOOR.has(route) && !ROUTE_POLICY.has(route));
    expect(unlisted).toEqual([]);
    expect(served.length).toBeGreaterThan(10);
  });
});
