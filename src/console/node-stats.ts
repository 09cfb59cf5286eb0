/**
 * What each node tells the console about itself, so that any node shows the whole cluster: its counters (messages
 * relayed each way, webhook deliveries, dead letters, refusals, placement moves), per-minute relay counts for the
 * last hour, its readiness checks, and its live actors. Sampled from the node's own Prometheus registry every
 * SAMPLE_MS and, in a cluster, written to one Redis key per node that expires when the node stops writing.
 */
import type { Redis } from 'ioredis';
import type { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../observability/metrics.js';
import type { Readiness } from '../observability/admin-server.js';
import { errorMessage, type Logger } from '../observability/logger.js';

/** How often a node samples and publishes. */
export const SAMPLE_MS = 5_000;
/** Minutes of relay history kept (the overview's chart). */
export const HISTORY_MINUTES = 60;
/** A published record outlives its node by this long, so a node that just died still shows. */
const STATS_TTL_MS = 4 * SAMPLE_MS;

export interface NodeStats {
  readonly node: string;
  readonly at: number;
  readonly totals: {
    readonly xmppToTeams: number;
    readonly teamsToXmpp: number;
    readonly webhook: Readonly<Record<string, number>>;
    readonly deadLetters: number;
    readonly policyRefusals: number;
    readonly throttled: number;
    readonly placementMoves: Readonly<Record<string, number>>;
    readonly actorRestarts: number;
  };
  /** [minute start (epoch ms), XMPP -> Teams, Teams -> XMPP], oldest first; the last one is the current minute. */
  readonly minutes: readonly (readonly [number, number, number])[];
  readonly readiness: Readiness | { readonly ok: false; readonly checks: Record<string, boolean>; readonly problems: Record<string, string> };
  readonly actors: Readonly<Record<string, number>>;
}

async function byLabel<T extends string>(metric: Counter<T> | Gauge<T>, label: T): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) {
    const k = String(v.labels[label] ?? '');
    out[k] = (out[k] ?? 0) + v.value;
  }
  return out;
}

async function total<T extends string>(metric: Counter<T>): Promise<number> {
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0);
}

export class NodeStatsSampler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private last: NodeStats | undefined;
  /** minute start -> [xmppToTeams, teamsToXmpp] relayed during that minute. */
  private readonly minutes = new Map<number, [number, number]>();
  private previous: [number, number] | undefined;

  constructor(
    private readonly o: {
      readonly nodeId: string;
      readonly metrics: Metrics;
      readonly readiness: () => Promise<Readiness>;
      readonly redis: Redis | undefined;
      readonly key: (nodeId: string) => string;
      readonly log: Logger;
      readonly now?: () => number;
    },
  ) {}

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), SAMPLE_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** This node's latest sample (taken now if there is none yet). */
  async current(): Promise<NodeStats> {
    if (!this.last) await this.tick();
    return this.last as NodeStats;
  }

  private tick(): Promise<void> {
    if (!this.running) {
      this.running = this.sample()
        .catch((err: unknown) => {
          this.o.log.warn('console statistics sample failed', { error: errorMessage(err) });
        })
        .finally(() => {
          this.running = undefined;
        });
    }
    return this.running;
  }

  /** Counters now, as relayed totals and this node's per-minute history. */
  async counters(): Promise<Pick<NodeStats, 'totals' | 'minutes' | 'actors'>> {
    const m = this.o.metrics;
    const relayed = await byLabel(m.messagesRelayed, 'direction');
    const now = (this.o.now ?? Date.now)();
    const x2t = relayed.xmpp_to_teams ?? 0;
    const t2x = relayed.teams_to_xmpp ?? 0;
    const minute = Math.floor(now / 60_000) * 60_000;
    const [px, pt] = this.previous ?? [x2t, t2x];
    const bucket = this.minutes.get(minute) ?? [0, 0];
    bucket[0] += Math.max(0, x2t - px);
    bucket[1] += Math.max(0, t2x - pt);
    this.minutes.set(minute, bucket);
    this.previous = [x2t, t2x];
    for (const k of this.minutes.keys()) if (k <= minute - HISTORY_MINUTES * 60_000) this.minutes.delete(k);
    return {
      totals: {
        xmppToTeams: x2t,
        teamsToXmpp: t2x,
        webhook: await byLabel(m.webhookNotifications, 'outcome'),
        deadLetters: await total(m.deadLetters),
        policyRefusals: await total(m.policyRefusals),
        throttled: await total(m.throttled),
        placementMoves: await byLabel(m.placementMoves, 'reason'),
        actorRestarts: await total(m.actorRestarts),
      },
      minutes: [...this.minutes].sort((a, b) => a[0] - b[0]).map(([k, [a, b]]) => [k, a, b] as const),
      actors: await byLabel(m.actorsLive, 'kind'),
    };
  }

  private async sample(): Promise<void> {
    const counters = await this.counters();
    let readiness: NodeStats['readiness'];
    try {
      readiness = await this.o.readiness();
    } catch (err) {
      readiness = { ok: false, checks: {}, problems: { node: errorMessage(err) } };
    }
    const stats: NodeStats = { node: this.o.nodeId, at: (this.o.now ?? Date.now)(), ...counters, readiness };
    this.last = stats;
    await this.o.redis?.set(this.o.key(this.o.nodeId), JSON.stringify(stats), 'PX', STATS_TTL_MS).catch(() => undefined);
  }
}

/** The published records of these nodes (missing ones are absent). */
export async function readNodeStats(redis: Redis, keys: readonly string[]): Promise<NodeStats[]> {
  if (keys.length === 0) return [];
  const values = await redis.mget(...keys);
  return values.flatMap((v) => {
    if (!v) return [];
    try {
      return [JSON.parse(v) as NodeStats];
    } catch {
      return [];
    }
  });
}

/** Per-minute relay counts of several nodes added up: the cluster's last hour, one point per minute. */
export function clusterSeries(stats: readonly NodeStats[], now: number): { minute: number; xmppToTeams: number; teamsToXmpp: number }[] {
  const current = Math.floor(now / 60_000) * 60_000;
  const out: { minute: number; xmppToTeams: number; teamsToXmpp: number }[] = [];
  for (let i = HISTORY_MINUTES - 1; i >= 0; i--) out.push({ minute: current - i * 60_000, xmppToTeams: 0, teamsToXmpp: 0 });
  const index = new Map(out.map((p, i) => [p.minute, i]));
  for (const s of stats) {
    for (const [minute, a, b] of s.minutes) {
      const i = index.get(minute);
      if (i === undefined) continue;
      const p = out[i];
      if (p) out[i] = { minute, xmppToTeams: p.xmppToTeams + a, teamsToXmpp: p.teamsToXmpp + b };
    }
  }
  return out;
}
