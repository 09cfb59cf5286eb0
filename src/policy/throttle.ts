/**
 * Rate limits (DESIGN.md decision 5): token buckets from bottleneck per user pair, per user (across all their
 * pairs) and per remote domain, in messages/s and body bytes/s, each with a burst. Without Redis the buckets
 * live in the process; with `cluster.redis.url` bottleneck keeps them in Redis, so every node draws from the same
 * bucket (https://github.com/SGrondin/bottleneck#clustering).
 *
 * A bucket is a bottleneck reservoir: it starts full (the burst) and bottleneck tops it up by a whole number of
 * tokens per period, up to the burst. A message takes its tokens with one atomic `incrementReservoir(-weight)`
 * (a Lua script with Redis); a result below zero means there were not enough, and the tokens are given back.
 * Scheduling jobs through bottleneck instead would queue concurrent submissions rather than refuse them.
 */
import Bottleneck from 'bottleneck';
import type { Redis } from 'ioredis';
import { pairKey } from '../actors/actor-keys.js';
import type { PairKey } from '../store/store.js';
import type { Metrics } from '../observability/metrics.js';

export interface LimitConfig {
  readonly messagesPerSecond?: number | undefined;
  readonly messageBurst?: number | undefined;
  readonly bytesPerSecond?: number | undefined;
  readonly byteBurst?: number | undefined;
}

export type Scope = 'pair' | 'user' | 'domain';
/** What the tokens pay for (the metrics' `direction` label): a message either way (Teams or SfB, issue 17), or a directory lookup. */
export type Direction = 'xmpp_to_teams' | 'teams_to_xmpp' | 'xmpp_to_sfb' | 'sfb_to_xmpp' | 'directory_lookup';

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

/**
 * The buckets a message between a Teams user and an XMPP user draws from: the remote domain, both users, and the
 * pair (presence and subscriptions draw from the same ones, issue 12 finding 5).
 */
export function pairAdmission(key: PairKey, bytes: number): Admission {
  const domain = key.remoteJid.slice(key.remoteJid.indexOf('@') + 1);
  return {
    scopes: [
      { scope: 'domain', key: domain },
      { scope: 'user', key: `teams:${key.teamsUserId}` },
      { scope: 'user', key: `xmpp:${key.remoteJid}` },
      { scope: 'pair', key: pairKey(key) },
    ],
    bytes,
  };
}

export type AdmissionResult = { readonly ok: true; readonly waitedMs: number } | { readonly ok: false; readonly scope: Scope; readonly reason: 'rate' | 'timeout' };

/** Target refill period; the real one is adjusted so that each refill is a whole number of tokens (Redis HINCRBY). */
const TICK_MS = 500;
/** The in-process store checks for a due refill this often. */
const HEARTBEAT_MS = 20;
/** How often a queued message looks for tokens again. */
const QUEUE_POLL_MS = 50;
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

/**
 * Whole tokens per refill, and the period that gives the configured rate with them. A refill never exceeds the
 * burst (the bucket's capacity), or the excess would be lost and the sustained rate fall short.
 */
