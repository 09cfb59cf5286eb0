/**
 * The composition root of one gateway node (DESIGN.md): builds the edges (XMPP component link, Graph webhook,
 * admin endpoint), the actor supervisors and the router, the Graph adapter and the store, and starts and stops
 * them in an order that loses nothing: the store first and last, the webhook before any subscription is made
 * (Graph validates it), the XMPP link last in and first out.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { RemoteDomainActor, type AccountQuota, type DomainMessage, type DomainReply } from './actors/remote-domain-actor.js';
import { UserPairActor, type Outcome, type PairMessage, type PairSettings } from './actors/user-pair-actor.js';
import { pairKey, parsePairKey } from './actors/actor-keys.js';
import { NodeDuties } from './gateway/node-duties.js';
import { SETTINGS } from './gateway/settings.js';
import { readinessChecks } from './gateway/readiness.js';
import { LocalRouter, type ActorRouter } from './cluster/actor-router.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { LoneNodeLicence } from './cluster/lone-node-licence.js';
import { ClusterRouter } from './cluster/cluster-router.js';
import type { LeaderLease } from './cluster/leader-lease.js';
import type { NodeRole } from './cluster/membership.js';
import { NodeTransport } from './cluster/node-transport.js';
import { describeError } from './cluster/remote-errors.js';
import { SharedXmppLink } from './cluster/shared-xmpp-link.js';
import { clusterStatus } from './cluster/cluster-status.js';
import { bareJid, tryParseJid } from './protocol/jid.js';
import type { RuntimeConfig } from './config/load.js';
import { AdminServer } from './observability/admin-server.js';
import { ActivitySummary } from './observability/activity-summary.js';
import { createLogger, errorMessage, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { refusalLogBudget } from './observability/log-budget.js';
import { openStore } from './store/open-store.js';
import { timedStore } from './store/timed-store.js';
import { Tracing } from './observability/tracing.js';
import { logLevelAdminApi } from './observability/log-level-api.js';
import type { Store } from './store/store.js';
import { ActorRuntime } from './supervisors/actor-runtime.js';
import { ActorSupervisor } from './supervisors/actor-supervisor.js';
import { restartPolicyFor } from './supervisors/restart-policy.js';
import { Directory } from './teams/directory.js';
import { CredentialGraphClients } from './teams/graph-clients.js';
import { GraphTeamsAdapter } from './teams/graph-teams-adapter.js';
import { GraphPacer } from './teams/graph-pacing.js';
import { PresenceKeeper } from './teams/presence-keeper.js';
import { NotificationProcessor } from './teams/notification-processor.js';
import { SubscriptionManager } from './teams/subscription-manager.js';
import { WebhookServer, splitHostPort } from './teams/webhook-server.js';
import { ValidationTokenVerifier } from './teams/validation-token-verifier.js';
import { DEFAULT_MEDIA_MAX_BYTES, MediaProxy } from './teams/media-proxy.js';
import { deriveMediaKey } from './teams/media-token.js';
import { ComponentLink } from './xmpp/component-link.js';
import { MAX_STANZA_DEPTH, MAX_STANZA_ELEMENTS, type StanzaLimits } from './xmpp/bounded-parser.js';
import { IqIds } from './xmpp/iq-ids.js';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { PolicyService } from './policy/policy-service.js';
import { ProfileCache } from './teams/profile-cache.js';
import { policyAdminApi } from './policy/admin-api.js';
import { Throttler } from './policy/throttle.js';
import { ThrottledLookups } from './policy/lookup-budget.js';
import { StanzaRouter } from './xmpp/stanza-router.js';
import { ConsoleService } from './console/console-service.js';
import { SfbSide } from './sfb/sfb-side.js'; // issue 17
import type { SfbPairReply } from './actors/sfb-pair/messages.js'; // issue 17
import { MessageAcceptor } from './xmpp/accept.js';
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
  readonly nodeId?: string;
  /** Where log lines go (stdout by default). */
  readonly logStream?: NodeJS.WritableStream;
}

