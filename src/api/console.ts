import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';

/**
 * The console's files live in `console/` at the root of the checkout. The server runs from `src/`
 * under ts-jest and from `dist/src/` once built, so both places are looked at.
 */
export function consoleDirectory(): string | undefined {
  const candidates = [path.resolve(__dirname, '..', '..', 'console'), path.resolve(__dirname, '..', '..', '..', 'console')];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
}

// The console loads nothing from elsewhere (it works offline): say so to the browser.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Serves the web console at `/` as static files; routes under `/api` and `/health` are unaffected. */
export function serveConsole(app: NestExpressApplication): void {
  const dir = consoleDirectory();
  if (dir === undefined) return;
  app.useStaticAssets(dir, {
    index: 'index.html',
    // The files change with the product, not while it runs; a reload must still pick up a new version.
    maxAge: 0,
    etag: true,
    setHeaders: (response) => {
      response.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
      response.setHeader('x-content-type-options', 'nosniff');
      response.setHeader('referrer-policy', 'no-referrer');
    },
  });
}