export function refill(rate: number, burst: number): { amount: number; intervalMs: number } {
  const amount = Math.max(1, Math.min(burst, Math.round((rate * TICK_MS) / 1000)));
  return { amount, intervalMs: Math.max(1, Math.round((amount * 1000) / rate)) };
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

  private readonly waiting = new Map<string, number>();

  private group(scope: Scope, dimension: 'messages' | 'bytes', b: Bucket): Bottleneck.Group {
    const id = `${this.prefix}:${scope}:${dimension}`;
    let g = this.groups.get(id);
    if (!g) {
      const r = refill(b.rate, b.burst);
      g = new Bottleneck.Group({
        id,
        reservoir: b.burst,
        reservoirIncreaseAmount: r.amount,
        reservoirIncreaseInterval: r.intervalMs,
        reservoirIncreaseMaximum: b.burst,
        heartbeatInterval: HEARTBEAT_MS,
        timeout: IDLE_EXPIRY_MS,
        ...(this.connection ? { datastore: 'ioredis', connection: this.connection, clearDatastore: false } : {}),
      });
      this.groups.set(id, g);
    }
    return g;
  }

  /** Takes `weight` tokens at once, or none. */
  private async take(limiter: Bottleneck, weight: number): Promise<boolean> {
    const left = await limiter.incrementReservoir(-weight);
    if (typeof left === 'number' && left < 0) {
      await limiter.incrementReservoir(weight);
      return false;
    }
    return true;
  }

  /**
   * Takes the tokens of one message from every bucket it draws on (domain, users, pair: broadest first, so a
   * flood is stopped before it drains narrower buckets). "refuse" answers at once; "queue" waits for tokens
   * while fewer than queueDepth messages wait on that bucket (on this node) and maxWaitMs has not passed.
   */
  async admit(direction: Direction, a: Admission, mode: 'refuse' | 'queue', maxWaitMs = Number.POSITIVE_INFINITY): Promise<AdmissionResult> {
    const start = Date.now();
    const order: Scope[] = ['domain', 'user', 'pair'];
    const scopes = [...a.scopes].sort((x, y) => order.indexOf(x.scope) - order.indexOf(y.scope));
    // Tokens already taken from broader buckets go back when a narrower one refuses: one user's flood must not
    // drain the bucket of their whole domain.
    const taken: { limiter: Bottleneck; weight: number }[] = [];
    const giveBack = async () => {
      for (const t of taken) await t.limiter.incrementReservoir(t.weight).catch(() => undefined);
    };
    for (const { scope, key } of scopes) {
      const b = buckets(this.config[scope]);
      for (const dimension of ['messages', 'bytes'] as const) {
        const bucket = b[dimension];
        if (!bucket) continue;
        // A message larger than the burst could never pass; it takes the whole bucket instead.
        const weight = dimension === 'messages' ? 1 : Math.max(1, Math.min(a.bytes, bucket.burst));
        const limiter = this.group(scope, dimension, bucket).key(key);
        if (await this.take(limiter, weight)) {
          taken.push({ limiter, weight });
          continue;
        }
        const refusal = mode === 'refuse' ? 'refused' : await this.wait(limiter, weight, `${scope}:${dimension}:${key}`, start, maxWaitMs);
        if (!refusal) taken.push({ limiter, weight });
        if (refusal) {
          await giveBack();
          this.metrics.throttled.inc({ direction, scope, outcome: refusal });
          const domain = a.scopes.find((s) => s.scope === 'domain')?.key;
          if (domain) this.metrics.refusalsByDomain.add(domain, direction, `throttle:${scope}:${refusal}`);
          return { ok: false, scope, reason: refusal === 'timed_out' ? 'timeout' : 'rate' };
        }
      }
    }
    const waitedMs = Date.now() - start;
    if (waitedMs >= QUEUE_POLL_MS) this.metrics.throttled.inc({ direction, scope: 'any', outcome: 'delayed' });
    return { ok: true, waitedMs };
  }

  /** Waits in the bounded queue of one bucket; undefined when the tokens were taken, else why not. */
  private async wait(limiter: Bottleneck, weight: number, queue: string, start: number, maxWaitMs: number): Promise<'queue_full' | 'timed_out' | undefined> {
    const depth = this.waiting.get(queue) ?? 0;
    if (depth >= this.config.queueDepth) return 'queue_full';
    this.waiting.set(queue, depth + 1);
    try {
      for (;;) {
        if (Date.now() - start >= maxWaitMs) return 'timed_out';
        await new Promise((r) => setTimeout(r, QUEUE_POLL_MS));
        if (await this.take(limiter, weight)) return undefined;
      }
    } finally {
      const left = (this.waiting.get(queue) ?? 1) - 1;
      if (left > 0) this.waiting.set(queue, left);
      else this.waiting.delete(queue);
    }
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
