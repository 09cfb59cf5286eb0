/**
 * Teams one-on-one chats and their messages, and their Graph JSON.
 * - chat: https://learn.microsoft.com/en-us/graph/api/resources/chat ; a 1:1 chat id is
 *   "19:{userId1}_{userId2}@unq.gbl.spaces" (both ids, sorted), and only one 1:1 chat exists per pair
 *   (https://learn.microsoft.com/en-us/graph/api/chat-post: "returns the existing chat").
 * - chatMessage: https://learn.microsoft.com/en-us/graph/api/resources/chatmessage ; ids are the creation time in
 *   milliseconds, as Teams assigns them. lastModifiedDateTime is "when the chat message is created (initial setting)
 *   or modified, including when a reaction is added or removed"; lastEditedDateTime is set by edits only ("Triggers an
 *   'Edited' flag in the Teams UI"); deletedDateTime by softDelete. The etag follows lastModifiedDateTime in
 *   milliseconds, as Teams' do (e.g. etag "1643191185034" with lastModifiedDateTime 2022-01-26T09:59:45.034Z in
 *   https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/2533).
 * - reactions: https://learn.microsoft.com/en-us/graph/api/resources/chatmessagereaction (reactionType "Unicode
 *   characters, custom, and some backward-compatible reaction types, such as like, angry, sad, laugh, heart, and
 *   surprised"), with messageHistory items reactionAdded / reactionRemoved
 *   (https://learn.microsoft.com/en-us/graph/api/resources/chatmessagehistoryitem).
 * - conversationMember ids are opaque; Teams' are base64 of "0##0##{tenant}##{chat}##{user}".
 * - hosted contents (inline images; https://learn.microsoft.com/en-us/graph/api/resources/chatmessagehostedcontent):
 *   the bytes and content type of each, under an opaque id. Teams' ids are base64 of
 *   "id=x_...,type=1,url=https://us-api.asm.skype.com/v1/objects/.../views/imgo"; the emulator's are base64url of a
 *   similar text (no '/' or '+', so they stay one URL path segment). The body shows each one as
 *   <img src="{graph}/v1.0/chats/{chat-id}/messages/{message-id}/hostedContents/{id}/$value">, the chat id unencoded
 *   as in Learn's examples (https://learn.microsoft.com/en-us/graph/api/chat-list-messages).
 */
import type { DirectoryUser } from './directory.js';
import type { EmulatedAttachment, EmulatedChat, EmulatedMessage, EmulatedReaction } from './types.js';

export interface StoredChat {
  readonly id: string;
  readonly memberIds: readonly [string, string];
  readonly createdDateTime: string;
  lastUpdatedDateTime: string;
  readonly messages: StoredMessage[];
  /** markChatReadForUser: when each member last marked the chat read (epoch ms). */
  readUpTo?: Record<string, number>;
}

export interface StoredReaction {
  readonly reactionType: string;
  readonly displayName: string | null;
  readonly createdMs: number;
  readonly userId: string;
}

export interface StoredMessage {
  readonly id: string;
  readonly chatId: string;
  readonly createdMs: number;
  readonly from: { readonly userId: string; readonly displayName: string };
  body: EmulatedMessage['body'];
  attachments: EmulatedAttachment[];
  lastModifiedMs: number;
  lastEditedMs: number | null;
  deletedMs: number | null;
  readonly reactions: StoredReaction[];
  /** Inline images (hosted contents) of the message. */
  readonly hostedContents: readonly StoredHostedContent[];
  readonly history: { readonly modifiedMs: number; readonly action: 'reactionAdded' | 'reactionRemoved'; readonly reaction: StoredReaction }[];
  policyViolation: Record<string, unknown> | null;
}

export interface StoredHostedContent {
  readonly id: string;
  readonly contentType: string;
  readonly bytes: Buffer;
}

/** What happened to a message, as change notifications name it (created / updated / deleted). */
export type MessageChange = 'created' | 'updated' | 'deleted';

/**
 * Names for the classic reactions. Learn documents displayName only as "The name of the reaction"; these names are
 * the emulator's choice (the Teams client's labels), null for other emoji.
 */
const REACTION_NAMES: Readonly<Record<string, string>> = {
  like: 'Like',
  heart: 'Heart',
  laugh: 'Laugh',
  surprised: 'Surprised',
  sad: 'Sad',
  angry: 'Angry',
  '👍': 'Like',
  '❤️': 'Heart',
  '❤': 'Heart',
  '😆': 'Laugh',
  '😮': 'Surprised',
  '😢': 'Sad',
  '😡': 'Angry',
};

