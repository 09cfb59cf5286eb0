/**
 * What the relay benchmark prints (bench/relay.bench.ts): a run's line, the median of several, the nodes' own
 * timings and store calls from their /metrics, Graph's requests and its POSTs to the webhook.
 */
import { graphEndpointTemplate } from '../../src/observability/metrics.js';
import { parsePrometheus, total } from '../../test/support/prometheus.js';
import { median, percentile } from './proc-stats.js';
import type { RelayFederation } from './relay-federation.js';

/** One timed run of one direction. */
export interface Direction {
  readonly rate: number;
  readonly seconds: number;
  readonly cpuMsPerMessage: number;
  readonly failed: number;
  /** CPU of this process (the Graph emulator and the XMPP clients), as a share of one core, while it ran. */
  readonly harnessLoad: number;
  /** CPU of the XMPP server (Prosody), as a share of one core, while it ran. */
  readonly xmppServerLoad: number;
  /** The whole machine's busy cores while it ran (every process, the kernel's work included), and its cores. */
  readonly machineBusyCores: number;
  readonly machineCores: number;
  /** CPU ms of one RSA-OAEP unwrap on this machine just before the run (rsa-reference.ts). */
  readonly rsaUnwrapMs: number;
  /** Rich notifications the nodes decrypted per message (an RSA unwrap each), from their metrics. */
  readonly unwrapsPerMessage: number;
}

/** Graph requests by method, endpoint and status, per message relayed. */
export function graphCalls(requests: readonly { method: string; path: string; status: number }[], messages: number): string {
  const counts = new Map<string, number>();
  for (const r of requests) {
    const key = `${r.method} ${graphEndpointTemplate(r.path)} ${r.status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${(n / messages).toFixed(2)}`).join(', ');
}

/**
 * Graph's POSTs to the webhook during a run: how many notifications each carried and how long the gateway took to
 * answer (it answers once they are committed). One POST is in flight per subscription, so this bounds the rate.
 * The emulator records a POST per subscription it carried, each with the POST's start: those make one POST here.
 */
export function webhookPosts(d: readonly { at: number; url: string; items?: number; durationMs?: number }[]): string {
  const posts = new Map<string, { items: number; ms: number }>();
  for (const r of d) {
    const k = `${r.at}|${r.url}`;
    const p = posts.get(k) ?? { items: 0, ms: r.durationMs ?? 0 };
    p.items += r.items ?? 0;
    posts.set(k, p);
  }
  const all = [...posts.values()];
  if (all.length === 0) return 'webhook POSTs: none';
  const ms = all.map((p) => p.ms).sort((a, b) => a - b);
  const items = all.reduce((n, p) => n + p.items, 0);
  return `webhook POSTs: ${all.length}, ${(items / all.length).toFixed(1)} notifications each, answered in p50 ${percentile(ms, 50).toFixed(0)} ms, p99 ${percentile(ms, 99).toFixed(0)} ms`;
}

/**
 * Histogram sums, counts and buckets (upper bound in seconds -> cumulative count) of every node, for the means and
 * the p99 of a run (the nodes' own view of where time went).
 */
export type Timings = Record<string, { sum: number; count: number; buckets: Map<number, number> }>;
const TIMINGS: Record<string, [string, Record<string, string>]> = {
  'commit of an accepted message (enqueueOutbound)': ['xtg_store_latency_seconds', { op: 'enqueueOutbound' }],
  'commit of the notifications of a webhook POST (recordNotifications)': ['xtg_store_latency_seconds', { op: 'recordNotifications' }],
  'Graph POST /chats/{id}/messages': ['xtg_graph_request_duration_seconds', { method: 'POST', endpoint: '/chats/{id}/messages' }],
  'Graph GET /chats/{id}/messages/{id}': ['xtg_graph_request_duration_seconds', { method: 'GET', endpoint: '/chats/{id}/messages/{id}' }],
  'XMPP received -> Graph accepted': ['xtg_relay_latency_seconds', { direction: 'xmpp_to_teams' }],
  'Teams created -> stanza sent': ['xtg_relay_latency_seconds', { direction: 'teams_to_xmpp' }],
};

export async function timings(f: RelayFederation): Promise<Timings> {
  const out: Timings = {};
  for (const n of f.nodes) {
    const m = parsePrometheus(await n.process.metrics());
    for (const [label, [name, where]] of Object.entries(TIMINGS)) {
      const t = (out[label] ??= { sum: 0, count: 0, buckets: new Map() });
      t.sum += total(m, `${name}_sum`, where);
      t.count += total(m, `${name}_count`, where);
      for (const b of m.get(name)?.samples ?? []) {
        if (b.name !== `${name}_bucket` || !Object.entries(where).every(([k, v]) => b.labels[k] === v)) continue;
        const le = b.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(b.labels.le);
        t.buckets.set(le, (t.buckets.get(le) ?? 0) + b.value);
      }
    }
  }
  return out;
}

/**
 * Counters of every node per message of a run, by labels: what each message cost in notifications (taken in,
 * duplicates, decrypted) and store writes (commits by operation).
 */
