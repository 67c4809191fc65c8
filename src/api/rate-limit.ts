/**
 * A token bucket per principal: `perSecond` requests per second, bursts of twice that. Kept in
 * memory; buckets that have refilled are forgotten when the map grows.
 *
 * Hand-written rather than @nestjs/throttler, which does not fit the door: the throttler is a guard,
 * and Nest runs guards after every middleware, the body parser included, so a flood of anonymous
 * requests would have its bodies read before being refused, where the door (`door.ts`) refuses them
 * from their headers alone and closes the connection. The door also keys the bucket by what it has
 * just authenticated (principal, or client address in the thirtyfold tighter bucket for requests that
 * name no one), and the throttler's fixed windows would change the limit's contract (a steady rate with
 * bursts of twice it, `Retry-After` from the bucket's refill) that clients and the README rely on.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly burst: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 10_000,
  ) {
    this.burst = Math.max(1, perSecond * 2);
  }

  /** Takes one request's token; when none is left, how many seconds until one is. */
  take(key: string): { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number } {
    if (this.perSecond <= 0) return { ok: true };
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond)) };
  }

  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(key);
    }
    // Still full of busy clients: forget the oldest rather than grow without bound.
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
