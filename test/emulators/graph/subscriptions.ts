/**
 * Change-notification subscriptions (https://learn.microsoft.com/en-us/graph/api/resources/subscription) for the
 * resources the gateway uses:
 * - /users/{id}/chats/getAllMessages and /chats/{id}/messages (chatMessage; created/updated/deleted;
 *   https://learn.microsoft.com/en-us/graph/teams-changenotifications-chatmessage),
 * - /communications/presences/{id} and /communications/presences?$filter=id in ('a','b') (presence; updated only;
 *   at most 650 ids; https://learn.microsoft.com/en-us/graph/changenotifications-for-presence),
 * - /users and /users/{id} (user; updated and deleted: "User and group change notifications support updated and
 *   deleted changeType", https://learn.microsoft.com/en-us/graph/api/resources/subscription; "Creation and
 *   soft-deletion of users also trigger the updated changeType",
 *   https://learn.microsoft.com/en-us/graph/change-notifications-overview#supported-resources).
 * Creation validates as Graph does, including the endpoint validation handshake
 * (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notification-endpoint-validation):
 * POST {url}?validationToken={token}, expecting 200, text/plain and the decoded token back within 10 seconds —
 * for the notificationUrl and for the lifecycleNotificationUrl alike.
 * Lifetimes: chatMessage at most 4320 minutes, and past 60 minutes only with a lifecycleNotificationUrl; presence
 * at most 60 minutes; user ("user, group, other directory resources") at most 41,760 minutes, "under 29 days"
 * (https://learn.microsoft.com/en-us/graph/change-notifications-overview#subscription-lifetime).
 * Expired subscriptions are deleted and deliver nothing.
 */
import { randomUUID } from 'node:crypto';
import type { ChatStore, MessageChange, StoredChat, StoredMessage } from './chats.js';
import type { Directory, DirectoryUser } from './directory.js';
import { faults, GraphFault } from './errors.js';
import { isGuid } from './ids.js';
import type { Notifier } from './notifier.js';
import { encryptResource, parseEncryptionCertificate, type EncryptionCertificate } from './resource-data.js';
import { post } from './outbound.js';
import { authorize, type Operation } from './permissions.js';
import type { AuthContext } from './tokens.js';
import { LifecycleClock, type AuthorizationState } from './subscription-lifecycle.js';
import type { EmulatedSubscription, LifecycleEvent, LifecycleTimings } from './types.js';

export type SubscriptionTarget =
  | { readonly kind: 'userChats'; readonly userId: string }
  | { readonly kind: 'chatMessages'; readonly chatId: string }
  | { readonly kind: 'presence'; readonly userIds: readonly string[] }
  /** userId undefined: every user (/users). */
  | { readonly kind: 'users'; readonly userId: string | undefined };

interface StoredSubscription extends AuthorizationState {
  readonly id: string;
  readonly resource: string;
  readonly target: SubscriptionTarget;
  readonly changeTypes: ReadonlySet<string>;
  readonly changeType: string;
  readonly clientState: string | null;
  notificationUrl: string;
  readonly lifecycleNotificationUrl: string | null;
  expiresAt: number;
  readonly applicationId: string;
  readonly creatorId: string;
  readonly ownerKind: 'app' | 'delegated';
  readonly ownerUserId: string | undefined;
  /** Set when the subscription asked for resource data (includeResourceData): the certificate to encrypt to. */
  encryption: EncryptionCertificate | null;
}

const MAX_MINUTES = { chatMessage: 4320, presence: 60, users: 41_760 } as const;
const MAX_PRESENCE_IDS = 650;

export interface SubscriptionServiceOptions {
  readonly tenantId: string;
  readonly url: string;
  readonly directory: Directory;
  readonly chats: ChatStore;
  readonly notifier: Notifier;
  /** The presence resource of a user as another user reads it (rich presence notifications carry it). */
  readonly presenceJson: (userId: string) => Record<string, unknown>;
  readonly allowHttpLoopback: boolean;
  readonly validationTimeoutMs: number;
  readonly lifecycle: LifecycleTimings;
  readonly log: (line: string) => void;
}

