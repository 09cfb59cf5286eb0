/**
 * Everything of one tenant on a node (issue 16, DESIGN.md decision 10): its store, its Graph credential, clients and
 * pacing (its own limiters and queues: a bulkhead, so one tenant's Graph outage or 429 storm waits in its own
 * queues only), its whitelist within the walls, throttles, directory, cards, subscriptions and inbox, its webhook
 * path and media links, its XMPP component link(s) and stanza router, its SfB side. Its logs carry `tenant`, its
 * metrics the `tenant` label, its actor keys and Redis keys its id. The node (gateway.ts) shares only the actor
 * runtime and supervisors, the cluster membership, the admin endpoint and the webhook listeners.
 */
import type { Redis } from 'ioredis';
import type { ActorContext } from '../actors/actor.js';
import { tenantActorKey } from '../actors/actor-keys.js';
import { RemoteDomainActor, type AccountQuota } from '../actors/remote-domain-actor.js';
import { UserPairActor, type PairMessage, type PairSettings } from '../actors/user-pair-actor.js';
import type { ActorRouter } from '../cluster/actor-router.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { LeaderLease } from '../cluster/leader-lease.js';
import type { NodeTransport } from '../cluster/node-transport.js';
import { tenantName } from '../cluster/redis-keys.js';
import { SharedXmppLink } from '../cluster/shared-xmpp-link.js';
import type { RuntimeConfig, TenantConfig } from '../config/load.js';
import { DEFAULT_TENANT } from '../config/tenants-schema.js';
import type { LogBudget } from '../observability/log-budget.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { tenantMetrics } from '../observability/tenant-metrics.js';
import { policyAdminApi } from '../policy/admin-api.js';
import { ThrottledLookups } from '../policy/lookup-budget.js';
import { PolicyService } from '../policy/policy-service.js';
import type { RemoteDomainBudget } from '../policy/remote-domain-budget.js';
import { TenantFederationPolicy, type PeerUser } from '../policy/tenant-federation-policy.js';
import { Throttler } from '../policy/throttle.js';
import type { Walls } from '../policy/walls.js';
import { SfbSide } from '../sfb/sfb-side.js';
import type { InboundNotification, Store } from '../store/store.js';
import { MessageAcceptor } from '../xmpp/accept.js';
import type { ArrivalOrder } from '../xmpp/arrival-order.js';
import { MAX_STANZA_DEPTH, MAX_STANZA_ELEMENTS, type StanzaLimits } from '../xmpp/bounded-parser.js';
import { ComponentLink } from '../xmpp/component-link.js';
import type { IqIds } from '../xmpp/iq-ids.js';
import { StanzaRouter } from '../xmpp/stanza-router.js';
import { NodeDuties } from './node-duties.js';
import { SETTINGS } from './settings.js';
import { TeamsSide } from './teams-side.js';
import type { WebhookServer } from '../teams/webhook-server.js';

/** What the node gives each of its tenants. */
export interface NodeShared {
  readonly config: RuntimeConfig;
  readonly nodeId: string;
  readonly version: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly redis: Redis | undefined;
  readonly ids: IqIds;
  readonly cluster: { readonly node: ClusterNode; readonly transport: NodeTransport } | undefined;
  readonly walls: Walls;
  /** The node's router (actor keys carry the tenant). */
  readonly router: () => ActorRouter | undefined;
  readonly holdsDuties: () => boolean;
  /** The licence's limit on accounts (alone, in evaluation mode), counted across the node's tenants. */
  readonly maxAccounts: () => number | undefined;
  /** Accounts for XMPP users in every tenant's store (what maxAccounts caps). */
  readonly countAllAccounts: () => Promise<number>;
  /** The licence's cap on remote domain rules, counted across the node's tenants. */
  readonly domainBudget: RemoteDomainBudget;
  /** A user of another tenant of this node, by a JID of its component domain (walls between tenants). */
  readonly peerUser: (peer: string, bareJid: string) => Promise<PeerUser | undefined>;
  readonly refusalLog: LogBudget;
}


export class TenantRuntime {
  readonly id: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Its Microsoft 365 side; undefined for a deployment with SfB Server only (issue 17). */
  readonly teamsSide: TeamsSide | undefined;
  readonly policy: PolicyService;
  readonly federation: TenantFederationPolicy;
  readonly link: ComponentLink | SharedXmppLink;
  readonly linkLease: LeaderLease | undefined;
  readonly sfb: SfbSide | undefined;
  readonly chores: NodeDuties;
  /** The node's router with this tenant's actor keys. */
  readonly router: ActorRouter;
  private readonly throttler: Throttler;
  private readonly lookups: ThrottledLookups;
  private stanzaRouter: StanzaRouter | undefined;
  private admin: ReturnType<typeof policyAdminApi> | undefined;
  private readonly settings: PairSettings;

