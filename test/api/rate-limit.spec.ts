import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { anonymousRateLimit, DoorThrottler, doorThrottlers, SlidingWindowStorage } from '../../src/api/rate-limit';
import type { Authentication } from '../../src/application/authentication';
import { AccessDenied } from '../../src/application/authorization';

/** The door's throttler at RATE_LIMIT = `perSecond`, on the storage its options give the library (as ThrottlerModule.forRoot does). */
async function door(perSecond: number): Promise<{ take: (who: Authentication, ip?: string) => Promise<unknown> }> {
  const options = doorThrottlers(perSecond);
  const storage = (options as { storage?: unknown }).storage;
  expect(storage).toBeInstanceOf(SlidingWindowStorage);
  const guard = new DoorThrottler(options, storage as SlidingWindowStorage, new Reflector());
  await guard.onModuleInit();
  const response = { header: () => response, setHeader: () => response } as unknown as Response;
  return { take: (who, ip = '192.0.2.7') => guard.take({ ip, headers: {} } as Request, response, who) };
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
    const { take } = await door(2);
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
  });

  it('holds a principal to the rate per second sustained', async () => {
    const { take } = await door(5);
    let allowed = 0;
    // 50 requests a second for 10 s, against RATE_LIMIT=5.
    for (let ms = 0; ms < 10_000; ms += 20) {
      if (((await take(principal('alice'))) as { ok: boolean }).ok) allowed++;
      jest.advanceTimersByTime(20);
    }
    expect(allowed).toBe(50);
  });

  it('gives requests that name no one a thirtieth of the limit, per client address, apart from the principals', async () => {
    expect([anonymousRateLimit(300), anonymousRateLimit(5), anonymousRateLimit(0)]).toEqual([10, 1, 0]);
    const { take } = await door(300);
    for (let i = 0; i < 20; i++) expect(await take(nobody)).toEqual({ ok: true });
    expect(await take(nobody)).toEqual({ ok: false, retryAfterSeconds: 2 });
    expect(await take(nobody, '198.51.100.9')).toEqual({ ok: true });
    // A principal calling from the same address keeps its own, larger window.
    for (let i = 0; i < 600; i++) expect(await take(principal('alice'))).toEqual({ ok: true });
    expect(await take(principal('alice'))).toMatchObject({ ok: false });
  });

  it('keeps at most 10,000 callers, forgetting first those with nothing left in their window', async () => {
    let now = 0;
    const storage = new SlidingWindowStorage(() => now);
    for (let i = 0; i < 10_000; i++) await storage.increment(`idle${i}`, 2_000, 4);
    now += 2_000;
    for (let i = 0; i < 3; i++) await storage.increment('busy', 2_000, 4);
    expect(storage.tracked()).toBe(1);
    expect(await storage.increment('busy', 2_000, 4)).toMatchObject({ isBlocked: false, totalHits: 4 });
    expect(await storage.increment('busy', 2_000, 4)).toMatchObject({ isBlocked: true, timeToBlockExpire: 2 });
  });

  it("keeps each throttler's callers apart: anonymous addresses by the thousand never push out a principal's window", async () => {
    let now = 0;
    const storage = new SlidingWindowStorage(() => now);
    for (let i = 0; i < 3; i++) await storage.increment('alice', 2_000, 4, 0, 'principal');
    for (let i = 0; i < 12_000; i++) await storage.increment(`198.51.${i >> 8}.${i & 255}`, 2_000, 1, 0, 'anonymous');
    expect([storage.tracked('principal'), storage.tracked('anonymous')]).toEqual([1, 10_000]);
    expect(await storage.increment('alice', 2_000, 4, 0, 'principal')).toMatchObject({ isBlocked: false, totalHits: 4 });
    expect(await storage.increment('alice', 2_000, 4, 0, 'principal')).toMatchObject({ isBlocked: true });
  });

  it('holds about its limit of entries per caller, not every request it ever counted', async () => {
    let now = 0;
    const storage = new SlidingWindowStorage(() => now);
    for (let i = 0; i < 5_000; i++) {
      now += 10;
      await storage.increment('steady', 2_000, 1_000, 0, 'principal');
    }
    const windows = (storage as unknown as { tables: Map<string, Map<string, { expiries: number[] }>> }).tables.get('principal')!;
    expect(windows.get('steady')!.expiries.length).toBeLessThanOrEqual(200 + 32);
  });
});