/** Graph writes DateTimeOffset with seven fractional digits. */
function graphTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '0000Z');
}

function keyOf(segment: string, name: string): string | undefined {
  // Accepts both key forms: name/{key} is handled by the caller; name('{key}') here.
  const m = new RegExp(`^${name}\\('(.*)'\\)$`, 'iu').exec(segment);
  return m ? (m[1] as string) : undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Parses a subscription resource; undefined when the emulator does not support it. */
export function parseResource(resource: string): SubscriptionTarget | undefined {
  const trimmed = resource.trim().replace(/^\/+/u, '');
  const q = trimmed.indexOf('?');
  const path = q === -1 ? trimmed : trimmed.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : trimmed.slice(q + 1));
  const segs: string[] = [];
  for (const s of path.split('/')) {
    const users = keyOf(s, 'users');
    const chats = keyOf(s, 'chats');
    const presences = keyOf(s, 'presences');
    if (users !== undefined) segs.push('users', users);
    else if (chats !== undefined) segs.push('chats', chats);
    else if (presences !== undefined) segs.push('presences', presences);
    else segs.push(decode(s));
  }
  const lower = segs.map((s) => s.toLowerCase());
  if (segs.length === 4 && lower[0] === 'users' && lower[2] === 'chats' && lower[3] === 'getallmessages') {
    return { kind: 'userChats', userId: segs[1] as string };
  }
  if (segs.length === 3 && lower[0] === 'chats' && lower[2] === 'messages') return { kind: 'chatMessages', chatId: segs[1] as string };
  if (lower[0] === 'users' && q === -1 && (segs.length === 1 || (segs.length === 2 && segs[1] !== ''))) return { kind: 'users', userId: segs[1] };
  if (lower[0] === 'communications' && lower[1] === 'presences') {
    if (segs.length === 3) return { kind: 'presence', userIds: [segs[2] as string] };
    const filter = query.get('$filter');
    if (segs.length === 2 && filter !== null) {
      const m = /^\s*id\s+in\s+\((.*)\)\s*$/iu.exec(filter);
      if (!m) return undefined;
      const ids = (m[1] as string).split(',').map((s) => s.trim().replace(/^'(.*)'$/u, '$1'));
      return { kind: 'presence', userIds: ids.filter(Boolean) };
    }
  }
  return undefined;
}

export class SubscriptionService {
  private readonly subs = new Map<string, StoredSubscription>();
  private readonly clock: LifecycleClock;

  constructor(private readonly o: SubscriptionServiceOptions) {
    this.clock = new LifecycleClock(o.lifecycle, () => this.live(), (id, event) => void this.fireLifecycle(id, event), o.log);
  }

  close(): void {
    this.clock.close();
  }

  /** A create, renewal or reauthorization with a valid token: delivery resumes (subscription-lifecycle.ts). */
  private authorized(s: StoredSubscription, auth: AuthContext): void {
    this.clock.authorized(s, auth.expiresAt);
  }

  private live(): StoredSubscription[] {
    const now = Date.now();
    for (const [id, s] of this.subs) {
      if (s.expiresAt <= now) {
        this.subs.delete(id);
        this.o.log(`subscription ${id} expired and was deleted`);
      }
    }
    return [...this.subs.values()];
  }

  exists(id: string): boolean {
    return this.live().some((s) => s.id === id);
  }

  all(): EmulatedSubscription[] {
    return this.live().map((s) => this.view(s));
  }

  private view(s: StoredSubscription): EmulatedSubscription {
    return {
      id: s.id,
      resource: s.resource,
      changeType: s.changeType,
      clientState: s.clientState,
      notificationUrl: s.notificationUrl,
      lifecycleNotificationUrl: s.lifecycleNotificationUrl,
      expirationDateTime: graphTime(s.expiresAt),
      applicationId: s.applicationId,
      creatorId: s.creatorId,
      includeResourceData: s.encryption !== null,
      encryptionCertificateId: s.encryption?.id ?? null,
      ownerKind: s.ownerKind,
    };
  }