  constructor(
    readonly t: TenantConfig,
    readonly store: Store,
    private readonly n: NodeShared,
  ) {
    const c = n.config;
    this.id = t.id;
    this.log = n.log.child({ tenant: t.id });
    this.metrics = tenantMetrics(n.metrics, t.id);
    const redisPrefix = t.id === DEFAULT_TENANT ? 'xtg' : `xtg:t:${t.id}`;
    this.router = {
      pair: (k, m, e) => this.nodeRouter().pair({ ...k, tenant: t.id }, m, e),
      domain: (d, m, e) => this.nodeRouter().domain(tenantActorKey(t.id, d), m, e),
    };
    // The admissions of one turn of the event loop leave in one write to Redis (ioredis auto-pipelining): under
    // load a turn admits many stanzas, one script call each.
    this.throttler = new Throttler(t.throttle, this.metrics, n.redis?.duplicate({ enableAutoPipelining: true }), redisPrefix);
    this.lookups = new ThrottledLookups(t.throttle.lookups, this.metrics, n.redis?.duplicate({ enableAutoPipelining: true }), redisPrefix);
    const primary = t.components[0]!;
    const teams = t.teams;
    this.teamsSide = teams
      ? new TeamsSide({
          tenant: t.id,
          teams,
          store,
          chatMessagePostsPerSecond: t.throttle.graphRequestsPerSecond,
          showPhotos: t.cards.fields.includes('photo'),
          cardCacheMs: t.cards.cacheSeconds * 1000,
          componentDomain: primary.domain,
          lookups: this.lookups,
          negativeLookupTtlMs: t.throttle.lookups.negativeCacheSeconds * 1000,
          redis: n.redis,
          router: this.router,
          holdsDuties: () => n.holdsDuties(),
          accepting: () => n.cluster?.node.mayRecordNotifications() ?? true,
          onRecorded: (recorded) => this.inboxChanged(recorded),
          catchUp: (puppetUserId, since) => this.chores.catchUpPuppet(puppetUserId, since),
          metrics: this.metrics,
          log: this.log,
        })
      : undefined;
    const groups = this.teamsSide?.teams ?? NO_GROUPS;
    this.policy = new PolicyService({ config: t.policy, store, teams: groups, log: this.log, extraGroups: () => n.walls.groupsOf(t.id), domainBudget: n.domainBudget, tenant: t.id });
    this.federation = new TenantFederationPolicy({ tenant: t.id, walls: n.walls, policy: this.policy, store, peerUser: n.peerUser, log: this.log });
    const limits: StanzaLimits = { maxDepth: MAX_STANZA_DEPTH, maxElements: MAX_STANZA_ELEMENTS, maxBytes: c.xmpp.maxStanzaBytes };
    const createLink = () =>
      new ComponentLink({
        service: c.xmpp.service,
        domain: primary.domain,
        password: () => primary.password.reveal(),
        reconnectDelayMs: c.xmpp.reconnectDelayMs,
        limits,
        ids: n.ids,
        log: this.log,
        metrics: this.metrics,
      });
    if (n.cluster) {
      const { node, transport } = n.cluster;
      this.linkLease = node.lease(tenantName(t.id, 'xmpp-link'));
      this.link = new SharedXmppLink({
        mode: c.xmpp.links,
        ...(t.id === DEFAULT_TENANT ? {} : { path: `/${t.id}` }),
        nodeId: n.nodeId,
        createLink,
        lease: this.linkLease,
        membership: node.membership,
        transport,
        serving: () => node.serving(),
        callTimeoutMs: SETTINGS.linkCallTimeoutMs,
        limits,
        relayAnswer: (stanza) => void n.redis?.publish(node.keys.channel(tenantName(t.id, 'iq')), stanza).catch(() => undefined),
        log: this.log,
      });
    } else {
      this.linkLease = undefined;
      this.link = createLink();
    }
    this.sfb = t.sfb
      ? new SfbSide({
          tenant: t.id,
          config: t.sfb,
          componentDomain: primary.domain,
          store,
          xmpp: this.link,
          policy: this.policy,
          throttle: this.throttler,
          metrics: this.metrics,
          log: this.log,
          actors: c.actors,
          throttleConfig: t.throttle,
          outbox: { maxAttempts: SETTINGS.outboxMaxAttempts, backoffInitialMs: SETTINGS.outboxBackoffInitialMs, backoffMaxMs: SETTINGS.outboxBackoffMaxMs },
          version: n.version,
          lookups: this.lookups, // issue 17: homing lookups are paid from the same budget
        })
      : undefined;
    this.chores = new NodeDuties({
      store,
      subscriptions: this.teamsSide?.subscriptions,
      router: () => (n.router() ? this.router : undefined),
      retention: c.store.retention,
      holdsDuties: () => n.holdsDuties(),
      kickInbox: () => this.teamsSide?.processor.kick(),
      claimedElsewhere: (key) => this.sfb?.claimsOutbox(key) ?? false, // issue 17: an SfB pair's row
      kickPresence: () => {
        if (n.cluster) void n.redis?.publish(n.cluster.node.keys.channel(tenantName(t.id, 'presence')), '1').catch(() => undefined);
      },
      log: this.log,
    });
    this.settings = {
      componentDomain: primary.domain,
      maxTeamsHtmlBytes: SETTINGS.maxTeamsHtmlBytes,
      maxResources: c.xmpp.maxResourcesPerJid,
      outboxMaxAttempts: SETTINGS.outboxMaxAttempts,
      outboxBackoffInitialMs: SETTINGS.outboxBackoffInitialMs,
      outboxBackoffMaxMs: SETTINGS.outboxBackoffMaxMs,
      onRateExceeded: t.throttle.onExceeded,
      maxThrottleDelayMs: t.throttle.maxDelaySeconds * 1000,
      longMessages: c.xmpp.longMessages,
    };
  }

