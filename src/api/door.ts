import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { DeniedAttempt } from '../application/access-denied-recorder';
import type { CommandContext } from '../application/audit';
import { Authentication, Authenticator, LOCAL_USER_HEADER } from '../application/authentication';
import { AccessDenied, Attempt, authorize, COMMAND_ROUTE_KEY, Principal } from '../application/authorization';
import { DEFAULT_DEPLOYMENT, DEPLOYMENT_PATTERN, UNREADABLE_DEPLOYMENT } from '../application/streams';
import type { RateLimiter } from './rate-limit';
import { DOCS_PATH } from './security-headers';

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

/** Paths the door guards: the API, except its OpenAPI description. */
export function behindTheDoor(path: string): boolean {
  return path.startsWith('/api') && !DOCS_PATH.test(path);
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

function header(request: Request, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Authenticates every request behind the door, then rate-limits it by principal (by client address when it is nobody). */
export function doorMiddleware(authenticator: Authenticator, limiter: RateLimiter): RequestHandler {
  return (request: Request, response: Response, next: NextFunction): void => {
    if (!behindTheDoor(request.path)) return next();
    authenticator.authenticate(header(request, 'authorization'), header(request, LOCAL_USER_HEADER)).then(
      (authentication) => {
        (request as unknown as WithAuthentication)[AUTHENTICATION] = authentication;
        const key = authentication.ok ? `${authentication.principal.via}:${authentication.principal.actor}` : `address:${request.ip ?? ''}`;
        const taken = limiter.take(key);
        if (taken.ok) return next();
        response.setHeader('Retry-After', String(taken.retryAfterSeconds));
        response.status(429).json({
          error: {
            code: 'RATE_LIMITED',
            message: `Too many requests; try again in ${taken.retryAfterSeconds} s.`,
            details: { retryAfterSeconds: taken.retryAfterSeconds },
          },
        });
      },
      (error: unknown) => next(error),
    );
  };
}

const MAX_RECORDED = 256;
const clip = (value: string): string => (value.length <= MAX_RECORDED ? value : `${value.slice(0, MAX_RECORDED)}…`);
const COMMAND_PATH = /^\/api\/commands\/([^/]+)$/;

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
  const correlationId = header(request, 'x-correlation-id');
  const causationId = header(request, 'x-causation-id');
  return {
    actor: principal?.actor ?? 'anonymous',
    roles: principal?.roles ?? [],
    authenticated: principal?.authenticated ?? false,
    commandId,
    correlationId: correlationId !== undefined ? clip(correlationId) : commandId,
    causationId: causationId !== undefined ? clip(causationId) : null,
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

/** The record of a denied request; `bodyReadable` is false when the body parser refused the body. */
export function deniedAttempt(request: Request, denial: AccessDenied, bodyReadable: boolean): DeniedAttempt {
  const authentication = authenticationOf(request);
  const principal = authentication?.ok ? authentication.principal : undefined;
  const body: unknown = bodyReadable ? request.body : undefined;
  const fromBody = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>)['deployment'] : undefined;
  const fromQuery = request.query['deployment'];
  const named = typeof fromBody === 'string' ? fromBody : typeof fromQuery === 'string' ? fromQuery : bodyReadable ? DEFAULT_DEPLOYMENT : '';
  const deployment = DEPLOYMENT_PATTERN.test(named.toLowerCase()) ? named.toLowerCase() : UNREADABLE_DEPLOYMENT;
  const command = COMMAND_PATH.exec(request.path)?.[1];
  return {
    deployment,
    principal: principal?.actor ?? null,
    credentialFingerprint: authentication?.fingerprint ?? null,
    route: clip(`${request.method} ${request.path}`),
    method: request.method,
    command: command !== undefined ? clip(decoded(command)) : null,
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
