/**
 * Paces every Graph request of the tenant under Graph's documented limits (graph-limits.ts), so that the gateway
 * waits its turn instead of drawing 429s (DESIGN.md decision 8). One token bucket per limit; a request takes its
 * units from each bucket it counts against before it is sent. A node alone has its own buckets (token-bucket.ts);
 * with a Redis connection they are bottleneck reservoirs shared by the whole cluster (bottleneck's clustering).
 * The pacing is reported in metrics:
 * xtg_graph_pacing_wait_seconds{bucket} and xtg_graph_pacing_limit_per_second{bucket}.
 */
import Bottleneck from 'bottleneck';
import type { Context, Middleware } from '@microsoft/microsoft-graph-client';
import type { Metrics } from '../observability/metrics.js';
import { costOf, documentedLimits, type GraphLimitBucket, type RequestCost, type TenantSize } from './graph-limits.js';
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
  readonly redis?: Bottleneck.IORedisConnection | undefined;
}

/** The refill step: small, so that a burst never exceeds what Graph's own bucket would allow. */
const STEP_MS = 250;

export class GraphPacer {
  private readonly buckets = new Map<GraphLimitBucket, Bottleneck | TokenBucket>();
  /** Sustained rate per bucket, requests (or units) per second, as configured. */
  readonly ratePerSecond: ReadonlyMap<GraphLimitBucket, number>;

  constructor(
    s: PacingSettings,
    private readonly metrics: Metrics,
  ) {
    const rates = new Map<GraphLimitBucket, number>();
    for (const [bucket, limit] of Object.entries(documentedLimits(s.tenantSize)) as [Exclude<GraphLimitBucket, 'other'>, { amount: number; windowMs: number }][]) {
      const scale = s.limitScale ?? 1;
      let perSecond = (limit.amount * scale * 1000 * s.share) / limit.windowMs;
      if (bucket === 'chatMessagePost') perSecond = Math.min(perSecond, s.chatMessagePostsPerSecond);
      rates.set(bucket, perSecond);
      // Burst: one second's worth (or one step's worth for long windows), never more than Graph's bucket holds.
      const burst = Math.max(1, Math.floor(Math.min(perSecond, limit.amount * scale * s.share)));
      // Alone, a bucket of this node (token-bucket.ts); in a cluster, bottleneck's reservoir in Redis, shared.
      this.buckets.set(
        bucket,
        s.redis
          ? new Bottleneck({
              id: `xtg:graph:${s.tenantId}:${bucket}`,
              reservoir: burst,
              reservoirIncreaseAmount: Math.max(perSecond * (STEP_MS / 1000), 1e-3),
              reservoirIncreaseInterval: STEP_MS,
              reservoirIncreaseMaximum: burst,
              datastore: 'ioredis',
              connection: s.redis,
              clearDatastore: false,
            })
          : new TokenBucket(perSecond, burst),
      );
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
      // A weight above the reservoir's maximum would never run: clamp (identity costs are at most a few units).
      const max = Math.max(1, Math.floor(this.ratePerSecond.get(draw.bucket) ?? 1));
      const units = Math.min(draw.units, max);
      if (limiter instanceof TokenBucket) await limiter.take(units);
      else await limiter.schedule({ weight: units }, () => Promise.resolve());
    }
    this.metrics.graphPacingWait.observe({ bucket: paced }, (Date.now() - started) / 1000);
  }

  async stop(): Promise<void> {
    for (const l of this.buckets.values()) {
      if (l instanceof TokenBucket) continue;
      try {
        await l.disconnect(false);
      } catch {
        // already disconnected
      }
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
    await this.pacer.acquire(costOf(method, url.pathname, url.search));
    await this.next?.execute(context);
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}
