/**
 * The composition root of one gateway node (DESIGN.md): builds the edges (XMPP component link, Graph webhook,
 * admin endpoint), the actor supervisors and the router, the Graph adapter and the store, and starts and stops
 * them in an order that loses nothing: the store first and last, the webhook before any subscription is made
 * (Graph validates it), the XMPP link last in and first out.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Actor, ActorContext, ActorKind } from './actors/actor.js';
import type { DomainMessage, DomainReply } from './actors/remote-domain-actor.js';
import type { Outcome, PairMessage } from './actors/user-pair-actor.js';
import { splitTenantKey } from './actors/actor-keys.js';
import type { SfbPairMessage, SfbPairReply } from './actors/sfb-pair/messages.js'; // issue 17
import { SETTINGS } from './gateway/settings.js';
import { adminEdge } from './gateway/admin-edge.js';
import { TenantRuntime, type NodeShared } from './gateway/tenant-runtime.js';
import { applyTenantChanges, TenantReloadError, type ReloadHost, type ReloadSummary } from './gateway/tenant-reload.js';
import { TenantChannels } from './gateway/tenant-channels.js';
import { NodeCluster } from './gateway/node-cluster.js';
import { LocalRouter, type ActorRouter } from './cluster/actor-router.js';
import { LoneNodeLicence } from './cluster/lone-node-licence.js';
import type { ClusterRouter } from './cluster/cluster-router.js';
import type { NodeRole } from './cluster/membership.js';
import { SharedXmppLink } from './cluster/shared-xmpp-link.js';
import { clusterStatus } from './cluster/cluster-status.js';
import { bareJid, tryParseJid } from './protocol/jid.js';
import type { RuntimeConfig, TenantConfig } from './config/load.js';
import { licenceIdentity } from './config/tenant-config.js';
import { forgetTenantSeries } from './observability/tenant-metrics.js';
import { DEFAULT_TENANT } from './config/tenants-schema.js';
import type { AdminServer } from './observability/admin-server.js';
import { ActivitySummary } from './observability/activity-summary.js';
import { createLogger, errorMessage, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { refusalLogBudget, type LogBudget } from './observability/log-budget.js';
import { Tracing } from './observability/tracing.js';
import { openStore, openTenantStore } from './store/open-store.js';
import { timedStore } from './store/timed-store.js';
import { StoreError, type Store } from './store/store.js';
import { ActorRuntime } from './supervisors/actor-runtime.js';
import { ActorSupervisor } from './supervisors/actor-supervisor.js';
import { restartPolicyFor } from './supervisors/restart-policy.js';
import { WebhookListeners } from './teams/webhook-listeners.js';
import { IqIds } from './xmpp/iq-ids.js';
import type { PolicyService } from './policy/policy-service.js';
import { RemoteDomainBudget } from './policy/remote-domain-budget.js';
import type { PeerUser } from './policy/tenant-federation-policy.js';
import { Walls } from './policy/walls.js';
import type { ConsoleService } from './console/console-service.js';
import { ArrivalOrder } from './xmpp/arrival-order.js';

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export interface GatewayOptions {
  readonly config: RuntimeConfig;
  /** Reads the configuration file again (SIGHUP, POST /admin/tenants/reload: tenants change without a restart). */
  readonly reloadConfig?: () => RuntimeConfig;
  readonly nodeId?: string;
  /** Where log lines go (stdout by default). */
  readonly logStream?: NodeJS.WritableStream;
}

