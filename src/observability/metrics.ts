/**
 * The node's Prometheus metrics (prom-client), one registry per node. Label values are bounded sets (directions,
 * conditions, status codes, endpoint templates): never a JID or a user id.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DomainTally } from './domain-tally.js';

export class Metrics {
  readonly registry = new Registry();
  /** Refusals and throttling by remote domain, for the console (not a Prometheus metric: domains are unbounded). */
  readonly refusalsByDomain = new DomainTally();

  readonly messagesRelayed = new Counter({
    name: 'xtg_messages_relayed_total',
    help: 'Chat messages relayed, by direction',
    labelNames: ['direction', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly messagesAccepted = new Counter({
    name: 'xtg_messages_accepted_total',
    help: 'Chat messages durably accepted (committed) on arrival, before relaying, by direction',
    labelNames: ['direction', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly presenceRelayed = new Counter({
    name: 'xtg_presence_updates_relayed_total',
    help: 'Presence updates relayed, by direction',
    labelNames: ['direction', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly stanzaErrors = new Counter({
    name: 'xtg_stanza_errors_total',
    help: 'Stanza errors the gateway sent, by RFC 6120 condition',
    labelNames: ['condition', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly graphRequests = new Counter({
    name: 'xtg_graph_requests_total',
    help: 'Microsoft Graph requests, by method, endpoint template and HTTP status',
    labelNames: ['method', 'endpoint', 'status', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly graphLatency = new Histogram({
    name: 'xtg_graph_request_duration_seconds',
    help: 'Microsoft Graph request latency',
    labelNames: ['method', 'endpoint', 'tenant'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly graphPacingWait = new Histogram({
    name: 'xtg_graph_pacing_wait_seconds',
    help: "Time Graph requests waited for the gateway's own pacing under Graph's documented limits, by limit bucket",
    labelNames: ['bucket', 'tenant'] as const,
    buckets: [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly graphPacingLimit = new Gauge({
    name: 'xtg_graph_pacing_limit_per_second',
    help: 'The sustained rate the gateway allows itself per Graph limit bucket (requests, or identity resource units, per second)',
    labelNames: ['bucket', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly presenceKeepAlive = new Counter({
    name: 'xtg_presence_keepalive_total',
    help: "setPresence calls that keep an XMPP user's Teams presence session from timing out, by outcome (ok, failed)",
    labelNames: ['outcome', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly actorsLive = new Gauge({
    name: 'xtg_actors_live',
    help: 'Actors activated on this node, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly actorRestarts = new Counter({
    name: 'xtg_actor_restarts_total',
    help: 'Actor restarts after a crash, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'xtg_dead_letters_total',
    help: 'Messages given up after retries, by kind of actor and reason',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly webhookNotifications = new Counter({
    name: 'xtg_webhook_notifications_total',
    help: 'Graph change notifications received, by outcome',
    labelNames: ['outcome', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly richNotifications = new Counter({
    name: 'xtg_rich_notifications_total',
    help: 'Graph notifications with resource data, by outcome when processed (decrypted, old_certificate: decrypted with a certificate being rotated out, undecryptable: read from Graph instead)',
    labelNames: ['outcome', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly mediaRequests = new Counter({
    name: 'xtg_media_requests_total',
    help: 'Media proxy requests (Teams inline images), by outcome (served, expired, bad-signature, malformed, throttled, graph_error)',
    labelNames: ['outcome', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly throttled = new Counter({
    name: 'xtg_throttled_total',
    help: 'Messages held back by a rate limit, by direction, limit scope and outcome (refused, queue_full, timed_out, delayed)',
    labelNames: ['direction', 'scope', 'outcome', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly policyRefusals = new Counter({
    name: 'xtg_policy_refusals_total',
    help: 'Stanzas and Teams messages refused by the whitelist, by reason (domain, user, pairing)',
    labelNames: ['direction', 'reason', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly messageBytes = new Counter({
    name: 'xtg_message_bytes_total',
    help: 'UTF-8 bytes of relayed message bodies, by direction',
    labelNames: ['direction', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly relayLatency = new Histogram({
    name: 'xtg_relay_latency_seconds',
    help: 'End-to-end relay time: XMPP message read off the link to Graph accepted it; Teams message created to stanza sent',
    labelNames: ['direction', 'tenant'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly retryAfterWaits = new Counter({
    name: 'xtg_graph_retry_after_seconds_total',
    help: 'Seconds of waiting that Graph asked for with Retry-After (429/503), by what waited',
    labelNames: ['queue', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly storeLatency = new Histogram({
    name: 'xtg_store_latency_seconds',
    help: 'Store (SQLite / SQL Server) call time, by operation',
    labelNames: ['op'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly redisLatency = new Histogram({
    name: 'xtg_redis_latency_seconds',
    help: 'Redis round trips of the cluster (heartbeat, seat, placement), by operation',
    labelNames: ['op'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly xmppStanzasIn = new Counter({
    name: 'xtg_xmpp_stanzas_received_total',
    help: "Stanzas received on this node's component link, by stanza name",
    labelNames: ['stanza', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly activations = new Counter({
    name: 'xtg_actor_activations_total',
    help: 'Actor activations on this node, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly passivations = new Counter({
    name: 'xtg_actor_passivations_total',
    help: 'Actor passivations on this node, by kind and reason (idle, handoff, stale, shutdown)',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly placementMoves = new Counter({
    name: 'xtg_placement_moves_total',
    help: 'Actor keys this node gave up or took over, by reason (handoff on join/leave, takeover from a dead node, stale owner)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly clusterNodes = new Gauge({
    name: 'xtg_cluster_nodes',
    help: 'Live nodes this node sees, by whether they serve (licensed and not leaving)',
    labelNames: ['serving'] as const,
    registers: [this.registry],
  });
  readonly licenceSeat = new Gauge({
    name: 'xtg_licence_seat',
    help: '1 while this node holds a licence seat',
    registers: [this.registry],
  });
  readonly remoteCalls = new Histogram({
    name: 'xtg_cluster_call_seconds',
    help: 'Calls to other nodes, by path and outcome',
    labelNames: ['path', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly xmppLinkUp = new Gauge({
    name: 'xtg_xmpp_link_up',
    help: '1 while the XEP-0114 component link is authenticated',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });

  // ---- hostile input (issue 12) ----
  readonly xmppRefused = new Counter({
    name: 'xtg_xmpp_refused_total',
    help: 'Stanzas refused before any work (stranger, spoofed sender, over a parser limit, iq answer from the wrong address), by reason',
    labelNames: ['reason', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly accounts = new Gauge({
    name: 'xtg_accounts',
    help: "Teams accounts of a remote domain's users (known plus granted), as counted by the domain's actor on this node",
    labelNames: ['domain', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly accountRefusals = new Counter({
    name: 'xtg_account_refusals_total',
    help: 'New XMPP users refused a Teams account, by limit (domain: policy.maxAccountsPerDomain; total: the licence)',
    labelNames: ['limit', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly directoryLookups = new Counter({
    name: 'xtg_directory_lookups_total',
    help: 'User lookups by XMPP senders, by outcome (graph: asked Graph; sfb-pool: asked the SfB pool where she is homed; refused: over the lookup budget)',
    labelNames: ['outcome', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly evaluationMode = new Gauge({
    name: 'xtg_evaluation_mode',
    help: '1 while this node runs without a licence, in evaluation mode (docs/licensing.md)',
    registers: [this.registry],
  });
  readonly pairsPruned = new Counter({
    name: 'xtg_pairs_pruned_total',
    help: 'Pairs forgotten after store.retention.unusedPairDays without use',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'xtg_' });
  }
}

/**
 * Graph path -> endpoint template for a bounded label: ids, UPNs and quoted keys become placeholders,
 * e.g. /v1.0/chats/19:abc@thread.v2/messages -> /chats/{id}/messages.
 */
export function graphEndpointTemplate(path: string): string {
  const clean = path.split('?')[0] ?? '';
  const segments = clean.split('/').filter(Boolean);
  if (segments[0] && /^(v1\.0|beta)$/u.test(segments[0])) segments.shift();
  return (
    '/' +
    segments
      .map((s, i) => {
        if (i === 0) return s;
        if (/^\$?[a-zA-Z][a-zA-Z.]*$/u.test(s)) return s; // a navigation property, action or $ref
        if (/^[a-zA-Z.]+\(.*\)$/u.test(s)) return `${s.slice(0, s.indexOf('('))}(...)`;
        return '{id}';
      })
      .join('/')
  );
}
