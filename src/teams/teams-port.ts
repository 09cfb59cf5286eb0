/**
 * What actors need from Teams, independent of Graph's wire format. The Graph adapter implements it.
 */
import type { TeamsPresence, TeamsPresenceIntent } from '../protocol/presence-map.js';
import type { GraphProfile, Photo } from '../protocol/vcard.js';

export interface TeamsUser {
  readonly id: string;
  readonly upn: string;
  readonly displayName: string | undefined;
}

/** The Entra account that represents one XMPP user (docs/teams-identity.md). */
export interface Puppet {
  readonly remoteJid: string;
  readonly userId: string;
  readonly upn: string;
}

export interface TeamsChatMessage {
  readonly id: string;
  readonly chatId: string;
  /** Sender's user id; undefined for system and application messages. */
  readonly fromUserId: string | undefined;
  readonly messageType: string;
  readonly contentType: 'html' | 'text';
  readonly content: string;
  readonly createdAt: number;
  /** Set when the message was edited (lastEditedDateTime). */
  readonly editedAt?: number | undefined;
  /** Set when the message was (soft) deleted (deletedDateTime). */
  readonly deletedAt?: number | undefined;
  readonly reactions?: readonly { readonly reactionType: string; readonly userId: string | undefined }[];
  /** chatMessageAttachment: quoted messages ('messageReference'), shared files ('reference'), cards. */
  readonly attachments?: readonly { readonly id: string; readonly contentType: string; readonly contentUrl: string | undefined; readonly name: string | undefined; readonly content: string | undefined }[];
}

/**
 * A Graph failure, classified: transient ones (429, 5xx, network) are retried with backoff, the rest are
 * permanent for the request that caused them.
 */
export class TeamsError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly transient: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TeamsError';
  }
}

/** One message to post: a plain post, or a reply quoting `replyToId` (chatmessage-replywithquote). */
export interface ChatPost {
  readonly html: string;
  readonly replyToId?: string | undefined;
}

/** What became of one post of several: its Teams message id, or why not. */
export type PostOutcome = { readonly id: string } | { readonly error: TeamsError };

export interface TeamsPort {
  userByUpn(upn: string): Promise<TeamsUser | undefined>;
  userById(id: string): Promise<TeamsUser | undefined>;
  /** Finds or creates the account of an XMPP user (idempotent: the UPN is derived from the JID). */
  ensurePuppet(remoteJid: string): Promise<Puppet>;
  /** The one-to-one chat between the puppet and a Teams user (Graph returns the existing one if any). */
  ensureChat(puppet: Puppet, teamsUserId: string): Promise<string>;
  /** Posts as the puppet; resolves with the Teams message id once Graph accepted it. */
  sendMessage(puppet: Puppet, chatId: string, html: string): Promise<string>;
  /**
   * Posts several messages as the puppet, in order, in one request (Graph's JSON batching): one
   * outcome per post; a post after a failed one is not attempted (status 424). Throws when the request as a whole
   * failed: then any of them may have reached Graph.
   */
  postMessages(puppet: Puppet, chatId: string, posts: readonly ChatPost[]): Promise<PostOutcome[]>;
  /** Posts as a reply quoting `quotedId` (https://learn.microsoft.com/en-us/graph/api/chatmessage-replywithquote). */
  replyWithQuote(puppet: Puppet, chatId: string, quotedId: string, html: string): Promise<string>;
  getMessage(puppet: Puppet, chatId: string, messageId: string): Promise<TeamsChatMessage>;
  /** The puppet has read the chat (https://learn.microsoft.com/en-us/graph/api/chat-markchatreadforuser). */
  markChatRead(puppet: Puppet, chatId: string): Promise<void>;
  editMessage(puppet: Puppet, chatId: string, messageId: string, html: string): Promise<void>;
  softDeleteMessage(puppet: Puppet, chatId: string, messageId: string): Promise<void>;
  setReaction(puppet: Puppet, chatId: string, messageId: string, reactionType: string): Promise<void>;
  unsetReaction(puppet: Puppet, chatId: string, messageId: string, reactionType: string): Promise<void>;
  /** The newest messages of a chat (at most 50, Graph's page size for chat messages), newest first. */
  recentMessages(puppet: Puppet, chatId: string): Promise<TeamsChatMessage[]>;
  chatMemberIds(puppet: Puppet, chatId: string): Promise<{ chatType: string; memberIds: string[] }>;
  getPresence(userId: string): Promise<TeamsPresence>;
  userProfile(userId: string): Promise<GraphProfile>;
  /** Shows an XMPP user's vCard on its account: profile fields and photo (docs/teams-identity.md). */
  updatePuppetProfile(puppet: Puppet, profile: GraphProfile, photo: Photo | undefined): Promise<void>;
  /** The user's photo at a small size, or undefined when she has none. */
  userPhoto(userId: string): Promise<Photo | undefined>;
  /** Ids of the users in a group, nested groups included (transitive members). */
  groupMemberIds(groupId: string): Promise<string[]>;
  /** Sets the whole presence of the XMPP user's account: session (or none), preferred presence, status text. */
  setPuppetPresence(puppet: Puppet, intent: TeamsPresenceIntent, sessionMinutes: number): Promise<void>;
  /** Calls setPresence again with the same session state, before the session times out or expires. */
  keepPresenceAlive(puppet: Puppet, session: NonNullable<TeamsPresenceIntent['session']>, sessionMinutes: number): Promise<void>;
}