export class Gateway {
  readonly log: Logger;
  readonly metrics = new Metrics();
  private readonly tracing: Tracing;
  private readonly store: Store;
  private readonly link: ComponentLink | SharedXmppLink;
  readonly nodeId: string;
  private readonly cluster: ClusterNode | undefined;
  /** A node alone: its licence, or evaluation mode. */
  private readonly lone: LoneNodeLicence | undefined;
  private readonly transport: NodeTransport | undefined;
  private readonly duties: LeaderLease | undefined;
  private readonly linkLease: LeaderLease | undefined;
  private clusterRouter: ClusterRouter | undefined;
  private fencing: NodeJS.Timeout | undefined;
  private subscriber: Redis | undefined;
  private readonly webhook: WebhookServer;
  private readonly media: MediaProxy;
  private readonly admin: AdminServer;
  private readonly console: ConsoleService | undefined;
  private readonly subscriptions: SubscriptionManager;
  private readonly processor: NotificationProcessor;
  private runtime: ActorRuntime | undefined;
  private pairs: ActorSupervisor<PairMessage, Outcome> | undefined;
  private domains: ActorSupervisor<DomainMessage, DomainReply> | undefined;
  private router: ActorRouter | undefined;
  private stanzaRouter: StanzaRouter | undefined;
  private readonly chores: NodeDuties;
  private readonly activity: ActivitySummary;
  private readonly teams: GraphTeamsAdapter;
  private readonly directory: Directory;
  readonly policy: PolicyService;
  private readonly cards: ProfileCache;
  private readonly throttler: Throttler;
  private readonly lookups: ThrottledLookups;
  private readonly redis: Redis | undefined;
  private readonly graphRedis: Bottleneck.IORedisConnection | undefined;
  /** Issue 17: the Skype for Business side (src/sfb), when `sfb` is configured. */
  private readonly sfb: SfbSide | undefined;
  private readonly pacer: GraphPacer;
  private readonly presenceKeeper: PresenceKeeper;

  /** Opens the store (running its migrations) and builds the node; start() connects it. */
  static async create(o: GatewayOptions): Promise<Gateway> {
    return new Gateway(o, await openStore(o.config.store));
  }

