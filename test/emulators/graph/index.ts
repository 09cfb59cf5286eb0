/**
 * Microsoft Graph + Entra ID emulator: one HTTPS origin that is both the authority host (identity platform token
 * endpoints, for @azure/identity with disableInstanceDiscovery) and the Graph base URL (v1.0), behaving as Learn
 * documents Graph for the calls the gateway makes, permission checks included. See types.ts for the public API and
 * the modules beside this one for each behaviour.
 */
import { randomUUID } from 'node:crypto';
import { ChatStore, isReactionType, type StoredChat, type StoredMessage } from './chats.js';
import { chatRoutes } from './chats-api.js';
import { handleControl, type ControlTarget } from './control.js';
import { Directory, type DirectoryUser } from './directory.js';
import { faults, graphErrorBody } from './errors.js';
import { GraphRouter } from './graph-router.js';
import { groupRoutes } from './groups-api.js';
import { jsonReply, type Call, type Reply } from './http.js';
import { JwtSigner } from './jwt.js';
import { DEFAULT_DELIVERY, Notifier } from './notifier.js';
import { ValidationTokens } from './resource-data.js';
import { IdentityEndpoints } from './oidc.js';
import { PRESENCE_TIMEOUT_MS, PresenceService } from './presence.js';
import { presenceRoutes } from './presence-api.js';
import { PhotoStore } from './photos.js';
import { photoRoutes } from './photos-api.js';
import { listen } from './server.js';
import { DEFAULT_LIFECYCLE } from './subscription-lifecycle.js';
import { SubscriptionService } from './subscriptions.js';
import { subscriptionRoutes } from './subscriptions-api.js';
import { documentedServiceLimits, ServiceLimits } from './service-limits.js';
import { Throttle } from './throttle.js';
import { TokenService } from './tokens.js';
import type { EmulatedAttachment, EmulatedUser, GraphEmulator, GraphEmulatorOptions, RequestRecord } from './types.js';
import { userRoutes } from './users-api.js';

export type * from './types.js';

/**
 * Eventual consistency (directory.ts): Learn gives no figure for how long a new user reads as 404 or how long a
 * group-based licence takes. The defaults are short so that every test crosses both delays without waiting long;
 * test/e2e/eventual-consistency.test.ts lengthens them.
 */
const DEFAULT_REPLICATION_MS = 500;
const DEFAULT_LICENCE_MS = 1000;

