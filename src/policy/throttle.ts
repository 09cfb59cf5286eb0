/**
 * Rate limits (DESIGN.md decision 5): token buckets from bottleneck per user pair, per user (across all their
 * pairs) and per remote domain, in messages/s and body bytes/s, each with a burst. Without Redis the buckets
 * live in the process; with `cluster.redis.url` bottleneck keeps them in Redis, so every node draws from the same
 * bucket (https://github.com/SGrondin/bottleneck#clustering).
 *
 * A bucket is bottleneck's reservoir: it starts full (the burst) and is topped up every 250 ms by rate x 0.25, up
 * to the burst. Admission in "refuse" mode uses highWater 0 with the OVERFLOW strategy: a message that cannot take
 * its tokens at once is dropped instead of queued; "queue" mode lets `queueDepth` messages wait their turn.
 */
import Bottleneck from 'bottleneck';
import type { Redis } from 'ioredis';
import type { Metrics } from '../observability/metrics.js';

export interface LimitConfig {
  readonly messagesPerSecond?: number | undefined;
  readonly messageBurst?: number | undefined;
  readonly bytesPerSecond?: number | undefined;
  readonly byteBurst?: number | undefined;
}

export type Scope = 'pair' | 'user' | 'domain';
export type Direction = 'xmpp_to_teams' | 'teams_to_xmpp';

export interface ThrottleConfig {
  readonly pair: LimitConfig;
  readonly user: LimitConfig;
  readonly domain: LimitConfig;
  readonly queueDepth: number;
}

export interface Admission {
  readonly scopes: readonly { readonly scope: Scope; readonly key: string }[];
  readonly bytes: number;
}

export type AdmissionResult = { readonly ok: true; readonly waitedMs: number } | { readonly ok: false; readonly scope: Scope; readonly reason: 'rate' | 'timeout' };

const TICK_MS = 250;
const IDLE_EXPIRY_MS = 10 * 60_000;

interface Bucket {
  readonly rate: number;
  readonly burst: number;
}

function buckets(c: LimitConfig): { messages?: Bucket; bytes?: Bucket } {
  const out: { messages?: Bucket; bytes?: Bucket } = {};
  if (c.messagesPerSecond) out.messages = { rate: c.messagesPerSecond, burst: c.messageBurst ?? Math.max(1, Math.ceil(c.messagesPerSecond)) };
  if (c.bytesPerSecond) out.bytes = { rate: c.bytesPerSecond, burst: c.byteBurst ?? Math.max(1, Math.ceil(c.bytesPerSecond)) };
  return out;
}

export class Throttler {
  private readonly groups = new Map<string, Bottleneck.Group>();
  private readonly connection: Bottleneck.IORedisConnection | undefined;

  constructor(
    private readonly config: ThrottleConfig,
    private readonly metrics: Metrics,
    redis?: Redis,
    /** Key prefix in Redis, so several deployments (or tests) can share one Redis. */
    private readonly prefix = 'xtg',
  ) {
    this.connection = redis ? new Bottleneck.IORedisConnection({ client: redis }) : undefined;
  }

  /** True when any limit is configured (otherwise admission costs nothing). */
  get enabled(): boolean {
    return (['pair', 'user', 'domain'] as const).some((s) => Object.keys(buckets(this.config[s])).length > 0);
  }

  private group(scope: Scope, dimension: 'messages' | 'bytes', b: Bucket, mode: 'refuse' | 'queue'): Bottleneck.Group {
    const id = `${this.prefix}:${scope}:${dimension}:${mode}`;
    let g = this.groups.get(id);
    if (!g) {
      const options: Bottleneck.ConstructorOptions = {
        reservoir: b.burst,
        reservoirIncreaseAmount: (b.rate * TICK_MS) / 1000,
        reservoirIncreaseInterval: TICK_MS,
        reservoirIncreaseMaximum: b.burst,
        highWater: mode === 'refuse' ? 0 : this.config.queueDepth,
        strategy: Bottleneck.strategy.OVERFLOW,
        timeout: IDLE_EXPIRY_MS,
        // Buckets are shared by mode: a message refused in one mode still drew from the same Redis keys.
        id: `${this.prefix}:${scope}:${dimension}`,
        ...(this.connection ? { datastore: 'ioredis', connection: this.connection, clearDatastore: false } : {}),
      };
      g = new Bottleneck.Group(options);
      this.groups.set(id, g);
    }
    return g;
  }

  /**
   * Takes the tokens of one message from every bucket it draws on (domain, users, pair: broadest first, so a
   * flood is stopped before it drains narrower buckets). Resolves when admitted, or with the scope that refused.
   */
  async admit(direction: Direction, a: Admission, mode: 'refuse' | 'queue', maxWaitMs = Number.POSITIVE_INFINITY): Promise<AdmissionResult> {
    const start = Date.now();
    const order: Scope[] = ['domain', 'user', 'pair'];
    const scopes = [...a.scopes].sort((x, y) => order.indexOf(x.scope) - order.indexOf(y.scope));
    for (const { scope, key } of scopes) {
      const b = buckets(this.config[scope]);
      for (const dimension of ['messages', 'bytes'] as const) {
        const bucket = b[dimension];
        if (!bucket) continue;
        // A message larger than the burst could never pass; it takes the whole bucket instead.
        const weight = dimension === 'messages' ? 1 : Math.max(1, Math.min(a.bytes, bucket.burst));
        const limiter = this.group(scope, dimension, bucket, mode).key(key);
        const job = limiter.schedule({ weight, expiration: undefined }, () => Promise.resolve(true)).then(
          () => true,
          () => false, // dropped by OVERFLOW: no tokens now (refuse) or the queue is full (queue)
        );
        const remaining = maxWaitMs - (Date.now() - start);
        const ok = Number.isFinite(remaining)
          ? await Promise.race([job, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(0, remaining)).unref())])
          : await job;
        if (ok !== true) {
          const reason = ok === 'timeout' ? 'timeout' : 'rate';
          this.metrics.throttled.inc({ direction, scope, outcome: mode === 'refuse' ? 'refused' : reason === 'timeout' ? 'timed_out' : 'queue_full' });
          return { ok: false, scope, reason };
        }
      }
    }
    const waitedMs = Date.now() - start;
    if (waitedMs > TICK_MS) this.metrics.throttled.inc({ direction, scope: 'any', outcome: 'delayed' });
    return { ok: true, waitedMs };
  }

  /** Stops the limiters; with Redis this also closes the connection (and the subscriber bottleneck opened). */
  async stop(): Promise<void> {
    for (const g of this.groups.values()) {
      for (const { limiter } of g.limiters()) {
        try {
          await limiter.disconnect(false);
        } catch {
          // already disconnected
        }
      }
    }
    this.groups.clear();
    try {
      await this.connection?.disconnect(false);
    } catch {
      // already closed
    }
  }
}
