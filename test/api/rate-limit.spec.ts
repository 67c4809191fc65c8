import { RateLimiter } from '../../src/api/rate-limit';

describe('the per-principal rate limit', () => {
  it('allows a burst of twice the rate, then one request per 1/rate s, per key', () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now);
    for (let i = 0; i < 4; i++) expect(limiter.take('alice')).toEqual({ ok: true });
    expect(limiter.take('alice')).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(limiter.take('bob')).toEqual({ ok: true });
    now += 500;
    expect(limiter.take('alice')).toEqual({ ok: true });
    expect(limiter.take('alice')).toMatchObject({ ok: false });
  });

  it('is off at 0, and forgets idle keys rather than grow without bound', () => {
    expect(new RateLimiter(0).take('x')).toEqual({ ok: true });
    let now = 0;
    const limiter = new RateLimiter(1, () => now, 3);
    for (const key of ['a', 'b', 'c']) limiter.take(key);
    now += 10_000;
    for (const key of ['d', 'e', 'f', 'g']) expect(limiter.take(key)).toEqual({ ok: true });
    expect((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(3);
  });
});
