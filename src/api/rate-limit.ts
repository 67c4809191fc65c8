import { ExecutionContext, Injectable } from '@nestjs/common';
// Nest's own ExecutionContext class (not re-exported by @nestjs/core's index): the guard's context outside a route.
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { ThrottlerGuard, type ThrottlerLimitDetail, type ThrottlerModuleOptions, type ThrottlerStorage } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import type { Authentication } from '../application/authentication';

/**
 * The API's rate limit, through @nestjs/throttler: its guard, trackers and named throttlers carry the
 * policy, over a sliding window of each caller's requests. Two throttlers, and each request
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
 * The window's count is kept by `SlidingWindowStorage` below, given to the library as its storage,
 * rather than by the library's `ThrottlerStorageService`, which keeps the same sliding window but
 * filters (and copies) every hit still in it on each request: measured at 11 to 25 µs a request for
 * a principal at 300 requests/s and 170 to 220 µs at 3,000 (a busy automation account under a raised
 * RATE_LIMIT, or the command benchmark), on an event loop that spends about 600 µs on a whole
 * command. This one drops expired hits from the front of the caller's queue: under 1 µs a request
 * at either rate.
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

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** Most callers kept at once; past it, callers with no request left in their window are forgotten. */
const MAX_TRACKED = 10_000;

/**
 * The library's storage contract, kept as a sliding window: per key, the expiry times of the requests
 * still in the window, oldest first (they are appended in time order, so expired ones leave from the
 * front). A request over the limit is not counted; `blockDuration` is not used (the door's throttlers
 * set it to 0: the window itself is the block).
 */
export class SlidingWindowStorage implements ThrottlerStorage {
  /** One table per throttler: callers of one (anonymous addresses, say) never push out those of the other. */
  private readonly tables = new Map<string, Map<string, { expiries: number[]; first: number }>>();

  constructor(private readonly now: () => number = Date.now) {}

  increment(key: string, ttl: number, limit: number, _blockDuration = 0, throttlerName = ''): Promise<ThrottlerStorageRecord> {
    const now = this.now();
    let windows = this.tables.get(throttlerName);
    if (windows === undefined) this.tables.set(throttlerName, (windows = new Map()));
    let window = windows.get(key);
    if (window === undefined) {
      if (windows.size >= MAX_TRACKED) forgetIdle(windows, now);
      window = { expiries: [], first: 0 };
      windows.set(key, window);
    }
    const { expiries } = window;
    while (window.first < expiries.length && expiries[window.first]! <= now) window.first++;
    // Expired entries leave the array once they are a few: a key holds at most about its limit.
    if (window.first >= 32 || (window.first > 0 && window.first === expiries.length)) {
      expiries.splice(0, window.first);
      window.first = 0;
    }
    const inWindow = expiries.length - window.first;
    const isBlocked = inWindow >= limit;
    if (!isBlocked) expiries.push(now + ttl);
    const seconds = (at: number): number => Math.max(0, Math.ceil((at - now) / 1000));
    return Promise.resolve({
      totalHits: inWindow + 1,
      timeToExpire: seconds(expiries[expiries.length - 1] ?? now),
      isBlocked,
      timeToBlockExpire: isBlocked ? seconds(expiries[window.first]!) : 0,
    });
  }

  /** Callers tracked by one throttler (for tests and bounds). */
  tracked(throttlerName = ''): number {
    return this.tables.get(throttlerName)?.size ?? 0;
  }
}

function forgetIdle(windows: Map<string, { expiries: number[]; first: number }>, now: number): void {
  for (const [key, window] of windows) {
    if ((window.expiries[window.expiries.length - 1] ?? 0) <= now) windows.delete(key);
  }
  // Still full of busy callers: forget the oldest rather than grow without bound.
  for (const key of windows.keys()) {
    if (windows.size < MAX_TRACKED) break;
    windows.delete(key);
  }
}

/** The throttlers of the door for RATE_LIMIT = `perSecond` (above 0: at 0 the door limits nothing and has no throttler). */
export function doorThrottlers(perSecond: number): ThrottlerModuleOptions {
  const anonymous = anonymousRateLimit(perSecond);
  return {
    storage: new SlidingWindowStorage(),
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
