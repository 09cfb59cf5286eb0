/**
 * Rate limits (DESIGN.md decision 5): token buckets per user pair, per user (across all their pairs) and per
 * remote domain, in messages/s and body bytes/s, each with a burst. Without Redis the buckets live in the process;
 * with `cluster.redis.url` they live in Redis, so every node draws from the same bucket (rate-buckets.ts). A
 * message takes its tokens from every bucket it draws on at once, or from none.
 */
import type { Redis } from 'ioredis';
import { pairKey } from '../actors/actor-keys.js';
import type { PairKey } from '../store/store.js';
import type { Metrics } from '../observability/metrics.js';
import { LocalRateBuckets, RedisRateBuckets, type BucketDraw, type RateBuckets } from './rate-buckets.js';

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

/** A queued message waits at least this long before it looks for tokens again. */
const MIN_RETRY_MS = 5;
const ORDER: readonly Scope[] = ['domain', 'user', 'pair'];

type Verdict = { readonly ok: true } | { readonly ok: false; readonly index: number; readonly outcome: 'refused' | 'queue_full' | 'timed_out' };

export class Throttler {
  private readonly store: RateBuckets;
  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly config: ThrottleConfig,
    private readonly metrics: Metrics,
    /** A connection of its own (closed by stop()); without it, the buckets are this process's. */
    redis?: Redis,
    /** Key prefix in Redis, so several deployments (or tests) can share one Redis. */
    prefix = 'xtg',
  ) {
    this.store = redis ? new RedisRateBuckets(redis, `${prefix}:rate`) : new LocalRateBuckets();
  }

  /** True when any limit is configured (otherwise admission costs nothing). */
  get enabled(): boolean {
    return ORDER.some((s) => Object.keys(buckets(this.config[s])).length > 0);
  }

  /** The buckets one message draws on: domain, users, pair (broadest first), messages then bytes. */
  private draws(a: Admission): { draws: BucketDraw[]; scopes: Scope[] } {
    const draws: BucketDraw[] = [];
    const scopes: Scope[] = [];
    const sorted = [...a.scopes].sort((x, y) => ORDER.indexOf(x.scope) - ORDER.indexOf(y.scope));
    for (const { scope, key } of sorted) {
      const b = buckets(this.config[scope]);
      for (const dimension of ['messages', 'bytes'] as const) {
        const bucket = b[dimension];
        if (!bucket) continue;
        // A message larger than the burst could never pass; it takes the whole bucket instead.
        const units = dimension === 'messages' ? 1 : Math.max(1, Math.min(a.bytes, bucket.burst));
        draws.push({ key: `${scope}:${dimension}:${key}`, rate: bucket.rate, burst: bucket.burst, units });
        scopes.push(scope);
      }
    }
    return { draws, scopes };
  }

  /**
   * Takes the tokens of one message from every bucket it draws on, or none (one user's flood never drains the
   * bucket of their whole domain). "refuse" answers at once; "queue" waits for tokens while fewer than queueDepth
   * messages wait on that bucket (on this node) and maxWaitMs has not passed.
   */
  async admit(direction: Direction, a: Admission, mode: 'refuse' | 'queue', maxWaitMs = Number.POSITIVE_INFINITY): Promise<AdmissionResult> {
    const start = Date.now();
    const { draws, scopes } = this.draws(a);
    if (draws.length === 0) return { ok: true, waitedMs: 0 };
    const taken = await this.store.take(draws);
    const r: Verdict = taken.ok ? taken : mode === 'queue' ? await this.wait(draws, taken, start, maxWaitMs) : { ok: false, index: taken.index, outcome: 'refused' };
    if (!r.ok) {
      const scope = scopes[r.index] ?? 'pair';
      this.metrics.throttled.inc({ direction, scope, outcome: r.outcome });
      const domain = a.scopes.find((s) => s.scope === 'domain')?.key;
      if (domain) this.metrics.refusalsByDomain.add(domain, direction, `throttle:${scope}:${r.outcome}`);
      return { ok: false, scope, reason: r.outcome === 'timed_out' ? 'timeout' : 'rate' };
    }
    if (!taken.ok) this.metrics.throttled.inc({ direction, scope: 'any', outcome: 'delayed' }); // it waited in the queue
    return { ok: true, waitedMs: Date.now() - start };
  }

  /** Waits in the bounded queue of the bucket that lacked tokens, then takes again (all buckets, or none). */
  private async wait(draws: readonly BucketDraw[], first: { index: number; retryMs: number }, start: number, maxWaitMs: number): Promise<Verdict> {
    const queue = draws[first.index]?.key ?? '';
    const depth = this.waiting.get(queue) ?? 0;
    if (depth >= this.config.queueDepth) return { ok: false, index: first.index, outcome: 'queue_full' };
    this.waiting.set(queue, depth + 1);
    try {
      let r = first;
      for (;;) {
        const left = maxWaitMs - (Date.now() - start);
        if (left <= 0) return { ok: false, index: r.index, outcome: 'timed_out' };
        await new Promise((resolve) => setTimeout(resolve, Math.min(left, Math.max(MIN_RETRY_MS, r.retryMs))));
        const again = await this.store.take(draws);
        if (again.ok) return again;
        r = again;
      }
    } finally {
      const left = (this.waiting.get(queue) ?? 1) - 1;
      if (left > 0) this.waiting.set(queue, left);
      else this.waiting.delete(queue);
    }
  }

  /** Forgets the buckets; with Redis this also closes the connection. */
  async stop(): Promise<void> {
    await this.store.stop();
  }
}
