/**
 * The placement directory (DESIGN.md decision 2): actor key -> owning node and epoch, in Redis. A claim is one
 * atomic script, so two nodes racing for a key can never both own it: the second sees the first's live lease and
 * is told the owner instead. Every claim takes a new epoch from one counter, so epochs only grow; an activation
 * that sees a newer epoch than its own knows it is stale and stops (fencing).
 *
 * Orleans' grain directory does the same job with a distributed hash table of activations; Dapr keeps a placement
 * table pushed from a placement service; here the table is Redis, the one store all nodes already share.
 */
import type { Redis } from 'ioredis';
import type { ClusterKeys } from './redis-keys.js';

export interface Placement {
  readonly node: string;
  readonly epoch: number;
}

// KEYS: actor hash. ARGV: serving-marker prefix. The owner, if it is alive and serving.
const RESOLVE = `
local v = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if v[1] and redis.call('EXISTS', ARGV[1] .. v[1]) == 1 then return {v[1], tonumber(v[2])} end
return false
`;

// KEYS: actor hash, epoch counter. ARGV: claimant, serving-marker prefix, owned-set prefix, actor key, hand-off
// marker prefix, node-key prefix. Returns {owner, epoch, code}: code 1 claimed, 0 someone else owns it (serving, or
// alive and handing its keys off: membership.ts), -1 the claimant does not serve.
const CLAIM = `
if redis.call('EXISTS', ARGV[2] .. ARGV[1]) == 0 then return {'', 0, -1} end
local v = redis.call('HMGET', KEYS[1], 'node', 'epoch')
local function handing_off(n) return redis.call('EXISTS', ARGV[5] .. n) == 1 and redis.call('EXISTS', ARGV[6] .. n) == 1 end
if v[1] and v[1] ~= ARGV[1] and (redis.call('EXISTS', ARGV[2] .. v[1]) == 1 or handing_off(v[1])) then
  return {v[1], tonumber(v[2]), 0}
end
if v[1] then redis.call('SREM', ARGV[3] .. v[1], ARGV[4]) end
local e = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', e)
redis.call('SADD', ARGV[3] .. ARGV[1], ARGV[4])
return {ARGV[1], e, 1}
`;

// KEYS: actor hash, owner's owned set. ARGV: owner, epoch, actor key. Only the activation that claimed it releases.
const RELEASE = `
local v = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if v[1] == ARGV[1] and tonumber(v[2]) == tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[3])
  return 1
end
return 0
`;

export type ClaimResult =
  | { readonly claimed: true; readonly epoch: number }
  | { readonly claimed: false; readonly owner: Placement }
  | { readonly claimed: false; readonly owner: undefined };

export class PlacementDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
  ) {}

  /** The live owner of an actor key, if any. */
  async resolve(actorKey: string): Promise<Placement | undefined> {
    const r = (await this.redis.eval(RESOLVE, 1, this.keys.actor(actorKey), this.keys.serving(''))) as [string, number] | null;
    return r ? { node: r[0], epoch: Number(r[1]) } : undefined;
  }

  /** Makes `nodeId` the owner unless another live node owns the key (or is handing it off). */
  async claim(actorKey: string, nodeId: string): Promise<ClaimResult> {
    const k = this.keys;
    const [owner, epoch, code] = (await this.redis.eval(CLAIM, 2, k.actor(actorKey), k.epoch, nodeId, k.serving(''), k.owned(''), actorKey, k.handingOff(''), k.node(''))) as [string, number, number];
    if (code === 1) return { claimed: true, epoch: Number(epoch) };
    if (code === 0) return { claimed: false, owner: { node: owner, epoch: Number(epoch) } };
    return { claimed: false, owner: undefined };
  }

  async release(actorKey: string, nodeId: string, epoch: number): Promise<boolean> {
    return (await this.redis.eval(RELEASE, 2, this.keys.actor(actorKey), this.keys.owned(nodeId), nodeId, epoch, actorKey)) === 1;
  }

  /** For each key, whether `nodeId` still owns it at `epoch` (one round trip). */
  async stillOwned(nodeId: string, entries: readonly { key: string; epoch: number }[]): Promise<boolean[]> {
    if (!entries.length) return [];
    const p = this.redis.pipeline();
    for (const e of entries) p.hmget(this.keys.actor(e.key), 'node', 'epoch');
    const r = (await p.exec()) ?? [];
    return entries.map((e, i) => {
      const [err, v] = r[i] ?? [null, null];
      if (err) return true; // unknown: keep serving; the next check decides
      const [node, epoch] = (v as [string | null, string | null] | null) ?? [null, null];
      return node === nodeId && Number(epoch) === e.epoch;
    });
  }

  /** How many keys each node owns. */
  async ownedCounts(nodeIds: readonly string[]): Promise<Map<string, number>> {
    const p = this.redis.pipeline();
    for (const id of nodeIds) p.scard(this.keys.owned(id));
    const r = (await p.exec()) ?? [];
    return new Map(nodeIds.map((id, i) => [id, Number(r[i]?.[1] ?? 0)]));
  }

  async ownedKeys(nodeId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.owned(nodeId));
  }
}
