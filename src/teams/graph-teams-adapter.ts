/**
 * TeamsPort on Microsoft Graph v1.0. Which identity makes which call follows docs/teams-identity.md: the
 * application token for the directory and for reading presence, the XMPP user's own account (puppet, delegated)
 * for everything Graph allows only a signed-in user to do (create a 1:1 chat, post in it, read it, subscribe to
 * it, set its own presence). Graph failures become {@link TeamsError}s, classified transient or permanent.
 */
import { inSpan } from '../observability/tracing.js';
import { GraphError, ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import { PROFILE_SELECT, type GraphProfile, type Photo } from '../protocol/vcard.js';
import Bottleneck from 'bottleneck';
import { puppetDisplayName, puppetMailNickname, puppetPassword, puppetProfile, puppetUpn } from '../protocol/puppet-identity.js';
import type { TeamsPresence, TeamsPresenceIntent } from '../protocol/presence-map.js';
import type { Logger } from '../observability/logger.js';
import type { GraphClients } from './graph-clients.js';
import { TeamsError, type Puppet, type TeamsChatMessage, type TeamsPort, type TeamsUser } from './teams-port.js';

export interface PuppetSettings {
  readonly upnDomain: string;
  readonly passwordSecret: () => string;
  readonly displayNameSuffix: string;
  readonly groupId: string | undefined;
  readonly usageLocation: string | undefined;
}

/** A hosted content's bytes on their way from Graph. */
export interface HostedContentStream {
  readonly contentType: string;
  /** Content-Length when Graph sent one. */
  readonly contentLength: number | undefined;
  readonly body: ReadableStream<Uint8Array> | null;
}

export interface GraphTeamsAdapterOptions {
  readonly clients: GraphClients;
  /** The app's client id: Graph requires it as the sessionId of setPresence. */
  readonly clientId: string;
  readonly tenantId: string;
  readonly puppets: PuppetSettings;
  readonly log: Logger;
  /**
   * Chat message posts per second for the tenant, kept under Graph's limit for the app in a tenant
   * (https://learn.microsoft.com/en-us/graph/throttling-limits#microsoft-teams-service-limits); posts wait their
   * turn rather than draw 429s. With a Redis connection the limit holds across the cluster.
   */
  readonly messagePostsPerSecond: number;
  readonly redis?: Bottleneck.IORedisConnection | undefined;
}

/** A Graph subscription as the gateway asks for it (https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions). */
export interface SubscriptionRequest {
  readonly resource: string;
  readonly changeType: string;
  readonly notificationUrl: string;
  readonly lifecycleNotificationUrl: string | undefined;
  readonly clientState: string;
  readonly expirationDateTime: Date;
}

export interface CreatedSubscription {
  readonly id: string;
  readonly expiresAt: number;
}

/** Subscription management; `owner` is the puppet whose delegated token owns it, undefined for the app. */
export interface SubscriptionApi {
  createSubscription(owner: Puppet | undefined, request: SubscriptionRequest): Promise<CreatedSubscription>;
  renewSubscription(owner: Puppet | undefined, id: string, expirationDateTime: Date): Promise<CreatedSubscription>;
  reauthorizeSubscription(owner: Puppet | undefined, id: string): Promise<void>;
  deleteSubscription(owner: Puppet | undefined, id: string): Promise<void>;
}

interface GraphUser {
  readonly id: string;
  readonly userPrincipalName: string;
  readonly displayName?: string | null;
}

interface GraphChatMessage {
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

interface GraphPresence {
  readonly id: string;
  readonly availability: string;
  readonly activity: string;
  readonly statusMessage?: { message?: { content?: string } | null } | null;
}

const USER_FIELDS = ['id', 'userPrincipalName', 'displayName'];

/** Retry-After is seconds (or an HTTP date) per RFC 9110 §10.2.3. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  const v = headers?.get('retry-after');
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Classifies a Graph client failure (https://learn.microsoft.com/en-us/graph/errors). */
export function toTeamsError(err: unknown, what: string): TeamsError {
  if (err instanceof TeamsError) return err;
  if (err instanceof GraphError) {
    const status = err.statusCode;
    // statusCode -1 is the client's "no response" (network failure, TLS, DNS).
    if (status <= 0) return new TeamsError(`${what}: Graph not reachable (${err.message})`, 0, err.code ?? undefined, true);
    const transient = status === 429 || status >= 500;
    return new TeamsError(`${what}: ${err.code ?? 'error'} ${err.message}`.trim(), status, err.code ?? undefined, transient, retryAfterMs(err.headers));
  }
  const e = err as { name?: string; message?: string; errorResponse?: { errorDescription?: string } };
  // @azure/identity failures: a puppet or the app cannot sign in. Not transient: a retry repeats it.
  if (e.name === 'AuthenticationError' || e.name === 'CredentialUnavailableError' || e.name === 'AuthenticationRequiredError') {
    return new TeamsError(`${what}: sign-in failed (${e.errorResponse?.errorDescription ?? e.message ?? 'unknown'})`, 401, 'SignInFailed', false);
  }
  if (err instanceof Error) return new TeamsError(`${what}: ${err.message}`, 0, undefined, true);
  return new TeamsError(`${what}: ${String(err)}`, 0, undefined, true);
}

function quoteODataString(s: string): string {
  return `'${s.replace(/'/gu, "''")}'`;
}

function toChatMessage(chatId: string, m: GraphChatMessage): TeamsChatMessage {
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

function toUser(u: GraphUser): TeamsUser {
  return { id: u.id, upn: u.userPrincipalName, displayName: u.displayName ?? undefined };
}

export class GraphTeamsAdapter implements TeamsPort, SubscriptionApi {
  private readonly posts: Bottleneck;

  constructor(private readonly o: GraphTeamsAdapterOptions) {
    const rate = o.messagePostsPerSecond;
    this.posts = new Bottleneck({
      id: 'xtg:graph:chat-message-posts',
      reservoir: Math.max(1, Math.floor(rate)),
      reservoirIncreaseAmount: rate / 4,
      reservoirIncreaseInterval: 250,
      reservoirIncreaseMaximum: Math.max(1, Math.floor(rate)),
      ...(o.redis ? { datastore: 'ioredis', connection: o.redis, clearDatastore: false } : {}),
    });
  }

  async stop(): Promise<void> {
    try {
      await this.posts.disconnect(false);
    } catch {
      // already disconnected
    }
  }

  private as(owner: Puppet | undefined): Client {
    return owner ? this.o.clients.puppet(owner.upn) : this.o.clients.app();
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return inSpan('graph', { 'graph.operation': what }, async () => {
      try {
        return await fn();
      } catch (err) {
        throw toTeamsError(err, what);
      }
    });
  }

  /** GET /users/{id | userPrincipalName}; 404 means no such user. */
  private async getUser(idOrUpn: string): Promise<TeamsUser | undefined> {
    try {
      const u = (await this.o.clients.app().api(`/users/${encodeURIComponent(idOrUpn)}`).select(USER_FIELDS).get()) as GraphUser;
      return toUser(u);
    } catch (err) {
      const e = toTeamsError(err, 'look up a Teams user');
      if (e.status === 404) return undefined;
      throw e;
    }
  }

  async userByUpn(upn: string): Promise<TeamsUser | undefined> {
    // A UPN with a quote or slash cannot be used as a path key reliably; $filter takes any string. The client puts
    // the filter in the URL as given, so it is percent-encoded here: a UPN's own "%27" must stay text, not close
    // the string literal (https://learn.microsoft.com/en-us/graph/query-parameters#encoding-query-parameters).
    if (/[/'#?%]/u.test(upn)) {
      const r = (await this.call('look up a Teams user', () =>
        this.o.clients.app().api('/users').filter(encodeURIComponent(`userPrincipalName eq ${quoteODataString(upn)}`)).select(USER_FIELDS).get(),
      )) as { value: GraphUser[] };
      const u = r.value[0];
      return u ? toUser(u) : undefined;
    }
    return this.getUser(upn);
  }

  userById(id: string): Promise<TeamsUser | undefined> {
    return this.getUser(id);
  }

  /** Finds the XMPP user's account, creating it (POST /users) on first contact. */
  async ensurePuppet(remoteJid: string): Promise<Puppet> {
    const p = this.o.puppets;
    const upn = puppetUpn(remoteJid, p.upnDomain);
    const existing = await this.getUser(upn);
    if (existing) return { remoteJid, userId: existing.id, upn: existing.upn };
    const domain = remoteJid.slice(remoteJid.indexOf('@') + 1);
    const body = {
      accountEnabled: true,
      displayName: puppetDisplayName(remoteJid, p.displayNameSuffix),
      mailNickname: puppetMailNickname(upn),
      userPrincipalName: upn,
      companyName: domain,
      ...(p.usageLocation ? { usageLocation: p.usageLocation } : {}),
      passwordPolicies: 'DisablePasswordExpiration',
      passwordProfile: { forceChangePasswordNextSignIn: false, password: puppetPassword(p.passwordSecret(), upn) },
    };
    let created: GraphUser;
    try {
      created = (await this.o.clients.app().api('/users').post(body)) as GraphUser;
    } catch (err) {
      const e = toTeamsError(err, 'create the Teams account of an XMPP user');
      // Another node created it between the lookup and the POST.
      const again = e.status === 400 ? await this.getUser(upn) : undefined;
      if (!again) throw e;
      return { remoteJid, userId: again.id, upn: again.upn };
    }
    this.o.log.info('created the Teams account of an XMPP user', { remoteJid, userId: created.id, upn });
    if (p.groupId) {
      await this.call('add the XMPP user account to its group', () =>
        this.o.clients
          .app()
          .api(`/groups/${encodeURIComponent(p.groupId as string)}/members/$ref`)
          .post({ '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${created.id}` }),
      );
    }
    return { remoteJid, userId: created.id, upn: created.userPrincipalName };
  }

  /** POST /chats as the puppet; Graph answers with the existing 1:1 chat when there is one. */
  async ensureChat(puppet: Puppet, teamsUserId: string): Promise<string> {
    const member = (id: string) => ({
      '@odata.type': '#microsoft.graph.aadUserConversationMember',
      roles: ['owner'],
      'user@odata.bind': `https://graph.microsoft.com/v1.0/users('${id}')`,
    });
    const chat = (await this.call('create the one-to-one chat', () =>
      this.as(puppet).api('/chats').post({ chatType: 'oneOnOne', members: [member(puppet.userId), member(teamsUserId)] }),
    )) as { id: string };
    return chat.id;
  }

  async sendMessage(puppet: Puppet, chatId: string, html: string): Promise<string> {
    const m = (await this.call('post the message to Teams', () =>
      this.posts.schedule(() =>
        this.as(puppet)
          .api(`/chats/${encodeURIComponent(chatId)}/messages`)
          .post({ body: { contentType: 'html', content: html } }) as Promise<unknown>,
      ),
    )) as { id: string };
    return m.id;
  }

  async replyWithQuote(puppet: Puppet, chatId: string, quotedId: string, html: string): Promise<string> {
    const m = (await this.call('post the reply to Teams', () =>
      this.posts.schedule(() =>
        this.as(puppet)
          .api(`/chats/${encodeURIComponent(chatId)}/messages/replyWithQuote`)
          .post({ messageIds: [quotedId], replyMessage: { body: { contentType: 'html', content: html } } }) as Promise<unknown>,
      ),
    )) as { id: string };
    return m.id;
  }

  async getMessage(puppet: Puppet, chatId: string, messageId: string): Promise<TeamsChatMessage> {
    const m = (await this.call('read a Teams message', () =>
      this.as(puppet).api(`/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}`).get(),
    )) as GraphChatMessage;
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
    const response = (await this.call(what, () =>
      this.as(puppet)
        .api(`${this.messagePath(chatId, messageId)}/hostedContents/${encodeURIComponent(hostedContentId)}/$value`)
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
    await this.call('edit a Teams message', () =>
      this.as(puppet).api(this.messagePath(chatId, messageId)).patch({ body: { contentType: 'html', content: html } }),
    );
  }

  async markChatRead(puppet: Puppet, chatId: string): Promise<void> {
    await this.call('mark the Teams chat read', () =>
      this.as(puppet).api(`/chats/${encodeURIComponent(chatId)}/markChatReadForUser`).post({ user: { id: puppet.userId, tenantId: this.o.tenantId } }),
    );
  }

  /** https://learn.microsoft.com/en-us/graph/api/chatmessage-softdelete */
  async softDeleteMessage(puppet: Puppet, chatId: string, messageId: string): Promise<void> {
    await this.call('delete a Teams message', () => this.as(puppet).api(`${this.messagePath(chatId, messageId)}/softDelete`).post({}));
  }

  /** https://learn.microsoft.com/en-us/graph/api/chatmessage-setreaction */
  async setReaction(puppet: Puppet, chatId: string, messageId: string, reactionType: string): Promise<void> {
    await this.call('react to a Teams message', () => this.as(puppet).api(`${this.messagePath(chatId, messageId)}/setReaction`).post({ reactionType }));
  }

  /** https://learn.microsoft.com/en-us/graph/api/chatmessage-unsetreaction */
  async unsetReaction(puppet: Puppet, chatId: string, messageId: string, reactionType: string): Promise<void> {
    await this.call('remove a reaction from a Teams message', () =>
      this.as(puppet).api(`${this.messagePath(chatId, messageId)}/unsetReaction`).post({ reactionType }),
    );
  }

  private messagePath(chatId: string, messageId: string): string {
    return `/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}`;
  }

  /** https://learn.microsoft.com/en-us/graph/api/chat-list-messages ($top at most 50; newest first by default). */
  async recentMessages(puppet: Puppet, chatId: string): Promise<TeamsChatMessage[]> {
    const page = (await this.call('list recent Teams messages', () =>
      this.as(puppet).api(`/chats/${encodeURIComponent(chatId)}/messages`).top(50).get(),
    )) as { value: GraphChatMessage[] };
    return page.value.map((m) => toChatMessage(chatId, m)).sort((a, b) => b.createdAt - a.createdAt);
  }

  async chatMemberIds(puppet: Puppet, chatId: string): Promise<{ chatType: string; memberIds: string[] }> {
    const chat = (await this.call('read a Teams chat', () => this.as(puppet).api(`/chats/${encodeURIComponent(chatId)}`).get())) as {
      chatType: string;
    };
    const members = (await this.call('read the chat members', () =>
      this.as(puppet).api(`/chats/${encodeURIComponent(chatId)}/members`).get(),
    )) as { value: { userId?: string }[] };
    return { chatType: chat.chatType, memberIds: members.value.flatMap((m) => (m.userId ? [m.userId] : [])) };
  }

  async getPresence(userId: string): Promise<TeamsPresence> {
    const p = (await this.call('read a Teams user presence', () =>
      this.o.clients.app().api(`/users/${encodeURIComponent(userId)}/presence`).get(),
    )) as GraphPresence;
    return { availability: p.availability, activity: p.activity, statusMessage: p.statusMessage?.message?.content ?? undefined };
  }

  /** https://learn.microsoft.com/en-us/graph/api/user-get (app User.Read.All); only the card's fields. */
  async userProfile(userId: string): Promise<GraphProfile> {
    return (await this.call('read a Teams user profile', () =>
      this.o.clients.app().api(`/users/${encodeURIComponent(userId)}`).select(PROFILE_SELECT).get(),
    )) as GraphProfile;
  }

  /**
   * https://learn.microsoft.com/en-us/graph/api/user-update and profilephoto-update (app User.ReadWrite.All): the
   * account keeps the JID in its display name, so a Teams user always sees who is behind it.
   */
  async updatePuppetProfile(puppet: Puppet, profile: GraphProfile, photo: Photo | undefined): Promise<void> {
    // The account keeps its marker and domain whatever the card says (protocol/puppet-identity.ts, issue 12).
    const body = puppetProfile(puppet.remoteJid, profile, this.o.puppets.displayNameSuffix);
    await this.call('update the XMPP user account profile', () => this.o.clients.app().api(`/users/${encodeURIComponent(puppet.userId)}`).patch(body));
    if (photo && (photo.type === 'image/jpeg' || photo.type === 'image/png') && photo.bytes.length <= 4 * 1024 * 1024) {
      await this.call('update the XMPP user account photo', () =>
        this.o.clients.app().api(`/users/${encodeURIComponent(puppet.userId)}/photo/$value`).header('Content-Type', photo.type).put(photo.bytes),
      );
    }
  }

  /**
   * https://learn.microsoft.com/en-us/graph/api/profilephoto-get: the 96x96 size, small enough for an XMPP avatar
   * (XEP-0153 recommends small images); 404 means no photo.
   */
  async userPhoto(userId: string): Promise<Photo | undefined> {
    try {
      const bytes = (await this.o.clients
        .app()
        .api(`/users/${encodeURIComponent(userId)}/photos/96x96/$value`)
        .responseType(ResponseType.ARRAYBUFFER)
        .get()) as ArrayBuffer;
      return { type: 'image/jpeg', bytes: Buffer.from(bytes) };
    } catch (err) {
      const e = toTeamsError(err, 'read a Teams user photo');
      if (e.status === 404) return undefined;
      throw e;
    }
  }

  /** https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers (app GroupMember.Read.All); all pages. */
  async groupMemberIds(groupId: string): Promise<string[]> {
    const ids: string[] = [];
    let page = (await this.call('read group members', () =>
      this.o.clients.app().api(`/groups/${encodeURIComponent(groupId)}/transitiveMembers`).select(['id']).top(999).get(),
    )) as { value: { id: string; '@odata.type'?: string }[]; '@odata.nextLink'?: string };
    for (;;) {
      for (const m of page.value) if (!m['@odata.type'] || m['@odata.type'] === '#microsoft.graph.user') ids.push(m.id);
      const next = page['@odata.nextLink'];
      if (!next) return ids;
      page = (await this.call('read group members', () => this.o.clients.app().api(next).get())) as typeof page;
    }
  }

  /**
   * The XMPP user's presence on its account, as the account itself (delegated Presence.ReadWrite):
   * https://learn.microsoft.com/en-us/graph/api/presence-setpresence,
   * https://learn.microsoft.com/en-us/graph/api/presence-setuserpreferredpresence,
   * https://learn.microsoft.com/en-us/graph/api/presence-setstatusmessage
   */
  async setPuppetPresence(puppet: Puppet, intent: TeamsPresenceIntent, sessionMinutes: number): Promise<void> {
    const api = (action: string) => this.as(puppet).api(`/users/${encodeURIComponent(puppet.userId)}/presence/${action}`);
    const sessionId = this.o.clientId;
    await this.call('set the XMPP user presence in Teams', async () => {
      if (intent.session) {
        await api('setPresence').post({ sessionId, ...intent.session, expirationDuration: `PT${sessionMinutes}M` });
      } else {
        await api('clearPresence').post({ sessionId });
      }
      if (intent.preferred) await api('setUserPreferredPresence').post({ ...intent.preferred, expirationDuration: `PT${sessionMinutes}M` });
      else await api('clearUserPreferredPresence').post({});
      await api('setStatusMessage').post({ statusMessage: { message: { content: intent.statusMessage ?? '', contentType: 'text' } } });
    });
  }

  // ---- subscriptions ----------------------------------------------------------------------------------------

  async createSubscription(owner: Puppet | undefined, r: SubscriptionRequest): Promise<CreatedSubscription> {
    const s = (await this.call('create a Graph subscription', () =>
      this.as(owner)
        .api('/subscriptions')
        .post({
          changeType: r.changeType,
          notificationUrl: r.notificationUrl,
          ...(r.lifecycleNotificationUrl ? { lifecycleNotificationUrl: r.lifecycleNotificationUrl } : {}),
          resource: r.resource,
          expirationDateTime: r.expirationDateTime.toISOString(),
          clientState: r.clientState,
        }),
    )) as { id: string; expirationDateTime: string };
    return { id: s.id, expiresAt: Date.parse(s.expirationDateTime) };
  }

  async renewSubscription(owner: Puppet | undefined, id: string, expirationDateTime: Date): Promise<CreatedSubscription> {
    const s = (await this.call('renew a Graph subscription', () =>
      this.as(owner).api(`/subscriptions/${encodeURIComponent(id)}`).patch({ expirationDateTime: expirationDateTime.toISOString() }),
    )) as { id: string; expirationDateTime: string };
    return { id: s.id, expiresAt: Date.parse(s.expirationDateTime) };
  }

  async reauthorizeSubscription(owner: Puppet | undefined, id: string): Promise<void> {
    await this.call('reauthorize a Graph subscription', () => this.as(owner).api(`/subscriptions/${encodeURIComponent(id)}/reauthorize`).post({}));
  }

  async deleteSubscription(owner: Puppet | undefined, id: string): Promise<void> {
    try {
      await this.as(owner).api(`/subscriptions/${encodeURIComponent(id)}`).delete();
    } catch (err) {
      const e = toTeamsError(err, 'delete a Graph subscription');
      if (e.status !== 404) throw e;
    }
  }
}