/**
 * reactionType: "Supported values include Unicode characters, custom, and some backward-compatible reaction types,
 * such as like, angry, sad, laugh, heart, and surprised" (chatmessagereaction), "supply the reactionType as unicode"
 * (chatmessage-setreaction). The emulator takes those legacy names and emoji (no letters, at least one pictograph);
 * custom reactions are not emulated.
 */
export const LEGACY_REACTIONS: readonly string[] = ['like', 'angry', 'sad', 'laugh', 'heart', 'surprised'];

export function isLegacyReaction(t: string): boolean {
  return LEGACY_REACTIONS.includes(t);
}

/** The emoji Teams shows for each classic reaction name. */
const LEGACY_EMOJI: Readonly<Record<string, string>> = { like: '👍', heart: '❤', laugh: '😆', surprised: '😮', sad: '😢', angry: '😡' };

/** One reaction whatever its spelling (a classic name or its emoji; with or without U+FE0F). */
function sameReaction(a: string, b: string): boolean {
  const key = (x: string) => (LEGACY_EMOJI[x] ?? x).replace(/\uFE0F/gu, '');
  return key(a) === key(b);
}

export function isReactionType(t: string): boolean {
  if (LEGACY_REACTIONS.includes(t)) return true;
  return t.length <= 32 && /^[^\sA-Za-z]+$/u.test(t) && /\p{Extended_Pictographic}|\p{Regional_Indicator}/u.test(t);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export class ChatStore {
  private readonly chats = new Map<string, StoredChat>();
  private readonly listeners: ((change: MessageChange, chat: StoredChat, m: StoredMessage) => void)[] = [];
  private lastMessageId = 0;

  constructor(
    private readonly tenantId: string,
    private readonly users: (id: string) => DirectoryUser | undefined,
  ) {}

  static oneOnOneId(a: string, b: string): string {
    const [x, y] = [a.toLowerCase(), b.toLowerCase()].sort();
    return `19:${x}_${y}@unq.gbl.spaces`;
  }

  get(id: string): StoredChat | undefined {
    return this.chats.get(id);
  }

  /** The existing 1:1 chat of the pair, or a new one; `created` tells which. */
  ensureOneOnOne(a: string, b: string): { chat: StoredChat; created: boolean } {
    const id = ChatStore.oneOnOneId(a, b);
    const existing = this.chats.get(id);
    if (existing) return { chat: existing, created: false };
    const now = iso(Date.now());
    const chat: StoredChat = { id, memberIds: [a.toLowerCase(), b.toLowerCase()], createdDateTime: now, lastUpdatedDateTime: now, messages: [] };
    this.chats.set(id, chat);
    return { chat, created: true };
  }

  /** Called for every new message and every change to one (change notifications). */
  onChange(listener: (change: MessageChange, chat: StoredChat, m: StoredMessage) => void): void {
    this.listeners.push(listener);
  }

  private emit(change: MessageChange, chat: StoredChat, m: StoredMessage): void {
    for (const l of this.listeners) l(change, chat, m);
  }

  isMember(chat: StoredChat, userId: string): boolean {
    return chat.memberIds.includes(userId.toLowerCase());
  }

  chatsOf(userId: string): StoredChat[] {
    return [...this.chats.values()].filter((c) => this.isMember(c, userId));
  }

  message(chat: StoredChat, id: string): StoredMessage | undefined {
    return chat.messages.find((m) => m.id === id);
  }

  /** A message by id among the user's chats (ids are unique across the store). */
  findMessage(userId: string, messageId: string): { chat: StoredChat; message: StoredMessage } | undefined {
    for (const chat of this.chatsOf(userId)) {
      const message = this.message(chat, messageId);
      if (message) return { chat, message };
    }
    return undefined;
  }

  /**
   * `body` may be a function of the new message's id (a body whose inline images name their message);
   * `hostedContents` are its inline images.
   */
  addMessage(
    chat: StoredChat,
    from: DirectoryUser,
    body: EmulatedMessage['body'] | ((messageId: string) => EmulatedMessage['body']),
    attachments: readonly EmulatedAttachment[] = [],
    hostedContents: readonly StoredHostedContent[] = [],
  ): StoredMessage {
    // Graph's ids are the creation time in epoch milliseconds; here strictly increasing too, so that two messages in
    // the same millisecond stay distinct and ordered. Under a burst (more than one message a millisecond) the id runs
    // ahead of the clock; createdDateTime stays the time the message was created, as Graph's does (it is what
    // latency is measured from: docs/graph-conformance.md).
    const ms = Date.now();
    this.lastMessageId = Math.max(ms, this.lastMessageId + 1);
    const id = String(this.lastMessageId);
    const message: StoredMessage = {
      id,
      chatId: chat.id,
      createdMs: ms,
      from: { userId: from.id, displayName: from.displayName },
      body: { ...(typeof body === 'function' ? body(id) : body) },
      hostedContents: hostedContents.map((h) => ({ ...h, bytes: Buffer.from(h.bytes) })),
      attachments: attachments.map((a) => ({ ...a })),
      lastModifiedMs: ms,
      lastEditedMs: null,
      deletedMs: null,
      reactions: [],
      history: [],
      policyViolation: null,
    };
    chat.messages.push(message);
    chat.lastUpdatedDateTime = iso(ms);
    this.emit('created', chat, message);
    return message;
  }

  /** A modification time after the previous one, so that the etag changes with every change. */
  private touch(m: StoredMessage): number {
    m.lastModifiedMs = Math.max(Date.now(), m.lastModifiedMs + 1);
    return m.lastModifiedMs;
  }

  /** Replaces the body (and the attachments when given): an edit. */
  edit(chat: StoredChat, m: StoredMessage, body: EmulatedMessage['body'], attachments?: readonly EmulatedAttachment[]): void {
    m.body = { ...body };
    if (attachments) m.attachments = attachments.map((a) => ({ ...a }));
    m.lastEditedMs = this.touch(m);
    this.emit('updated', chat, m);
  }

  setPolicyViolation(chat: StoredChat, m: StoredMessage, policyViolation: Record<string, unknown>): void {
    m.policyViolation = policyViolation;
    this.touch(m);
    this.emit('updated', chat, m);
  }

  /** False (and nothing happens) when the message is already deleted. */
  softDelete(chat: StoredChat, m: StoredMessage): boolean {
    if (m.deletedMs !== null) return false;
    m.deletedMs = this.touch(m);
    this.emit('deleted', chat, m);
    return true;
  }

  /** False (and nothing happens) when the message is not deleted. */
  undoSoftDelete(chat: StoredChat, m: StoredMessage): boolean {
    if (m.deletedMs === null) return false;
    m.deletedMs = null;
    this.touch(m);
    this.emit('updated', chat, m);
    return true;
  }

  /** One reaction of a type per user: false (and nothing happens) when the user already has it. */
  setReaction(chat: StoredChat, m: StoredMessage, userId: string, reactionType: string): boolean {
    if (m.reactions.some((r) => r.userId.toLowerCase() === userId.toLowerCase() && sameReaction(r.reactionType, reactionType))) return false;
    const at = this.touch(m);
    const reaction: StoredReaction = { reactionType, displayName: REACTION_NAMES[reactionType] ?? null, createdMs: at, userId };
    m.reactions.push(reaction);
    m.history.push({ modifiedMs: at, action: 'reactionAdded', reaction });
    this.emit('updated', chat, m);
    return true;
  }

  /** False (and nothing happens) when the user has no reaction of that type. */
  unsetReaction(chat: StoredChat, m: StoredMessage, userId: string, reactionType: string): boolean {
    const i = m.reactions.findIndex((r) => r.userId.toLowerCase() === userId.toLowerCase() && sameReaction(r.reactionType, reactionType));
    if (i === -1) return false;
    const [reaction] = m.reactions.splice(i, 1) as [StoredReaction];
    m.history.push({ modifiedMs: this.touch(m), action: 'reactionRemoved', reaction });
    this.emit('updated', chat, m);
    return true;
  }

  /**
   * The messageReference attachment that quotes `m`, in the shape of Learn's replyWithQuote response
   * (https://learn.microsoft.com/en-us/graph/api/chatmessage-replywithquote): id = the quoted message's id, content =
   * JSON {messageId, messagePreview, messageSender}.
   */
  quoteAttachment(m: StoredMessage, preview: string): EmulatedAttachment {
    return {
      id: m.id,
      contentType: 'messageReference',
      contentUrl: null,
      content: JSON.stringify({
        messageId: m.id,
        messagePreview: preview,
        messageSender: { application: null, device: null, user: { userIdentityType: 'aadUser', tenantId: this.tenantId, id: m.from.userId, displayName: m.from.displayName } },
      }),
      name: null,
      thumbnailUrl: null,
      teamsAppId: null,
    };
  }

  chatJson(chat: StoredChat): Record<string, unknown> {
    return {
      id: chat.id,
      topic: null,
      createdDateTime: chat.createdDateTime,
      lastUpdatedDateTime: chat.lastUpdatedDateTime,
      chatType: 'oneOnOne',
      webUrl: `https://teams.microsoft.com/l/chat/${encodeURIComponent(chat.id)}/0?tenantId=${this.tenantId}`,
      tenantId: this.tenantId,
      onlineMeetingInfo: null,
      viewpoint: null,
      isHiddenForAllMembers: false,
    };
  }

  memberJson(chat: StoredChat, userId: string): Record<string, unknown> {
    const u = this.users(userId);
    return {
      '@odata.type': '#microsoft.graph.aadUserConversationMember',
      id: Buffer.from(`0##0##${this.tenantId}##${chat.id}##${userId}`, 'utf8').toString('base64'),
      roles: ['owner'],
      displayName: u?.displayName ?? null,
      visibleHistoryStartDateTime: '0001-01-01T00:00:00Z',
      userId: u?.id ?? userId,
      email: u?.mail ?? u?.userPrincipalName ?? null,
      tenantId: this.tenantId,
    };
  }

  private userIdentity(userId: string, displayName: string | undefined): Record<string, unknown> {
    return {
      '@odata.type': '#microsoft.graph.teamworkUserIdentity',
      id: userId,
      displayName: displayName ?? this.users(userId)?.displayName ?? null,
      userIdentityType: 'aadUser',
      tenantId: this.tenantId,
    };
  }

  private reactionJson(r: StoredReaction): Record<string, unknown> {
    return {
      reactionType: r.reactionType,
      displayName: r.displayName,
      reactionContentUrl: null,
      createdDateTime: iso(r.createdMs),
      user: { application: null, device: null, user: this.userIdentity(r.userId, undefined) },
    };
  }

  /**
   * A soft-deleted message keeps its id, sender and times, with deletedDateTime set and no content: an empty body and
   * no attachments. Learn documents deletedDateTime ("Timestamp at which the chat message was deleted, or null if not
   * deleted") but not the rest of a deleted message's shape: the empty body is the emulator's choice (not on Learn).
   */
  messageJson(m: StoredMessage): Record<string, unknown> {
    const deleted = m.deletedMs !== null;
    return {
      id: m.id,
      replyToId: null,
      etag: String(m.lastModifiedMs),
      messageType: 'message',
      createdDateTime: iso(m.createdMs),
      lastModifiedDateTime: iso(m.lastModifiedMs),
      lastEditedDateTime: m.lastEditedMs === null ? null : iso(m.lastEditedMs),
      deletedDateTime: m.deletedMs === null ? null : iso(m.deletedMs),
      subject: null,
      summary: null,
      chatId: m.chatId,
      importance: 'normal',
      locale: 'en-us',
      webUrl: null,
      channelIdentity: null,
      policyViolation: m.policyViolation,
      eventDetail: null,
      from: { application: null, device: null, user: this.userIdentity(m.from.userId, m.from.displayName) },
      body: { contentType: m.body.contentType, content: deleted ? '' : m.body.content },
      attachments: deleted ? [] : m.attachments.map((a) => ({ ...a })),
      mentions: [],
      reactions: m.reactions.map((r) => this.reactionJson(r)),
      messageHistory: m.history.map((h) => ({ modifiedDateTime: iso(h.modifiedMs), actions: h.action, reaction: this.reactionJson(h.reaction) })),
    };
  }

  private reactionView(r: StoredReaction): EmulatedReaction {
    return { reactionType: r.reactionType, displayName: r.displayName, createdDateTime: iso(r.createdMs), user: { id: r.userId, displayName: this.users(r.userId)?.displayName ?? '' } };
  }

  /** The public view (EmulatedMessage): the stored body even when deleted, so that tests can tell which one it was. */
  messageView(m: StoredMessage): EmulatedMessage {
    return {
      id: m.id,
      chatId: m.chatId,
      createdDateTime: iso(m.createdMs),
      lastModifiedDateTime: iso(m.lastModifiedMs),
      lastEditedDateTime: m.lastEditedMs === null ? null : iso(m.lastEditedMs),
      deletedDateTime: m.deletedMs === null ? null : iso(m.deletedMs),
      from: { ...m.from },
      body: { ...m.body },
      attachments: m.attachments.map((a) => ({ ...a })),
      reactions: m.reactions.map((r) => this.reactionView(r)),
    };
  }

  /** The public view (EmulatedChat) of a stored chat. */
  view(chat: StoredChat): EmulatedChat {
    return {
      id: chat.id,
      chatType: 'oneOnOne',
      members: chat.memberIds.map((id) => {
        const u = this.users(id);
        const read = chat.readUpTo?.[id];
        return { userId: u?.id ?? id, upn: u?.userPrincipalName ?? '', displayName: u?.displayName ?? '', lastReadDateTime: read === undefined ? null : new Date(read).toISOString() };
      }),
      messages: chat.messages.map((m) => this.messageView(m)),
    };
  }
}
