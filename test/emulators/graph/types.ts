/**
 * Public types of the Microsoft Graph + Entra ID emulator (test and demo tool). Everything a caller of
 * startGraphEmulator() sees is declared here; the modules beside it implement one concern each.
 */

export interface EmulatedApp {
  clientId: string;
  clientSecret?: string;
  /** Allows ROPC (public client flows), as the app registration's "Allow public client flows" switch does. */
  allowPublicClient: boolean;
  /** Admin-consented application permissions (token claim `roles`). */
  applicationPermissions: string[];
  /** Admin-consented delegated permissions (token claim `scp`). */
  delegatedPermissions: string[];
  /** Web platform redirect URIs (the authorization code flow redirects only to these, exactly). */
  redirectUris?: string[];
  /**
   * The app manifest's groupMembershipClaims: 'SecurityGroup' puts the user's groups (transitive) in the groups claim
   * of ID and access tokens; default 'None', as a new registration has.
   */
  groupMembershipClaims?: 'None' | 'SecurityGroup';
  /**
   * PEM certificates registered on the app ("Certificates & secrets"): a client_assertion signed by the key of one
   * of them authenticates the app (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials).
   */
  certificates?: string[];
}

export interface EmulatedUser {
  /** Object id; a GUID is generated when absent. */
  id?: string;
  userPrincipalName: string;
  displayName: string;
  password?: string;
  givenName?: string;
  surname?: string;
  jobTitle?: string;
  mail?: string;
  companyName?: string;
  department?: string;
  officeLocation?: string;
  mobilePhone?: string;
  /** Learn: a string collection, but only one number can be set. */
  businessPhones?: string[];
  aboutMe?: string;
  /** Holds an active Teams licence; default true (users created through POST /users hold none, see directory.ts). */
  licensed?: boolean;
  /**
   * The profile photo, a JPEG or PNG (photos.ts: served by GET /users/{id}/photo/$value and at each HD size up to
   * its own by /photos/{size}/$value, scaled, in its own format).
   */
  photo?: Buffer;
}

/** The profile fields updateUser changes; undefined leaves one as it is. */
export interface EmulatedProfileFields {
  displayName?: string;
  jobTitle?: string | null;
  department?: string | null;
  officeLocation?: string | null;
  mobilePhone?: string | null;
  businessPhones?: string[] | null;
}

export interface EmulatedGroup {
  id: string;
  displayName: string;
  /** Direct members: user ids or UPNs, or ids of other groups (nesting; any order, cycles tolerated). */
  members?: string[];
  /** The group carries a Microsoft Teams licence: its direct members get one, `licenceAssignmentMs` after joining. */
  licensed?: boolean;
}

/**
 * One tenant (an organisation's Microsoft 365 directory): its id, domains, users, groups and app registrations, and
 * the timings and limits Graph applies in it. An app registered in several tenants (the same clientId) is one
 * multi-tenant app consented in each: its credentials (secret, certificates, public client flows) are the app's and
 * must be the same everywhere; its granted permissions are each tenant's
 * (https://learn.microsoft.com/en-us/entra/identity-platform/app-objects-and-service-principals).
 */
export interface EmulatedTenantOptions {
  tenantId: string;
  /** The organisation's name (GET /organization); default 'Emulated tenant'. */
  displayName?: string;
  /** The UPN domains POST /users accepts. A domain is verified in one tenant only. */
  verifiedDomains: string[];
  apps: EmulatedApp[];
  users: EmulatedUser[];
  /**
   * Groups: GET /groups/{id}/members and /transitiveMembers list them, POST /groups/{id}/members/$ref adds to them.
   */
  groups?: EmulatedGroup[];
  /** Profile photos by user principal name (or object id), in addition to EmulatedUser.photo. */
  photos?: Record<string, Buffer>;
  /** When lifecycle notifications happen by themselves (subscriptions.ts); shortened by tests. */
  lifecycle?: Partial<LifecycleTimings>;
  /**
   * Graph's service limits per app per tenant (service-limits.ts): on by default with the documented figures. A test
   * that needs more lifts one (null: unlimited, or another rule) and says why.
   */
  serviceLimits?: Partial<Record<import('./service-limits.js').LimitName, import('./service-limits.js').LimitRule | null>>;
  /** The limits per tenant for all apps (identity writes, 18,000 per 5 minutes), likewise. */
  serviceLimitsForAllApps?: Partial<Record<import('./service-limits.js').LimitName, import('./service-limits.js').LimitRule | null>>;
  /** The app presence session timeout (Learn: 5 minutes); a test of hours of presence scales it down. */
  presenceTimeoutMs?: number;
  /**
   * How long a user created by POST /users is not there yet (eventual consistency: it reads as 404, cannot be
   * referenced, signed in with ROPC or subscribed to); default 500.
   */
  userReplicationMs?: number;
  /** How long after joining a licensed group a new user's Teams licence becomes active; default 1000. */
  licenceAssignmentMs?: number;
  /** UPN domains that are verified but federated (ROPC does not work for them); the others are managed. */
  federatedDomains?: string[];
  /** Access token lifetime (expires_in); default 3599 as Entra ID issues. */
  tokenLifetimeSeconds?: number;
}

