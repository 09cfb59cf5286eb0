/**
 * One tenant of the emulator: its directory, chats, photos, presence, subscriptions, token issuer, identity
 * endpoints, Graph routes, service limits and injected faults. A tenant shares nothing with another but what Microsoft
 * shares between tenants:
 * - the signing keys: Entra signs every tenant's tokens with the same keys, which each tenant's jwks_uri publishes
 *   (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-signature); a token's
 *   tenant is its tid and iss claims, which a resource checks
 *   (https://learn.microsoft.com/en-us/entra/identity-platform/howto-convert-app-to-be-multi-tenant);
 * - notification delivery: an endpoint is its URL whoever's subscriptions post there (notifier.ts);
 * - the service limits per app across all tenants (service-limits.ts).
 * Graph serves a request in the tenant of its token: another tenant's objects are not there (404), as they are not
 * in that tenant's directory.
 */
import { ChatStore } from './chats.js';
import { chatRoutes } from './chats-api.js';
import { Directory, type DirectoryUser } from './directory.js';
import { GraphRouter } from './graph-router.js';
import { groupRoutes } from './groups-api.js';
import type { JwtSigner } from './jwt.js';
import type { Notifier } from './notifier.js';
import { IdentityEndpoints } from './oidc.js';
import { PhotoStore } from './photos.js';
import { photoRoutes } from './photos-api.js';
import { PRESENCE_TIMEOUT_MS, PresenceService } from './presence.js';
import { presenceRoutes } from './presence-api.js';
import { ValidationTokens } from './resource-data.js';
import { documentedServiceLimits, documentedTenantLimits, LimitChain, ServiceLimits } from './service-limits.js';
import { DEFAULT_LIFECYCLE } from './subscription-lifecycle.js';
import { SubscriptionService } from './subscriptions.js';
import { subscriptionRoutes } from './subscriptions-api.js';
import { Throttle } from './throttle.js';
import { TokenService } from './tokens.js';
import type { EmulatedTenantOptions } from './types.js';
import { userRoutes } from './users-api.js';

/**
 * Eventual consistency (directory.ts): Learn gives no figure for how long a new user is not there yet or how long a
 * group-based licence takes. The defaults are short so that every test crosses both delays without waiting long;
 * test/e2e/eventual-consistency.test.ts lengthens them.
 */
export const DEFAULT_REPLICATION_MS = 500;
export const DEFAULT_LICENCE_MS = 1000;
const DEFAULT_DISPLAY_NAME = 'Emulated tenant';

/** What every tenant of one emulator uses together. */
export interface SharedServices {
  /** The emulator's origin: the login host and the Graph host. */
  readonly url: string;
  readonly signer: JwtSigner;
  readonly notifier: Notifier;
  /** The limits per app across all tenants. */
  readonly acrossTenants: ServiceLimits;
  readonly validationTimeoutMs: number;
  readonly allowHttpLoopback: boolean;
  readonly log: (line: string) => void;
}

export class Tenant {
  readonly id: string;
  readonly displayName: string;
  readonly verifiedDomains: readonly string[];
  readonly directory: Directory;
  readonly chats: ChatStore;
  readonly photos = new PhotoStore();
  readonly presence: PresenceService;
  readonly subscriptions: SubscriptionService;
  readonly tokens: TokenService;
  readonly validationTokens: ValidationTokens;
  readonly identity: IdentityEndpoints;
  readonly graph: GraphRouter;
  readonly throttle = new Throttle();
  readonly limits: LimitChain;

  constructor(o: EmulatedTenantOptions, s: SharedServices) {
    this.id = o.tenantId;
    this.displayName = o.displayName ?? DEFAULT_DISPLAY_NAME;
    this.verifiedDomains = [...o.verifiedDomains];
    const log = (line: string) => s.log(`[${o.tenantId}] ${line}`);
    this.tokens = new TokenService({ signer: s.signer, tenantId: o.tenantId, url: s.url, lifetimeSeconds: o.tokenLifetimeSeconds ?? 3599 });
    this.directory = new Directory(o.users, o.groups ?? [], o.verifiedDomains, {
      replicationMs: o.userReplicationMs ?? DEFAULT_REPLICATION_MS,
      licenceMs: o.licenceAssignmentMs ?? DEFAULT_LICENCE_MS,
    });
    const directory = this.directory;
    this.chats = new ChatStore(o.tenantId, (id) => directory.byId(id));
    for (const u of o.users) if (u.photo) this.photos.set((directory.find(u.userPrincipalName) as DirectoryUser).id, u.photo);
    for (const [key, bytes] of Object.entries(o.photos ?? {})) {
      const u = directory.find(key);
      if (!u) throw new Error(`tenant ${o.tenantId}: photos: no user '${key}'`);
      this.photos.set(u.id, bytes);
    }
    let subscriptions: SubscriptionService | undefined;
    this.validationTokens = new ValidationTokens(s.signer, o.tenantId);
    this.presence = new PresenceService((userId) => subscriptions?.presenceChanged(userId), Date.now, o.presenceTimeoutMs ?? PRESENCE_TIMEOUT_MS);
    subscriptions = new SubscriptionService({
      tenantId: o.tenantId,
      url: s.url,
      directory,
      chats: this.chats,
      notifier: s.notifier,
      presenceJson: (userId) => this.presence.json(userId, false),
      allowHttpLoopback: s.allowHttpLoopback,
      validationTimeoutMs: s.validationTimeoutMs,
      lifecycle: { ...DEFAULT_LIFECYCLE, ...o.lifecycle },
      log,
    });
    this.subscriptions = subscriptions;
    const subs = subscriptions;
    this.chats.onChange((change, chat, m) => subs.messageChanged(change, chat, m));
    directory.onUserChange((u) => subs.userChanged(u.id));
    this.photos.onChange((userId) => subs.userChanged(userId));
    this.limits = new LimitChain([
      new ServiceLimits({ ...documentedServiceLimits(o.users.length), ...o.serviceLimits }),
      new ServiceLimits({ ...documentedTenantLimits(), ...o.serviceLimitsForAllApps }, Date.now, 'tenant'),
      s.acrossTenants,
    ]);
    this.identity = new IdentityEndpoints({ tenantId: o.tenantId, url: s.url, apps: o.apps, directory, tokens: this.tokens, signer: s.signer });
    const org = { tenantId: o.tenantId, displayName: this.displayName, verifiedDomains: o.verifiedDomains, federatedDomains: o.federatedDomains ?? [] };
    this.graph = new GraphRouter(
      [
        ...userRoutes(directory, s.url, org),
        ...photoRoutes(directory, this.photos, s.url),
        ...groupRoutes(directory, s.url),
        ...chatRoutes(directory, this.chats, s.url),
        ...presenceRoutes(directory, this.presence, s.url),
        ...subscriptionRoutes(subs, s.url),
      ],
      this.tokens,
      this.throttle,
      this.limits,
    );
  }

  /** Whether `key` names an object of this tenant: a user (object id or UPN), a group, a chat or a subscription. */
  owns(key: string): boolean {
    return this.directory.find(key) !== undefined || this.directory.group(key) !== undefined || this.chats.get(key) !== undefined || this.subscriptions.exists(key);
  }

  /** Whether `domain` is one of the tenant's verified domains. */
  hasDomain(domain: string): boolean {
    return this.verifiedDomains.some((d) => d.toLowerCase() === domain.toLowerCase());
  }

  close(): void {
    this.presence.close();
    this.subscriptions.close();
  }
}
