/**
 * Licence seats: a licence allows `maxNodes` nodes, and each serving node holds one seat, claimed atomically in
 * Redis, renewed with the node's heartbeat, released on shutdown and reclaimed when its holder's lease lapsed.
 * Time is Redis's. The seat events also go to the store's seat history, for audits of licence use.
 */
import type { Redis } from 'ioredis';
import type { ClusterKeys } from './redis-keys.js';

// KEYS: seats zset. ARGV: node id, lease ms, max nodes.
// Returns {status, expired holders...}: status 2 claimed, 1 renewed, 0 refused (all seats taken).
const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local status = 0
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  status = 1
elseif redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  status = 2
end
if status > 0 then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
local out = {status}
for _, id in ipairs(expired) do table.insert(out, id) end
return out
`;

export type SeatStatus = 'claimed' | 'renewed' | 'refused';

export interface SeatResult {
  readonly status: SeatStatus;
  /** Holders whose seat lapsed and was reclaimed by this call. */
  readonly reclaimedFrom: readonly string[];
}

export class LicenceSeats {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
  ) {}

  /** Claims or renews this node's seat; refused when all `maxNodes` seats are held by live nodes. */
  async claim(licenceId: string, nodeId: string, leaseMs: number, maxNodes: number): Promise<SeatResult> {
    const r = (await this.redis.eval(CLAIM, 1, this.keys.seats(licenceId), nodeId, leaseMs, maxNodes)) as [number, ...string[]];
    const [code, ...reclaimedFrom] = r;
    return { status: code === 2 ? 'claimed' : code === 1 ? 'renewed' : 'refused', reclaimedFrom };
  }

  async release(licenceId: string, nodeId: string): Promise<void> {
    await this.redis.zrem(this.keys.seats(licenceId), nodeId);
  }

  /** Seat holders of a licence with their seat expiry (epoch ms). */
  async holders(licenceId: string): Promise<{ nodeId: string; until: number }[]> {
    const r = await this.redis.zrange(this.keys.seats(licenceId), '0', '-1', 'WITHSCORES');
    const out: { nodeId: string; until: number }[] = [];
    for (let i = 0; i + 1 < r.length; i += 2) out.push({ nodeId: r[i] as string, until: Number(r[i + 1]) });
    return out;
  }
}
