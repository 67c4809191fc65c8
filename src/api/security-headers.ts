import type { NextFunction, Request, Response } from 'express';
import { posix } from 'node:path';

/** The OpenAPI page: its own scripts and styles, nothing from elsewhere. */
const DOCS_POLICY = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/** JSON answers: nothing in them may load or run anything, and no page may frame them. */
const API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export const DOCS_PATH = /^\/api\/docs(?:-json)?(?:\/|$)/;

/**
 * The path as a lenient router could read it: percent-decoded, dot segments resolved, repeated
 * slashes one, in lower case. Routing itself is case-sensitive and strict about all of this (see
 * `app.ts`); the door (`door.ts`) guards every spelling, so that no spelling of an API path gets past it.
 */
export function canonicalPath(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // Left as sent: not a path any route matches.
  }
  return posix.normalize(decoded.replace(/\\/g, '/')).toLowerCase();
}

/** Headers every answer carries: no sniffing, no framing, no referrer, no caching of API answers. */
export function securityHeaders(request: Request, response: Response, next: NextFunction): void {
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  response.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
  response.setHeader('Content-Security-Policy', DOCS_PATH.test(request.path) ? DOCS_POLICY : API_POLICY);
  // Any spelling of /api (answered 401 or 404 by the door) is an API answer too.
  if (canonicalPath(request.path).startsWith('/api') || request.path === '/health') response.setHeader('Cache-Control', 'no-store');
  next();
}