/** What the one server (the Graph host and the login host of every tenant) is configured with. */
export interface GraphServerOptions {
  tls: { key: string; cert: string };
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /**
   * How notifications are delivered (notifier.ts): Learn's timings by default (3 s timeout, slow over 2.9 s,
   * throttled at 10% slow, dropped at 15%, 10-minute delays and windows, retries for 4 hours). Tests shorten them.
   */
  delivery?: Partial<DeliveryTimings>;
  /** Shorthand for delivery.retryDelaysMs. */
  notificationRetryDelaysMs?: number[];
  /** Shorthand for delivery.timeoutMs. */
  notificationTimeoutMs?: number;
  /** How long the validation handshake may take; default 10000 (Learn: "within 10 seconds"). */
  validationTimeoutMs?: number;
  /**
   * Graph requires https notification URLs. The gateway's webhook listens on plain http on loopback in tests and
   * in the sandbox, so http://127.0.0.1 and http://localhost are accepted unless this is false. Default true.
   */
  allowHttpNotificationUrlOnLoopback?: boolean;
  /** The limits per app across all tenants (service-limits.ts: Teams' second column, identity, global); lifted likewise. */
  serviceLimitsAcrossTenants?: Partial<Record<import('./service-limits.js').LimitName, import('./service-limits.js').LimitRule | null>>;
  /** Added to the emulator's clock in its Date headers (a clock-skew test); default 0. */
  clockOffsetMs?: number;
  log?: (line: string) => void;
}

/** One tenant: the server's options and the tenant's side by side (a list of one). */
export interface GraphEmulatorOptions extends GraphServerOptions, EmulatedTenantOptions {}

/** Several tenants in one server; the first is the default of the emulator's own API. */
export interface MultiTenantEmulatorOptions extends GraphServerOptions {
  tenants: EmulatedTenantOptions[];
}

export interface EmulatedReaction {
  /** A unicode emoji ("💘") or a legacy name (like, angry, sad, laugh, heart, surprised), as set. */
  reactionType: string;
  displayName: string | null;
  createdDateTime: string;
  user: { id: string; displayName: string };
}

/** chatMessageAttachment (https://learn.microsoft.com/en-us/graph/api/resources/chatmessageattachment). */
export interface EmulatedAttachment {
  id: string;
  /** e.g. 'messageReference' (a quoted message; content is a JSON string), 'reference', a card type. */
  contentType: string;
  content: string | null;
  contentUrl: string | null;
  name: string | null;
  thumbnailUrl: string | null;
  teamsAppId: string | null;
}

export interface EmulatedMessage {
  id: string;
  chatId: string;
  createdDateTime: string;
  /** Changes with edits, reactions, deletes (Learn: "including when a reaction is added or removed"). */
  lastModifiedDateTime: string;
  /** Set by an edit of the body; null if never edited. */
  lastEditedDateTime: string | null;
  /** Set while soft-deleted. Graph then returns an empty body; this view keeps the stored text. */
  deletedDateTime: string | null;
  from: { userId: string; displayName: string };
  body: { contentType: 'html' | 'text'; content: string };
  attachments: EmulatedAttachment[];
  reactions: EmulatedReaction[];
}

export interface EmulatedChatMember {
  userId: string;
  upn: string;
  displayName: string;
  /** When the member last marked the chat read (markChatReadForUser), or null. */
  lastReadDateTime: string | null;
}

export interface EmulatedChat {
  id: string;
  chatType: 'oneOnOne';
  members: EmulatedChatMember[];
  messages: EmulatedMessage[];
}

/** The next `count` matching requests are processed at once but answered only after `delayMs` (a slow network). */
export interface SlowReplyRule {
  method?: string;
  path: RegExp | string;
  count: number;
  delayMs: number;
}

export interface ThrottleRule {
  method?: string;
  /** RegExp tested on the request path (with query), or a substring of it. */
  path: RegExp | string;
  count: number;
  retryAfterSeconds: number;
  status?: 429 | 503;
}