  /** Where its webhook listens (one listener may serve several tenants); none without Microsoft 365. */
  webhookListener(): { listen: string; tls: { certFile: string; keyFile: string } | undefined; webhook: WebhookServer } | undefined {
    const teams = this.t.teams;
    return teams && this.teamsSide && { listen: teams.webhook.listen, tls: teams.webhook.tls, webhook: this.teamsSide.webhook };
  }

  private nodeRouter(): ActorRouter {
    const r = this.n.router();
    if (!r) throw new Error('the gateway is not started');
    return r;
  }

  /** The tenant's Redis channels (inbox, iq, presence): the default tenant's names are unchanged. */
  channel(name: 'inbox' | 'iq' | 'presence'): string | undefined {
    return this.n.cluster?.node.keys.channel(tenantName(this.id, name));
  }

  /** A notification was committed: the node with the duties processes it (told through Redis when elsewhere). */
  inboxChanged(recorded: readonly InboundNotification[] = []): void {
    if (this.n.holdsDuties()) {
      // This node processes them: their resource data starts decrypting now, while earlier ones are relayed.
      this.teamsSide?.processor.prefetch(recorded);
      this.teamsSide?.processor.kick();
    } else {
      const channel = this.channel('inbox');
      if (channel) void this.n.redis?.publish(channel, '1').catch(() => undefined);
    }
  }

  /** The domains' actors' decisions on new Teams accounts (issue 12 finding 5), within this tenant. */
  private accountQuota(): AccountQuota {
    return {
      perDomain: () => this.t.policy.maxAccountsPerDomain,
      total: () => this.n.maxAccounts(),
      // One domain's accounts are this tenant's; the total the licence caps is every tenant's.
      count: (domain) => (domain === undefined ? this.n.countAllAccounts() : this.store.countPuppets(domain)),
      counted: (domain, accounts) => this.metrics.accounts.set({ domain }, accounts),
      refused: (limit) => this.metrics.accountRefusals.inc({ limit }),
    };
  }

  /** A pair actor of this tenant; `ctx.key` is the key within the tenant. */
  pairActor(ctx: ActorContext): UserPairActor {
    const side = this.teamsSide;
    // Never routed to: without Teams the stanza router finds no Teams user, and no Graph notification arrives.
    if (!side) throw new NoTeamsError(this.id);
    return new UserPairActor(
      ctx,
      {
        store: this.store,
        teams: side.teams,
        presenceKeeper: side.presenceKeeper,
        directory: side.directory,
        xmpp: this.link,
        subscriptions: {
          puppetReady: (p) => side.subscriptions.ensureMessages(p),
          presenceInterestChanged: () => this.chores.syncPresence(),
        },
        policy: this.policy,
        throttle: this.throttler,
        media: side.media,
        avatarHash: async (id) => {
          if (!this.t.cards.fields.includes('photo')) return undefined;
          try {
            return (await side.cards.card(id)).hash;
          } catch {
            return undefined; // XEP-0153 §4.3: no <photo/> child means "not ready to advertise"
          }
        },
        metrics: this.metrics,
        refusalLog: this.n.refusalLog,
        settings: this.settings,
        now: Date.now,
      },
      (message: PairMessage) => this.chores.tell(parsePair(ctx.key), message),
    );
  }

