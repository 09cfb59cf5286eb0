/**
 * One tenant's Microsoft 365 side (issue 16, issue 17: a tenant has Teams, SfB or both): its Graph credential,
 * clients and pacing (limiters of its own: a bulkhead, so one tenant's Graph outage or 429 storm waits in its own
 * queues only), its directory and cards, presence sessions, Graph subscriptions and inbox, its webhook path and
 * media links. A tenant without `teams` (SfB Server only) has none of these and makes no Graph call.
 */
import type { Redis } from 'ioredis';
import type { TeamsConfig } from '../config/tenant-config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ThrottledLookups } from '../policy/lookup-budget.js';
import type { InboundNotification, Store } from '../store/store.js';
import type { ActorRouter } from '../cluster/actor-router.js';
import { Directory } from '../teams/directory.js';
import { CredentialGraphClients } from '../teams/graph-clients.js';
import { GraphPacer } from '../teams/graph-pacing.js';
import { GraphTeamsAdapter } from '../teams/graph-teams-adapter.js';
import { DEFAULT_MEDIA_MAX_BYTES, MediaProxy } from '../teams/media-proxy.js';
import { deriveMediaKey } from '../teams/media-token.js';
import { NotificationProcessor } from '../teams/notification-processor.js';
import { PresenceKeeper } from '../teams/presence-keeper.js';
import { ProfileCache } from '../teams/profile-cache.js';
import { SubscriptionManager } from '../teams/subscription-manager.js';
import { ValidationTokenVerifier } from '../teams/validation-token-verifier.js';
import { WebhookServer } from '../teams/webhook-server.js';
import { SETTINGS } from './settings.js';

export interface TeamsSideOptions {
  readonly tenant: string;
  readonly teams: TeamsConfig;
  readonly store: Store;
  /** Graph chat-message posts per second this tenant allows itself (throttle.graphRequestsPerSecond). */
  readonly chatMessagePostsPerSecond: number;
  readonly showPhotos: boolean;
  readonly cardCacheMs: number;
  readonly componentDomain: string;
  readonly lookups: ThrottledLookups;
  readonly negativeLookupTtlMs: number;
  /** The node's Redis (a cluster): the Graph limits' buckets are shared there. */
  readonly redis: Redis | undefined;
  readonly router: ActorRouter;
  readonly holdsDuties: () => boolean;
  /** The node may record notifications (a leaving node refuses them, so Graph retries on another). */
  readonly accepting: () => boolean;
  readonly onRecorded: (recorded: readonly InboundNotification[]) => void;
  /** Notifications may have been lost since `since` (lifecycle events): the account's pairs catch up. */
  readonly catchUp: (puppetUserId: string, since: number) => Promise<void>;
  readonly metrics: Metrics;
  readonly log: Logger;
}

export class TeamsSide {
  readonly clients: CredentialGraphClients;
  readonly teams: GraphTeamsAdapter;
  readonly directory: Directory;
  readonly cards: ProfileCache;
  readonly presenceKeeper: PresenceKeeper;
  readonly subscriptions: SubscriptionManager;
  readonly processor: NotificationProcessor;
  readonly media: MediaProxy;
  readonly webhook: WebhookServer;
  private readonly pacer: GraphPacer;

