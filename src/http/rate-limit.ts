/**
 * Requests per client (the SHA-256 of its certificate) as a token bucket: `burst` requests at once,
 * then `requestsPerMinute` on average. In memory, per process.
 */
export interface RateLimitOptions {
  /** Average rate allowed; 0 turns the limit off. */
  requestsPerMinute: number;
  /** Requests allowed at once after a quiet period. */
  burst: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number; firstRefusal: boolean };

interface Bucket { tokens: number; at: number; refusing: boolean }

export class ClientRateLimit {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly o: RateLimitOptions) {}

  get enabled(): boolean {
    return this.o.requestsPerMinute > 0;
  }

  /** Takes one request's token for `client`, or says how long until one is available. */
  take(client: string, now = Date.now()): RateDecision {
    if (!this.enabled) return { ok: true };
    const perMs = this.o.requestsPerMinute / 60_000;
    const b = this.buckets.get(client) ?? { tokens: this.o.burst, at: now, refusing: false };
    b.tokens = Math.min(this.o.burst, b.tokens + (now - b.at) * perMs);
    b.at = now;
    this.buckets.set(client, b);
    if (this.buckets.size > 10_000) this.prune(now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      b.refusing = false;
      return { ok: true };
    }
    const firstRefusal = !b.refusing;
    b.refusing = true;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000)), firstRefusal };
  }

  /** Drops buckets that have refilled completely (they hold nothing a new bucket would not). */
  private prune(now: number): void {
    const fullAfterMs = this.o.burst / (this.o.requestsPerMinute / 60_000);
    for (const [k, b] of this.buckets) if (now - b.at >= fullAfterMs) this.buckets.delete(k);
  }
}
