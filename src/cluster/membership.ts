/**
 * Node membership (DESIGN.md "cluster"): every node renews a lease in Redis (a key that expires, and its score in
 * a sorted set) a few times per lease period. A node whose lease lapsed is dead: its seat and its actors are taken
 * over. Time is Redis's (TIME inside the script), so node clocks need not agree.
 *
 * Like Orleans' membership table and Akka's cluster membership, but with a lease instead of a gossip protocol: the
 * cluster already depends on Redis for placement, and a lease there is the one thing every node can agree on.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { ClusterKeys } from './redis-keys.js';

export type NodeRole = 'xmpp-link' | 'duties';

/** What a node says about itself in Redis; what `cluster status` shows. */
export interface NodeInfo {
  readonly id: string;
  /** Where other nodes send actor messages. */
  readonly rpcUrl: string;
  readonly version: string;
  readonly startedAt: number;
  /** True while the node holds a licence seat; only licensed nodes are given actors. */
  readonly licensed: boolean;
  readonly licenceId: string | undefined;
  /** Why the node serves nothing, for operators (licence problem, seat refused, leaving). */
  readonly problem: string | undefined;
  readonly roles: readonly NodeRole[];
  readonly actors: number;
  readonly leaving: boolean;
}

export interface LiveNode extends NodeInfo {
  /** Lease expiry, epoch ms (Redis time). */
  readonly leaseUntil: number;
}

// Renews the caller's lease and forgets dead nodes (their owned-key sets go with them; their directory entries
// stay and are taken over on the next message, because the claim script sees the owner's lease is gone).
// KEYS: nodes zset, this node's key, this node's serving marker, its hand-off marker. ARGV: node id, lease ms,
// info JSON, node key prefix, owned-set prefix, '1' when the node serves, '1' when it has just stopped serving,
// hand-off grace ms. The serving marker is what the placement scripts trust: a node that is alive but unlicensed or
// leaving is given no new key. The keys it still owns it hands off (passivates each actor, letting the messages it
// was given finish, then releases the key); for the grace after it stopped serving the others wait for each
// release rather than claim the key, or two activations would run at once: a message the old one was posting
// would be posted again by the new one (seen under load: a SIGTERM's hand-off, test/e2e/cluster.test.ts). Once
// the grace is over (a hand-off that never ends) or the node is gone, its keys are claimed as a dead node's.
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(dead) do
  if redis.call('EXISTS', ARGV[4] .. id) == 0 then redis.call('DEL', ARGV[5] .. id) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[4])
else
  redis.call('DEL', KEYS[3])
  if ARGV[7] == '1' then redis.call('SET', KEYS[4], '1', 'PX', ARGV[8]) end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