export class Gateway {
  readonly log: Logger;
  readonly metrics = new Metrics();
  private readonly tracing: Tracing;
  /** The node's own rows (licence seats, the console's node-wide views): the configured store. */
  private readonly store: Store;
  readonly nodeId: string;
  /** In a cluster: transport, membership, duties lease (gateway/node-cluster.ts). */
  private readonly cluster: NodeCluster | undefined;
  /** A node alone: its licence, or evaluation mode. */
  private readonly lone: LoneNodeLicence | undefined;
  private clusterRouter: ClusterRouter | undefined;
  private readonly webhooks: WebhookListeners;
  private readonly admin: AdminServer;
  private readonly console: ConsoleService | undefined;
  private runtime: ActorRuntime | undefined;
  private pairs: ActorSupervisor<PairMessage, Outcome> | undefined;
  private domains: ActorSupervisor<DomainMessage, DomainReply> | undefined;
  /** Issue 17: SfB pair actors of every tenant with an SfB side (none: no tenant has one). */
  private sfbPairs: ActorSupervisor<SfbPairMessage, SfbPairReply> | undefined;
  private router: ActorRouter | undefined;
  private readonly activity: ActivitySummary;
  /** Issue 16: each tenant's runtime, in configuration order; the first is the one the unscoped paths mean. */
  private readonly tenants: Map<string, TenantRuntime>;
  private readonly walls: Walls;
  private readonly shared: NodeShared;
  /** Stanzas between the same two addresses are handed on in arrival order, whichever tenant (see start()). */
  private readonly arrival = new ArrivalOrder();
  /** The cluster's pub/sub channels this node listens to (each tenant's inbox, presence and iq channels). */
  private readonly channels = new TenantChannels();
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly first: TenantRuntime;
  private readonly redis: Redis | undefined;
  private readonly refusalLog: LogBudget;

  /** The first tenant's whitelist (the single-tenant layout's). */
  get policy(): PolicyService {
    return this.first.policy;
  }

  /**
   * Opens the node's store and each tenant's (running their migrations; a store that is another tenant's is
   * refused) and builds the node; start() connects it.
   */
  static async create(o: GatewayOptions): Promise<Gateway> {
    const node = await openStore(o.config.store);
    const stores = new Map<string, Store>();
    try {
      for (const t of o.config.tenants) stores.set(t.id, t.id === DEFAULT_TENANT ? node : await openTenantStore(o.config.store, t.id));
      if (stores.get(DEFAULT_TENANT) === node) {
        const owner = await node.claimTenant(DEFAULT_TENANT);
        if (owner !== DEFAULT_TENANT) throw new StoreError(`the configured store holds tenant ${owner}'s rows, not the single-tenant layout's: each tenant has a store of its own`);
      }
    } catch (err) {
      for (const s of new Set([node, ...stores.values()])) await s.close().catch(() => undefined);
      throw err;
    }
    return new Gateway(o, node, stores);
  }

