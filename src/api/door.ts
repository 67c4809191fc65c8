import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { DeniedAttempt } from '../application/access-denied-recorder';
import type { CommandContext } from '../application/audit';
import { Authentication, Authenticator, LOCAL_USER_HEADER } from '../application/authentication';
import { AccessDenied, Attempt, authorize, COMMAND_ROUTE_KEY, Principal, ROUTE_POLICY } from '../application/authorization';
import { firstHiddenCharacter, visibleText } from '../domain/shared/plain-text';
import { InvalidInput } from '../application/commands/input-errors';
import { DEFAULT_DEPLOYMENT, DEPLOYMENT_PATTERN, UNREADABLE_DEPLOYMENT } from '../application/streams';
import type { DoorThrottler } from './rate-limit';
import { canonicalPath, DOCS_PATH } from './security-headers';
import { headerText } from './headers';

/**
 * The door of the API. Before a body is even parsed, a middleware finds out who the request is
 * (API token, OIDC JWT or local session) and spends one of its principal's rate-limit tokens; the
 * guard then asks the policy (`application/authorization.ts`) whether that principal may use the
 * route. The exception filter records every 401 and 403 as `AccessDenied`.
 */

const AUTHENTICATION = Symbol('authentication');
type WithAuthentication = { [AUTHENTICATION]?: Authentication };

/** Routes outside the door (`/health`): marked on the handler or the controller. */
export const PUBLIC_ROUTE = 'publicRoute';
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);

/** Paths the door guards: every spelling of the API's, except its OpenAPI description spelt exactly. */
export function behindTheDoor(path: string): boolean {
  const canonical = canonicalPath(path);
  if (!canonical.startsWith('/api')) return false;
  return !(DOCS_PATH.test(path) && canonical === path);
}

/** Who the request is, as the door found out (undefined outside the door). */
export function authenticationOf(request: Request): Authentication | undefined {
  return (request as unknown as WithAuthentication)[AUTHENTICATION];
}

/** The request's verified principal, if it has one. */
export function principalOf(request: Request): Principal | undefined {
  const authentication = authenticationOf(request);
  return authentication?.ok ? authentication.principal : undefined;
}


/** The headers whose text is recorded with a request (its audit context, a command's reason). */
const RECORDED_HEADERS = ['x-correlation-id', 'x-causation-id', 'x-reason', 'idempotency-key'] as const;