  /** A remote domain's actor within this tenant: the verdict is the tenant's whitelist within its walls. */
  domainActor(ctx: ActorContext): RemoteDomainActor {
    return new RemoteDomainActor(ctx, Date.now, (domain) => this.federation.domainAllowed(domain), this.accountQuota());
  }

  /** The tenant's /admin resources (whitelist, audit, accounts), mounted by the node's admin API. */
  adminApi(): ReturnType<typeof policyAdminApi> {
    this.admin ??= policyAdminApi('', this.policy, this.store, { perDomain: this.t.policy.maxAccountsPerDomain, total: () => this.n.maxAccounts() });
    return this.admin;
  }

  /** Builds the stanza router once the node's router exists, and routes the link's stanzas to it. */
  route(arrival: ArrivalOrder, bare: (jid: string | undefined) => string): void {
    const c = this.n.config;
    this.stanzaRouter = new StanzaRouter({
      tenant: this.id,
      componentDomain: this.settings.componentDomain,
      maxBodyBytes: c.xmpp.maxBodyBytes,
      version: this.n.version,
      xmpp: this.link,
      router: this.router,
      teams: this.teamsSide && { directory: this.teamsSide.directory, cards: this.teamsSide.cards },
      policy: this.federation,
      cardFields: new Set(this.t.cards.fields),
      sfb: this.sfb?.stanzas, // issue 17
      throttle: this.throttler,
      refusalLog: this.n.refusalLog,
      onRateExceeded: this.t.throttle.onExceeded,
      maxThrottleDelayMs: this.t.throttle.maxDelaySeconds * 1000,
      store: this.store,
      log: this.log,
      metrics: this.metrics,
      acceptor: new MessageAcceptor({
        store: this.store,
        xmpp: this.link,
        throttle: this.throttler,
        metrics: this.metrics,
        settings: { maxTeamsHtmlBytes: this.settings.maxTeamsHtmlBytes, longMessages: this.settings.longMessages, onRateExceeded: this.settings.onRateExceeded, maxThrottleDelayMs: this.settings.maxThrottleDelayMs },
        now: Date.now,
      }),
    });
    const stanzaRouter = this.stanzaRouter;
    this.link.on('stanza', (el) => void stanzaRouter.route(el, arrival.ticket(`${this.id}|${bare(el.attrs.from)}|${bare(el.attrs.to)}`)));
    this.link.on('online', () => {
      void this.chores.resyncAll();
      void this.sfb?.resyncAll(); // issue 17
    });
  }

  /**
   * Starts a tenant added while the node runs (issue 16), in the order the node starts its first ones: whitelist,
   * inbox, subscriptions and chores (its duties at once when this node holds the cluster's), then its XMPP link.
   */
  async startAdded(holdsDuties: boolean): Promise<void> {
    await this.policy.start();
    this.teamsSide?.start();
    this.chores.start();
    if (holdsDuties) this.chores.taken();
    await this.link.start();
  }

  /** A tenant being removed takes nothing new: its XMPP link closes, its inbox and chores stop. */
  async quiesce(): Promise<void> {
    this.chores.stop();
    await this.link.stop();
    await this.teamsSide?.processor.stop();
  }

  /**
   * Stops a tenant removed while the node runs, once quiesced and its actors passivated (by the node): its Graph
   * subscriptions deleted when `deleteSubscriptions` (the node holding the duties does it once for the cluster),
   * then everything it owns. Its store stays as it is: adding the tenant again finds its rows.
   */
  async stopRemoved(deleteSubscriptions: boolean): Promise<number> {
    const removed = deleteSubscriptions && this.teamsSide ? await this.teamsSide.subscriptions.removeAll() : 0;
    await this.stop();
    this.policy.leave();
    return removed;
  }

  /** Stops what the tenant owns, the store last. */
  async stop(): Promise<void> {
    this.chores.stop();
    await this.teamsSide?.stop();
    this.policy.stop();
    await this.throttler.stop();
    await this.lookups.stop();
  }
}

/** A Teams pair asked of a tenant that has no Microsoft 365 side (SfB Server only). */
export class NoTeamsError extends Error {
  override readonly name = 'NoTeamsError';
  constructor(readonly tenant: string) {
    super(`tenant ${tenant} has no Microsoft 365 side (no teams configuration): it has no Teams pairs`);
  }
}

/** No Entra groups without Microsoft 365: the configuration refuses group rules there (tenant-config.ts). */
const NO_GROUPS = { groupMemberIds: async (): Promise<string[]> => [] };

/** The tenant-less pair key an actor of this tenant was given. */
function parsePair(key: string): { teamsUserId: string; remoteJid: string } {
  const bar = key.indexOf('|');
  return { teamsUserId: key.slice(0, bar), remoteJid: key.slice(bar + 1) };
}