  private constructor(
    private readonly o: GatewayOptions,
    store: Store,
    stores: ReadonlyMap<string, Store>,
  ) {
    const c = o.config;
    const nodeId = c.cluster.nodeId ?? o.nodeId ?? `${hostname().replace(/[^A-Za-z0-9._-]/gu, '-').slice(0, 40)}-${randomUUID().slice(0, 6)}`;
    this.nodeId = nodeId;
    this.log = createLogger({ level: c.log.level, nodeId, ...(o.logStream ? { stream: o.logStream } : {}) });
    this.tracing = Tracing.start({ endpoint: c.tracing.otlpEndpoint, headers: c.tracing.headers, nodeId, version: packageVersion() });
    const timed = (s: Store) => (s === store ? this.store : timedStore(s, this.metrics));
    this.store = timedStore(store, this.metrics);
    this.activity = new ActivitySummary(this.metrics, this.log, SETTINGS.activitySummaryMs);
    // One budget of log lines about refused input for the node's routers and pairs.
    this.refusalLog = refusalLogBudget(this.log);
    // Cluster-wide rate limits and Graph pacing live in Redis when it is configured (policy/rate-buckets.ts).
    this.redis = c.cluster.redis ? new Redis(c.cluster.redis.url, { maxRetriesPerRequest: 3, lazyConnect: false }) : undefined;
    this.redis?.on('error', (err: Error) => this.log.warn('Redis connection error', { error: err.message }));
    const firstConfig = c.tenants[0] as TenantConfig;
    // In a cluster every node recognises the others' iq ids (IqIds), so that only those answers cross nodes.
    const ids = this.redis && c.cluster.secret ? IqIds.fromSecret(c.cluster.secret.reveal()) : IqIds.random();
    if (this.redis && c.cluster.secret) {
      // A cluster (DESIGN.md "cluster"): membership, licence seat, placement, and each tenant's link shared or per node.
      this.cluster = new NodeCluster({
        config: c,
        redis: this.redis,
        secret: c.cluster.secret.reveal(),
        nodeId,
        version: packageVersion(),
        store: this.store,
        metrics: this.metrics,
        log: this.log,
        tenantIds: () => [...this.tenants.values()].map((t) => licenceIdentity(t.t)),
        actorCount: () => (this.pairs?.keys().length ?? 0) + (this.domains?.keys().length ?? 0) + (this.sfbPairs?.keys().length ?? 0),
        roles: () => this.roles(),
      });
    } else {
      // Alone, a node serves under its licence, or in evaluation mode without one (docs/licensing.md).
      this.lone = new LoneNodeLicence({
        file: c.cluster.licence.file,
        publicKeys: c.cluster.licence.publicKeys,
        tenantIds: () => [...this.tenants.values()].map((t) => licenceIdentity(t.t)),
        log: this.log,
        onChange: (mode) => {
          this.metrics.evaluationMode.set(mode.mode === 'evaluation' ? 1 : 0);
          for (const t of this.tenants.values()) t.policy.setDomainLimit(this.lone?.maxRemoteDomains());
        },
      });
    }
    const walls = new Walls(c.walls, c.tenants.map((t) => ({ id: t.id, domains: t.components.map((d) => d.domain) })));
    this.walls = walls;
    const shared: NodeShared = {
      config: c,
      nodeId,
      version: packageVersion(),
      log: this.log,
      metrics: this.metrics,
      redis: this.redis,
      ids,
      cluster: this.cluster && { node: this.cluster.node, transport: this.cluster.transport },
      walls,
      router: () => this.router,
      holdsDuties: () => this.holdsDuties(),
      maxAccounts: () => this.lone?.maxAccounts(),
      countAllAccounts: async () => (await Promise.all([...this.tenants.values()].map((t) => t.store.countPuppets()))).reduce((a, b) => a + b, 0),
      domainBudget: new RemoteDomainBudget(),
      peerUser: (peer, jid) => this.peerUser(peer, jid),
      refusalLog: this.refusalLog,
    };
    this.shared = shared;
    const tenants = new Map<string, TenantRuntime>();
    for (const t of c.tenants) tenants.set(t.id, new TenantRuntime(t, timed(stores.get(t.id) ?? store), shared));
    this.tenants = tenants;
    this.first = tenants.get(firstConfig.id) as TenantRuntime;
    this.webhooks = new WebhookListeners(
      [...tenants.values()].flatMap((t) => t.webhookListener() ?? []),
      this.log,
    );
    const edge = adminEdge({
      config: c,
      nodeId,
      version: packageVersion(),
      metrics: this.metrics,
      log: this.log,
      store: this.store,
      redis: this.redis,
      cluster: this.cluster?.node,
      tenants: () => [...tenants.values()],
      roles: () => this.roles(),
      licence: () => (this.cluster ? this.cluster.node.licence() : this.lone?.view()),
      clusterView: this.cluster ? () => this.clusterView() : undefined,
      reload: o.reloadConfig && (async () => ({ ...(await this.reloadTenants((o.reloadConfig as () => RuntimeConfig)())) })),
    });
    this.admin = edge.admin;
    this.console = edge.console;
  }

  /** A user of another tenant of this node, as that tenant's directory and whitelist know them (walls). */
  private async peerUser(peer: string, jid: string): Promise<PeerUser | undefined> {
    const rt = this.tenants.get(peer);
    const local = jid.slice(0, jid.lastIndexOf('@'));
    if (!rt || local === '') return undefined;
    const user = await rt.teamsSide?.directory.byLocalpart(local).catch(() => undefined);
    if (!user) return undefined;
    return { user, groups: rt.policy.groupsOfUser(user.id), allowed: rt.policy.userAllowed(user) };
  }

  /** Cluster-wide duties (inbox, subscription renewal, outbox sweep, retention) run on one node; alone, here. */
  private holdsDuties(): boolean {
    return this.cluster ? this.cluster.duties.isHeld : true;
  }

  private roles(): NodeRole[] {
    const roles: NodeRole[] = [];
    const link = this.first.link;
    if (link instanceof SharedXmppLink ? link.holdsLink() : link.isOnline()) roles.push('xmpp-link');
    if (this.cluster?.duties.isHeld) roles.push('duties');
    return roles;
  }

  private async clusterView(): Promise<unknown> {
    if (!this.redis || !this.cluster) return {};
    return clusterStatus(this.redis, this.cluster.node.keys);
  }

  get adminPort(): number {
    return this.admin.port;
  }

