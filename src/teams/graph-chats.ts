/**
 * The one-to-one chat and its messages, always as the XMPP user's account (delegated; docs/teams-identity.md):
 * create the chat, post and quote, read, edit, delete, react, mark read, and stream an inline image.
 */
import { ResponseType } from '@microsoft/microsoft-graph-client';
import { graphEndpointTemplate, type Metrics } from '../observability/metrics.js';
import type { GraphContext } from './graph-context.js';
import { hasResponses, postOutcomes, postsBatch } from './graph-batch.js';
import { retryAfterMs } from './graph-errors.js';
import { OwnPosts } from './own-posts.js';
import { TeamsError, type ChatPost, type PostOutcome, type Puppet, type TeamsChatMessage } from './teams-port.js';

/** A hosted content's bytes on their way from Graph. */
export interface HostedContentStream {
  readonly contentType: string;
  /** Content-Length when Graph sent one. */
  readonly contentLength: number | undefined;
  readonly body: ReadableStream<Uint8Array> | null;
}

export interface GraphChatMessage {
  readonly id: string;
  readonly createdDateTime?: string;
  readonly lastEditedDateTime?: string | null;
  readonly deletedDateTime?: string | null;
  readonly reactions?: readonly { reactionType?: string; user?: { user?: { id?: string } | null } | null }[];
  readonly attachments?: readonly { id?: string; contentType?: string; contentUrl?: string | null; name?: string | null; content?: string | null }[];
  readonly messageType?: string;
  readonly from?: { user?: { id?: string } | null } | null;
  readonly body?: { contentType?: string; content?: string };
}

/** A chatMessage resource as Graph returns it (GET, or decrypted from a rich notification). */
export function toChatMessage(chatId: string, m: GraphChatMessage): TeamsChatMessage {
  return {
    id: m.id,
    chatId,
    fromUserId: m.from?.user?.id ?? undefined,
    messageType: m.messageType ?? 'message',
    contentType: m.body?.contentType === 'text' ? 'text' : 'html',
    content: m.body?.content ?? '',
    createdAt: m.createdDateTime ? Date.parse(m.createdDateTime) : 0,
    editedAt: m.lastEditedDateTime ? Date.parse(m.lastEditedDateTime) : undefined,
    deletedAt: m.deletedDateTime ? Date.parse(m.deletedDateTime) : undefined,
    reactions: (m.reactions ?? []).flatMap((r) => (r.reactionType ? [{ reactionType: r.reactionType, userId: r.user?.user?.id ?? undefined }] : [])),
    attachments: (m.attachments ?? []).map((a) => ({
      id: a.id ?? '',
      contentType: a.contentType ?? '',
      contentUrl: a.contentUrl ?? undefined,
      name: a.name ?? undefined,
      content: a.content ?? undefined,
    })),
  };
}

function messagePath(chatId: string, messageId: string): string {
  return `/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}`;
}

export class GraphChats {
  /** What this node posted: their change notifications need no processing (own-posts.ts). */
  readonly ownPosts = new OwnPosts();

  constructor(
    private readonly g: GraphContext,
    private readonly tenantId: string,
    private readonly metrics?: Metrics,
  ) {}

  /**
   * POST /chats as the puppet; Graph answers with the existing 1:1 chat when there is one
   * (https://learn.microsoft.com/en-us/graph/api/chat-post). Members are bound by the Graph host in use.
   */
  async ensureChat(puppet: Puppet, teamsUserId: string): Promise<string> {
    const member = (id: string) => ({
      '@odata.type': '#microsoft.graph.aadUserConversationMember',
      roles: ['owner'],
      'user@odata.bind': this.g.odataUrl(`users('${id}')`),
    });
    const chat = (await this.g.forPuppet(puppet, 'create the one-to-one chat', () =>
      this.g.as(puppet).api('/chats').post({ chatType: 'oneOnOne', members: [member(puppet.userId), member(teamsUserId)] }),
    )) as { id: string };
    return chat.id;
  }