  constructor(o: TeamsSideOptions) {
    const t = o.teams;
    // Every Graph call of this tenant waits its turn under Graph's documented limits (DESIGN.md decision 8), in
    // limiters of its own (keyed by its Entra tenant id): another tenant's backlog is not in its queues.
    this.pacer = new GraphPacer(
      { share: t.pacing.share, tenantSize: t.pacing.tenantSize, limitScale: t.pacing.limitScale, chatMessagePostsPerSecond: o.chatMessagePostsPerSecond, tenantId: t.tenantId, redis: o.redis },
      o.metrics,
    );
    // The tenant's own app registration: its token is never presented for another tenant's calls.
    this.clients = new CredentialGraphClients(
      {
        tenantId: t.tenantId,
        clientId: t.clientId,
        clientSecret: t.clientSecret,
        clientCertificatePath: t.clientCertificatePath,
        authorityHost: t.authorityHost,
        graphBaseUrl: t.graphBaseUrl,
        disableInstanceDiscovery: t.disableInstanceDiscovery,
        puppetPasswordSecret: t.puppets.passwordSecret,
      },
      o.metrics,
      this.pacer,
    );
    this.teams = new GraphTeamsAdapter({
      clients: this.clients,
      clientId: t.clientId,
      tenantId: t.tenantId,
      graphBaseUrl: t.graphBaseUrl,
      tenant: o.tenant,
      metrics: o.metrics,
      puppets: {
        upnDomain: t.puppets.upnDomain,
        passwordSecret: () => t.puppets.passwordSecret.reveal(),
        displayNameSuffix: t.puppets.displayNameSuffix,
        groupId: t.puppets.groupId,
        usageLocation: t.puppets.usageLocation,
        provisioningMs: t.puppets.provisioningMinutes * 60_000,
      },
      log: o.log,
    });
    this.presenceKeeper = new PresenceKeeper(
      this.teams,
      { sessionMinutes: t.puppets.presenceSessionMinutes, keepAliveMs: t.puppets.presenceKeepAliveSeconds * 1000 },
      o.metrics,
      o.log,
    );
    this.cards = new ProfileCache(this.teams, o.cardCacheMs, o.showPhotos);
    this.directory = new Directory({
      teams: this.teams,
      book: { defaultUpnDomain: t.defaultUpnDomain },
      componentDomain: o.componentDomain,
      puppetUpnDomain: t.puppets.upnDomain,
      allowGuests: t.allowGuests,
      budget: o.lookups,
      negativeTtlMs: o.negativeLookupTtlMs,
      onMismatch: (asked, got) => o.log.warn('Graph answered a user lookup with another user; treated as no such user', { asked, got }),
    });
    // Rich notifications: the first configured certificate is the one subscriptions use; all of them decrypt.
    const certificates = t.webhook.richNotifications?.certificates ?? [];
    const current = certificates[0];
    this.subscriptions = new SubscriptionManager({
      api: this.teams,
      store: o.store,
      publicUrl: t.webhook.publicUrl,
      subscriptionMinutes: t.subscriptionMinutes,
      renewBeforeMinutes: t.renewBeforeMinutes,
      log: o.log,
      active: o.holdsDuties,
      certificate: current && { certificate: current.certificateBase64, certificateId: current.id },
      presenceGap: (ids) => void this.processor.refreshPresence(ids),
    });
    // In a cluster other nodes post too: the inbox and the webhook ask the store which messages were relayed
    // (notification-processor.ts, webhook-server.ts); a lone node knows its own posts.
    const relayedAmong = o.redis ? (chatId: string, messageIds: readonly string[]) => o.store.relayedAmong(chatId, messageIds) : undefined;
    this.processor = new NotificationProcessor({
      tenant: o.tenant,
      store: o.store,
      teams: this.teams,
      router: o.router,
      subscriptions: this.subscriptions,
      catchUp: o.catchUp,
      certificates: new Map(certificates.map((cert) => [cert.id, cert])),
      currentCertificateId: current?.id,
      profileChanged: (userId) => this.cards.invalidate(userId),
      log: o.log,
      metrics: o.metrics,
      maxAttempts: SETTINGS.inboxMaxAttempts,
      backoffInitialMs: SETTINGS.inboxBackoffInitialMs,
      backoffMaxMs: SETTINGS.inboxBackoffMaxMs,
      pollIntervalMs: SETTINGS.inboxPollMs,
      postedHere: (chatId, messageId) => this.teams.postedHere(chatId, messageId),
      relayedAmong,
      active: o.holdsDuties,
    });
    // Media links (Teams inline images): every node derives the same key, so any node serves any link.
    this.media = new MediaProxy({
      publicUrl: t.webhook.publicUrl,
      key: deriveMediaKey((t.webhook.mediaSecret ?? t.clientSecret ?? t.puppets.passwordSecret).reveal()),
      linkHours: t.webhook.mediaLinkHours,
      maxBytes: DEFAULT_MEDIA_MAX_BYTES,
      puppetByUserId: (id) => o.store.getPuppetByUserId(id),
      source: this.teams,
      log: o.log,
      metrics: o.metrics,
    });
    const verifier = current ? new ValidationTokenVerifier({ authorityHost: t.authorityHost, tenantId: t.tenantId, clientId: t.clientId, log: o.log }) : undefined;
    // Its path on a listener maybe shared with other tenants (webhook-listeners.ts); only its own subscriptions
    // (in its own store) authenticate here, so another tenant's notification is refused as unknown.
    this.webhook = new WebhookServer({
      listen: t.webhook.listen,
      publicUrl: t.webhook.publicUrl,
      tls: t.webhook.tls,
      store: o.store,
      log: o.log,
      metrics: o.metrics,
      onRecorded: o.onRecorded,
      accepting: o.accepting,
      media: this.media,
      tenantId: t.tenantId,
      maxNotificationsPerRequest: t.webhook.maxNotificationsPerRequest,
      verifyValidationTokens: verifier && ((tokens) => verifier.verify(tokens)),
      lifecycleReplayMs: t.webhook.lifecycleReplaySeconds * 1000,
      postedHere: (chatId, messageId) => this.teams.postedHere(chatId, messageId),
      relayedAmong,
    });
  }

  /** Starts the inbox and the subscription renewal (the webhook listens through the node's listeners). */
  start(): void {
    this.processor.start();
    this.subscriptions.start(SETTINGS.subscriptionCheckMs);
  }

  /** Stops what it owns; Graph subscriptions stay (another node, or the next start, renews them). */
  async stop(): Promise<void> {
    await this.processor.stop();
    await this.subscriptions.stop();
    this.presenceKeeper.stop();
    await this.pacer.stop();
  }
}