  /** The tenant whose key this is (its actors are built by its runtime). */
  private tenantOf(key: string): { rt: TenantRuntime; key: string } {
    const { tenant, key: inner } = splitTenantKey(key);
    const rt = this.tenants.get(tenant);
    if (!rt) throw new Error(`actor key ${key} names no tenant of this node`);
    return { rt, key: inner };
  }

  async start(): Promise<void> {
    const c = this.o.config;
    const runtime = await ActorRuntime.start(this.log);
    this.runtime = runtime;
    const onEscalate = (kind: string, key: string, error: unknown) =>
      this.log.error('actor escalated to the node supervisor', { actorKind: kind, actorKey: key, error: errorMessage(error) });
    // One supervisor per kind for the node; each actor is its tenant's (its key says which), built with its
    // tenant's ports only.
    const supervise = <M, R>(kind: ActorKind, policy: 'userPair' | 'remoteDomain' | 'sfbPair', build: (rt: TenantRuntime, ctx: ActorContext) => Actor<M, R>) =>
      new ActorSupervisor<M, R>({
        kind,
        runtime,
        policy: restartPolicyFor(c.actors, policy),
        idleMs: c.actors.idleSeconds * 1000,
        metrics: this.metrics,
        log: this.log,
        onEscalate,
        onStopped: (key) => this.clusterRouter?.released(kind, key),
        tenantOf: (key) => splitTenantKey(key).tenant,
        factory: (ctx) => {
          const { rt, key } = this.tenantOf(ctx.key);
          return build(rt, { ...ctx, key, log: ctx.log.child({ tenant: rt.id }) });
        },
      });
    this.pairs = supervise<PairMessage, Outcome>('user-pair', 'userPair', (rt, ctx) => rt.pairActor(ctx));
    this.domains = supervise<DomainMessage, DomainReply>('remote-domain', 'remoteDomain', (rt, ctx) => rt.domainActor(ctx));
    // Issue 17: SfB pairs likewise, when any tenant has an SfB side.
    const sfbPairs = [...this.tenants.values()].some((t) => t.sfb)
      ? supervise<SfbPairMessage, SfbPairReply>('sfb-pair', 'sfbPair', (rt, ctx) => {
          if (!rt.sfb) throw new Error(`tenant ${rt.id} has no SfB side`);
          return rt.sfb.pairActor(ctx);
        })
      : undefined;
    this.sfbPairs = sfbPairs;
    if (this.cluster) {
      this.clusterRouter = this.cluster.router({ pairs: this.pairs, domains: this.domains, sfbPairs });
      this.router = this.clusterRouter;
    } else {
      this.router = new LocalRouter(this.pairs, this.domains);
    }
    // issue 17: SfB pair actors, placed by the cluster router like the others (or the local supervisor alone).
    const clusterRouter = this.clusterRouter;
    if (sfbPairs) {
      for (const t of this.tenants.values()) t.sfb?.routeThrough(clusterRouter ? (k, m, e) => clusterRouter.actor('sfb-pair', k, m, e) as Promise<SfbPairReply> : (k, m, e) => sfbPairs.ask(k, m, e));
    }
    // Stanzas between the same two addresses are committed and handed to their pair in arrival order (RFC 6120
    // §10.1 in-order processing) even when its actor lives on another node; their checks run at once.
    for (const t of this.tenants.values()) t.route(this.arrival, bare);

    this.lone?.start();
    for (const t of this.tenants.values()) await t.policy.start();
    await this.admin.start();
    await this.console?.start();
    // The tenants of the moment: a reload adds and removes them while the node runs.
    if (this.cluster && this.clusterRouter) await this.cluster.join(this.clusterRouter, () => [...this.tenants.values()], this.channels);
    await this.webhooks.start();
    for (const t of this.tenants.values()) {
      t.teamsSide?.start();
      t.chores.start();
      if (!this.cluster) t.chores.taken();
    }
    // Duties only once the webhook listens (Graph validates it when a subscription is made), and before the links,
    // whose first connection may take long.
    this.cluster?.duties.start();
    for (const t of this.tenants.values()) await t.sfb?.start(); // issue 17: SIP from the pool is taken before the XMPP link comes up
    for (const t of this.tenants.values()) await t.link.start();
    this.activity.start();
    this.log.info('gateway node started', {
      domain: this.first.t.components[0]?.domain,
      tenants: [...this.tenants.values()].map((t) => ({ tenant: t.id, domains: t.t.components.map((d) => d.domain) })),
      version: packageVersion(),
      node: this.nodeId,
      cluster: this.cluster !== undefined,
    });
  }