  async sendMessage(puppet: Puppet, chatId: string, html: string): Promise<string> {
    const m = (await this.g.forPuppet(puppet, 'post the message to Teams', () =>
      this.g.as(puppet).api(`/chats/${encodeURIComponent(chatId)}/messages`).post({ body: { contentType: 'html', content: html } }),
    )) as { id: string };
    this.ownPosts.add(chatId, m.id);
    return m.id;
  }

  /**
   * Posts in order as the puppet, as one JSON batch whose requests depend on one another (graph-batch.ts), so that
   * a backlog costs one round trip per batch instead of one per message. Resolves with one outcome per post; throws
   * when the batch as a whole failed (every post may have reached Graph).
   */
  async postMessages(puppet: Puppet, chatId: string, posts: readonly ChatPost[]): Promise<PostOutcome[]> {
    const what = 'post the messages to Teams';
    const batch = postsBatch(chatId, posts);
    const response = (await this.g.forPuppet(puppet, what, () => this.g.as(puppet).api('/$batch').responseType(ResponseType.RAW).post(batch))) as Response;
    const body: unknown = await response.json().catch(() => undefined);
    if (!hasResponses(body)) {
      const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      const status = response.status;
      throw new TeamsError(`${what}: ${e?.code ?? 'error'} ${e?.message ?? response.statusText}`.trim(), status, e?.code, status === 429 || status >= 500, retryAfterMs(response.headers));
    }
    // Each request of the batch is counted under its own endpoint and status, as if sent alone (a 429 inside shows).
    for (const r of body.responses as { id?: unknown; status?: unknown }[]) {
      const url = batch.requests.find((q) => q.id === r?.id)?.url;
      if (url !== undefined) this.metrics?.graphRequests.inc({ method: 'POST', endpoint: graphEndpointTemplate(url), status: String(typeof r.status === 'number' ? r.status : 0) });
    }
    const outcomes = postOutcomes(body, posts.length, what);
    return Promise.all(
      outcomes.map(async (o): Promise<PostOutcome> => {
        if ('id' in o) {
          this.ownPosts.add(chatId, o.id);
          return o;
        }
        return { error: await this.g.asPuppetRefusal(puppet, what, o.error) };
      }),
    );
  }

  /** https://learn.microsoft.com/en-us/graph/api/chatmessage-replywithquote */
  async replyWithQuote(puppet: Puppet, chatId: string, quotedId: string, html: string): Promise<string> {
    const m = (await this.g.forPuppet(puppet, 'post the reply to Teams', () =>
      this.g
        .as(puppet)
        .api(`/chats/${encodeURIComponent(chatId)}/messages/replyWithQuote`)
        .post({ messageIds: [quotedId], replyMessage: { body: { contentType: 'html', content: html } } }),
    )) as { id: string };
    this.ownPosts.add(chatId, m.id);
    return m.id;
  }

  async getMessage(puppet: Puppet, chatId: string, messageId: string): Promise<TeamsChatMessage> {
    const m = (await this.g.forPuppet(puppet, 'read a Teams message', () => this.g.as(puppet).api(messagePath(chatId, messageId)).get())) as GraphChatMessage;
    return toChatMessage(chatId, m);
  }

  /**
   * The bytes of a Teams inline image, as a stream, read as the puppet (a member of the chat):
   * GET /chats/{chat-id}/messages/{message-id}/hostedContents/{hosted-content-id}/$value
   * (https://learn.microsoft.com/en-us/graph/api/chatmessagehostedcontent-get, example 2: "Response contains bytes
   * for the hosted content in the body. content-type header specifies the kind of hosted content"). The caller
   * must consume or cancel `body`.
   */
  async openHostedContent(puppet: Puppet, chatId: string, messageId: string, hostedContentId: string): Promise<HostedContentStream> {
    const what = 'read a Teams inline image';
    const response = (await this.g.call(what, () =>
      this.g
        .as(puppet)
        .api(`${messagePath(chatId, messageId)}/hostedContents/${encodeURIComponent(hostedContentId)}/$value`)
        .responseType(ResponseType.RAW)
        .get(),
    )) as Response;
    if (!response.ok) {
      // RAW responses are not turned into GraphErrors by the client: read Graph's error envelope here.
      let code: string | undefined;
      let message = response.statusText;
      try {
        const e = ((await response.json()) as { error?: { code?: string; message?: string } }).error;
        code = e?.code;
        message = e?.message ?? message;
      } catch {
        // not JSON
      }
      const status = response.status;
      throw new TeamsError(`${what}: ${code ?? 'error'} ${message}`.trim(), status, code, status === 429 || status >= 500, retryAfterMs(response.headers));
    }
    const length = response.headers.get('content-length');
    return {
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
      contentLength: length !== null && /^\d+$/u.test(length) ? Number(length) : undefined,
      body: response.body,
    };
  }