  json(s: StoredSubscription): Record<string, unknown> {
    const v = this.view(s);
    return {
      id: v.id,
      resource: v.resource,
      applicationId: v.applicationId,
      changeType: v.changeType,
      clientState: v.clientState,
      notificationUrl: v.notificationUrl,
      notificationQueryOptions: null,
      lifecycleNotificationUrl: v.lifecycleNotificationUrl,
      expirationDateTime: v.expirationDateTime,
      creatorId: v.creatorId,
      includeResourceData: v.includeResourceData,
      latestSupportedTlsVersion: 'v1_2',
      encryptionCertificate: s.encryption?.base64 ?? null,
      encryptionCertificateId: s.encryption?.id ?? null,
      notificationUrlAppId: null,
    };
  }

  /**
   * https is required; http on loopback is allowed (unless disabled) because the gateway's webhook listens on plain
   * http in tests and in the sandbox. Graph itself would refuse it.
   */
  private checkUrl(name: string, value: unknown): string {
    if (typeof value !== 'string' || value === '') throw faults.badRequest(`The '${name}' property is required.`);
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw faults.badRequest(`Invalid ${name}: '${value}' is not an absolute URL.`);
    }
    const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback && this.o.allowHttpLoopback)) {
      throw faults.badRequest(`Invalid ${name}: the URL must use the https scheme.`);
    }
    return value;
  }

  private async validateEndpoint(url: string): Promise<void> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
    const target = `${url}${url.includes('?') ? '&' : '?'}validationToken=${encodeURIComponent(token)}`;
    const r = await post(target, '', 'text/plain; charset=utf-8', this.o.validationTimeoutMs);
    if (!('status' in r) || r.status !== 200) {
      this.o.log(`validation of ${url} failed: ${'status' in r ? `HTTP ${r.status}` : r.error}`);
      throw new GraphFault(400, 'ValidationError', 'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.');
    }
    if (!(r.contentType ?? '').toLowerCase().startsWith('text/plain') || r.body !== token) {
      this.o.log(`validation of ${url} failed: the response did not echo the token as text/plain`);
      throw new GraphFault(400, 'ValidationError', 'Subscription validation request failed. Response must exactly match validationToken query parameter.');
    }
  }

  private expiration(value: unknown, target: SubscriptionTarget, lifecycleUrl: string | null): number {
    const at = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(at)) throw faults.badRequest("The 'expirationDateTime' property is required and must be a date and time.");
    const now = Date.now();
    if (at <= now) throw new GraphFault(400, 'ExtensionError', 'Subscription expiration must be in the future.');
    const max = target.kind === 'presence' ? MAX_MINUTES.presence : target.kind === 'users' ? MAX_MINUTES.users : MAX_MINUTES.chatMessage;
    // A little grace, as a client computes "now + max" a moment before Graph receives it.
    if (at > now + max * 60_000 + 60_000) throw new GraphFault(400, 'ExtensionError', `Subscription expiration can only be ${max} minutes in the future.`);
    // The lifecycleNotificationUrl rule is Teams' (chatMessage); presence and user subscriptions do without.
    if ((target.kind === 'userChats' || target.kind === 'chatMessages') && lifecycleUrl === null && at > now + 60 * 60_000 + 60_000) {
      throw faults.badRequest(
        'lifecycleNotificationUrl is a required property for subscription creation on this resource when the expirationDateTime value is set to greater than 1 hour.',
      );
    }
    return at;
  }

  /**
   * A user the subscription's resource names, as Graph's subscription service sees it: one of the tenant's users, and
   * already replicated (a user just created is not there yet, directory.ts). Otherwise 404 ExtensionError
   * "Operation: Create; Exception: [Status Code: NotFound; Reason: The requested user '{id}@{tenant}' is invalid.]":
   * Learn documents no answer; the shape is Graph's as reported for a create whose resource is not found
   * (https://github.com/microsoftgraph/nodejs-webhooks-sample/issues/21) and the reason as reported for a user no
   * longer in the directory (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/3201).
   * (https://github.com/microsoftgraph/msgraph-beta-sdk-dotnet/issues/352 reports a 500 for a presence subscription
   * naming a deleted user; the emulator fails it with the same 404.) Another tenant's user is not found either.
   */
  private subscribedUser(operation: 'Create' | 'Update', key: string): DirectoryUser {
    const user = this.o.directory.find(key);
    if (user && this.o.directory.isVisible(user)) return user;
    throw new GraphFault(404, 'ExtensionError', `Operation: ${operation}; Exception: [Status Code: NotFound; Reason: The requested user '${key}@${this.o.tenantId}' is invalid.]`);
  }

  /** The permission and membership checks of a resource, for the token creating or renewing a subscription. */
  private authorizeTarget(auth: AuthContext, target: SubscriptionTarget, operation: 'Create' | 'Update'): void {
    const op: Operation =
      target.kind === 'userChats'
        ? 'subscription.userChatMessages'
        : target.kind === 'chatMessages'
          ? 'subscription.chatMessages'
          : target.kind === 'users'
            ? 'subscription.users'
            : 'subscription.presence';
    authorize(op, auth);
    if (target.kind === 'users') {
      if (target.userId !== undefined) this.subscribedUser(operation, target.userId);
    } else if (target.kind === 'userChats') {
      const user = this.subscribedUser(operation, target.userId);
      if (auth.kind === 'delegated' && user.id.toLowerCase() !== auth.userId?.toLowerCase()) {
        throw faults.forbidden("A delegated token can subscribe only to the signed-in user's own chats (/users/{signed-in user id}/chats/getAllMessages).");
      }
    } else if (target.kind === 'chatMessages') {
      const chat = this.o.chats.get(target.chatId);
      if (!chat) throw faults.notFound(`Chat '${target.chatId}' was not found.`);
      if (auth.kind === 'delegated' && !this.o.chats.isMember(chat, auth.userId ?? '')) throw faults.forbidden('The signed-in user is not a member of the chat.');
    } else {
      if (target.userIds.length === 0) throw faults.badRequest('The presence subscription resource names no user id.');
      if (target.userIds.length > MAX_PRESENCE_IDS) throw faults.badRequest(`A presence subscription supports at most ${MAX_PRESENCE_IDS} user ids.`);
      const bad = target.userIds.find((id) => !isGuid(id));
      if (bad !== undefined) throw faults.badRequest(`Invalid user id '${bad}': presence subscriptions take user object ids (GUIDs).`);
      for (const id of target.userIds) this.subscribedUser(operation, id);
    }
  }

  async create(auth: AuthContext, body: unknown): Promise<Record<string, unknown>> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw faults.malformedJson();
    const b = body as Record<string, unknown>;
    if (typeof b.resource !== 'string' || b.resource === '') throw faults.badRequest("The 'resource' property is required.");
    if (typeof b.changeType !== 'string' || b.changeType === '') throw faults.badRequest("The 'changeType' property is required.");
    const target = parseResource(b.resource);
    if (!target) throw faults.badRequest(`Resource '${b.resource}' is not supported by the Graph emulator (it supports chat messages, presence and users).`);
    this.authorizeTarget(auth, target, 'Create');
    const changeTypes = new Set(b.changeType.split(',').map((s) => s.trim().toLowerCase()));
    // chatMessage: "subscribe to changes (create, update, and delete) to messages in a channel or chat"
    // (https://learn.microsoft.com/en-us/graph/teams-changenotifications-chatmessage), in any combination
    // ("created,updated,deleted"); presence: updated only.
    // users: updated and deleted (see the header).
    const allowed = target.kind === 'presence' ? ['updated'] : target.kind === 'users' ? ['updated', 'deleted'] : ['created', 'updated', 'deleted'];
    for (const c of changeTypes) {
      if (!allowed.includes(c)) throw faults.badRequest(`ChangeType '${c}' is not supported for resource '${b.resource}'; supported: ${allowed.join(', ')}.`);
    }
    const notificationUrl = this.checkUrl('notificationUrl', b.notificationUrl);
    const lifecycleUrl = b.lifecycleNotificationUrl === undefined || b.lifecycleNotificationUrl === null ? null : this.checkUrl('lifecycleNotificationUrl', b.lifecycleNotificationUrl);
    if (b.clientState !== undefined && b.clientState !== null && (typeof b.clientState !== 'string' || b.clientState.length > 128)) {
      throw faults.badRequest("The 'clientState' property must be a string of at most 128 characters.");
    }
    const encryption = b.includeResourceData === true ? this.resourceDataFor(target, b) : null;
    const expiresAt = this.expiration(b.expirationDateTime, target, lifecycleUrl);
    await this.validateEndpoint(notificationUrl);
    if (lifecycleUrl !== null) await this.validateEndpoint(lifecycleUrl);
    const s: StoredSubscription = {
      id: randomUUID(),
      resource: b.resource,
      target,
      changeTypes,
      changeType: [...changeTypes].join(','),
      clientState: typeof b.clientState === 'string' ? b.clientState : null,
      notificationUrl,
      lifecycleNotificationUrl: lifecycleUrl,
      expiresAt,
      applicationId: auth.appId,
      creatorId: auth.principalId,
      ownerKind: auth.kind,
      ownerUserId: auth.userId,
      encryption,
      removable: target.kind === 'userChats' || target.kind === 'chatMessages',
      authorizedUntil: auth.expiresAt,
      challengedAt: undefined,
      pausedSince: undefined,
    };
    if (target.kind === 'presence') this.onePresenceSubscription(auth);
    this.subs.set(s.id, s);
    this.o.log(`subscription ${s.id} created on ${s.resource} by ${auth.kind} ${auth.principalId}`);
    return this.json(s);
  }

  /**
   * Rich notifications: chat messages and presence support them, users do not
   * (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#supported-resources); the
   * certificate rules are in resource-data.ts.
   */
  private resourceDataFor(target: SubscriptionTarget, b: Record<string, unknown>): EncryptionCertificate {
    if (target.kind === 'users') throw faults.badRequest("The resource 'users' does not support notifications with resource data ('includeResourceData').");
    return parseEncryptionCertificate(b.encryptionCertificate, b.encryptionCertificateId);
  }

  /**
   * "A single user can create one presence subscription per unique application"
   * (https://learn.microsoft.com/en-us/graph/changenotifications-for-presence); "One subscription allowed per
   * application per delegated user" (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#supported-resources).
   * Graph refuses a second one with 409 and this text, typos included (reported in
   * https://github.com/microsoftgraph/msgraph-beta-sdk-dotnet/issues/174 and
   * https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/2219).
   */
  private onePresenceSubscription(auth: AuthContext): void {
    const existing = this.live().find(
      (s) => s.target.kind === 'presence' && s.applicationId === auth.appId && s.ownerUserId !== undefined && s.ownerUserId.toLowerCase() === auth.userId?.toLowerCase(),
    );
    if (existing) {
      throw new GraphFault(409, 'ExtensionError', 'Operation: Create; Exception: [Status Code: Conflict; Reason: A subscripton already exists. It must be deleted before a another can be made.]');
    }
  }

  /**
   * The subscriptions a token may see: the app's own, and with a delegated token only those created for the
   * signed-in user (https://learn.microsoft.com/en-us/graph/api/subscription-list).
   */
  private visible(auth: AuthContext): StoredSubscription[] {
    return this.live().filter(
      (s) => s.applicationId === auth.appId && (auth.kind === 'app' ? s.ownerKind === 'app' : s.ownerUserId?.toLowerCase() === auth.userId?.toLowerCase()),
    );
  }

  private find(auth: AuthContext, id: string): StoredSubscription {
    const s = this.visible(auth).find((x) => x.id === id);
    if (!s) throw new GraphFault(404, 'ResourceNotFound', `The subscription '${id}' was not found.`);
    return s;
  }

  list(auth: AuthContext): Record<string, unknown>[] {
    return this.visible(auth).map((s) => this.json(s));
  }

  get(auth: AuthContext, id: string): Record<string, unknown> {
    return this.json(this.find(auth, id));
  }

  /** PATCH: renew (expirationDateTime) and/or move (notificationUrl, validated again). */
  async update(auth: AuthContext, id: string, body: unknown): Promise<Record<string, unknown>> {
    const s = this.find(auth, id);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw faults.malformedJson();
    const b = body as Record<string, unknown>;
    this.authorizeTarget(auth, s.target, 'Update');
    const expiresAt = b.expirationDateTime === undefined ? s.expiresAt : this.expiration(b.expirationDateTime, s.target, s.lifecycleNotificationUrl);
    let notificationUrl = s.notificationUrl;
    if (b.notificationUrl !== undefined) {
      notificationUrl = this.checkUrl('notificationUrl', b.notificationUrl);
      await this.validateEndpoint(notificationUrl);
    }
    // Rotating the encryption certificate: "Use the PATCH operation on the subscription and update the
    // encryptionCertificate and encryptionCertificateId properties"
    // (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#rotating-keys).
    const encryption =
      b.encryptionCertificate !== undefined || b.encryptionCertificateId !== undefined
        ? s.encryption === null
          ? (() => {
              throw faults.badRequest("The subscription was created without 'includeResourceData'; its encryption certificate cannot be set.");
            })()
          : parseEncryptionCertificate(b.encryptionCertificate ?? s.encryption.base64, b.encryptionCertificateId ?? s.encryption.id)
        : s.encryption;
    s.expiresAt = expiresAt;
    s.notificationUrl = notificationUrl;
    s.encryption = encryption;
    // "renewing your subscription also reauthorizes your endpoint" (change-notifications-lifecycle-events).
    if (b.expirationDateTime !== undefined) this.authorized(s, auth);
    return this.json(s);
  }

  delete(auth: AuthContext, id: string): void {
    this.subs.delete(this.find(auth, id).id);
  }

  /**
   * POST /subscriptions/{id}/reauthorize (https://learn.microsoft.com/en-us/graph/api/subscription-reauthorize):
   * "reauthorize the subscription without extending its expiration date"; 204.
   */
  reauthorize(auth: AuthContext, id: string): void {
    const s = this.find(auth, id);
    this.authorizeTarget(auth, s.target, 'Update');
    this.authorized(s, auth);
  }

  /** A change notification; with resource data, `resource()` is encrypted to the subscription's certificate. */
  private notify(s: StoredSubscription, item: Record<string, unknown>, resource: () => Record<string, unknown>): void {
    const body: Record<string, unknown> = { subscriptionId: s.id, subscriptionExpirationDateTime: graphTime(s.expiresAt), ...item, clientState: s.clientState, tenantId: this.o.tenantId };
    if (LifecycleClock.paused(s)) {
      this.o.notifier.discard(this.o.tenantId, s.id, s.notificationUrl, 'delivery paused until the subscription is reauthorized');
      return;
    }
    if (s.encryption) body.encryptedContent = encryptResource(resource(), s.encryption);
    void this.o.notifier.send({ tenantId: this.o.tenantId, subscriptionId: s.id, kind: 'change', url: s.notificationUrl, body, appId: s.applicationId, withResourceData: s.encryption !== null });
  }

  /**
   * A message was posted, edited, reacted to, or (un)deleted: notify (basic notification, no resource data) every
   * subscription covering the chat whose changeType includes the change and whose owner may read the chat. The same
   * resource format for every change, per the payload example of
   * https://learn.microsoft.com/en-us/graph/teams-changenotifications-chatmessage#notifications-without-resource-data.
   * Which change a Graph operation is (ChatStore in chats.ts): an edit or a reaction is 'updated' (a reaction change
   * arrives as changeType "updated" in https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/1022);
   * softDelete is 'deleted' and undoSoftDelete 'updated'. Learn does not name the change type of a soft delete: it
   * calls softDelete "Delete a single chatMessage" (https://learn.microsoft.com/en-us/graph/api/chatmessage-softdelete)
   * and message subscriptions "Listen for new, edited, and deleted messages, and reactions to them"
   * (https://learn.microsoft.com/en-us/graph/api/resources/chatmessage), hence 'deleted'; undoSoftDelete is the
   * emulator's choice. A subscription without 'deleted' hears nothing of a soft delete.
   */
  messageChanged(change: MessageChange, chat: StoredChat, m: StoredMessage): void {
    const resource = `chats('${chat.id}')/messages('${m.id}')`;
    for (const s of this.live()) {
      if (!s.changeTypes.has(change)) continue;
      const t = s.target;
      const covers =
        t.kind === 'userChats'
          ? this.o.chats.isMember(chat, this.o.directory.find(t.userId)?.id ?? t.userId)
          : t.kind === 'chatMessages' && t.chatId === chat.id && (s.ownerKind === 'app' || this.o.chats.isMember(chat, s.ownerUserId ?? ''));
      if (!covers) continue;
      const resourceData = { id: m.id, '@odata.type': '#Microsoft.Graph.chatMessage', '@odata.id': resource };
      this.notify(s, { changeType: change, resource, resourceData }, () => ({ ...resourceData, ...this.o.chats.messageJson(m) }));
    }
  }

  /** A user's shown presence changed (https://learn.microsoft.com/en-us/graph/changenotifications-for-presence#receive-presence-event-notifications). */
  presenceChanged(userId: string): void {
    for (const s of this.live()) {
      const t = s.target;
      if (t.kind !== 'presence' || !t.userIds.some((id) => id.toLowerCase() === userId.toLowerCase())) continue;
      const resourceData = { '@odata.id': `users/${userId}/presence`, '@odata.type': '#microsoft.graph.presence', id: userId };
      this.notify(
        s,
        { changeType: 'updated', resource: `communications/presences/${userId}`, resourceData, organizationId: this.o.tenantId },
        // "Presence notifications with resource data have the following additional properties encrypted in the
        // payload": availability and activity; "the rich notification consists of all the properties".
        () => ({ ...resourceData, ...this.o.presenceJson(userId) }),
      );
    }
  }

  /**
   * A user was created or its profile changed (PATCH /users/{id}, its photo, or the emulator API): an 'updated'
   * notification (basic, no resource data) to every subscription on /users, or on /users/{that user}, whose
   * changeType includes updated. Learn publishes no user payload example; the emulator writes resource and
   * @odata.id "Users/{id}" and @odata.type "#Microsoft.Graph.User", in the casing of Learn's only webhook example
   * ("#Microsoft.Graph.Message", "Users/{id}/Messages/{id}",
   * https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#change-notification-example).
   * Fields Graph may add for directory objects (organizationId, sequenceNumber) are not written: Learn does not
   * document them.
   */
  userChanged(userId: string): void {
    const user = this.o.directory.byId(userId);
    if (!user) return;
    for (const s of this.live()) {
      const t = s.target;
      if (t.kind !== 'users' || !s.changeTypes.has('updated')) continue;
      if (t.userId !== undefined && this.o.directory.find(t.userId)?.id.toLowerCase() !== user.id.toLowerCase()) continue;
      this.notify(s, { changeType: 'updated', resource: `Users/${user.id}`, resourceData: { '@odata.type': '#Microsoft.Graph.User', '@odata.id': `Users/${user.id}`, id: user.id } }, () => ({}));
    }
  }

  /**
   * Sends a lifecycle notification (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events);
   * subscriptionRemoved also deletes the subscription, as Graph has by then.
   */
  async fireLifecycle(id: string, event: LifecycleEvent): Promise<void> {
    const s = this.live().find((x) => x.id === id);
    if (!s) throw new Error(`no subscription ${id}`);
    if (!s.lifecycleNotificationUrl) throw new Error(`subscription ${id} has no lifecycleNotificationUrl`);
    if (event === 'subscriptionRemoved') this.subs.delete(id);
    const body = { subscriptionId: s.id, subscriptionExpirationDateTime: graphTime(s.expiresAt), tenantId: this.o.tenantId, clientState: s.clientState, lifecycleEvent: event };
    await this.o.notifier.send({ tenantId: this.o.tenantId, subscriptionId: s.id, kind: 'lifecycle', url: s.lifecycleNotificationUrl, body, appId: s.applicationId, withResourceData: false });
  }
}
