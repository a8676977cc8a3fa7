/**
 * A token bucket for per-connection message rates: `rate` tokens per second, bursts up to 2x.
 * Time comes from the caller (the injected monotonic clock).
 */
export class TokenBucket {
  private tokens: number;
  constructor(
    private readonly rate: number,
    private last: number,
  ) {
    this.tokens = rate * 2;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.rate * 2, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
