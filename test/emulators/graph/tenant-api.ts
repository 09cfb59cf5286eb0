/**
 * The emulator's own API on one tenant (EmulatedTenant in types.ts): acting as its Teams users as the Teams client
 * does, and inspecting or steering the tenant. Not part of Graph; the control API (control.ts) and the teams CLI
 * reach the same methods over HTTP.
 */
import { randomUUID } from 'node:crypto';
import { ChatStore, isReactionType, type StoredChat, type StoredMessage } from './chats.js';
import type { DirectoryUser } from './directory.js';
import type { Notifier } from './notifier.js';
import type { Tenant } from './tenant.js';
import type { EmulatedAttachment, EmulatedTenant, EmulatedUser, RequestRecord } from './types.js';

export function tenantApi(t: Tenant, url: string, notifier: Notifier, requests: () => readonly RequestRecord[]): EmulatedTenant {
  const { directory, chats, photos, presence, subscriptions: subs, throttle } = t;

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

  return {
    tenantId: t.id,
    displayName: t.displayName,
    verifiedDomains: t.verifiedDomains,
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
    setPhoto: (user, photo) => photos.set(directory.resolve(user).id, photo),
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
    throttledByLimits: () => Object.fromEntries(t.limits.refused),
    slowReplies: (rule) => throttle.addSlowReply(rule),
    subscriptions: () => subs.all(),
    deliveries: () => notifier.deliveries().filter((d) => d.tenantId === t.id),
    endpointHealth: (endpoint) => notifier.health(endpoint),
    fireLifecycle: (id, event) => subs.fireLifecycle(id, event),
    requests: () => requests().map((r) => ({ ...r })),
  };
}
