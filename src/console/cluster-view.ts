/**
 * The overview and cluster pages' data, as any node sees the whole cluster: live nodes, seats and placement from
 * Redis (src/cluster/cluster-status.ts), each node's published statistics (node-stats.ts), and this node's own
 * view always, so that a dead Redis or a slow Graph shows as a problem on a page that still renders.
 */
import type { Redis } from 'ioredis';
import { clusterStatus, type ClusterStatus } from '../cluster/cluster-status.js';
import type { LicenceState } from '../cluster/cluster-node.js';
import type { ClusterKeys } from '../cluster/redis-keys.js';
import { errorMessage } from '../observability/logger.js';
import { clusterSeries, readNodeStats, type NodeStats, type NodeStatsSampler } from './node-stats.js';

/** How long the console waits for Redis before it shows what this node knows alone. */
export const REDIS_TIMEOUT_MS = 2_000;

export interface ClusterHandle {
  readonly keys: ClusterKeys;
  licence(): LicenceState;
}

export interface NodeView {
  readonly id: string;
  readonly self: boolean;
  readonly serving: boolean;
  readonly problem: string | undefined;
  readonly roles: readonly string[];
  readonly version: string;
  /** Keys the placement directory gives the node (cluster), or its live activations (alone). */
  readonly actors: number;
  readonly activations: number;
  readonly licenceId: string | undefined;
  readonly leaseMsLeft: number | undefined;
  readonly stats: NodeStats | undefined;
}

export interface ClusterView {
  readonly at: number;
  readonly clustered: boolean;
  readonly node: string;
  readonly nodes: readonly NodeView[];
  readonly seats: ClusterStatus['seats'];
  readonly licence: LicenceState | undefined;
  /** What could not be read (e.g. Redis), for the page to show. */
  readonly problems: readonly string[];
}

export interface Overview {
  readonly at: number;
  readonly clustered: boolean;
  readonly node: string;
  readonly nodes: readonly { readonly id: string; readonly self: boolean; readonly readiness: NodeStats['readiness'] | undefined; readonly at: number | undefined }[];
  readonly totals: {
    readonly xmppToTeams: number;
    readonly teamsToXmpp: number;
    readonly deadLetters: number;
    readonly policyRefusals: number;
    readonly throttled: number;
    readonly webhook: Record<string, number>;
  };
  readonly lastMinute: { readonly xmppToTeams: number; readonly teamsToXmpp: number };
  readonly series: ReturnType<typeof clusterSeries>;
  readonly licence: LicenceState | undefined;
  readonly problems: readonly string[];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class ClusterViews {
  constructor(
    private readonly o: {
      readonly nodeId: string;
      readonly version: string;
      readonly sampler: NodeStatsSampler;
      readonly redis: Redis | undefined;
      readonly cluster: ClusterHandle | undefined;
      readonly statsKey: (nodeId: string) => string;
      readonly roles: () => readonly string[];
      readonly now?: () => number;
    },
  ) {}

  /** This node's stats with its counters read now (what it relayed a moment ago shows at once). */
  private async selfStats(): Promise<NodeStats> {
    const last = await this.o.sampler.current();
    return { ...last, ...(await this.o.sampler.counters()), at: (this.o.now ?? Date.now)() };
  }

  async cluster(): Promise<ClusterView> {
    const now = (this.o.now ?? Date.now)();
    const self = await this.selfStats();
    const lonely = (problems: string[]): ClusterView => ({
      at: now,
      clustered: this.o.cluster !== undefined,
      node: this.o.nodeId,
      nodes: [
        {
          id: this.o.nodeId,
          self: true,
          serving: this.o.cluster ? this.o.cluster.licence().ok : true,
          problem: this.o.cluster?.licence().problem,
          roles: this.o.roles(),
          version: this.o.version,
          actors: Object.values(self.actors).reduce((a, b) => a + b, 0),
          activations: Object.values(self.actors).reduce((a, b) => a + b, 0),
          licenceId: this.o.cluster?.licence().licenceId,
          leaseMsLeft: undefined,
          stats: self,
        },
      ],
      seats: [],
      licence: this.o.cluster?.licence(),
      problems,
    });
    const { redis, cluster } = this.o;
    if (!redis || !cluster) return lonely([]);
    try {
      const status = await withTimeout(clusterStatus(redis, cluster.keys), REDIS_TIMEOUT_MS, 'Redis');
      const stats = await withTimeout(readNodeStats(redis, status.nodes.map((n) => this.o.statsKey(n.id))), REDIS_TIMEOUT_MS, 'Redis');
      const byNode = new Map(stats.map((s) => [s.node, s]));
      byNode.set(this.o.nodeId, self);
      const nodes: NodeView[] = status.nodes.map((n) => ({
        id: n.id,
        self: n.id === this.o.nodeId,
        serving: n.serving,
        problem: n.problem,
        roles: n.roles,
        version: n.version,
        actors: n.actors,
        activations: n.activations,
        licenceId: n.licenceId,
        leaseMsLeft: n.leaseMsLeft,
        stats: byNode.get(n.id),
      }));
      if (!nodes.some((n) => n.self)) {
        // This node's lease lapsed (or it has not joined yet): it still shows, with why.
        const alone = lonely([]).nodes[0];
        if (alone) nodes.push({ ...alone, problem: alone.problem ?? 'not in the membership (lease lapsed?)' });
      }
      return { at: now, clustered: true, node: this.o.nodeId, nodes, seats: status.seats, licence: cluster.licence(), problems: [] };
    } catch (err) {
      return lonely([`cannot read the cluster from Redis (${errorMessage(err)}); this node's own view only`]);
    }
  }

  /** The overview (from a cluster view just read, or read now). */
  async overview(view?: ClusterView): Promise<Overview> {
    const c = view ?? (await this.cluster());
    const stats = c.nodes.flatMap((n) => (n.stats ? [n.stats] : []));
    const sum = (f: (s: NodeStats) => number) => stats.reduce((n, s) => n + f(s), 0);
    const webhook: Record<string, number> = {};
    for (const s of stats) for (const [k, v] of Object.entries(s.totals.webhook)) webhook[k] = (webhook[k] ?? 0) + v;
    const series = clusterSeries(stats, c.at);
    const current = series[series.length - 1];
    return {
      at: c.at,
      clustered: c.clustered,
      node: c.node,
      nodes: c.nodes.map((n) => ({ id: n.id, self: n.self, readiness: n.stats?.readiness, at: n.stats?.at })),
      totals: {
        xmppToTeams: sum((s) => s.totals.xmppToTeams),
        teamsToXmpp: sum((s) => s.totals.teamsToXmpp),
        deadLetters: sum((s) => s.totals.deadLetters),
        policyRefusals: sum((s) => s.totals.policyRefusals),
        throttled: sum((s) => s.totals.throttled),
        webhook,
      },
      lastMinute: { xmppToTeams: current?.xmppToTeams ?? 0, teamsToXmpp: current?.teamsToXmpp ?? 0 },
      series,
      licence: c.licence,
      problems: c.problems,
    };
  }
}