  /** https://learn.microsoft.com/en-us/graph/api/chatmessage-update (the sender edits its own message). */
  async editMessage(puppet: Puppet, chatId: string, messageId: string, html: string): Promise<void> {
    await this.g.forPuppet(puppet, 'edit a Teams message', () => this.g.as(puppet).api(messagePath(chatId, messageId)).patch({ body: { contentType: 'html', content: html } }));
  }

  async markChatRead(puppet: Puppet, chatId: string): Promise<void> {
    await this.g.forPuppet(puppet, 'mark the Teams chat read', () =>
      this.g.as(puppet).api(`/chats/${encodeURIComponent(chatId)}/markChatReadForUser`).post({ user: { id: puppet.userId, tenantId: this.tenantId } }),
    );
  }

  /**
   * https://learn.microsoft.com/en-us/graph/api/chatmessage-softdelete: the documented path names the user,
   * POST /users/{userId}/chats/{chatId}/messages/{chatMessageId}/softDelete.
   */
  async softDeleteMessage(puppet: Puppet, chatId: string, messageId: string): Promise<void> {
    await this.g.forPuppet(puppet, 'delete a Teams message', () =>
      this.g
        .as(puppet)
        .api(`/users/${encodeURIComponent(puppet.userId)}/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}/softDelete`)
        .post({}),
    );
  }

  /** https://learn.microsoft.com/en-us/graph/api/chatmessage-setreaction: reactionType is a Unicode emoji. */
  async setReaction(puppet: Puppet, chatId: string, messageId: string, emoji: string): Promise<void> {
    await this.g.forPuppet(puppet, 'react to a Teams message', () => this.g.as(puppet).api(`${messagePath(chatId, messageId)}/setReaction`).post({ reactionType: emoji }));
  }

  /** https://learn.microsoft.com/en-us/graph/api/chatmessage-unsetreaction: reactionType is a Unicode emoji. */
  async unsetReaction(puppet: Puppet, chatId: string, messageId: string, emoji: string): Promise<void> {
    await this.g.forPuppet(puppet, 'remove a reaction from a Teams message', () =>
      this.g.as(puppet).api(`${messagePath(chatId, messageId)}/unsetReaction`).post({ reactionType: emoji }),
    );
  }

  /** https://learn.microsoft.com/en-us/graph/api/chat-list-messages ($top at most 50; newest first by default). */
  async recentMessages(puppet: Puppet, chatId: string): Promise<TeamsChatMessage[]> {
    const page = (await this.g.forPuppet(puppet, 'list recent Teams messages', () =>
      this.g.as(puppet).api(`/chats/${encodeURIComponent(chatId)}/messages`).top(50).get(),
    )) as { value: GraphChatMessage[] };
    return page.value.map((m) => toChatMessage(chatId, m)).sort((a, b) => b.createdAt - a.createdAt);
  }

  async chatMemberIds(puppet: Puppet, chatId: string): Promise<{ chatType: string; memberIds: string[] }> {
    const chat = (await this.g.forPuppet(puppet, 'read a Teams chat', () => this.g.as(puppet).api(`/chats/${encodeURIComponent(chatId)}`).get())) as {
      chatType: string;
    };
    const members = (await this.g.forPuppet(puppet, 'read the chat members', () =>
      this.g.as(puppet).api(`/chats/${encodeURIComponent(chatId)}/members`).get(),
    )) as { value: { userId?: string }[] };
    return { chatType: chat.chatType, memberIds: members.value.flatMap((m) => (m.userId ? [m.userId] : [])) };
  }
}
