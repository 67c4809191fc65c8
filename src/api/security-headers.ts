import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
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

/** Helmet with only the headers the product sends, as it sends them; helmet's other defaults (HSTS, Origin-Agent-Cluster, ...) stay off. */
const HEADERS_ONLY = {
  contentSecurityPolicy: false,
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: { policy: 'same-origin' },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  originAgentCluster: false,
  referrerPolicy: { policy: 'no-referrer' },
  strictTransportSecurity: false,
  xContentTypeOptions: true,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: 'deny' },
  xPermittedCrossDomainPolicies: false,
  xPoweredBy: false,
  xXssProtection: false,
} as const;

/** A policy string (`name value; name value`) as helmet's directives. */
function directives(policy: string): Record<string, string[]> {
  return Object.fromEntries(policy.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
}

const headers = helmet(HEADERS_ONLY);
const docsPolicy = helmet.contentSecurityPolicy({ useDefaults: false, directives: directives(DOCS_POLICY) });
const apiPolicy = helmet.contentSecurityPolicy({ useDefaults: false, directives: directives(API_POLICY) });

/**
 * Headers every answer carries, through helmet: no sniffing, no framing, no referrer, same-origin
 * opener and resources, the Content-Security-Policy of the OpenAPI page or of JSON answers. Helmet has
 * no Permissions-Policy, and Cache-Control is no security header of its: both are set here.
 */
export function securityHeaders(request: Request, response: Response, next: NextFunction): void {
  response.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
  // Any spelling of /api (answered 401 or 404 by the door) is an API answer too.
  if (canonicalPath(request.path).startsWith('/api') || request.path === '/health') response.setHeader('Cache-Control', 'no-store');
  headers(request, response, (error?: unknown) => {
    if (error) return next(error);
    (DOCS_PATH.test(request.path) ? docsPolicy : apiPolicy)(request, response, next);
  });
}

/**
 * The headers `securityHeaders` gives an API answer, as name/value pairs, for answers written to the
 * socket without Express (a request Node's parser refused): collected by running the same middleware.
 */
export function apiSecurityHeaders(): [string, string][] {
  const collected = new Map<string, [string, string]>();
  const response = {
    setHeader: (name: string, value: string | number | readonly string[]) => void collected.set(name.toLowerCase(), [name, String(value)]),
    removeHeader: (name: string) => void collected.delete(name.toLowerCase()),
    getHeader: (name: string) => collected.get(name.toLowerCase())?.[1],
  } as unknown as Response;
  const request = { path: '/api', method: 'GET', headers: {} } as unknown as Request;
  let failed: unknown;
  securityHeaders(request, response, (error?: unknown) => (failed = error));
  if (failed !== undefined) throw failed;
  return [...collected.values()];
}
