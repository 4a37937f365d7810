/**
 * A token bucket per caller: `ratePerSecond` calls per second on average, bursts up to `burst`. Buckets of callers
 * that went quiet are forgotten, so memory stays bounded by the number of recently active callers.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updated: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one call from the caller's bucket; returns 0 when allowed, else the milliseconds until one is available. */
  take(caller: string): number {
    const now = this.now();
    const bucket = this.buckets.get(caller) ?? { tokens: this.burst, updated: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updated) / 1000) * this.ratePerSecond);
    bucket.updated = now;
    this.buckets.set(caller, bucket);
    if (this.buckets.size > 10_000) this.forgetIdle(now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.ratePerSecond) * 1000);
  }

  private forgetIdle(now: number): void {
    const full = (this.burst / this.ratePerSecond) * 1000;
    for (const [caller, bucket] of this.buckets) if (now - bucket.updated > full) this.buckets.delete(caller);
  }
}

/** Counts each caller's open streams against a limit. */
export class StreamCounter {
  private readonly open = new Map<string, number>();
  constructor(private readonly limit: number) {}

  /** Opens a stream for the caller; false when the caller is at the limit. */
  tryOpen(caller: string): boolean {
    const count = this.open.get(caller) ?? 0;
    if (count >= this.limit) return false;
    this.open.set(caller, count + 1);
    return true;
  }

  close(caller: string): void {
    const count = (this.open.get(caller) ?? 1) - 1;
    if (count <= 0) this.open.delete(caller);
    else this.open.set(caller, count);
  }

  countOf(caller: string): number {
    return this.open.get(caller) ?? 0;
  }
}