  private constructor(
    private readonly o: GatewayOptions,
    store: Store,
  ) {
    const c = o.config;
    const nodeId = c.cluster.nodeId ?? o.nodeId ?? `${hostname().replace(/[^A-Za-z0-9._-]/gu, '-').slice(0, 40)}-${randomUUID().slice(0, 6)}`;
    this.nodeId = nodeId;
    this.log = createLogger({ level: c.log.level, nodeId, ...(o.logStream ? { stream: o.logStream } : {}) });
    this.tracing = Tracing.start({ endpoint: c.tracing.otlpEndpoint, headers: c.tracing.headers, nodeId, version: packageVersion() });
    this.store = timedStore(store, this.metrics);
    this.activity = new ActivitySummary(this.metrics, this.log, SETTINGS.activitySummaryMs);
    // Cluster-wide rate limits live in Redis when it is configured (bottleneck's clustering).
    this.redis = c.cluster.redis ? new Redis(c.cluster.redis.url, { maxRetriesPerRequest: 3, lazyConnect: false }) : undefined;
    this.redis?.on('error', (err: Error) => this.log.warn('Redis connection error', { error: err.message }));
    this.graphRedis = this.redis ? new Bottleneck.IORedisConnection({ client: this.redis }) : undefined;
    // Every Graph call of this tenant waits its turn under Graph's documented limits (DESIGN.md decision 8).
    this.pacer = new GraphPacer(
      {
        share: c.teams.pacing.share,
        tenantSize: c.teams.pacing.tenantSize,
        limitScale: c.teams.pacing.limitScale,
        chatMessagePostsPerSecond: c.throttle.graphRequestsPerSecond,
        tenantId: c.teams.tenantId,
        redis: this.graphRedis,
      },
      this.metrics,
    );
    const clients = new CredentialGraphClients(
      {
        tenantId: c.teams.tenantId,
        clientId: c.teams.clientId,
        clientSecret: c.teams.clientSecret,
        clientCertificatePath: c.teams.clientCertificatePath,
        authorityHost: c.teams.authorityHost,
        graphBaseUrl: c.teams.graphBaseUrl,
        disableInstanceDiscovery: c.teams.disableInstanceDiscovery,
        puppetPasswordSecret: c.teams.puppets.passwordSecret,
      },
      this.metrics,
      this.pacer,
    );
    this.teams = new GraphTeamsAdapter({
      clients,
      clientId: c.teams.clientId,
      tenantId: c.teams.tenantId,
      graphBaseUrl: c.teams.graphBaseUrl,
      puppets: {
        upnDomain: c.teams.puppets.upnDomain,
        passwordSecret: () => c.teams.puppets.passwordSecret.reveal(),
        displayNameSuffix: c.teams.puppets.displayNameSuffix,
        groupId: c.teams.puppets.groupId,
        usageLocation: c.teams.puppets.usageLocation,
        provisioningMs: c.teams.puppets.provisioningMinutes * 60_000,
      },
      log: this.log,
    });
    this.presenceKeeper = new PresenceKeeper(
      this.teams,
      { sessionMinutes: c.teams.puppets.presenceSessionMinutes, keepAliveMs: c.teams.puppets.presenceKeepAliveSeconds * 1000 },
      this.metrics,
      this.log,
    );
    this.cards = new ProfileCache(this.teams, c.cards.cacheSeconds * 1000, c.cards.fields.includes('photo'));
    this.policy = new PolicyService({ config: c.policy, store: this.store, teams: this.teams, log: this.log });
    this.throttler = new Throttler(c.throttle, this.metrics, this.redis?.duplicate());
    this.lookups = new ThrottledLookups(c.throttle.lookups, this.metrics, this.redis?.duplicate());
    this.directory = new Directory({
      teams: this.teams,
      book: { defaultUpnDomain: c.teams.defaultUpnDomain },
      componentDomain: c.xmpp.domain,
      puppetUpnDomain: c.teams.puppets.upnDomain,
      allowGuests: c.teams.allowGuests,
      budget: this.lookups,
      negativeTtlMs: c.throttle.lookups.negativeCacheSeconds * 1000,
      onMismatch: (asked, got) => this.log.warn('Graph answered a user lookup with another user; treated as no such user', { asked, got }),
    });
    const limits: StanzaLimits = { maxDepth: MAX_STANZA_DEPTH, maxElements: MAX_STANZA_ELEMENTS, maxBytes: c.xmpp.maxStanzaBytes };
    // In a cluster every node recognises the others' iq ids (IqIds), so that only those answers cross nodes.
    const ids = this.redis && c.cluster.secret ? IqIds.fromSecret(c.cluster.secret.reveal()) : IqIds.random();
    const createLink = () =>
      new ComponentLink({
        service: c.xmpp.service,
        domain: c.xmpp.domain,
        password: () => c.xmpp.password.reveal(),
        reconnectDelayMs: c.xmpp.reconnectDelayMs,
        limits,
        ids,
        log: this.log,
        metrics: this.metrics,
      });
    if (this.redis && c.cluster.secret) {
      // A cluster (DESIGN.md "cluster"): membership, licence seat, placement, and the link shared or per node.
      const [host, port] = splitHostPort(c.cluster.listen);
      const tls = c.cluster.tls;
      this.transport = new NodeTransport({
        host,
        port,
        secret: c.cluster.secret.reveal(),
        nodeId,
        log: this.log,
        describeError,
        tls: tls ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), ca: readFileSync(tls.caFile) } : undefined,
      });
      this.cluster = new ClusterNode({
        redis: this.redis,
        name: c.cluster.name,
        nodeId,
        rpcUrl: c.cluster.advertiseUrl ?? `${tls ? 'https' : 'http'}://${c.cluster.listen}`,
        version: packageVersion(),
        leaseMs: c.cluster.leaseSeconds * 1000,
        licenceFile: c.cluster.licence.file,
        publicKeys: c.cluster.licence.publicKeys,
        tenantId: c.teams.tenantId,
        store: this.store,
        metrics: this.metrics,
        log: this.log,
        actorCount: () => (this.pairs?.keys().length ?? 0) + (this.domains?.keys().length ?? 0) + (this.sfb?.supervisor?.keys().length ?? 0),
        roles: () => this.roles(),
      });
      this.duties = this.cluster.lease('duties');
      this.linkLease = this.cluster.lease('xmpp-link');
      this.link = new SharedXmppLink({
        mode: c.xmpp.links,
        nodeId,
        createLink,
        lease: this.linkLease,
        membership: this.cluster.membership,
        transport: this.transport,
        serving: () => this.cluster?.serving() ?? false,
        callTimeoutMs: SETTINGS.linkCallTimeoutMs,
        limits,
        relayAnswer: (stanza) => {
          if (this.cluster) void this.redis?.publish(this.cluster.keys.channel('iq'), stanza).catch(() => undefined);
        },
        log: this.log,
      });
    } else {
      this.link = createLink();
      // Alone, a node serves under its licence, or in evaluation mode without one (docs/licensing.md).
      this.lone = new LoneNodeLicence({
        file: c.cluster.licence.file,
        publicKeys: c.cluster.licence.publicKeys,
        tenantId: c.teams.tenantId,
        log: this.log,
        onChange: (mode) => {
          this.metrics.evaluationMode.set(mode.mode === 'evaluation' ? 1 : 0);
          this.policy.setDomainLimit(this.lone?.maxRemoteDomains());
        },
      });
    }
    // ---- issue 17: the Skype for Business side ----
    this.sfb = c.sfb
      ? new SfbSide({
          config: c.sfb,
          componentDomain: c.xmpp.domain,
          store: this.store,
          xmpp: this.link,
          policy: this.policy,
          throttle: this.throttler,
          metrics: this.metrics,
          log: this.log,
          actors: c.actors,
          throttleConfig: c.throttle,
          outbox: { maxAttempts: SETTINGS.outboxMaxAttempts, backoffInitialMs: SETTINGS.outboxBackoffInitialMs, backoffMaxMs: SETTINGS.outboxBackoffMaxMs },
          version: packageVersion(),
        })
      : undefined;
    // Rich notifications: the first configured certificate is the one subscriptions use; all of them decrypt.
    const certificates = c.teams.webhook.richNotifications?.certificates ?? [];
    const current = certificates[0];
    this.subscriptions = new SubscriptionManager({
      api: this.teams,
      store: this.store,
      publicUrl: c.teams.webhook.publicUrl,
      subscriptionMinutes: c.teams.subscriptionMinutes,
      renewBeforeMinutes: c.teams.renewBeforeMinutes,
      log: this.log,
      active: () => this.holdsDuties(),
      certificate: current && { certificate: current.certificateBase64, certificateId: current.id },
      presenceGap: (ids) => void this.processor.refreshPresence(ids),
    });
    this.chores = new NodeDuties({
      store: this.store,
      subscriptions: this.subscriptions,
      router: () => this.router,
      retention: c.store.retention,
      holdsDuties: () => this.holdsDuties(),
      kickInbox: () => this.processor.kick(),
      claimedElsewhere: (key) => this.sfb?.claimsOutbox(key) ?? false, // issue 17: an SfB pair's row
      kickPresence: () => {
        if (this.cluster) void this.redis?.publish(this.cluster.keys.channel('presence'), '1').catch(() => undefined);
      },
      log: this.log,
    });
    this.processor = new NotificationProcessor({
      store: this.store,
      teams: this.teams,
      router: { pair: (k, m, e) => this.requireRouter().pair(k, m, e), domain: (d, m, e) => this.requireRouter().domain(d, m, e) },
      subscriptions: this.subscriptions,
      catchUp: (puppetUserId, since) => this.chores.catchUpPuppet(puppetUserId, since),
      certificates: new Map(certificates.map((cert) => [cert.id, cert])),
      currentCertificateId: current?.id,
      profileChanged: (userId) => this.cards.invalidate(userId),
      log: this.log,
      metrics: this.metrics,
      maxAttempts: SETTINGS.inboxMaxAttempts,
      backoffInitialMs: SETTINGS.inboxBackoffInitialMs,
      backoffMaxMs: SETTINGS.inboxBackoffMaxMs,
      pollIntervalMs: SETTINGS.inboxPollMs,
      active: () => this.holdsDuties(),
      postedHere: (chatId, messageId) => this.teams.postedHere(chatId, messageId),
    });
    // Media links (Teams inline images): every node derives the same key, so any node serves any link.
    this.media = new MediaProxy({
      publicUrl: c.teams.webhook.publicUrl,
      key: deriveMediaKey((c.teams.webhook.mediaSecret ?? c.teams.clientSecret ?? c.teams.puppets.passwordSecret).reveal()),
      linkHours: c.teams.webhook.mediaLinkHours,
      maxBytes: DEFAULT_MEDIA_MAX_BYTES,
      puppetByUserId: (id) => this.store.getPuppetByUserId(id),
      source: this.teams,
      log: this.log,
      metrics: this.metrics,
    });
    const verifier = current ? new ValidationTokenVerifier({ authorityHost: c.teams.authorityHost, tenantId: c.teams.tenantId, clientId: c.teams.clientId, log: this.log }) : undefined;
    this.webhook = new WebhookServer({
      listen: c.teams.webhook.listen,
      publicUrl: c.teams.webhook.publicUrl,
      tls: c.teams.webhook.tls,
      store: this.store,
      log: this.log,
      metrics: this.metrics,
      onRecorded: () => this.inboxChanged(),
      accepting: () => this.cluster?.mayRecordNotifications() ?? true,
      media: this.media,
      tenantId: c.teams.tenantId,
      maxNotificationsPerRequest: c.teams.webhook.maxNotificationsPerRequest,
      verifyValidationTokens: verifier && ((tokens) => verifier.verify(tokens)),
      lifecycleReplayMs: c.teams.webhook.lifecycleReplaySeconds * 1000,
      postedHere: (chatId, messageId) => this.teams.postedHere(chatId, messageId),
    });
    // The operator console (issue 18), served by the admin endpoint.
    this.console = c.console.enabled
      ? new ConsoleService({
          config: c,
          nodeId,
          version: packageVersion(),
          store: this.store,
          policy: this.policy,
          metrics: this.metrics,
          log: this.log,
          redis: this.redis,
          cluster: this.cluster,
          readiness: () => this.admin.readiness(),
          roles: () => this.roles(),
          wakePair: (pair) => this.tell(pairKey(pair), { type: 'drain', requeued: true }),
          inboxChanged: () => this.inboxChanged(),
          groupMemberIds: (groupId) => this.teams.groupMemberIds(groupId),
        })
      : undefined;
    const [adminHost, adminPort] = splitHostPort(c.admin.listen);
    this.admin = new AdminServer({
      host: adminHost,
      port: adminPort,
      metrics: this.metrics,
      log: this.log,
      api: c.admin.token
        ? logLevelAdminApi(
            policyAdminApi(c.admin.token.reveal(), this.policy, this.store, { perDomain: c.policy.maxAccountsPerDomain, total: () => this.lone?.maxAccounts() }),
            this.log,
            this.store,
            nodeId,
          )
        : undefined,
      checks: {
        ...readinessChecks({ linkOnline: () => this.link.isOnline(), store: this.store, appTokenOk: () => clients.appTokenOk(), redis: this.redis, cluster: this.cluster }),
        ...(this.sfb ? { sfb: () => this.sfb?.listening || 'the SfB trusted application is not listening' } : {}), // issue 17
      },
      details: () => ({ node: nodeId, licence: this.cluster ? this.cluster.licence() : this.lone?.view() }),
      views: this.cluster ? { '/cluster': () => this.clusterView() } : {},
      console: this.console,
    });
  }

  /** What the domains' actors need to decide on new Teams accounts (issue 12 finding 5). */
  private accountQuota(): AccountQuota {
    return {
      perDomain: () => this.o.config.policy.maxAccountsPerDomain,
      total: () => this.lone?.maxAccounts(),
      count: (domain) => this.store.countPuppets(domain),
      counted: (domain, accounts) => this.metrics.accounts.set({ domain }, accounts),
      refused: (limit) => this.metrics.accountRefusals.inc({ limit }),
    };
  }

  /** Cluster-wide duties (inbox, subscription renewal, outbox sweep, retention) run on one node; alone, here. */
  private holdsDuties(): boolean {
    return this.duties ? this.duties.isHeld : true;
  }

  private roles(): NodeRole[] {
    const roles: NodeRole[] = [];
    if (this.link instanceof SharedXmppLink ? this.link.holdsLink() : this.link.isOnline()) roles.push('xmpp-link');
    if (this.duties?.isHeld) roles.push('duties');
    return roles;
  }

  /** A notification was committed: the node with the duties processes it (told through Redis when elsewhere). */
  private inboxChanged(): void {
    if (this.holdsDuties()) this.processor.kick();
    else if (this.cluster) void this.redis?.publish(this.cluster.keys.channel('inbox'), '1').catch(() => undefined);
  }

  private async clusterView(): Promise<unknown> {
    if (!this.redis || !this.cluster) return {};
    return clusterStatus(this.redis, this.cluster.keys);
  }

  private requireRouter(): ActorRouter {
    if (!this.router) throw new Error('the gateway is not started');
    return this.router;
  }

  get adminPort(): number {
    return this.admin.port;
  }

  async start(): Promise<void> {
    const c = this.o.config;
    this.runtime = await ActorRuntime.start(this.log);
    const settings: PairSettings = {
      componentDomain: c.xmpp.domain,
      maxTeamsHtmlBytes: SETTINGS.maxTeamsHtmlBytes,
      maxResources: c.xmpp.maxResourcesPerJid,
      outboxMaxAttempts: SETTINGS.outboxMaxAttempts,
      outboxBackoffInitialMs: SETTINGS.outboxBackoffInitialMs,
      outboxBackoffMaxMs: SETTINGS.outboxBackoffMaxMs,
      onRateExceeded: c.throttle.onExceeded,
      maxThrottleDelayMs: c.throttle.maxDelaySeconds * 1000,
      longMessages: c.xmpp.longMessages,
    };
    // One budget of log lines about refused input for the node's router and pairs.
    const refusalLog = refusalLogBudget(this.log);
    const onEscalate = (kind: string, key: string, error: unknown) =>
      this.log.error('actor escalated to the node supervisor', { actorKind: kind, actorKey: key, error: errorMessage(error) });
    this.pairs = new ActorSupervisor<PairMessage, Outcome>({
      kind: 'user-pair',
      runtime: this.runtime,
      policy: restartPolicyFor(c.actors, 'userPair'),
      idleMs: c.actors.idleSeconds * 1000,
      metrics: this.metrics,
      log: this.log,
      onEscalate,
      onStopped: (key) => this.clusterRouter?.released('user-pair', key),
      factory: (ctx) =>
        new UserPairActor(
          ctx,
          {
            store: this.store,
            teams: this.teams,
            presenceKeeper: this.presenceKeeper,
            directory: this.directory,
            xmpp: this.link,
            subscriptions: {
              puppetReady: (p) => this.subscriptions.ensureMessages(p),
              presenceInterestChanged: () => this.chores.syncPresence(),
            },
            policy: this.policy,
            throttle: this.throttler,
            media: this.media,
            avatarHash: async (id) => {
              if (!c.cards.fields.includes('photo')) return undefined;
              try {
                return (await this.cards.card(id)).hash;
              } catch {
                return undefined; // XEP-0153 §4.3: no <photo/> child means "not ready to advertise"
              }
            },
            metrics: this.metrics,
            refusalLog,
            settings,
            now: Date.now,
          },
          (message) => this.tell(ctx.key, message),
        ),
    });
    this.domains = new ActorSupervisor<DomainMessage, DomainReply>({
      kind: 'remote-domain',
      runtime: this.runtime,
      policy: restartPolicyFor(c.actors, 'remoteDomain'),
      idleMs: c.actors.idleSeconds * 1000,
      metrics: this.metrics,
      log: this.log,
      onEscalate,
      onStopped: (key) => this.clusterRouter?.released('remote-domain', key),
      factory: (ctx) => new RemoteDomainActor(ctx, Date.now, (domain) => this.policy.domainAllowed(domain), this.accountQuota()),
    });
    const sfbPairs = this.sfb?.supervise(this.runtime, onEscalate, (key) => this.clusterRouter?.released('sfb-pair', key)); // issue 17
    if (this.cluster && this.transport) {
      const cluster = this.cluster;
      this.clusterRouter = new ClusterRouter({
        nodeId: this.nodeId,
        pairs: this.pairs,
        domains: this.domains,
        sfbPairs: sfbPairs as never, // issue 17
        membership: cluster.membership,
        directory: cluster.directory,
        transport: this.transport,
        serving: () => cluster.serving(),
        // A dead node's keys are free once its lease lapsed; messages for them wait that long and a bit more.
        deliveryDeadlineMs: c.cluster.leaseSeconds * 2000 + 5_000,
        callTimeoutMs: SETTINGS.actorCallTimeoutMs,
        wakeMessage: (kind) => (kind === 'remote-domain' ? ({ type: 'stats' } satisfies DomainMessage) : ({ type: 'drain' } satisfies PairMessage)),
        metrics: this.metrics,
        log: this.log,
      });
      this.router = this.clusterRouter;
    } else {
      this.router = new LocalRouter(this.pairs, this.domains);
    }
    // issue 17: SfB pair actors, placed by the cluster router like the others (or the local supervisor alone).
    const clusterRouter = this.clusterRouter;
    if (sfbPairs) this.sfb?.routeThrough(clusterRouter ? (k, m, e) => clusterRouter.actor('sfb-pair', k, m, e) as Promise<SfbPairReply> : (k, m, e) => sfbPairs.ask(k, m, e));
    this.stanzaRouter = new StanzaRouter({
      componentDomain: c.xmpp.domain,
      maxBodyBytes: c.xmpp.maxBodyBytes,
      version: packageVersion(),
      xmpp: this.link,
      router: this.router,
      directory: this.directory,
      policy: this.policy,
      cards: this.cards,
      cardFields: new Set(c.cards.fields),
      sfb: this.sfb?.stanzas, // issue 17
      throttle: this.throttler,
      refusalLog,
      onRateExceeded: c.throttle.onExceeded,
      maxThrottleDelayMs: c.throttle.maxDelaySeconds * 1000,
      store: this.store,
      log: this.log,
      metrics: this.metrics,
      acceptor: new MessageAcceptor({
        store: this.store,
        xmpp: this.link,
        throttle: this.throttler,
        metrics: this.metrics,
        settings: { maxTeamsHtmlBytes: settings.maxTeamsHtmlBytes, longMessages: settings.longMessages, onRateExceeded: settings.onRateExceeded, maxThrottleDelayMs: settings.maxThrottleDelayMs },
        now: Date.now,
      }),
    });
    const stanzaRouter = this.stanzaRouter;
    // Stanzas between the same two addresses are committed and handed to their pair in arrival order (RFC 6120
    // §10.1 in-order processing) even when its actor lives on another node; their checks run at once.
    const arrival = new ArrivalOrder();
    this.link.on('stanza', (el) => void stanzaRouter.route(el, arrival.ticket(`${bare(el.attrs.from)}|${bare(el.attrs.to)}`)));
    this.link.on('online', () => {
      void this.chores.resyncAll();
      void this.sfb?.resyncAll(); // issue 17
    });

    this.lone?.start();
    await this.policy.start();
    await this.admin.start();
    await this.console?.start();
    if (this.cluster && this.transport && this.clusterRouter && this.duties && this.redis) await this.joinCluster(this.cluster, this.transport, this.clusterRouter, this.duties, this.redis);
    await this.webhook.start();
    this.processor.start();
    this.subscriptions.start(SETTINGS.subscriptionCheckMs);
    this.chores.start();
    if (!this.duties) this.chores.taken();
    // Duties only once the webhook listens (Graph validates it when a subscription is made), and before the link,
    // whose first connection may take long.
    this.duties?.start();
    await this.sfb?.start(); // issue 17: SIP from the pool is taken before the XMPP link comes up
    await this.link.start();
    this.activity.start();
    this.log.info('gateway node started', { domain: c.xmpp.domain, version: packageVersion(), node: this.nodeId, cluster: this.cluster !== undefined });
  }

  private async joinCluster(cluster: ClusterNode, transport: NodeTransport, router: ClusterRouter, duties: LeaderLease, redis: Redis): Promise<void> {
    await transport.start();
    duties.on('acquired', () => this.chores.taken());
    cluster.on('membership', () => {
      void router.rebalance().then((moved) => moved && this.log.info('actors handed off after a membership change', { moved }));
      void this.linkLease?.tick();
      void duties.tick();
      // A node left or died: the rows it had accepted wait in the store for their pairs' new owners.
      void this.chores.sweepOutbox();
    });
    cluster.on('lapsed', () => void router.fenceAll('this node\'s lease lapsed'));
    cluster.on('serving', (serving) => {
      this.policy.setDomainLimit(cluster.licence().maxRemoteDomains);
      // Not serving (licence, seat, lease): every actor goes, its directory entry released for the others.
      if (!serving) void router.handOffAll();
      if (this.link instanceof SharedXmppLink) void this.link.servingChanged();
      void duties.tick();
    });
    this.subscriber = redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (channel: string, text: string) => {
      if (channel === cluster.keys.channel('inbox')) this.processor.kick();
      else if (channel === cluster.keys.channel('presence')) void this.chores.presenceSyncRequested();
      else if (this.link instanceof SharedXmppLink) this.link.foreignAnswer(text);
    });
    await this.subscriber.subscribe(cluster.keys.channel('inbox'), cluster.keys.channel('iq'), cluster.keys.channel('presence'));
    await cluster.start();
    this.policy.setDomainLimit(cluster.licence().maxRemoteDomains);
    this.fencing = setInterval(() => void router.verifyOwnership().catch(() => undefined), this.o.config.cluster.leaseSeconds * 1000);
    this.fencing.unref();
  }

  /** A message an actor sends itself (retry timers): through the router, so it is supervised like any other. */
  private tell(key: string, message: PairMessage): void {
    this.chores.tell(parsePairKey(key), message);
  }

  async stop(): Promise<void> {
    const stoppingAt = Date.now();
    this.log.info('gateway node stopping');
    this.chores.stop();
    clearInterval(this.fencing);
    await this.activity.stop();
    if (this.cluster && this.clusterRouter) {
      // Graceful leave: no new keys come here; the actors finish their messages and move; then the link and the
      // duties go, so another node takes them at once rather than after the lease.
      await this.cluster.beginLeaving();
      await this.clusterRouter.handOffAll();
      this.log.info('actors handed off; leaving the cluster');
      // The inbox stops before the duties lease goes, so the next holder never drains alongside this node.
      await this.processor.stop();
      await this.duties?.stop();
    }
    await this.link.stop();
    await this.webhook.stop();
    await this.processor.stop();
    await this.subscriptions.stop();
    await this.pairs?.stop();
    await this.sfb?.stop(); // issue 17
    await this.domains?.stop();
    await this.runtime?.stop();
    await this.cluster?.leave();
    await this.transport?.stop();
    await this.subscriber?.quit().catch(() => undefined);
    this.policy.stop();
    this.lone?.stop();
    await this.throttler.stop();
    this.presenceKeeper.stop();
    await this.pacer.stop();
    await this.lookups.stop();
    await this.graphRedis?.disconnect(false).catch(() => undefined); // closes the client and bottleneck's subscriber
    await this.console?.stop();
    await this.admin.stop();
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