/** Whether the request still has a body on the wire (which the door then never reads). */
function hasBody(request: Request): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** What the request would record that breaks the plain-text rule, as a refusal naming the header (or the command's name). */
function notPlainText(request: Request): InvalidInput | undefined {
  for (const name of RECORDED_HEADERS) {
    const value = headerText(request, name);
    const found = value === undefined ? undefined : firstHiddenCharacter(value, name === 'x-reason');
    if (found !== undefined) {
      return new InvalidInput(
        `The ${name} header must be plain text: no control or invisible characters; found ${found.codePoint} at character ${found.index + 1}. Nothing was done.`,
        { field: name, rule: 'schema' },
      );
    }
  }
  const command = COMMAND_PATH_ANY_CASE.exec(request.path)?.[1];
  const found = command === undefined ? undefined : firstHiddenCharacter(decoded(command));
  if (found !== undefined) {
    return new InvalidInput(
      `The command's name must be plain text: no control or invisible characters; found ${found.codePoint} at character ${found.index + 1}. Nothing was done.`,
      { field: 'command', rule: 'schema' },
    );
  }
  return undefined;
}

/**
 * Authenticates every request behind the door from its headers alone, then rate-limits it: by
 * principal, or by client address in the tighter window when it is nobody. A request that is nobody
 * is refused (401) right here: its body is never read and its connection is closed after the answer.
 * An authenticated request whose recorded headers break the plain-text rule is refused (400).
 * `limiter` is the rate limit (`rate-limit.ts`); none when RATE_LIMIT is 0.
 */
export function doorMiddleware(authenticator: Authenticator, limiter: DoorThrottler | undefined): RequestHandler {
  return (request: Request, response: Response, next: NextFunction): void => {
    if (!behindTheDoor(request.path)) return next();
    authenticator
      .authenticate(headerText(request, 'authorization'), headerText(request, LOCAL_USER_HEADER))
      .then(async (authentication) => {
        (request as unknown as WithAuthentication)[AUTHENTICATION] = authentication;
        const taken = limiter === undefined ? { ok: true as const } : await limiter.take(request, response, authentication);
        if (!taken.ok) {
          if (hasBody(request)) response.setHeader('Connection', 'close');
          response.setHeader('Retry-After', String(taken.retryAfterSeconds));
          response.status(429).json({
            error: {
              code: 'RATE_LIMITED',
              message: `Too many requests; try again in ${taken.retryAfterSeconds} s.`,
              details: { retryAfterSeconds: taken.retryAfterSeconds },
            },
          });
          return;
        }
        if (!authentication.ok) {
          if (hasBody(request)) response.setHeader('Connection', 'close');
          return next(authentication.denial);
        }
        next(notPlainText(request));
      })
      .catch((error: unknown) => next(error));
  };
}

const MAX_RECORDED = 256;
const clip = (value: string): string => (value.length <= MAX_RECORDED ? value : `${value.slice(0, MAX_RECORDED)}…`);
const COMMAND_PATH_ANY_CASE = /^\/api\/commands\/([^/]+)\/?$/i;
/** What is recorded of a request's text: every hidden character shown as its code point, and at most 256 characters. */
const recorded = (value: string): string => clip(visibleText(value));

/** The request as the policy sees it: its route as declared, and on the command route the command's name. */
export function attemptOf(request: Request): Attempt {
  const declared = (request.route as { path?: unknown } | undefined)?.path;
  // A HEAD is the GET without its body: the same permission.
  const method = request.method === 'HEAD' ? 'GET' : request.method;
  const route = `${method} ${typeof declared === 'string' ? declared : request.path}`;
  const command = route === COMMAND_ROUTE_KEY ? String(request.params['name'] ?? '') : undefined;
  return { route, command };
}

/** The audit context of a request made by `principal` (or by nobody): who, from where, when. */
export function requestContext(request: Request, principal: Principal | undefined, commandId: string = randomUUID()): CommandContext {
  const correlationId = headerText(request, 'x-correlation-id');
  const causationId = headerText(request, 'x-causation-id');
  return {
    actor: principal?.actor ?? 'anonymous',
    roles: principal?.roles ?? [],
    authenticated: principal?.authenticated ?? false,
    commandId,
    correlationId: correlationId !== undefined ? recorded(correlationId) : commandId,
    causationId: causationId !== undefined ? recorded(causationId) : null,
    reason: null,
    clientAddress: request.ip ?? null,
    occurredAt: new Date().toISOString(),
  };
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const ROUTE_PATTERNS: ReadonlyArray<readonly [string, RegExp]> = [...ROUTE_POLICY.keys()].map((key) => {
  const [method, path] = key.split(' ') as [string, string];
  const pattern = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+');
  return [key, new RegExp(`^${method === 'GET' ? '(?:GET|HEAD)' : method} ${pattern}$`)] as const;
});

/**
 * The route a denied request is counted under: the policy's `METHOD path` it spells exactly, else
 * the method alone. Denials are aggregated by it, so that varying a path (or a command's name) makes
 * no new record.
 */
function routeKey(request: Request): string {
  const attempt = `${request.method} ${request.path}`;
  return ROUTE_PATTERNS.find(([, pattern]) => pattern.test(attempt))?.[0] ?? `${request.method} (no such route)`;
}

/** The record of a denied request; `bodyReadable` is false when the body parser refused the body. */
export function deniedAttempt(request: Request, denial: AccessDenied, bodyReadable: boolean): DeniedAttempt {
  const authentication = authenticationOf(request);
  const principal = authentication?.ok ? authentication.principal : undefined;
  // The body of a request refused at the door was never read: the deployment it names is not known.
  const read = bodyReadable && !(hasBody(request) && request.body === undefined);
  const body: unknown = read ? request.body : undefined;
  const fromBody = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>)['deployment'] : undefined;
  const fromQuery = request.query['deployment'];
  const named = typeof fromBody === 'string' ? fromBody : typeof fromQuery === 'string' ? fromQuery : read ? DEFAULT_DEPLOYMENT : '';
  const deployment = DEPLOYMENT_PATTERN.test(named.toLowerCase()) ? named.toLowerCase() : UNREADABLE_DEPLOYMENT;
  const command = COMMAND_PATH_ANY_CASE.exec(request.path)?.[1];
  return {
    deployment,
    principal: principal?.actor ?? null,
    credentialFingerprint: authentication?.fingerprint ?? null,
    route: recorded(`${request.method} ${request.path}`),
    routeKey: routeKey(request),
    method: request.method,
    command: command !== undefined ? recorded(decoded(command)) : null,
    denial,
    context: requestContext(request, principal),
  };
}

/** The one guard of every route: the principal found at the door must be allowed by the policy. */
@Injectable()
export class DoorGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<Request>();
    const authentication = authenticationOf(request);
    if (authentication === undefined) throw AccessDenied.unauthenticated('no credential');
    if (!authentication.ok) throw authentication.denial;
    const decision = authorize(authentication.principal, attemptOf(request));
    if (!decision.allowed) throw decision.denial;
    return true;
  }
}