  /**
   * Issue 16: applies the configuration's tenants and walls again without a restart (SIGHUP, POST
   * /admin/tenants/reload); one reload at a time. Throws TenantReloadError, having applied nothing, for a change
   * that takes a restart.
   */
  reloadTenants(next: RuntimeConfig): Promise<ReloadSummary> {
    if (!this.router) return Promise.reject(new TenantReloadError('the node is still starting: reload once it serves'));
    const run = this.reloading.then(() => applyTenantChanges(this.reloadHost(), this.o.config, next));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private reloadHost(): ReloadHost {
    return {
      tenants: this.tenants,
      walls: this.walls,
      log: this.log,
      create: async (t) => {
        const store = await openTenantStore(this.o.config.store, t.id);
        try {
          return new TenantRuntime(t, timedStore(store, this.metrics), this.shared);
        } catch (err) {
          await store.close().catch(() => undefined);
          throw err;
        }
      },
      attach: async (rt) => {
        const listener = rt.webhookListener();
        if (listener) await this.webhooks.add(listener);
        rt.route(this.arrival, bare);
        await this.channels.listen(rt);
        await rt.startAdded(this.holdsDuties());
      },
      detach: async (rt, deleteSubscriptions) => {
        await rt.quiesce();
        const listener = rt.webhookListener();
        if (listener) await this.webhooks.remove(listener.webhook);
        await this.channels.listen(rt, false);
        // Its actors go (their directory entries released for the cluster); a message still on its way to one of
        // them finds no tenant and is refused.
        for (const [kind, supervisor] of [['user-pair', this.pairs], ['remote-domain', this.domains]] as const) {
          for (const key of supervisor?.keys() ?? []) {
            if (splitTenantKey(key).tenant !== rt.id) continue;
            await supervisor?.passivate(key, 'shutdown');
            this.clusterRouter?.released(kind, key);
          }
        }
        const deleted = await rt.stopRemoved(deleteSubscriptions && this.holdsDuties());
        await rt.store.close();
        // Its series go (a tenant changed and started again begins new ones: Prometheus reads that as a reset).
        await forgetTenantSeries(this.metrics, rt.id);
        return deleted;
      },
      licenceChanged: () => this.lone?.check(),
    };
  }

  async stop(): Promise<void> {
    const stoppingAt = Date.now();
    this.log.info('gateway node stopping');
    const tenants = [...this.tenants.values()];
    for (const t of tenants) t.chores.stop();
    this.cluster?.stopFencing();
    await this.activity.stop();
    if (this.cluster && this.clusterRouter) {
      // Graceful leave: no new keys come here; the actors finish their messages and move; then the links and the
      // duties go, so another node takes them at once rather than after the lease.
      await this.cluster.node.beginLeaving();
      await this.clusterRouter.handOffAll();
      this.log.info('actors handed off; leaving the cluster');
      // The inboxes stop before the duties lease goes, so the next holder never drains alongside this node.
      for (const t of tenants) await t.teamsSide?.processor.stop();
      await this.cluster.duties.stop();
    }
    for (const t of tenants) await t.link.stop();
    await this.webhooks.stop();
    for (const t of tenants) {
      await t.teamsSide?.processor.stop();
      await t.teamsSide?.subscriptions.stop();
    }
    await this.pairs?.stop();
    for (const t of tenants) await t.sfb?.stop(); // issue 17
    await this.sfbPairs?.stop();
    await this.domains?.stop();
    await this.runtime?.stop();
    await this.cluster?.node.leave();
    await this.cluster?.transport.stop();
    await this.channels.close();
    this.lone?.stop();
    for (const t of tenants) await t.stop();
    await this.redis?.quit().catch(() => undefined);
    await this.console?.stop();
    await this.admin.stop();
    for (const t of tenants) if (t.store !== this.store) await t.store.close();
    await this.store.close();
    await this.tracing.shutdown();
    this.log.info('gateway node stopped', { durationMs: Date.now() - stoppingAt });
  }
}

/** The bare JID of a stanza address, for keying; an unparsable address keys as itself (the router refuses it). */
function bare(jid: string | undefined): string {
  const parsed = tryParseJid(jid);
  return parsed ? bareJid(parsed) : (jid ?? '');
}