export async function startGraphEmulator(o: GraphEmulatorOptions): Promise<GraphEmulator> {
  const log = o.log ?? (() => undefined);
  const clientIds = new Set<string>();
  for (const a of o.apps) {
    if (clientIds.has(a.clientId.toLowerCase())) throw new Error(`duplicate app ${a.clientId}`);
    clientIds.add(a.clientId.toLowerCase());
  }

  // The URL (ephemeral port) is known only once listening; requests are served once everything is built.
  let handler: (call: Call) => Promise<Reply> = () => Promise.resolve(jsonReply(503, { error: 'starting' }));
  const server = await listen({ tls: o.tls, host: o.host ?? '127.0.0.1', port: o.port ?? 0, clockOffsetMs: o.clockOffsetMs ?? 0 }, (call) => handler(call));
  const url = server.url;

  const signer = new JwtSigner();
  const tokens = new TokenService({ signer, tenantId: o.tenantId, url, lifetimeSeconds: o.tokenLifetimeSeconds ?? 3599 });
  const directory = new Directory(o.users, o.groups ?? [], o.verifiedDomains, {
    replicationMs: o.userReplicationMs ?? DEFAULT_REPLICATION_MS,
    licenceMs: o.licenceAssignmentMs ?? DEFAULT_LICENCE_MS,
  });
  const chats = new ChatStore(o.tenantId, (id) => directory.byId(id));
  const photos = new PhotoStore();
  for (const u of o.users) if (u.photo) photos.set((directory.find(u.userPrincipalName) as DirectoryUser).id, u.photo);
  for (const [key, bytes] of Object.entries(o.photos ?? {})) {
    const u = directory.find(key);
    if (!u) throw new Error(`photos: no user '${key}'`);
    photos.set(u.id, bytes);
  }
  let subscriptions: SubscriptionService | undefined;
  const validationTokens = new ValidationTokens(signer, o.tenantId);
  const presence = new PresenceService((userId) => subscriptions?.presenceChanged(userId), Date.now, o.presenceTimeoutMs ?? PRESENCE_TIMEOUT_MS);
  const notifier = new Notifier({
    timings: {
      ...DEFAULT_DELIVERY,
      ...(o.notificationRetryDelaysMs ? { retryDelaysMs: o.notificationRetryDelaysMs } : {}),
      ...(o.notificationTimeoutMs ? { timeoutMs: o.notificationTimeoutMs } : {}),
      ...o.delivery,
    },
    log,
    subscriptionExists: (id) => subscriptions?.exists(id) ?? false,
    validationToken: (appId) => validationTokens.for(appId),
  });
  const subs = new SubscriptionService({
    tenantId: o.tenantId,
    url,
    directory,
    chats,
    notifier,
    presenceJson: (userId) => presence.json(userId, false),
    allowHttpLoopback: o.allowHttpNotificationUrlOnLoopback ?? true,
    validationTimeoutMs: o.validationTimeoutMs ?? 10_000,
    lifecycle: { ...DEFAULT_LIFECYCLE, ...o.lifecycle },
    log,
  });
  subscriptions = subs;
  chats.onChange((change, chat, m) => subs.messageChanged(change, chat, m));
  directory.onUserChange((u) => subs.userChanged(u.id));
  photos.onChange((userId) => subs.userChanged(userId));
  const throttle = new Throttle();
  const limits = new ServiceLimits({ ...documentedServiceLimits(o.users.length), ...o.serviceLimits });
  const identity = new IdentityEndpoints({ tenantId: o.tenantId, url, apps: o.apps, directory, tokens, signer });
  const graph = new GraphRouter(
    [...userRoutes(directory, url, { tenantId: o.tenantId, verifiedDomains: o.verifiedDomains, federatedDomains: o.federatedDomains ?? [] }), ...photoRoutes(directory, photos, url), ...groupRoutes(directory, url), ...chatRoutes(directory, chats, url), ...presenceRoutes(directory, presence, url), ...subscriptionRoutes(subs, url)],
    tokens,
    throttle,
    limits,
  );
  const requests: RequestRecord[] = [];

  /**
   * The message a Teams user acts on: `chat` is a chat id, the other member of a 1:1 chat, or empty (search the user's
   * chats).
   */
  const locate = (user: DirectoryUser, chat: string | undefined, messageId: string): { chat: StoredChat; message: StoredMessage } => {
    if (chat === undefined || chat === '') {
      const hit = chats.findMessage(user.id, messageId);
      if (!hit) throw new Error(`${user.userPrincipalName} has no message ${messageId} in any chat`);
      return hit;
    }
    const stored = chats.get(chat) ?? chats.get(ChatStore.oneOnOneId(user.id, directory.resolve(chat).id));
    if (!stored || !chats.isMember(stored, user.id)) throw new Error(`${user.userPrincipalName} has no chat '${chat}'`);
    const message = chats.message(stored, messageId);
    if (!message) throw new Error(`no message ${messageId} in chat ${stored.id}`);
    return { chat: stored, message };
  };
  const ownMessage = (user: DirectoryUser, m: StoredMessage, what: string): void => {
    if (m.from.userId.toLowerCase() !== user.id.toLowerCase()) throw new Error(`${user.userPrincipalName} cannot ${what} message ${m.id}: only its sender can`);
  };
  const notDeleted = (m: StoredMessage): void => {
    if (m.deletedMs !== null) throw new Error(`message ${m.id} has been deleted`);
  };

  /** The emulator API's view of a user. */
  const userView = (u: DirectoryUser): EmulatedUser & { id: string } => {
    const out: EmulatedUser & { id: string } = { id: u.id, userPrincipalName: u.userPrincipalName, displayName: u.displayName };
    if (u.password !== undefined) out.password = u.password;
    if (u.givenName !== null) out.givenName = u.givenName;
    if (u.surname !== null) out.surname = u.surname;
    if (u.jobTitle !== null) out.jobTitle = u.jobTitle;
    if (u.mail !== null) out.mail = u.mail;
    if (u.companyName !== null) out.companyName = u.companyName;
    if (u.department !== null) out.department = u.department;
    if (u.officeLocation !== null) out.officeLocation = u.officeLocation;
    if (u.mobilePhone !== null) out.mobilePhone = u.mobilePhone;
    if (u.businessPhones.length > 0) out.businessPhones = [...u.businessPhones];
    if (u.aboutMe !== null) out.aboutMe = u.aboutMe;
    const photo = photos.get(u.id);
    if (photo) out.photo = Buffer.from(photo.bytes);
    return out;
  };

  const emulator: GraphEmulator & ControlTarget = {
    url,
    tenantId: o.tenantId,
    sendAs: (user, to, text, opts) => {
      const from = directory.resolve(user);
      const other = directory.resolve(to);
      if (from.id === other.id) return Promise.reject(new Error(`${from.userPrincipalName} cannot start a one-on-one chat with itself`));
      const { chat } = chats.ensureOneOnOne(from.id, other.id);
      const attachments: EmulatedAttachment[] = [];
      let content = opts?.html ? text : text.replace(/[&<>"]/gu, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
      if (opts?.replyTo) {
        const stored = chats.message(chat, opts.replyTo);
        if (!stored) return Promise.reject(new Error(`no message ${opts.replyTo} in that chat`));
        const quoted = chats.messageView(stored);
        // https://learn.microsoft.com/en-us/graph/api/chatmessage-replywithquote: the reply carries a
        // messageReference attachment and an <attachment> tag for it in its HTML body.
        attachments.push({
          id: quoted.id,
          contentType: 'messageReference',
          content: JSON.stringify({ messageId: quoted.id, messagePreview: quoted.body.content.replace(/<[^>]*>/gu, '').slice(0, 100), messageSender: { user: { id: quoted.from.userId, displayName: quoted.from.displayName } } }),
          contentUrl: null,
          name: null,
          thumbnailUrl: null,
          teamsAppId: null,
        });
        content = `<attachment id="${quoted.id}"></attachment>${opts.html ? text : `<p>${content}</p>`}`;
      }
      for (const f of opts?.files ?? []) {
        const id = randomUUID();
        attachments.push({ id, contentType: 'reference', content: null, contentUrl: f.url, name: f.name, thumbnailUrl: null, teamsAppId: null });
        content += `<attachment id="${id}"></attachment>`;
      }
      const images = (opts?.images ?? []).map((i) => {
        const key = randomUUID();
        // Shaped like Teams' ids (see chats.ts), base64url so that it stays one path segment.
        const id = Buffer.from(`id=x_0-emu-${key},type=1,url=${url}/_emulator/objects/${key}/views/imgo`, 'utf8').toString('base64url');
        return { id, contentType: i.contentType, bytes: Buffer.from(i.bytes) };
      });
      const html = opts?.html === true || attachments.length > 0 || images.length > 0;
      if (images.length > 0 && !opts?.html && attachments.length === 0) content = `<p>${content}</p>`;
      const body = (messageId: string) => ({
        contentType: html ? ('html' as const) : ('text' as const),
        content: html
          ? `${content}${images.map((i) => `<p><img src="${url}/v1.0/chats/${chat.id}/messages/${messageId}/hostedContents/${i.id}/$value" alt="image" itemtype="http://schema.skype.com/AMSImage"></p>`).join('')}`
          : text,
      });
      return Promise.resolve(chats.messageView(chats.addMessage(chat, from, body, attachments, images)));
    },
    editAs: async (user, chat, messageId, text, opts) => {
      const u = directory.resolve(user);
      const { chat: c, message } = locate(u, chat, messageId);
      ownMessage(u, message, 'edit');
      notDeleted(message);
      if (text.trim() === '') throw new Error('the new text is empty');
      chats.edit(c, message, { contentType: opts?.html ? 'html' : 'text', content: text });
      return chats.messageView(message);
    },
    deleteAs: async (user, chat, messageId) => {
      const u = directory.resolve(user);
      const { chat: c, message } = locate(u, chat, messageId);
      ownMessage(u, message, 'delete');
      notDeleted(message);
      chats.softDelete(c, message);
      return chats.messageView(message);
    },
    reactAs: async (user, chat, messageId, reactionType) => {
      const u = directory.resolve(user);
      const { chat: c, message } = locate(u, chat, messageId);
      if (!isReactionType(reactionType)) throw new Error(`invalid reaction '${reactionType}': a unicode emoji or one of like, angry, sad, laugh, heart, surprised`);
      notDeleted(message);
      chats.setReaction(c, message, u.id, reactionType);
      return chats.messageView(message);
    },
    unreactAs: async (user, chat, messageId, reactionType) => {
      const u = directory.resolve(user);
      const { chat: c, message } = locate(u, chat, messageId);
      if (!chats.unsetReaction(c, message, u.id, reactionType)) throw new Error(`${u.userPrincipalName} has no '${reactionType}' reaction on message ${messageId}`);
      return chats.messageView(message);
    },
    setPhoto: (user, jpeg) => photos.set(directory.resolve(user).id, jpeg),
    setPresence: (user, availability, activity) => presence.setClient(directory.resolve(user).id, availability, activity),
    presenceOf: (user) => presence.view(directory.resolve(user).id),
    chatsOf: (user) => chats.chatsOf(directory.resolve(user).id).map((c) => chats.view(c)),
    user: (userOrUpn) => {
      const u = directory.find(userOrUpn);
      return u ? userView(u) : undefined;
    },
    updateUser: (user, fields) => {
      const u = directory.resolve(user);
      const body: Record<string, unknown> = {};
      for (const k of ['displayName', 'jobTitle', 'department', 'officeLocation', 'mobilePhone', 'businessPhones'] as const) {
        if (fields[k] !== undefined) body[k] = fields[k];
      }
      // As PATCH /users/{id} by an administrator: the same validation, and the same change notifications.
      return userView(directory.update(u, body));
    },
    groupMembers: (groupId) => directory.groupMembers(groupId),
    addGroupMember: (groupId, member) => directory.addMember(groupId, member),
    removeGroupMember: (groupId, member) => directory.removeMember(groupId, member),
    listUsers: () =>
      directory.all().map((u) => ({ id: u.id, userPrincipalName: u.userPrincipalName, displayName: u.displayName, accountEnabled: u.accountEnabled, presence: presence.view(u.id) })),
    throttle: (rule) => throttle.add(rule),
    refuse: (rule) => throttle.addRefusal(rule),
    throttledByLimits: () => Object.fromEntries(limits.refused),
    slowReplies: (rule) => throttle.addSlowReply(rule),
    subscriptions: () => subs.all(),
    deliveries: () => notifier.deliveries(),
    endpointHealth: (url) => notifier.health(url),
    fireLifecycle: (id, event) => subs.fireLifecycle(id, event),
    requests: () => requests.map((r) => ({ ...r })),
    close: async () => {
      handler = () => Promise.resolve(jsonReply(503, { error: 'closed' }));
      presence.close();
      subs.close();
      notifier.close();
      await server.close();
    },
  };

  handler = async (call) => {
    const at = Date.now();
    const path = call.url.pathname;
    if (path === '/_emulator' || path.startsWith('/_emulator/')) return handleControl(call, emulator);
    let reply: Reply;
    if (path === '/v1.0' || path.startsWith('/v1.0/')) {
      reply = await graph.handle(call);
    } else {
      reply = identity.handle(call) ?? notGraph(call);
    }
    requests.push({ method: call.method, path: `${path}${call.url.search}`, status: reply.status, tokenKind: reply.tokenKind ?? 'none', at });
    log(`${call.method} ${path} -> ${reply.status}`);
    return reply;
  };
  log(`Graph emulator listening on ${url} (tenant ${o.tenantId})`);
  return emulator;
}

/** Outside /v1.0 and the identity endpoints: /beta is not emulated; anything else is an unknown segment. */
function notGraph(call: Call): Reply {
  const first = call.url.pathname.split('/')[1] ?? '';
  const f = first.toLowerCase() === 'beta' ? faults.badRequest('The Graph emulator serves only the v1.0 endpoint.') : faults.segmentNotFound(decodeURIComponent(first));
  const id = randomUUID();
  return jsonReply(f.status, graphErrorBody(f.code, f.message, id, id), { 'request-id': id, 'client-request-id': id });
}
