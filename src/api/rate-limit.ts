import { ExecutionContext, Injectable } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { ThrottlerGuard, type ThrottlerLimitDetail, type ThrottlerModuleOptions } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import type { Authentication } from '../application/authentication';

/**
 * The API's rate limit, through @nestjs/throttler: its storage (a sliding window of each caller's
 * requests), its trackers and its named throttlers carry the policy. Two throttlers, and each request
 * is counted by exactly one of them (`skipIf`):
 *
 * - `principal`: an authenticated request, tracked by its principal (`via:actor`): at most twice
 *   RATE_LIMIT requests in any 2 s, so RATE_LIMIT per second sustained, in bursts of twice that;
 * - `anonymous`: a request that names no one (no credential, or one that is refused), tracked by its
 *   client address, with a thirtieth of that limit (`anonymousRateLimit`).
 *
 * A refused request is not counted (`blockDuration` 0): a caller that keeps knocking is let in again
 * as soon as its oldest request leaves the window, and `Retry-After` says when that is.
 *
 * What is not the library's use: the throttler is a guard, and Nest runs guards after every
 * middleware, the body parser included, and only on requests that match a route. The door
 * (`door.ts`) must refuse from the headers alone, before a body is read, and on every spelling of
 * `/api` whether a route matches or not (a flood of anonymous 64 kB bodies would otherwise be parsed
 * before being refused, and a flood of unknown paths never limited). So the door calls the guard
 * itself, with the request, its response and what it has just authenticated as the guard's context,
 * instead of registering it as a route guard. The 429 is the door's answer (`RATE_LIMITED`, with
 * `Retry-After`, as the README documents), not the throttler's exception and headers.
 */

/** The window of the sliding count: 2 s, so that the limit allows bursts of twice the rate per second. */
export const RATE_WINDOW_MS = 2_000;

/**
 * Requests per second per client address for requests that name no one (no credential, or one that
 * is refused): a thirtieth of the per-principal limit, at least 1 (10 per second by default).
 */
export function anonymousRateLimit(perPrincipal: number): number {
  return perPrincipal <= 0 ? 0 : Math.max(1, Math.ceil(perPrincipal / 30));
}

/** The request's authentication, as the door hands it to the guard (the context's third argument). */
const authenticationIn = (context: ExecutionContext): Authentication => context.getArgByIndex<Authentication>(2);

/** The throttlers of the door for RATE_LIMIT = `perSecond` (above 0: at 0 the door limits nothing and has no throttler). */
export function doorThrottlers(perSecond: number): ThrottlerModuleOptions {
  const anonymous = anonymousRateLimit(perSecond);
  return {
    // The door answers the 429 with its own body and `Retry-After`; no X-RateLimit-* headers.
    setHeaders: false,
    // The key is the throttler's name and the tracker: no hash of a route (the door is one place).
    generateKey: (_context, tracker, name) => `${name}:${tracker}`,
    throttlers: [
      {
        name: 'principal',
        limit: 2 * perSecond,
        ttl: RATE_WINDOW_MS,
        blockDuration: 0,
        skipIf: (context) => !authenticationIn(context).ok,
        getTracker: (_request, context) => {
          const authentication = authenticationIn(context);
          return authentication.ok ? `${authentication.principal.via}:${authentication.principal.actor}` : '';
        },
      },
      {
        name: 'anonymous',
        limit: 2 * anonymous,
        ttl: RATE_WINDOW_MS,
        blockDuration: 0,
        skipIf: (context) => authenticationIn(context).ok,
        getTracker: (request) => `address:${String((request as Request).ip ?? '')}`,
      },
    ],
  };
}

/** Thrown by the guard when the caller's window is full; the door turns it into its 429. */
class RateLimited extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('rate limited');
  }
}

/** Where the door's context says the guard is called from (the throttler reads route metadata from it: there is none). */
class ApiDoor {
  enter(): void {}
}

export type Taken = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

/** The throttler's guard, called by the door with what it has authenticated. */
@Injectable()
export class DoorThrottler extends ThrottlerGuard {
  /** Counts the request in its caller's window; when the window is full, how many seconds until it is not. */
  async take(request: Request, response: Response, authentication: Authentication): Promise<Taken> {
    try {
      await this.canActivate(new ExecutionContextHost([request, response, authentication], ApiDoor, ApiDoor.prototype.enter));
      return { ok: true };
    } catch (error) {
      if (error instanceof RateLimited) return { ok: false, retryAfterSeconds: error.retryAfterSeconds };
      throw error;
    }
  }

  protected override throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new RateLimited(Math.max(1, detail.timeToBlockExpire));
  }
}