`;

export interface MembershipOptions {
  readonly redis: Redis;
  readonly keys: ClusterKeys;
  readonly leaseMs: number;
  /** The node's current description (roles, licence, actor count change over time). */
  readonly self: () => Omit<NodeInfo, 'leaseUntil'>;
  readonly log: Logger;
  /** Round-trip time of each heartbeat, for the Redis latency metric. */
  readonly observe?: (op: string, seconds: number) => void;
  /**
   * How long the others wait for this node to hand its keys off after it stopped serving (HEARTBEAT above); by
   * default as long as a message waits for a serving owner (cluster-router.ts: two leases and 5 s).
   */
  readonly handOffGraceMs?: number;
}

export interface MembershipEvents {
  change: [nodes: readonly LiveNode[]];
  /** The node could not renew its lease for a whole lease period: it must stop serving (self-fencing). */
  lapsed: [];
}

export class Membership extends EventEmitter<MembershipEvents> {
  private view: LiveNode[] = [];
  private timer: NodeJS.Timeout | undefined;
  private subscriber: Redis | undefined;
  private lastRenewed = 0;
  private redisOffset = 0;
  private joined = false;
  /** Whether the last heartbeat that reached Redis said this node serves. */
  private servedLast = false;
  private readonly handOffGraceMs: number;

  constructor(private readonly o: MembershipOptions) {
    super();
    this.handOffGraceMs = o.handOffGraceMs ?? o.leaseMs * 2 + 5_000;
  }

  get id(): string {
    return this.o.self().id;
  }

  /** Renews the lease now and then every third of a lease period; listens for other nodes' join/leave. */
  async join(): Promise<void> {
    this.joined = true;
    await this.heartbeat();
    this.subscriber = this.o.redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', () => void this.refresh());
    await this.subscriber.subscribe(this.o.keys.events);
    await this.o.redis.publish(this.o.keys.events, JSON.stringify({ node: this.id, event: 'join' }));
    this.timer = setInterval(() => void this.heartbeat(), Math.max(200, Math.floor(this.o.leaseMs / 3)));
  }

  /** Tells the others at once that the node's state changed (licence, leaving), instead of at their next poll. */
  async announce(event: string): Promise<void> {
    await this.heartbeat();
    await this.o.redis.publish(this.o.keys.events, JSON.stringify({ node: this.id, event })).catch(() => undefined);
  }

  /** Whether this node's lease is (still) valid as far as it knows. */
  leaseValid(): boolean {
    return this.joined && Date.now() - this.lastRenewed < this.o.leaseMs;
  }

  /** Redis time, estimated from the last heartbeat. */
  redisNow(): number {
    return Date.now() + this.redisOffset;
  }

  private async heartbeat(): Promise<void> {
    if (!this.joined) return;
    const k = this.o.keys;
    try {
      const self = this.o.self();
      const sentAt = Date.now();
      if (this.lastRenewed && sentAt - this.lastRenewed >= this.o.leaseMs) {
        // The process stalled (GC, VM pause) past its lease: others may own its keys now. It stops them before it
        // serves again (fencing), rather than finding out at the next ownership check.
        this.o.log.warn('the lease lapsed while this node was stalled; stopping its activations', { stalledMs: sentAt - this.lastRenewed });
        this.emit('lapsed');
      }
      const serving = self.licensed && !self.leaving ? '1' : '0';
      // Only the heartbeat that stops serving starts the grace: a node that stays unlicensed does not renew it.
      const stopped = this.servedLast && serving === '0' ? '1' : '0';
      const now = Number(
        await this.o.redis.eval(HEARTBEAT, 4, k.nodes, k.node(this.id), k.serving(this.id), k.handingOff(this.id), this.id, this.o.leaseMs, JSON.stringify(self), k.node(''), k.owned(''), serving, stopped, this.handOffGraceMs),
      );
      this.servedLast = serving === '1';
      this.lastRenewed = sentAt;
      this.redisOffset = now - sentAt;
      this.o.observe?.('heartbeat', (Date.now() - sentAt) / 1000);
    } catch (err) {
      this.o.log.warn('cluster heartbeat failed', { error: errorMessage(err) });
      if (this.lastRenewed && !this.leaseValid()) this.emit('lapsed');
    }
    await this.refresh();
  }

  private refreshing: Promise<readonly LiveNode[]> | undefined;
  private refreshedAt = 0;

  /**
   * Reads the live nodes; emits 'change' when the set of serving nodes changed. Callers that ask together (many
   * messages waiting for a dead node's lease) share one read, and reads are at most every 100 ms.
   */
  refresh(): Promise<readonly LiveNode[]> {
    if (this.refreshing) return this.refreshing;
    if (Date.now() - this.refreshedAt < 100) return Promise.resolve(this.view);
    this.refreshing = this.read().finally(() => {
      this.refreshing = undefined;
      this.refreshedAt = Date.now();
    });
    return this.refreshing;
  }

  private async read(): Promise<readonly LiveNode[]> {
    try {
      const nodes = await readLiveNodes(this.o.redis, this.o.keys);
      const before = servingIds(this.view).join(',');
      this.view = nodes;
      if (servingIds(nodes).join(',') !== before) this.emit('change', nodes);
    } catch (err) {
      this.o.log.debug('membership refresh failed', { error: errorMessage(err) });
    }
    return this.view;
  }

  nodes(): readonly LiveNode[] {
    return this.view;
  }

  /** The nodes that may be given actors: live, licensed, not leaving. */
  servingIds(): string[] {
    return servingIds(this.view);
  }

  node(id: string): LiveNode | undefined {
    return this.view.find((n) => n.id === id);
  }

  async leave(): Promise<void> {
    if (!this.joined) return;
    this.joined = false;
    clearInterval(this.timer);
    const k = this.o.keys;
    await this.o.redis
      .multi()
      .zrem(k.nodes, this.id)
      .del(k.node(this.id))
      .del(k.serving(this.id))
      .del(k.handingOff(this.id))
      .publish(k.events, JSON.stringify({ node: this.id, event: 'leave' }))
      .exec()
      .catch((err: unknown) => this.o.log.warn('could not leave the cluster cleanly; the lease will lapse', { error: errorMessage(err) }));
    await this.subscriber?.quit().catch(() => undefined);
  }
}

function servingIds(nodes: readonly LiveNode[]): string[] {
  return nodes
    .filter((n) => n.licensed && !n.leaving)
    .map((n) => n.id)
    .sort();
}

/** The live nodes as Redis has them (also used by `cluster status`, which is not a member). */
export async function readLiveNodes(redis: Redis, keys: ClusterKeys): Promise<LiveNode[]> {
  const withScores = await redis.zrange(keys.nodes, '0', '-1', 'WITHSCORES');
  const ids: string[] = [];
  const until = new Map<string, number>();
  for (let i = 0; i + 1 < withScores.length; i += 2) {
    const id = withScores[i] as string;
    ids.push(id);
    until.set(id, Number(withScores[i + 1]));
  }
  if (!ids.length) return [];
  const infos = await redis.mget(ids.map((id) => keys.node(id)));
  const out: LiveNode[] = [];
  infos.forEach((text, i) => {
    if (!text) return; // lease expired between the two reads
    try {
      const info = JSON.parse(text) as NodeInfo;
      out.push({ ...info, leaseUntil: until.get(ids[i] as string) ?? 0 });
    } catch {
      // a foreign or corrupt entry is not a node
    }
  });
  return out;
}
