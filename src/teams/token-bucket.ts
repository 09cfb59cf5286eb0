/**
 * A token bucket on this node: `perSecond` units flow in continuously, at most `burst` are held, and a request
 * waiting for units is served in arrival order (none overtakes another that waits). The Graph pacer uses it for
 * a node alone (graph-pacing.ts); a cluster's buckets live in Redis (policy/rate-buckets.ts).
 *
 * Why not bottleneck here too: its scheduler (events, async generators, a promise chain and a timer check per job)
 * cost about 0.18 ms of CPU per Graph request, 8% of the node's CPU per XMPP -> Teams message
 * (bench/relay.bench.ts --perf), for what is two additions and a comparison when units are there.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;
  private readonly waiting: { readonly units: number; readonly resolve: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** Takes `units` (at most `burst`): at once when they are there and nobody waits, else in turn. */
  take(units: number): Promise<void> | undefined {
    const n = Math.min(units, this.burst);
    this.refill();
    if (this.waiting.length === 0 && this.tokens >= n) {
      this.tokens -= n;
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.waiting.push({ units: n, resolve });
      this.serve();
    });
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
  }

  /** Serves the waiters whose units are there, in order; then sleeps until the next one's are. */
  private serve(): void {
    if (this.timer) return;
    this.refill();
    for (let head = this.waiting[0]; head && this.tokens >= head.units; head = this.waiting[0]) {
      this.tokens -= head.units;
      this.waiting.shift();
      head.resolve();
    }
    const head = this.waiting[0];
    if (!head) return;
    const ms = Math.max(1, Math.ceil(((head.units - this.tokens) * 1000) / this.perSecond));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.serve();
    }, ms);
  }
}