const COUNTED: readonly [string, string, string][] = [
  ['webhook', 'xtg_webhook_notifications_total', 'outcome'],
  ['decrypted', 'xtg_rich_notifications_total', 'outcome'],
  ['store', 'xtg_store_latency_seconds_count', 'op'],
];
export type Counts = Map<string, number>;

export async function counts(f: RelayFederation): Promise<Counts> {
  const out: Counts = new Map();
  for (const n of f.nodes) {
    const m = parsePrometheus(await n.process.metrics());
    for (const [label, sample, by] of COUNTED) {
      const base = sample.replace(/_count$/u, '');
      for (const s of m.get(base)?.samples ?? []) {
        if (s.name !== sample) continue;
        const key = `${label} ${s.labels[by] ?? ''}`;
        out.set(key, (out.get(key) ?? 0) + s.value);
      }
    }
  }
  return out;
}

/** Rich notifications decrypted (or tried: each costs its RSA unwrap) per message of a run. */
export function unwrapsPerMessage(before: Counts, after: Counts, messages: number): number {
  let n = 0;
  for (const [k, v] of after) if (k.startsWith('decrypted ')) n += v - (before.get(k) ?? 0);
  return n / messages;
}

export function perMessage(before: Counts, after: Counts, messages: number): string {
  return [...after.entries()]
    .map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / messages] as const)
    .filter(([, v]) => v >= 0.005)
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
}

export function meanTimings(before: Timings, after: Timings): string {
  return Object.keys(TIMINGS)
    .map((label) => {
      const count = (after[label]?.count ?? 0) - (before[label]?.count ?? 0);
      const sum = (after[label]?.sum ?? 0) - (before[label]?.sum ?? 0);
      if (count <= 0) return '';
      // p99 as the upper bound of the first histogram bucket that holds 99 % of the run's observations.
      const les = [...(after[label]?.buckets.keys() ?? [])].sort((a, b) => a - b);
      const le99 = les.find((le) => (after[label]?.buckets.get(le) ?? 0) - (before[label]?.buckets.get(le) ?? 0) >= 0.99 * count);
      const p99 = le99 === undefined ? '' : Number.isFinite(le99) ? ` (p99 <= ${(le99 * 1000).toFixed(0)} ms)` : ' (p99 beyond the last bucket)';
      return `${label} ${((sum / count) * 1000).toFixed(1)} ms${p99}`;
    })
    .filter((x) => x !== '')
    .join('; ');
}

/** The run of median rate (the latency runs go at half of it); undefined without runs. */
export function medianRun(runs: readonly Direction[]): Direction | undefined {
  return [...runs].sort((a, b) => a.rate - b.rate)[Math.floor((runs.length - 1) / 2)];
}

const range = (v: readonly number[]) => `${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)})`;

/** A run's CPU per message beyond its RSA unwraps, each counted at what one cost on this machine before the run. */
const beyondUnwraps = (d: Direction) => d.cpuMsPerMessage - d.unwrapsPerMessage * d.rsaUnwrapMs;
const unwrapping = (runs: readonly Direction[]) => runs.some((r) => r.unwrapsPerMessage >= 0.005);

/**
 * Median and range of several runs of one direction: the figures to compare, on a machine whose load moves. When
 * the runs decrypted rich notifications, also the CPU a message cost beyond those RSA unwraps (Graph's fresh key
 * per notification makes them a floor no gateway goes under) and what one unwrap cost here.
 */
export function summary(name: string, runs: readonly Direction[]): string {
  const rates = runs.map((r) => r.rate);
  const cpu = runs.map((r) => r.cpuMsPerMessage);
  const beyond = unwrapping(runs) ? `, ${range(runs.map(beyondUnwraps))} beyond its RSA unwraps (one cost ${range(runs.map((r) => r.rsaUnwrapMs))} ms here)` : '';
  return `  ${name.padEnd(16)} median of ${runs.length} runs: ${median(rates).toFixed(0)} msg/s (${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)}), gateway CPU ${range(cpu)} ms/message${beyond}`;
}

export function line(name: string, d: Direction): string {
  return `  ${name.padEnd(16)} ${d.rate.toFixed(0).padStart(6)} msg/s (${d.seconds.toFixed(1)} s)   gateway CPU ${d.cpuMsPerMessage.toFixed(2)} ms/message   (emulator and clients: ${(d.harnessLoad * 100).toFixed(0)}% of a core, Prosody: ${(d.xmppServerLoad * 100).toFixed(0)}%; the machine: ${d.machineBusyCores.toFixed(2)} of ${d.machineCores} cores busy)${unwrapping([d]) ? `\n    of the gateway's CPU, ${d.unwrapsPerMessage.toFixed(2)} RSA unwraps a message at ${d.rsaUnwrapMs.toFixed(2)} ms each on this machine just before the run: ${beyondUnwraps(d).toFixed(2)} ms/message beyond them` : ''}${d.failed ? `   (${d.failed} answered with an error)` : ''}`;
}
