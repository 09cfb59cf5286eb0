/**
 * TeamsPort on Microsoft Graph v1.0. Which identity makes which call follows docs/teams-identity.md: the
 * application token for the directory and for reading presence, the XMPP user's own account (puppet, delegated)
 * for everything Graph allows only a signed-in user to do (create a 1:1 chat, post in it, read it, subscribe to
 * it, set its own presence). Graph failures become {@link TeamsError}s, classified transient or permanent.
 *
 * This class only assembles the parts, one per concern: users and groups (graph-directory.ts), chats and messages
 * (graph-chats.ts), presence (graph-presence.ts), profiles and photos (graph-profile.ts), subscriptions
 * (graph-subscriptions.ts), errors (graph-errors.ts). Every request is paced under Graph's documented limits by
 * the clients' middleware (graph-pacing.ts).
 */
import type { TeamsPresence, TeamsPresenceIntent } from '../protocol/presence-map.js';
import type { GraphProfile, Photo } from '../protocol/vcard.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { GraphChats, type HostedContentStream } from './graph-chats.js';
export { toChatMessage, type GraphChatMessage } from './graph-chats.js';
import type { GraphClients } from './graph-clients.js';
import { GraphContext, type PuppetSettings } from './graph-context.js';
import { GraphDirectory } from './graph-directory.js';
import { GraphPresenceApi } from './graph-presence.js';
export { toTeamsPresence, type GraphPresence } from './graph-presence.js';
import { GraphProfiles } from './graph-profile.js';
import {
  GraphSubscriptions,
  type CreatedSubscription,
  type ListedSubscription,
  type SubscriptionApi,
  type SubscriptionCertificate,
  type SubscriptionRequest,
} from './graph-subscriptions.js';
import type { ChatPost, PostOutcome, Puppet, TeamsChatMessage, TeamsPort, TeamsUser } from './teams-port.js';

export { toTeamsError } from './graph-errors.js';
export type { CreatedSubscription, HostedContentStream, ListedSubscription, PuppetSettings, SubscriptionApi, SubscriptionCertificate, SubscriptionRequest };

export interface GraphTeamsAdapterOptions {
  readonly clients: GraphClients;
  /** The app's client id: Graph requires it as the sessionId of setPresence. */
  readonly clientId: string;
  readonly tenantId: string;
  /** The Graph endpoint in use (teams.graphBaseUrl): OData references name it. */
  readonly graphBaseUrl: string;
  readonly puppets: PuppetSettings;
  readonly log: Logger;
  /** The configured tenant id, on the Graph spans (issue 16). */
  readonly tenant?: string;
  /** Counts the requests inside JSON batches, which the Graph client's middleware sees only as one `/$batch`. */
  readonly metrics?: Metrics;
}

export class GraphTeamsAdapter implements TeamsPort, SubscriptionApi {
  private readonly directory: GraphDirectory;
  private readonly chats: GraphChats;
  private readonly presence: GraphPresenceApi;
  private readonly profiles: GraphProfiles;
  private readonly subscriptions: GraphSubscriptions;

  constructor(private readonly o: GraphTeamsAdapterOptions) {
    const g = new GraphContext(o.clients, o.graphBaseUrl, o.puppets, o.log, Date.now, o.tenant);
    this.directory = new GraphDirectory(g);
    this.chats = new GraphChats(g, o.tenantId, o.metrics);
    this.presence = new GraphPresenceApi(g, o.clientId);
    this.profiles = new GraphProfiles(g);
    this.subscriptions = new GraphSubscriptions(g);
  }

  userByUpn(upn: string): Promise<TeamsUser | undefined> {
    return this.directory.userByUpn(upn);
  }
  userById(id: string): Promise<TeamsUser | undefined> {
    return this.directory.userById(id);
  }
  ensurePuppet(remoteJid: string): Promise<Puppet> {
    return this.directory.ensurePuppet(remoteJid);
  }
  groupMemberIds(groupId: string): Promise<string[]> {
    return this.directory.groupMemberIds(groupId);
  }

  ensureChat(puppet: Puppet, teamsUserId: string): Promise<string> {
    return this.chats.ensureChat(puppet, teamsUserId);
  }
  /** Whether this node posted that message itself (own-posts.ts): its notification needs no processing. */
  postedHere(chatId: string, messageId: string): boolean {
    return this.chats.ownPosts.has(chatId, messageId);
  }

