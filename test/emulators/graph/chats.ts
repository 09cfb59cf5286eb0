/**
 * Teams one-on-one chats and their messages, and their Graph JSON.
 * - chat: https://learn.microsoft.com/en-us/graph/api/resources/chat ; a 1:1 chat id is
 *   "19:{userId1}_{userId2}@unq.gbl.spaces" (both ids, sorted), and only one 1:1 chat exists per pair
 *   (https://learn.microsoft.com/en-us/graph/api/chat-post: "returns the existing chat").
 * - chatMessage: https://learn.microsoft.com/en-us/graph/api/resources/chatmessage ; ids are the creation time in
 *   milliseconds, as Teams assigns them.
 * - conversationMember ids are opaque; Teams' are base64 of "0##0##{tenant}##{chat}##{user}".
 */
import type { DirectoryUser } from './directory.js';
import type { EmulatedChat, EmulatedMessage } from './types.js';

export interface StoredChat {
  readonly id: string;
  readonly memberIds: readonly [string, string];
  readonly createdDateTime: string;
  lastUpdatedDateTime: string;
  readonly messages: EmulatedMessage[];
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export class ChatStore {
  private readonly chats = new Map<string, StoredChat>();
  private readonly listeners: ((chat: StoredChat, m: EmulatedMessage) => void)[] = [];
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

  /** Called for every new message (change notifications). */
  onMessage(listener: (chat: StoredChat, m: EmulatedMessage) => void): void {
    this.listeners.push(listener);
  }

  isMember(chat: StoredChat, userId: string): boolean {
    return chat.memberIds.includes(userId.toLowerCase());
  }

  chatsOf(userId: string): StoredChat[] {
    return [...this.chats.values()].filter((c) => this.isMember(c, userId));
  }

  addMessage(chat: StoredChat, from: DirectoryUser, body: EmulatedMessage['body']): EmulatedMessage {
    // Millisecond ids, strictly increasing so that two messages in the same millisecond stay distinct and ordered.
    const ms = Math.max(Date.now(), this.lastMessageId + 1);
    this.lastMessageId = ms;
    const message: EmulatedMessage = {
      id: String(ms),
      chatId: chat.id,
      createdDateTime: iso(ms),
      from: { userId: from.id, displayName: from.displayName },
      body: { ...body },
    };
    chat.messages.push(message);
    chat.lastUpdatedDateTime = message.createdDateTime;
    for (const l of this.listeners) l(chat, message);
    return message;
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

  messageJson(m: EmulatedMessage): Record<string, unknown> {
    return {
      id: m.id,
      replyToId: null,
      etag: m.id,
      messageType: 'message',
      createdDateTime: m.createdDateTime,
      lastModifiedDateTime: m.createdDateTime,
      lastEditedDateTime: null,
      deletedDateTime: null,
      subject: null,
      summary: null,
      chatId: m.chatId,
      importance: 'normal',
      locale: 'en-us',
      webUrl: null,
      channelIdentity: null,
      policyViolation: null,
      eventDetail: null,
      from: {
        application: null,
        device: null,
        user: { '@odata.type': '#microsoft.graph.teamworkUserIdentity', id: m.from.userId, displayName: m.from.displayName, userIdentityType: 'aadUser', tenantId: this.tenantId },
      },
      body: { contentType: m.body.contentType, content: m.body.content },
      attachments: [],
      mentions: [],
      reactions: [],
    };
  }

  /** The public view (EmulatedChat) of a stored chat. */
  view(chat: StoredChat): EmulatedChat {
    return {
      id: chat.id,
      chatType: 'oneOnOne',
      members: chat.memberIds.map((id) => {
        const u = this.users(id);
        return { userId: u?.id ?? id, upn: u?.userPrincipalName ?? '', displayName: u?.displayName ?? '' };
      }),
      messages: chat.messages.map((m) => ({ ...m, from: { ...m.from }, body: { ...m.body } })),
    };
  }
}
