/**
 * Token buckets for the rate limits (throttle.ts) and the Graph pacing of a cluster (graph-pacing.ts): `rate`
 * tokens per second flow in continuously, at most `burst` are held, and a take draws from several buckets at once,
 * all or nothing. Nothing runs while a bucket is idle: its level is computed when it is next used (lazy refill), and
 * a bucket that would be full is simply absent.
 *
 * In one process the buckets are a Map; in a cluster they are Redis hashes changed by one Lua script per take (one
 * round trip; the time is Redis's own, so nodes with skewed clocks share one bucket fairly). Each key expires once
 * it would be full again, so a flood of distinct senders leaves nothing behind.
 *
 * Why not bottleneck (the dependency these replaced): its clustered limiters heartbeat in Redis (every 20 ms per
 * throttle key here: about 50 Redis calls per second for each sender, pair and domain seen in the last 10 minutes,
 * whether or not it sends), and a take was several round trips. bench/relay.bench.ts --nodes 3 --cpu-prof found it
 * a quarter of a node's CPU.
 */
import type { Redis } from 'ioredis';

/** One bucket a take draws from. */
export interface BucketDraw {
  /** Unique per bucket (scope, dimension and key); a Redis key suffix in a cluster. */
  readonly key: string;
  /** Tokens per second. */
  readonly rate: number;
  /** Capacity: the most a bucket holds (it starts full). */
  readonly burst: number;
  /** Tokens this take needs from it (at most its burst, or it could never pass). */
  readonly units: number;
}

/** All taken, or none: then the first bucket (index in the draws) that lacked tokens, and when it will have them. */
export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly index: number; readonly retryMs: number };

export interface RateBuckets {
  take(draws: readonly BucketDraw[]): Promise<TakeResult>;
  stop(): Promise<void>;
}

/** How long after a take a bucket would be full again (then it is forgotten): never less than a second. */
function refillMs(level: number, d: BucketDraw): number {
  return Math.ceil(((d.burst - level) * 1000) / d.rate) + 1000;
}

/** The buckets of a node alone. */
export class LocalRateBuckets implements RateBuckets {
  private readonly levels = new Map<string, { level: number; at: number; forgetAt: number }>();
  private lastSweep: number;

  constructor(private readonly now: () => number = Date.now) {
    this.lastSweep = now();
  }

  take(draws: readonly BucketDraw[]): Promise<TakeResult> {
    const now = this.now();
    this.sweep(now);
    const next: number[] = [];
    for (const [i, d] of draws.entries()) {
      const s = this.levels.get(d.key);
      const level = s ? Math.min(d.burst, s.level + ((now - s.at) * d.rate) / 1000) : d.burst;
      if (level < d.units) return Promise.resolve({ ok: false, index: i, retryMs: Math.max(1, Math.ceil(((d.units - level) * 1000) / d.rate)) });
      next.push(level - d.units);
    }
    draws.forEach((d, i) => {
      const level = next[i] ?? 0;
      this.levels.set(d.key, { level, at: now, forgetAt: now + refillMs(level, d) });
    });
    return Promise.resolve({ ok: true });
  }

  /** Drops the buckets that are full again (at most once a second: a pass over the map). */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const [k, s] of this.levels) if (s.forgetAt <= now) this.levels.delete(k);
  }

  /** Buckets held (tests: a flood of distinct keys does not stay). */
  get size(): number {
    return this.levels.size;
  }

  async stop(): Promise<void> {
    this.levels.clear();
  }
}

/**
 * KEYS: the buckets; ARGV: rate, burst, units of each in turn. Returns {0, 0} when every bucket had its units (all
 * taken), else {i, ms}: bucket i lacked them (nothing taken), ms until it has them.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local levels = {}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[i * 3 - 2])
  local burst = tonumber(ARGV[i * 3 - 1])
  local units = tonumber(ARGV[i * 3])
  local v = redis.call('HMGET', KEYS[i], 'l', 'at')
  local level = burst
  if v[1] then level = math.min(burst, tonumber(v[1]) + (now - tonumber(v[2])) * rate / 1000) end
  if level < units then return {i, math.max(1, math.ceil((units - level) * 1000 / rate))} end
  levels[i] = level - units
end
for i = 1, #KEYS do
  local rate = tonumber(ARGV[i * 3 - 2])
  local burst = tonumber(ARGV[i * 3 - 1])
  redis.call('HSET', KEYS[i], 'l', tostring(levels[i]), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - levels[i]) * 1000 / rate) + 1000)
end
return {0, 0}
`;

type WithTake = Redis & { xtgTakeTokens(numKeys: number, ...args: (string | number)[]): Promise<[number, number]> };

/** The buckets of a cluster, in Redis under `prefix`. */
export class RedisRateBuckets implements RateBuckets {
  private readonly redis: WithTake;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    /** Whether stop() closes the connection (it was made for these buckets). */
    private readonly owned = true,
  ) {
    redis.defineCommand('xtgTakeTokens', { lua: TAKE });
    this.redis = redis as WithTake;
  }

  async take(draws: readonly BucketDraw[]): Promise<TakeResult> {
    const keys = draws.map((d) => `${this.prefix}:${d.key}`);
    const args = draws.flatMap((d) => [d.rate, d.burst, d.units]);
    const [i, ms] = await this.redis.xtgTakeTokens(keys.length, ...keys, ...args);
    return i === 0 ? { ok: true } : { ok: false, index: i - 1, retryMs: ms };
  }

  async stop(): Promise<void> {
    if (this.owned) await this.redis.quit().catch(() => undefined);
  }
}