  sendMessage(puppet: Puppet, chatId: string, html: string): Promise<string> {
    return this.chats.sendMessage(puppet, chatId, html);
  }
  postMessages(puppet: Puppet, chatId: string, posts: readonly ChatPost[]): Promise<PostOutcome[]> {
    return this.chats.postMessages(puppet, chatId, posts);
  }
  replyWithQuote(puppet: Puppet, chatId: string, quotedId: string, html: string): Promise<string> {
    return this.chats.replyWithQuote(puppet, chatId, quotedId, html);
  }
  getMessage(puppet: Puppet, chatId: string, messageId: string): Promise<TeamsChatMessage> {
    return this.chats.getMessage(puppet, chatId, messageId);
  }
  openHostedContent(puppet: Puppet, chatId: string, messageId: string, hostedContentId: string): Promise<HostedContentStream> {
    return this.chats.openHostedContent(puppet, chatId, messageId, hostedContentId);
  }
  editMessage(puppet: Puppet, chatId: string, messageId: string, html: string): Promise<void> {
    return this.chats.editMessage(puppet, chatId, messageId, html);
  }
  markChatRead(puppet: Puppet, chatId: string): Promise<void> {
    return this.chats.markChatRead(puppet, chatId);
  }
  softDeleteMessage(puppet: Puppet, chatId: string, messageId: string): Promise<void> {
    return this.chats.softDeleteMessage(puppet, chatId, messageId);
  }
  setReaction(puppet: Puppet, chatId: string, messageId: string, emoji: string): Promise<void> {
    return this.chats.setReaction(puppet, chatId, messageId, emoji);
  }
  unsetReaction(puppet: Puppet, chatId: string, messageId: string, emoji: string): Promise<void> {
    return this.chats.unsetReaction(puppet, chatId, messageId, emoji);
  }
  recentMessages(puppet: Puppet, chatId: string): Promise<TeamsChatMessage[]> {
    return this.chats.recentMessages(puppet, chatId);
  }
  chatMemberIds(puppet: Puppet, chatId: string): Promise<{ chatType: string; memberIds: string[] }> {
    return this.chats.chatMemberIds(puppet, chatId);
  }

  getPresence(userId: string): Promise<TeamsPresence> {
    return this.presence.getPresence(userId);
  }
  setPuppetPresence(puppet: Puppet, intent: TeamsPresenceIntent, sessionMinutes: number): Promise<void> {
    return this.presence.setPuppetPresence(puppet, intent, sessionMinutes);
  }
  keepPresenceAlive(puppet: Puppet, session: NonNullable<TeamsPresenceIntent['session']>, sessionMinutes: number): Promise<void> {
    return this.presence.keepPresenceAlive(puppet, session, sessionMinutes);
  }

  userProfile(userId: string): Promise<GraphProfile> {
    return this.profiles.userProfile(userId);
  }
  updatePuppetProfile(puppet: Puppet, profile: GraphProfile, photo: Photo | undefined): Promise<void> {
    return this.profiles.updatePuppetProfile(puppet, profile, photo, this.o.puppets.displayNameSuffix);
  }
  userPhoto(userId: string): Promise<Photo | undefined> {
    return this.profiles.userPhoto(userId);
  }

  createSubscription(owner: Puppet | undefined, request: SubscriptionRequest): Promise<CreatedSubscription> {
    return this.subscriptions.createSubscription(owner, request);
  }
  renewSubscription(owner: Puppet | undefined, id: string, expirationDateTime: Date): Promise<CreatedSubscription> {
    return this.subscriptions.renewSubscription(owner, id, expirationDateTime);
  }
  reauthorizeSubscription(owner: Puppet | undefined, id: string): Promise<void> {
    return this.subscriptions.reauthorizeSubscription(owner, id);
  }
  deleteSubscription(owner: Puppet | undefined, id: string): Promise<void> {
    return this.subscriptions.deleteSubscription(owner, id);
  }
  updateSubscriptionCertificate(owner: Puppet | undefined, id: string, certificate: SubscriptionCertificate): Promise<CreatedSubscription> {
    return this.subscriptions.updateSubscriptionCertificate(owner, id, certificate);
  }
  listSubscriptions(owner: Puppet | undefined): Promise<ListedSubscription[]> {
    return this.subscriptions.listSubscriptions(owner);
  }
}
