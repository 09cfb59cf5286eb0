/**
 * Paces every Graph request of the tenant under Graph's documented limits (graph-limits.ts), so that the gateway
 * waits its turn instead of drawing 429s (DESIGN.md decision 8). One token bucket per limit; a request takes its
 * units from each bucket it counts against before it is sent. A node alone has its own buckets (token-bucket.ts);
 * with a Redis connection they are shared by the whole cluster (policy/rate-buckets.ts), each node's requests
 * waiting in arrival order behind one another.
 * The pacing is reported in metrics:
 * xtg_graph_pacing_wait_seconds{bucket} and xtg_graph_pacing_limit_per_second{bucket}.
 */
import type { Redis } from 'ioredis';
import type { Context, Middleware } from '@microsoft/microsoft-graph-client';
import { RedisRateBuckets, type BucketDraw, type RateBuckets } from '../policy/rate-buckets.js';
import type { Metrics } from '../observability/metrics.js';
import { costOf, costOfBatch, documentedLimits, type GraphLimitBucket, type RequestCost, type TenantSize } from './graph-limits.js';
import { TokenBucket } from './token-bucket.js';

export interface PacingSettings {
  /** Share of each documented limit the gateway uses (0 < share <= 1): the rest is headroom for other apps' clocks and retries. */
  readonly share: number;
  readonly tenantSize: TenantSize;
  /** Multiplies every documented limit (teams.pacing.limitScale): 1 against Microsoft Graph; above only for benchmarks. */
  readonly limitScale?: number | undefined;
  /** Chat message posts per second (throttle.graphRequestsPerSecond); capped by the documented 20. */
  readonly chatMessagePostsPerSecond: number;
  readonly tenantId: string;
  /** The node's Redis connection (shared, not closed by stop()): the buckets of a cluster. */
  readonly redis?: Redis | undefined;
}

export class GraphPacer {
  private readonly buckets = new Map<GraphLimitBucket, SharedBucket | TokenBucket>();
  /** Sustained rate per bucket, requests (or units) per second, as configured. */
  readonly ratePerSecond: ReadonlyMap<GraphLimitBucket, number>;

  constructor(
    s: PacingSettings,
    private readonly metrics: Metrics,
  ) {
    const rates = new Map<GraphLimitBucket, number>();
    const shared = s.redis ? new RedisRateBuckets(s.redis, `xtg:graph:${s.tenantId}`, false) : undefined;
    for (const [bucket, limit] of Object.entries(documentedLimits(s.tenantSize)) as [Exclude<GraphLimitBucket, 'other'>, { amount: number; windowMs: number }][]) {
      const scale = s.limitScale ?? 1;
      let perSecond = (limit.amount * scale * 1000 * s.share) / limit.windowMs;
      if (bucket === 'chatMessagePost') perSecond = Math.min(perSecond, s.chatMessagePostsPerSecond);
      rates.set(bucket, perSecond);
      // Burst: one second's worth (or one step's worth for long windows), never more than Graph's bucket holds.
      const burst = Math.max(1, Math.floor(Math.min(perSecond, limit.amount * scale * s.share)));
      // Alone, a bucket of this node (token-bucket.ts); in a cluster, one in Redis, shared.
      this.buckets.set(bucket, shared ? new SharedBucket(shared, { key: bucket, rate: perSecond, burst }) : new TokenBucket(perSecond, burst));
      metrics.graphPacingLimit.set({ bucket }, perSecond);
    }
    this.ratePerSecond = rates;
  }

  /** Waits until the request may be sent under every limit it counts against. */
  async acquire(cost: RequestCost): Promise<void> {
    const started = Date.now();
    let paced = 'other';
    for (const draw of cost.draws) {
      const limiter = this.buckets.get(draw.bucket);
      if (!limiter) continue;
      paced = draw.bucket;
      // A weight above the bucket's size would never fit at once (a batch of posts can be one): taken in parts.
      const max = Math.max(1, Math.floor(this.ratePerSecond.get(draw.bucket) ?? 1));
      for (let left = draw.units; left > 0; left -= max) await limiter.take(Math.min(left, max));
    }
    this.metrics.graphPacingWait.observe({ bucket: paced }, (Date.now() - started) / 1000);
  }

  async stop(): Promise<void> {
    this.buckets.clear();
  }
}

/**
 * A bucket the cluster shares: this node's requests take their units in arrival order, one after another (the head
 * waits until Redis says the units are there; the others wait behind it), so none overtakes another.
 */
class SharedBucket {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: RateBuckets,
    private readonly bucket: Omit<BucketDraw, 'units'>,
  ) {}

  take(units: number): Promise<void> {
    const turn = this.tail.then(() => this.acquire(units));
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  private async acquire(units: number): Promise<void> {
    for (;;) {
      const r = await this.store.take([{ ...this.bucket, units: Math.min(units, this.bucket.burst) }]);
      if (r.ok) return;
      await new Promise((resolve) => setTimeout(resolve, r.retryMs));
    }
  }
}

/** The Graph client middleware that makes each request (every retry included) wait for the pacer. */
export class PacingMiddleware implements Middleware {
  private next: Middleware | undefined;
  constructor(private readonly pacer: GraphPacer) {}

  async execute(context: Context): Promise<void> {
    const url = new URL(typeof context.request === 'string' ? context.request : context.request.url);
    const method = (context.options?.method ?? (typeof context.request === 'string' ? 'GET' : context.request.method) ?? 'GET').toUpperCase();
    // A batch waits for the units of every request it carries (graph-limits.ts costOfBatch).
    const batch = method === 'POST' && /\/\$batch\/?$/iu.test(url.pathname);
    await this.pacer.acquire(batch ? costOfBatch(context.options?.body) : costOf(method, url.pathname, url.search));
    await this.next?.execute(context);
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}