/**
 * The next `count` matching requests are refused with 403 Forbidden, as Graph refuses a request the tenant's policy
 * forbids (e.g. a Teams messaging policy or a consent revoked and granted again): a permanent failure for a test.
 */
export interface RefusalRule {
  method?: string;
  /** RegExp tested on the request path (with query), or a substring of it. */
  path: RegExp | string;
  count: number;
}

export interface EmulatedSubscription {
  id: string;
  resource: string;
  changeType: string;
  clientState: string | null;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  expirationDateTime: string;
  applicationId: string;
  /** The signed-in user (delegated) or the app's service principal (application). */
  creatorId: string;
  includeResourceData: boolean;
  /** The subscriber's id of its encryption certificate (with includeResourceData). */
  encryptionCertificateId: string | null;
  ownerKind: 'app' | 'delegated';
}

/** Change-notification delivery (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#throttling). */
export interface DeliveryTimings {
  /** A POST not answered within this is a failure (Learn: 3 s). */
  timeoutMs: number;
  /** An answer slower than this is slow (Learn: 2,900 ms). */
  slowMs: number;
  /** Slowness is judged once an endpoint received this many notifications (Learn: 100). */
  evaluateAfter: number;
  /** At this share of slow answers (percent) the endpoint is throttled (Learn: 10). */
  throttlePercent: number;
  /** At this share of slow answers (percent) a throttled endpoint's notifications are dropped (Learn: 15). */
  dropPercent: number;
  /** A throttled endpoint's notifications, and its failed ones, wait this long (Learn: 10 minutes). */
  throttleDelayMs: number;
  /** The counts of answers are flushed this often (Learn: 10 minutes). */
  windowMs: number;
  /** A notification not delivered within this is discarded (Learn: 4 hours). */
  retryForMs: number;
  /** Pauses between tries of a failed POST, the last one repeating (not documented). */
  retryDelaysMs: number[];
  /** Notifications in one POST (not documented). */
  maxItemsPerPost: number;
  /** POSTs in flight to one endpoint (not documented). */
  maxConcurrentPosts: number;
}

/**
 * Lifecycle notifications the emulator sends by itself
 * (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events). Learn gives no fixed cadence
 * ("Don't assume the frequency of authorization challenges"); these are the emulator's.
 */
export interface LifecycleTimings {
  /** reauthorizationRequired starts this long before the token that authorized a subscription expires. */
  reauthorizationLeadMs: number;
  /** ...and is sent again this often until the subscription is reauthorized. */
  reauthorizationIntervalMs: number;
  /** A chat-message subscription paused (never reauthorized) this long is removed, with subscriptionRemoved. */
  removeAfterPausedMs: number;
}

export interface DeliveryRecord {
  /** The tenant of the subscription. */
  tenantId?: string;
  subscriptionId: string;
  url: string;
  kind: 'change' | 'lifecycle';
  /** 1 for the first try. */
  attempt: number;
  /** Epoch milliseconds when the attempt started. */
  at: number;
  /** This subscription's notifications in the POST. */
  items?: number;
  /** How long the endpoint took to answer (or the timeout). */
  durationMs?: number;
  /** Slower than DeliveryTimings.slowMs: counts against the endpoint. */
  slow?: boolean;
  status?: number;
  error?: string;
  /** Set when the notification was discarded instead of sent: why. */
  dropped?: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  tokenKind: 'app' | 'delegated' | 'none';
  /** Epoch milliseconds when the request arrived. */
  at: number;
  /**
   * The tenant that answered: the one named in the path of an identity endpoint, or the tenant (tid) of a Graph
   * request's token; undefined when no tenant was (a malformed request, another tenant than the emulator's).
   */
  tenantId?: string;
  /**
   * Another emulated tenant whose object (user id or UPN, group, chat, subscription) the request named: Graph
   * answers it as not found (the request is served in `tenantId`), and a test of isolation expects none.
   */
  foreignTenantId?: string;
}

export interface PresenceView {
  availability: string;
  activity: string;
  statusMessage: string | undefined;
}

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface SendOptions {
  html?: boolean;
  replyTo?: string;
  files?: { name: string; url: string }[];
  images?: { contentType: string; bytes: Buffer }[];
}

/** A user as the emulator's own API lists it. */
export interface EmulatedUserSummary {
  id: string;
  userPrincipalName: string;
  displayName: string;
  accountEnabled: boolean;
  presence: PresenceView;
}

