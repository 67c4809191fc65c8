import { Reflector } from '@nestjs/core';
import { ThrottlerStorageService } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { anonymousRateLimit, DoorThrottler, doorThrottlers } from '../../src/api/rate-limit';
import type { Authentication } from '../../src/application/authentication';
import { AccessDenied } from '../../src/application/authorization';

/** The door's throttler at RATE_LIMIT = `perSecond`, on the library's own in-memory storage. */
async function door(perSecond: number): Promise<{ take: (who: Authentication, ip?: string) => Promise<unknown>; storage: ThrottlerStorageService }> {
  const storage = new ThrottlerStorageService();
  const guard = new DoorThrottler(doorThrottlers(perSecond), storage, new Reflector());
  await guard.onModuleInit();
  const response = { header: () => response, setHeader: () => response } as unknown as Response;
  return { take: (who, ip = '192.0.2.7') => guard.take({ ip, headers: {} } as Request, response, who), storage };
}

const principal = (actor: string, via: 'api_token' | 'oidc' = 'api_token'): Authentication => ({
  ok: true,
  principal: { actor, roles: ['operator'], authenticated: true, via },
  fingerprint: null,
});
const nobody: Authentication = { ok: false, denial: AccessDenied.unauthenticated('no credential'), fingerprint: null };

describe('the rate limit at the door (@nestjs/throttler)', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('allows a principal a burst of twice the rate, then refuses with the seconds until its oldest request leaves the 2 s window', async () => {
    const { take, storage } = await door(2);
    for (let i = 0; i < 4; i++) expect(await take(principal('alice'))).toEqual({ ok: true });
    expect(await take(principal('alice'))).toEqual({ ok: false, retryAfterSeconds: 2 });
    // Another principal, and the same name through another credential kind, have their own windows.
    expect(await take(principal('bob'))).toEqual({ ok: true });
    expect(await take(principal('alice', 'oidc'))).toEqual({ ok: true });
    jest.advanceTimersByTime(1_500);
    expect(await take(principal('alice'))).toEqual({ ok: false, retryAfterSeconds: 1 });
    // Refused requests are not counted: once the burst has left the window, a full one is allowed again.
    jest.advanceTimersByTime(500);
    for (let i = 0; i < 4; i++) expect(await take(principal('alice'))).toEqual({ ok: true });
    expect(await take(principal('alice'))).toMatchObject({ ok: false });
    storage.onApplicationShutdown();
  });

  it('holds a principal to the rate per second sustained', async () => {
    const { take, storage } = await door(5);
    let allowed = 0;
    // 50 requests a second for 10 s, against RATE_LIMIT=5.
    for (let ms = 0; ms < 10_000; ms += 20) {
      if (((await take(principal('alice'))) as { ok: boolean }).ok) allowed++;
      jest.advanceTimersByTime(20);
    }
    expect(allowed).toBe(50);
    storage.onApplicationShutdown();
  });

  it('gives requests that name no one a thirtieth of the limit, per client address, apart from the principals', async () => {
    expect([anonymousRateLimit(300), anonymousRateLimit(5), anonymousRateLimit(0)]).toEqual([10, 1, 0]);
    const { take, storage } = await door(300);
    for (let i = 0; i < 20; i++) expect(await take(nobody)).toEqual({ ok: true });
    expect(await take(nobody)).toEqual({ ok: false, retryAfterSeconds: 2 });
    expect(await take(nobody, '198.51.100.9')).toEqual({ ok: true });
    // A principal calling from the same address keeps its own, larger window.
    for (let i = 0; i < 600; i++) expect(await take(principal('alice'))).toEqual({ ok: true });
    expect(await take(principal('alice'))).toMatchObject({ ok: false });
    storage.onApplicationShutdown();
  });
});
