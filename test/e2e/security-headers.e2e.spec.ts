import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer } from '../support/http';
import { startServer, type RunningServer } from '../support/server';

/** The headers as the product has always sent them, now through helmet: exactly these, none of helmet's other defaults. */
describe('security headers (helmet)', () => {
  let root: string;
  let server: RunningServer;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-headers-'));
    server = await startServer({ DATA_DIR: path.join(root, 'data') });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const common = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  };
  const policy = (header: string | null): string[] => (header ?? '').split(';').map((d) => d.trim().replace(/\s+/g, ' '));

  it.each([
    ['/api/topology', ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"], 'no-store'],
    ['/API/topology', ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"], 'no-store'],
    ['/health', ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"], 'no-store'],
    [
      '/api/docs',
      ["default-src 'self'", "script-src 'self' 'unsafe-inline'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"],
      null,
    ],
  ])('%s: the same headers and policy as before, and no other helmet header', async (route, directives, cacheControl) => {
    const response = await fetch(`${server.url}${route}`, { headers: bearer() });
    for (const [name, value] of Object.entries(common)) expect([name, response.headers.get(name)]).toEqual([name, value]);
    expect(policy(response.headers.get('content-security-policy'))).toEqual(directives);
    if (cacheControl !== null) expect(response.headers.get('cache-control')).toBe(cacheControl);
    for (const absent of ['strict-transport-security', 'origin-agent-cluster', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection', 'cross-origin-embedder-policy', 'x-powered-by']) {
      expect([absent, response.headers.get(absent)]).toEqual([absent, null]);
    }
  });
});