/** The emulator's own API on one tenant: acting as its Teams users, inspecting and steering it. Not part of Graph. */
export interface EmulatedTenant {
  readonly tenantId: string;
  readonly displayName: string;
  readonly verifiedDomains: readonly string[];
  /** The tenant's users (those not yet replicated included) and their presence. */
  listUsers(): EmulatedUserSummary[];
  /** Posts as a Teams user into the 1:1 chat with `to` (upn, id, or display-name prefix), creating it if needed. */
  /**
   * `replyTo`: quote that message of the chat, as replyWithQuote does (a messageReference attachment and its
   * <attachment> tag); `files`: file attachments ('reference', as a shared OneDrive/SharePoint file appears);
   * `images`: inline images, pasted after the text (hosted contents, each an <img> whose src is its Graph $value URL).
   */
  sendAs(user: string, to: string, text: string, opts?: SendOptions): Promise<EmulatedMessage>;
  /** The user's own Teams client presence session; availability Offline signs the client out. */
  setPresence(user: string, availability: string, activity: string): void;
  presenceOf(user: string): PresenceView;
  chatsOf(user: string): EmulatedChat[];
  /**
   * Acting as a Teams user on an existing message, as the Teams client does. `chat` names the chat: its id, the other
   * member of the 1:1 chat (upn, id, display-name prefix), or undefined/'' to find the message among the user's
   * chats. Editing and deleting are allowed to the sender only, reacting to any member; errors are plain Errors.
   * Each change notifies message subscriptions as the Graph call would (see subscriptions.ts).
   */
  editAs(user: string, chat: string | undefined, messageId: string, text: string, opts?: { html?: boolean }): Promise<EmulatedMessage>;
  /** Soft delete (Graph: softDelete). */
  deleteAs(user: string, chat: string | undefined, messageId: string): Promise<EmulatedMessage>;
  reactAs(user: string, chat: string | undefined, messageId: string, reactionType: string): Promise<EmulatedMessage>;
  unreactAs(user: string, chat: string | undefined, messageId: string, reactionType: string): Promise<EmulatedMessage>;
  /**
   * Sets (or with undefined removes) a user's profile photo, a JPEG or PNG (throws ImageError for bytes it cannot
   * decode); notifies user subscriptions ('updated').
   */
  setPhoto(user: string, photo: Buffer | undefined): void;
  user(userOrUpn: string): (EmulatedUser & { id: string }) | undefined;
  /**
   * Changes a user's profile as an administrator would (PATCH /users/{id}: the same validation, null clears a field
   * but displayName, businessPhones holds at most one number) and notifies user subscriptions ('updated', see
   * subscriptions.ts). setPhoto and Graph's PATCH /users/{id} and PUT .../photo/$value notify the same way.
   */
  updateUser(user: string, fields: EmulatedProfileFields): EmulatedUser & { id: string };
  /** Direct members' object ids (users and groups) in the order added; undefined for an unknown group. */
  groupMembers(groupId: string): string[] | undefined;
  /**
   * Changes a group's direct members at run time (next Graph request sees it). `member`: user id or UPN, or a group
   * id. Throws on an unknown group or member, on adding an existing member or a group to itself, and on removing
   * a non-member.
   */
  addGroupMember(groupId: string, member: string): void;
  removeGroupMember(groupId: string, member: string): void;
  throttle(rule: ThrottleRule): void;
  refuse(rule: RefusalRule): void;
  /** Requests answered 429 by the documented service limits (not by `throttle` rules), by limit. */
  throttledByLimits(): Record<string, number>;
  /** Delays the answers (not the processing) of matching requests: lets a test kill a client mid-request. */
  slowReplies(rule: SlowReplyRule): void;
  subscriptions(): readonly EmulatedSubscription[];
  deliveries(): readonly DeliveryRecord[];
  /** How an endpoint (a notification URL) has been answering in the current window, and whether it is throttled. */
  endpointHealth(url: string): { url: string; received: number; slow: number; state: 'normal' | 'throttled' | 'dropping' };
  fireLifecycle(subscriptionId: string, event: LifecycleEvent): Promise<void>;
  /** The requests this tenant answered (RequestRecord.tenantId). */
  requests(): readonly RequestRecord[];
}

/**
 * The emulator: one HTTPS origin that is the login host and the Graph host of every tenant, as Microsoft's are. Its
 * own API (EmulatedTenant) acts on the first tenant; tenant() names another.
 */
export interface GraphEmulator extends EmulatedTenant {
  /** https://127.0.0.1:<port> — both the authority host and the Graph base URL. */
  readonly url: string;
  /** Every tenant's id, the first (the default) first. */
  readonly tenants: readonly string[];
  /** A tenant by id or by one of its verified domains; throws for one the emulator does not have. */
  tenant(idOrDomain: string): EmulatedTenant;
  /** Every request the emulator answered, whatever the tenant. */
  requests(): readonly RequestRecord[];
  close(): Promise<void>;
}
