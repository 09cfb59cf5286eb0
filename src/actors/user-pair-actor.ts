/**
 * UserPairActor: one Teams user and one XMPP user (DESIGN.md). It owns both sides' presence for the pair, the
 * Teams chat between them, the ordered outbox of XMPP messages on their way to Teams, and the dedup of Teams
 * messages on their way to XMPP. Durable state lives in the store; presence is re-learnt on activation.
 *
 * Key: "<Teams user id>|<XMPP bare JID>".
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { splitForTeams, textToTeamsHtml, teamsHtmlToText } from '../protocol/message-body.js';
import {
  aggregateResources,
  teamsToXmpp,
  xmppToTeams,
  type ResourcePresence,
  type TeamsPresence,
  type XmppPresence,
} from '../protocol/presence-map.js';
import { mapAttachments } from '../protocol/attachments.js';
import { hostedImagesOf, type HostedContentRef } from '../protocol/hosted-content.js';
import { chatMessage, correction, type ReplyRef, presence, reactionsMessage, receipt, retraction, type InboundMessage, type InboundPresence } from '../protocol/stanza.js';
import { emojiToTeamsReaction, reactionDiff, teamsReactionToEmoji } from '../protocol/reactions.js';
import { StanzaError, messageError } from '../protocol/stanza-error.js';
import { capsElement, userInfo } from '../protocol/disco.js';
import { avatarUpdate, vcardTempToProfile } from '../protocol/vcard.js';
import { NS } from '../protocol/namespaces.js';
import xml from '@xmpp/xml';
import { formatJid } from '../protocol/jid.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { OutboxRow, PairKey, PairRecord, Store } from '../store/store.js';
import type { Directory } from '../teams/directory.js';
import { TeamsError, type Puppet, type TeamsChatMessage, type TeamsPort, type TeamsUser } from '../teams/teams-port.js';
import { XmppLinkDownError, type XmppPort } from '../xmpp/component-link.js';
import type { Admission, AdmissionResult, Direction } from '../policy/throttle.js';
import type { Actor, ActorContext, Envelope } from './actor.js';

export type PairMessage =
  | { readonly type: 'xmpp-chat'; readonly message: InboundMessage }
  | { readonly type: 'xmpp-presence'; readonly presence: InboundPresence }
  | { readonly type: 'xmpp-subscription'; readonly presence: InboundPresence }
  | { readonly type: 'teams-message'; readonly chatId: string; readonly messageId: string }
  | { readonly type: 'teams-message-changed'; readonly chatId: string; readonly messageId: string }
  | { readonly type: 'teams-presence'; readonly presence: TeamsPresence }
  | { readonly type: 'drain' }
  | { readonly type: 'refresh-presence' }
  | { readonly type: 'resync' };

/** What became of a message: done, worth retrying later, or failed for good. Crashes are thrown instead. */
export type Outcome =
  | { readonly status: 'done' }
  | { readonly status: 'retry'; readonly reason: string; readonly retryAfterMs?: number | undefined }
  | { readonly status: 'failed'; readonly reason: string };

const DONE: Outcome = { status: 'done' };

export interface PairSettings {
  readonly componentDomain: string;
  /** Largest Teams message body (HTML) Graph accepts. */
  readonly maxTeamsHtmlBytes: number;
  readonly presenceSessionMinutes: number;
  readonly outboxMaxAttempts: number;
  readonly outboxBackoffInitialMs: number;
  readonly outboxBackoffMaxMs: number;
  /** XMPP -> Teams over a rate limit: refuse at once, or wait in a bounded queue. */
  readonly onRateExceeded: 'refuse' | 'queue';
  /** Teams -> XMPP: the longest a message waits for its rate limit before its sender is told. */
  readonly maxThrottleDelayMs: number;
  /** A message too long for one Teams message: refuse it, or post it in parts. */
  readonly longMessages: 'refuse' | 'split';
}

/** The Graph subscriptions a pair needs (owned by the XMPP user's account; see SubscriptionManager). */
export interface PairSubscriptions {
  /** The account exists: its message subscription must too, so that Teams replies arrive. */
  puppetReady(puppet: Puppet): Promise<void>;
  /** The set of Teams users the XMPP user is subscribed to changed: watch their presence. */
  presenceInterestChanged(puppet: Puppet): Promise<void>;
}

export interface PairPolicy {
  verdict(user: TeamsUser, remoteDomain: string): { readonly allowed: true } | { readonly allowed: false; readonly reason: string };
}

export interface PairThrottle {
  admit(direction: Direction, a: Admission, mode: 'refuse' | 'queue', maxWaitMs?: number): Promise<AdmissionResult>;
}

export interface PairDeps {
  readonly store: Store;
  readonly teams: TeamsPort;
  readonly directory: Directory;
  readonly xmpp: XmppPort;
  readonly subscriptions: PairSubscriptions;
  readonly policy: PairPolicy;
  /** The XEP-0153 avatar hash of a Teams user, for her presence ('' when she has no photo). */
  readonly avatarHash: (teamsUserId: string) => Promise<string | undefined>;
  readonly throttle: PairThrottle;
  /** Links to Teams inline images that XMPP users can open (the media proxy); without it they show as "[image]". */
  readonly media?: { link(ref: HostedContentRef, puppetUserId: string): string } | undefined;
  readonly metrics: Metrics;
  readonly settings: PairSettings;
  readonly now: () => number;
}

export function pairKey(key: PairKey): string {
  return `${key.teamsUserId}|${key.remoteJid}`;
}

export function parsePairKey(key: string): PairKey {
  const bar = key.indexOf('|');
  return { teamsUserId: key.slice(0, bar), remoteJid: key.slice(bar + 1) };
}

/** Graph failures that the next attempt may not repeat; the rest fail the message. */
function classify(err: unknown): { transient: boolean; reason: string; retryAfterMs?: number | undefined; status: number } {
  if (err instanceof TeamsError) return { transient: err.transient, reason: err.message, retryAfterMs: err.retryAfterMs, status: err.status };
  if (err instanceof XmppLinkDownError) return { transient: true, reason: err.message, status: 0 };
  throw err; // anything else is a bug: let the supervisor restart the actor
}

/** The stanza error an XMPP sender gets when Teams refused a message for good. */
export function stanzaErrorForTeams(status: number, reason: string): StanzaError {
  if (status === 404) return new StanzaError('item-not-found', 'the Teams user or chat no longer exists');
  if (status === 413) return new StanzaError('policy-violation', 'the message is too large for Teams');
  if (status === 400) return new StanzaError('not-acceptable', `Teams rejected the message: ${reason}`);
  if (status === 401 || status === 403) return new StanzaError('service-unavailable', 'the gateway is not allowed to post to Teams; an administrator must check its permissions');
  if (status === 0 || status === 429 || status >= 500) return new StanzaError('remote-server-timeout', 'Teams did not accept the message in time');
  return new StanzaError('undefined-condition', `Teams refused the message (HTTP ${status})`);
}

export class UserPairActor implements Actor<PairMessage, Outcome> {
  private readonly key: PairKey;
  private pair!: PairRecord;
  private teamsUser!: TeamsUser;
  private teamsJid!: string;
  private puppet: Puppet | undefined;
  private readonly resources = new Map<string, ResourcePresence>();
  private lastPresenceSent: string | undefined;
  private lastIntentSent: string | undefined;
  private presenceRefresh: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  /** When this activation accepted each outbox row (for the relay latency histogram; not durable). */
  private readonly acceptedAt = new Map<number, number>();
  private readonly log: Logger;

  constructor(
    ctx: ActorContext,
    private readonly d: PairDeps,
    /** Lets the actor send itself a message later (retry timers) through its supervisor's mailbox. */
    private readonly self: (message: PairMessage) => void,
  ) {
    this.key = parsePairKey(ctx.key);
    this.log = ctx.log;
  }

  async activate(): Promise<void> {
    const user = await this.d.directory.byId(this.key.teamsUserId);
    if (!user) throw new Error(`Teams user ${this.key.teamsUserId} not found`);
    this.teamsUser = user;
    this.teamsJid = this.d.directory.jidOf(user);
    this.pair = (await this.d.store.getPair(this.key)) ?? (await this.d.store.updatePair(this.key, {}));
    this.puppet = await this.d.store.getPuppet(this.key.remoteJid);
    // Messages accepted before a restart or a move wait in the outbox: deliver them in order.
    if ((await this.d.store.pendingOutbound(this.key)).length > 0) this.self({ type: 'drain' });
    // Presence is not stored: after a restart (or a crash) it is learnt again by a probe (RFC 6121 §4.3).
    if (this.pair.subTo) this.self({ type: 'resync' });
  }

  async passivate(): Promise<void> {
    clearTimeout(this.presenceRefresh);
    clearTimeout(this.drainTimer);
  }

  isBusy(): boolean {
    return this.presenceRefresh !== undefined;
  }

  async receive(m: PairMessage, env: Envelope): Promise<Outcome> {
    const log = this.log.child({ correlationId: env.correlationId });
    switch (m.type) {
      case 'xmpp-chat':
        return this.acceptFromXmpp(m.message, log);
      case 'drain':
        return this.drain(log);
      case 'teams-message':
        return this.relayFromTeams(m.chatId, m.messageId, log);
      case 'teams-message-changed':
        return this.relayChangeFromTeams(m.chatId, m.messageId, log);
      case 'xmpp-presence':
        return this.onXmppPresence(m.presence, log);
      case 'xmpp-subscription':
        return this.onSubscription(m.presence, log);
      case 'teams-presence':
        return this.onTeamsPresence(m.presence);
      case 'refresh-presence':
        return this.pushXmppPresenceToTeams(log, true);
      case 'resync':
        return this.resync(log);
    }
  }

  // ---- XMPP -> Teams messages ------------------------------------------------------------------------------

  private async acceptFromXmpp(msg: InboundMessage, log: Logger): Promise<Outcome> {
    if (msg.retractId || msg.reactions || (msg.replaceId && msg.body)) return this.changeFromXmpp(msg, log);
    // XEP-0461: a reply to a message Teams knows is posted as a Teams quote, without the quote XMPP added as fallback.
    const quoted = msg.reply && this.pair.chatId ? await this.d.store.findRelayedByXmppId(this.pair.chatId, msg.reply.id) : undefined;
    const body = (quoted ? msg.reply?.body : msg.body) ?? '';
    if (body.trim() === '') {
      // XEP-0333 "displayed" becomes the Teams read state of the chat (what Alice sees as "Seen"); chat states
      // (XEP-0085) have no Graph counterpart and are not relayed.
      if (msg.displayedId && this.pair.chatId) await this.markRead(this.pair.chatId, log);
      return DONE;
    }
    const html = textToTeamsHtml(body);
    // XEP-0359 origin-id is unique per sender; a plain stanza id only per stream, so it counts as the same message
    // only with the same text (a retransmission), never a new message that reuses an id.
    const stableId = msg.originId ?? (msg.id ? `${msg.id}#${createHash('sha256').update(body).digest('base64url').slice(0, 16)}` : undefined);
    const baseKey = stableId ? `${this.key.teamsUserId}|${formatJid({ ...msg.from, resource: '' })}|${stableId}` : undefined;
    // A retransmission of an accepted message is answered without costing rate-limit tokens.
    // (A split message's parts have their own keys; its retransmission is caught by the enqueue below.)
    const known = baseKey ? await this.d.store.findOutbound(baseKey) : undefined;
    if (known) {
      log.info('retransmitted message ignored (already accepted)', { outboxId: known.id, state: known.state });
      if (known.state === 'delivered' && msg.receiptRequested && msg.id) await this.sendReceipt(formatJid(msg.from), msg.id);
      return DONE;
    }
    // Bounded: the message is not yet committed while it waits, so it must not wait long.
    const admitted = await this.d.throttle.admit('xmpp_to_teams', this.admission(body), this.d.settings.onRateExceeded, this.d.settings.maxThrottleDelayMs);
    if (!admitted.ok) {
      log.info('message over the rate limit refused', { scope: admitted.scope });
      // RFC 6120 §8.3.3.18: <resource-constraint/> (wait): the sender may retry later.
      await this.sendError(formatJid(msg.from), msg.id, new StanzaError('resource-constraint', `rate limit exceeded (${admitted.scope}); slow down and retry later`, 'wait'));
      return DONE;
    }
    const tooLong = Buffer.byteLength(html, 'utf8') > this.d.settings.maxTeamsHtmlBytes;
    if (tooLong && this.d.settings.longMessages === 'refuse') {
      await this.sendError(formatJid(msg.from), msg.id, new StanzaError('policy-violation', `message too long for Teams (limit ${this.d.settings.maxTeamsHtmlBytes} bytes once formatted)`));
      return DONE;
    }
    // One outbox row per part, committed in order (a retransmission fills in any part a crash left out); the
    // receipt rides on the last part.
    const parts = tooLong ? splitForTeams(body, this.d.settings.maxTeamsHtmlBytes) : [body];
    let row: OutboxRow | undefined;
    let inserted = false;
    for (const [i, part] of parts.entries()) {
      const r = await this.d.store.enqueueOutbound(
        {
          ...this.key,
          dedupKey: baseKey && parts.length > 1 ? `${baseKey}#${i + 1}/${parts.length}` : baseKey,
          sender: formatJid(msg.from),
          stanzaId: msg.id,
          receiptRequested: msg.receiptRequested && i === parts.length - 1,
          body: part,
          replyToTeamsId: i === 0 ? quoted?.teamsMessageId : undefined,
        },
        this.d.now(),
      );
      row = r.row;
      inserted ||= r.inserted;
      if (r.inserted) this.acceptedAt.set(r.row.id, this.d.now());
    }
    if (!row) return DONE;
    if (!inserted) {
      log.info('retransmitted message ignored (already accepted)', { outboxId: row.id, state: row.state });
      if (row.state === 'delivered' && msg.receiptRequested && msg.id) await this.sendReceipt(formatJid(msg.from), msg.id);
      return DONE;
    }
    if (parts.length > 1) log.info('long message split for Teams', { parts: parts.length });
    log.debug('message accepted into the outbox', { outboxId: row.id, body });
    return this.drain(log);
  }

  private async markRead(chatId: string, log: Logger): Promise<void> {
    try {
      await this.d.teams.markChatRead(await this.ensurePuppet(), chatId);
    } catch (err) {
      log.info('could not mark the Teams chat read', { reason: classify(err).reason });
    }
  }

  /** The buckets one message draws from: its remote domain, both users, and the pair. */
  private admission(body: string): Admission {
    const domain = this.key.remoteJid.slice(this.key.remoteJid.indexOf('@') + 1);
    return {
      scopes: [
        { scope: 'domain', key: domain },
        { scope: 'user', key: `teams:${this.key.teamsUserId}` },
        { scope: 'user', key: `xmpp:${this.key.remoteJid}` },
        { scope: 'pair', key: `${this.key.teamsUserId}|${this.key.remoteJid}` },
      ],
      bytes: Buffer.byteLength(body, 'utf8'),
    };
  }

  private remoteDomain(): string {
    return this.key.remoteJid.slice(this.key.remoteJid.indexOf('@') + 1);
  }

  /** Tells the Teams user, in the chat, why her message did not reach XMPP (as the XMPP user's account). */
  private async noticeToTeams(chatId: string, text: string, log: Logger): Promise<void> {
    try {
      const puppet = await this.ensurePuppet();
      const id = await this.d.teams.sendMessage(puppet, chatId, `<p><em>${textToTeamsHtml(`[XMPP gateway] ${text}`)}</em></p>`);
      await this.d.store.recordRelayed({ chatId, teamsMessageId: id, direction: 'xmpp_to_teams', xmppId: undefined }, this.d.now());
    } catch (err) {
      log.warn('could not post a notice to Teams', { reason: classify(err).reason });
    }
  }

  /** Delivers the pair's pending messages in order; stops at the first one that must wait. */
  private async drain(log: Logger): Promise<Outcome> {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    for (const row of await this.d.store.pendingOutbound(this.key)) {
      const now = this.d.now();
      if (row.nextAttemptAt > now) {
        this.scheduleDrain(row.nextAttemptAt - now);
        return DONE;
      }
      const waiting = await this.deliver(row, log);
      if (waiting) return DONE;
    }
    return DONE;
  }

  /** Returns true when the row must wait (retry scheduled), so later rows keep their order behind it. */
  private async deliver(row: OutboxRow, log: Logger): Promise<boolean> {
    let chatId: string;
    let teamsMessageId: string;
    try {
      const puppet = await this.ensurePuppet();
      chatId = await this.ensureChat(puppet);
      const html = textToTeamsHtml(row.body);
      const earlier = row.sendingSince === undefined ? undefined : await this.findEarlierPost(puppet, chatId, row, log);
      if (earlier) {
        teamsMessageId = earlier;
      } else {
        await this.d.store.markOutboundSending(row.id, this.d.now());
        teamsMessageId = row.replyToTeamsId
          ? await this.d.teams.replyWithQuote(puppet, chatId, row.replyToTeamsId, html)
          : await this.d.teams.sendMessage(puppet, chatId, html);
      }
    } catch (err) {
      const c = classify(err);
      const attempts = row.attempts + 1;
      if (c.transient && attempts < this.d.settings.outboxMaxAttempts) {
        const backoff = Math.min(this.d.settings.outboxBackoffMaxMs, this.d.settings.outboxBackoffInitialMs * 2 ** (attempts - 1));
        const delay = Math.max(backoff, c.retryAfterMs ?? 0);
        if (c.retryAfterMs) this.d.metrics.retryAfterWaits.inc({ queue: 'outbox' }, c.retryAfterMs / 1000);
        await this.d.store.markOutboundRetry(row.id, c.reason, this.d.now() + delay);
        log.warn('Teams did not accept the message yet; will retry', { outboxId: row.id, attempts, delayMs: delay, reason: c.reason });
        this.scheduleDrain(delay);
        return true;
      }
      await this.d.store.markOutboundDead(row.id, c.reason, this.d.now());
      this.d.metrics.deadLetters.inc({ kind: 'user-pair', reason: c.transient ? 'retries_exhausted' : 'rejected_by_teams' });
      log.error('message dead-lettered; the sender is told', { outboxId: row.id, attempts, status: c.status, reason: c.reason });
      await this.sendError(row.sender, row.stanzaId, stanzaErrorForTeams(c.transient ? 0 : c.status, c.reason));
      return false;
    }
    await this.d.store.markOutboundDelivered(row.id, teamsMessageId, this.d.now());
    await this.d.store.recordRelayed({ chatId, teamsMessageId, direction: 'xmpp_to_teams', xmppId: row.stanzaId }, this.d.now());
    this.d.metrics.messagesRelayed.inc({ direction: 'xmpp_to_teams' });
    this.d.metrics.messageBytes.inc({ direction: 'xmpp_to_teams' }, Buffer.byteLength(row.body));
    const acceptedAt = this.acceptedAt.get(row.id);
    if (acceptedAt !== undefined) {
      this.acceptedAt.delete(row.id);
      this.d.metrics.relayLatency.observe({ direction: 'xmpp_to_teams' }, (this.d.now() - acceptedAt) / 1000);
    }
    log.info('message relayed to Teams', { outboxId: row.id, teamsMessageId });
    // XEP-0184: the receipt says Teams has the message, so it goes only now.
    if (row.receiptRequested && row.stanzaId) await this.sendReceipt(row.sender, row.stanzaId);
    return false;
  }

  /**
   * An earlier attempt's outcome is unknown (crash or lost answer): Graph may already have the message. It is the
   * newest post of the puppet with the same text, made since that attempt and not yet claimed by another row.
   */
  private async findEarlierPost(puppet: Puppet, chatId: string, row: OutboxRow, log: Logger): Promise<string | undefined> {
    const text = row.body.replace(/\r\n?/gu, '\n');
    const since = (row.sendingSince ?? 0) - 60_000; // clock skew between the node and Graph
    for (const m of await this.d.teams.recentMessages(puppet, chatId)) {
      if (m.fromUserId !== puppet.userId || m.createdAt < since) continue;
      const posted = m.contentType === 'html' ? teamsHtmlToText(m.content) : m.content;
      if (posted !== teamsHtmlToText(textToTeamsHtml(text))) continue;
      if (await this.d.store.findRelayed(chatId, m.id)) continue;
      log.info('an earlier attempt had reached Teams; not posting again', { outboxId: row.id, teamsMessageId: m.id });
      return m.id;
    }
    return undefined;
  }

  private scheduleDrain(delayMs: number): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => this.self({ type: 'drain' }), delayMs);
    this.drainTimer.unref();
  }

  private async ensurePuppet(): Promise<Puppet> {
    if (this.puppet) return this.puppet;
    const puppet = await this.d.teams.ensurePuppet(this.key.remoteJid);
    await this.d.store.putPuppet(puppet);
    await this.d.subscriptions.puppetReady(puppet);
    this.puppet = puppet;
    return puppet;
  }

  private async ensureChat(puppet: Puppet): Promise<string> {
    if (this.pair.chatId) return this.pair.chatId;
    const chatId = await this.d.teams.ensureChat(puppet, this.key.teamsUserId);
    this.pair = await this.d.store.updatePair(this.key, { chatId });
    return chatId;
  }

  private async sendReceipt(to: string, forId: string): Promise<void> {
    await this.trySend(receipt({ from: this.teamsJid, to, forId, id: randomUUID() }));
  }

  private async sendError(to: string, id: string | undefined, err: StanzaError): Promise<void> {
    this.d.metrics.stanzaErrors.inc({ condition: err.condition });
    await this.trySend(messageError({ from: this.teamsJid, to, id }, err));
  }

  /** Receipts, errors and presence are best effort: the link being down must not fail the message. */
  private async trySend(stanza: Element): Promise<boolean> {
    try {
      await this.d.xmpp.send(stanza);
      return true;
    } catch (err) {
      if (err instanceof XmppLinkDownError) return false;
      throw err;
    }
  }

  /**
   * XEP-0308 corrections, XEP-0424 retractions and XEP-0444 reactions, applied to the Teams message they refer to
   * (found by the XMPP id it was relayed with). Graph lets the sender edit and delete only its own messages.
   */
  private async changeFromXmpp(msg: InboundMessage, log: Logger): Promise<Outcome> {
    const sender = formatJid(msg.from);
    const refId = msg.retractId ?? msg.reactions?.id ?? msg.replaceId ?? '';
    const relayed = this.pair.chatId ? await this.d.store.findRelayedByXmppId(this.pair.chatId, refId) : undefined;
    if (!relayed || !this.pair.chatId) {
      await this.sendError(sender, msg.id, new StanzaError('item-not-found', 'the message this refers to is not known in Teams'));
      return DONE;
    }
    const chatId = this.pair.chatId;
    const own = relayed.direction === 'xmpp_to_teams';
    try {
      const puppet = await this.ensurePuppet();
      if (msg.retractId) {
        if (!own) throw new StanzaError('forbidden', "only the sender's own messages can be retracted");
        await this.d.teams.softDeleteMessage(puppet, chatId, relayed.teamsMessageId);
        log.info('retraction relayed to Teams', { teamsMessageId: relayed.teamsMessageId });
      } else if (msg.reactions) {
        const current = (await this.d.teams.getMessage(puppet, chatId, relayed.teamsMessageId)).reactions ?? [];
        const mine = current.filter((r) => r.userId === puppet.userId).map((r) => r.reactionType);
        const diff = reactionDiff(mine, msg.reactions.emojis.map(emojiToTeamsReaction));
        for (const r of diff.unset) await this.d.teams.unsetReaction(puppet, chatId, relayed.teamsMessageId, r);
        for (const r of diff.set) await this.d.teams.setReaction(puppet, chatId, relayed.teamsMessageId, r);
        log.info('reactions relayed to Teams', { teamsMessageId: relayed.teamsMessageId, set: diff.set.length, unset: diff.unset.length });
      } else {
        if (!own) throw new StanzaError('forbidden', "only the sender's own messages can be corrected");
        await this.d.teams.editMessage(puppet, chatId, relayed.teamsMessageId, textToTeamsHtml(msg.body ?? ''));
        log.info('correction relayed to Teams', { teamsMessageId: relayed.teamsMessageId });
      }
    } catch (err) {
      if (err instanceof StanzaError) {
        await this.sendError(sender, msg.id, err);
        return DONE;
      }
      const c = classify(err);
      await this.sendError(sender, msg.id, stanzaErrorForTeams(c.transient ? 0 : c.status, c.reason));
      return DONE;
    }
    if (msg.receiptRequested && msg.id) await this.sendReceipt(sender, msg.id);
    return DONE;
  }

  // ---- Teams -> XMPP messages ------------------------------------------------------------------------------

  private async relayFromTeams(chatId: string, messageId: string, log: Logger): Promise<Outcome> {
    if (await this.d.store.findRelayed(chatId, messageId)) return DONE; // redelivered notification, or our own post
    let message;
    let puppet: Puppet;
    try {
      puppet = await this.ensurePuppet();
      message = await this.d.teams.getMessage(puppet, chatId, messageId);
    } catch (err) {
      const c = classify(err);
      return c.transient ? { status: 'retry', reason: c.reason, retryAfterMs: c.retryAfterMs } : { status: 'failed', reason: c.reason };
    }
    // Only what the Teams user wrote is relayed: the puppet's own posts and system events are not.
    if (message.messageType !== 'message' || message.fromUserId !== this.key.teamsUserId) return DONE;
    const { text, media } = this.textOf(message, puppet);
    if (text.trim() === '' && (message.attachments ?? []).length === 0) {
      log.info('Teams message without text not relayed', { teamsMessageId: messageId });
      return DONE;
    }
    const verdict = this.d.policy.verdict(this.teamsUser, this.remoteDomain());
    if (!verdict.allowed) {
      this.d.metrics.policyRefusals.inc({ direction: 'teams_to_xmpp', reason: verdict.reason });
      this.d.metrics.refusalsByDomain.add(this.remoteDomain(), 'teams_to_xmpp', verdict.reason);
      log.info('Teams message from a user outside the whitelist not relayed; the user is told', { teamsMessageId: messageId, reason: verdict.reason });
      await this.d.store.recordRelayed({ chatId, teamsMessageId: messageId, direction: 'teams_to_xmpp', xmppId: undefined }, this.d.now());
      await this.noticeToTeams(chatId, `Not delivered: your account is not enabled for chat with ${this.remoteDomain()} over XMPP. Ask your administrator.`, log);
      return DONE;
    }
    const admitted = await this.d.throttle.admit('teams_to_xmpp', this.admission(text), 'queue', this.d.settings.maxThrottleDelayMs);
    if (!admitted.ok) {
      log.info('Teams message over the rate limit not relayed; the user is told', { teamsMessageId: messageId, scope: admitted.scope });
      await this.d.store.recordRelayed({ chatId, teamsMessageId: messageId, direction: 'teams_to_xmpp', xmppId: undefined }, this.d.now());
      await this.noticeToTeams(chatId, 'Not delivered: too many messages to XMPP in a short time. Please wait a moment and send it again.', log);
      return DONE;
    }
    if (!this.pair.chatId) this.pair = await this.d.store.updatePair(this.key, { chatId });
    const mapped = mapAttachments(message.attachments ?? []);
    const reply = mapped.quoted ? await this.replyRef(chatId, mapped.quoted.messageId, mapped.quoted.preview) : undefined;
    const note = mapped.unshown.length ? `\n[${mapped.unshown.join(', ')} not shown: open Teams to see it]` : '';
    const sent = await this.trySend(chatMessage({ from: this.teamsJid, to: this.key.remoteJid, id: messageId, body: `${text}${note}`, reply, links: mapped.links, media }));
    if (!sent) return { status: 'retry', reason: 'the XMPP link is down' };
    await this.d.store.recordRelayed({ chatId, teamsMessageId: messageId, direction: 'teams_to_xmpp', xmppId: messageId }, this.d.now());
    this.d.metrics.messagesRelayed.inc({ direction: 'teams_to_xmpp' });
    this.d.metrics.messageBytes.inc({ direction: 'teams_to_xmpp' }, Buffer.byteLength(text));
    if (message.createdAt > 0) this.d.metrics.relayLatency.observe({ direction: 'teams_to_xmpp' }, Math.max(0, this.d.now() - message.createdAt) / 1000);
    log.info('message relayed to XMPP', { teamsMessageId: messageId });
    log.debug('relayed body', { body: text });
    return DONE;
  }

  /**
   * The text of a Teams message for XMPP. Its inline images (hosted contents of this chat) become media proxy links,
   * written where each image was and returned for XEP-0066; other images keep their alt text or "[image]".
   */
  private textOf(message: TeamsChatMessage, puppet: Puppet): { text: string; media: { url: string; desc: string }[] } {
    if (message.contentType !== 'html') return { text: message.content, media: [] };
    const media = this.d.media;
    const urls = new Map(media ? hostedImagesOf(message.content, message.chatId).map((i) => [i.src, media.link(i.ref, puppet.userId)] as const) : []);
    const text = teamsHtmlToText(message.content, { imageText: (src) => urls.get(src) });
    return { text, media: [...urls.values()].map((url) => ({ url, desc: 'image' })) };
  }

  /** The XEP-0461 reference for a quoted Teams message: its XMPP id and author, when it was relayed. */
  private async replyRef(chatId: string, quotedId: string, preview: string): Promise<ReplyRef | undefined> {
    const relayed = await this.d.store.findRelayed(chatId, quotedId);
    if (!relayed) return { to: this.teamsJid, id: quotedId, quote: preview };
    const author = relayed.direction === 'xmpp_to_teams' ? this.key.remoteJid : this.teamsJid;
    return { to: author, id: relayed.xmppId ?? quotedId, quote: preview };
  }

  /** What was last sent per Teams message: her reaction set (XEP-0444 sends the full set, so only changes go out) under the message id, and the edit under "<id>:edit". */
  private readonly changesSent = new Map<string, string>();

  /**
   * A relayed message changed in Teams: her edit becomes an XEP-0308 correction, her delete an XEP-0424
   * retraction, and her reactions (on any message of the chat) an XEP-0444 reaction set. Messages that were never
   * relayed are not announced.
   */
  private async relayChangeFromTeams(chatId: string, messageId: string, log: Logger): Promise<Outcome> {
    const relayed = await this.d.store.findRelayed(chatId, messageId);
    if (!relayed) return DONE;
    let message;
    let puppet: Puppet;
    try {
      puppet = await this.ensurePuppet();
      message = await this.d.teams.getMessage(puppet, chatId, messageId);
    } catch (err) {
      const c = classify(err);
      return c.transient ? { status: 'retry', reason: c.reason, retryAfterMs: c.retryAfterMs } : { status: 'failed', reason: c.reason };
    }
    if (!this.d.policy.verdict(this.teamsUser, this.remoteDomain()).allowed) return DONE; // changes obey the whitelist too
    const xmppId = relayed.xmppId ?? messageId;
    const to = this.key.remoteJid;
    const hers = message.fromUserId === this.key.teamsUserId;
    const linkDown: Outcome = { status: 'retry', reason: 'the XMPP link is down' };
    if (hers && message.deletedAt !== undefined) {
      if (!(await this.trySend(retraction({ from: this.teamsJid, to, id: randomUUID(), retractId: xmppId })))) return linkDown;
      log.info('Teams delete relayed as a retraction', { teamsMessageId: messageId });
      return DONE;
    }
    if (hers && message.editedAt !== undefined) {
      const { text } = this.textOf(message, puppet);
      const fingerprint = `edit:${message.editedAt}`;
      if (this.changesSent.get(`${messageId}:edit`) !== fingerprint && text.trim() !== '') {
        if (!(await this.trySend(correction({ from: this.teamsJid, to, id: randomUUID(), replaceId: xmppId, body: text })))) return linkDown;
        this.changesSent.set(`${messageId}:edit`, fingerprint);
        log.info('Teams edit relayed as a correction', { teamsMessageId: messageId });
      }
    }
    const emojis = (message.reactions ?? []).filter((r) => r.userId === this.key.teamsUserId).map((r) => teamsReactionToEmoji(r.reactionType));
    const fingerprint = JSON.stringify(emojis);
    if ((this.changesSent.get(messageId) ?? '[]') !== fingerprint) {
      if (!(await this.trySend(reactionsMessage({ from: this.teamsJid, to, id: randomUUID(), messageId: xmppId, emojis })))) return linkDown;
      this.changesSent.set(messageId, fingerprint);
      log.info('Teams reactions relayed', { teamsMessageId: messageId, count: emojis.length });
    }
    return DONE;
  }

  // ---- Presence ----------------------------------------------------------------------------------------------

  /** An XMPP resource's presence: the aggregate becomes the XMPP user's account presence in Teams. */
  private cardHash: string | undefined;

  /**
   * The XMPP user's vCard on the account Teams users see: read once per activation and again when the presence
   * advertises a new avatar (XEP-0153). Best effort: a card that cannot be read leaves the account as it is.
   */
  private async syncCard(advertised: string | undefined, log: Logger): Promise<void> {
    if (this.cardHash !== undefined && (advertised === undefined || advertised === this.cardHash)) return;
    this.cardHash = advertised ?? '';
    try {
      const answer = await this.d.xmpp.request(
        xml('iq', { type: 'get', from: this.d.settings.componentDomain, to: this.key.remoteJid }, xml('vCard', { xmlns: NS.vcardTemp })),
        5_000,
      );
      const { profile, photo } = vcardTempToProfile(answer.getChild('vCard', NS.vcardTemp));
      await this.d.teams.updatePuppetProfile(await this.ensurePuppet(), profile, photo);
      log.info('XMPP user card shown on its Teams account', { photo: photo !== undefined });
    } catch (err) {
      log.info('XMPP user card not updated', { reason: err instanceof Error ? err.message : String(err) });
    }
  }

  private async onXmppPresence(p: InboundPresence, log: Logger): Promise<Outcome> {
    if (p.type !== 'unavailable') await this.syncCard(p.avatarHash, log);
    const resource = p.from.resource;
    if (p.type === 'unavailable') this.resources.delete(resource);
    else this.resources.set(resource, { resource, available: true, show: p.show, status: p.status, priority: p.priority });
    return this.pushXmppPresenceToTeams(log, false);
  }

  private async pushXmppPresenceToTeams(log: Logger, refresh: boolean): Promise<Outcome> {
    const intent = xmppToTeams(aggregateResources(this.resources.values()));
    const fingerprint = JSON.stringify(intent);
    if (!refresh && fingerprint === this.lastIntentSent) return DONE;
    try {
      const puppet = await this.ensurePuppet();
      await this.d.teams.setPuppetPresence(puppet, intent, this.d.settings.presenceSessionMinutes);
    } catch (err) {
      const c = classify(err);
      log.warn('could not set the XMPP user presence in Teams', { reason: c.reason });
      return c.transient ? { status: 'retry', reason: c.reason } : { status: 'failed', reason: c.reason };
    }
    this.lastIntentSent = fingerprint;
    this.d.metrics.presenceRelayed.inc({ direction: 'xmpp_to_teams' });
    clearTimeout(this.presenceRefresh);
    this.presenceRefresh = undefined;
    if (intent.session) {
      // The presence session lapses after its expirationDuration; renew it well before.
      const ms = Math.max(60_000, (this.d.settings.presenceSessionMinutes - 5) * 60_000);
      this.presenceRefresh = setTimeout(() => this.self({ type: 'refresh-presence' }), ms);
      this.presenceRefresh.unref();
    }
    return DONE;
  }

  /** RFC 6121 §3: the gateway answers for the Teams user as her server would. */
  private async onSubscription(p: InboundPresence, log: Logger): Promise<Outcome> {
    const remote = this.key.remoteJid;
    switch (p.type) {
      case 'subscribe': {
        // §3.1.3-3.1.5: approve, then send her current presence; ask for his in return so Teams can show it.
        this.pair = await this.d.store.updatePair(this.key, { subFrom: true });
        await this.trySend(presence({ from: this.teamsJid, to: remote, type: 'subscribed' }));
        await this.watchPresence(log);
        this.lastPresenceSent = undefined;
        await this.sendCurrentTeamsPresence(log);
        if (!this.pair.subTo && !this.pair.subToPending) {
          this.pair = await this.d.store.updatePair(this.key, { subToPending: true });
          await this.trySend(presence({ from: this.teamsJid, to: remote, type: 'subscribe' }));
        }
        return DONE;
      }
      case 'subscribed':
        // RFC 6121 §3.1.6: a "subscribed" nobody asked for is ignored.
        if (!this.pair.subToPending && !this.pair.subTo) return DONE;
        this.pair = await this.d.store.updatePair(this.key, { subTo: true, subToPending: false });
        return DONE;
      case 'unsubscribe':
        // §3.3.3: the contact's server sends unavailable presence once the subscription is gone.
        this.pair = await this.d.store.updatePair(this.key, { subFrom: false });
        await this.trySend(presence({ from: this.teamsJid, to: remote, type: 'unavailable' }));
        await this.watchPresence(log);
        return DONE;
      case 'unsubscribed':
        this.pair = await this.d.store.updatePair(this.key, { subTo: false, subToPending: false });
        this.resources.clear();
        return DONE;
      case 'probe':
        // §4.3.2: presence only for a subscribed user; otherwise say there is no subscription.
        if (!this.pair.subFrom) {
          await this.trySend(presence({ from: this.teamsJid, to: remote, type: 'unsubscribed' }));
          return DONE;
        }
        this.lastPresenceSent = undefined;
        return this.sendCurrentTeamsPresence(log);
      default:
        return DONE;
    }
  }

  /** Best effort: without the presence subscription she still gets the current presence at subscribe and probe. */
  private async watchPresence(log: Logger): Promise<void> {
    try {
      await this.d.subscriptions.presenceInterestChanged(await this.ensurePuppet());
    } catch (err) {
      const c = classify(err);
      log.warn('could not update the presence subscription', { reason: c.reason });
    }
  }

  private async sendCurrentTeamsPresence(log: Logger): Promise<Outcome> {
    try {
      return await this.onTeamsPresence(await this.d.teams.getPresence(this.key.teamsUserId));
    } catch (err) {
      const c = classify(err);
      log.warn('could not read the Teams user presence', { reason: c.reason });
      return c.transient ? { status: 'retry', reason: c.reason } : { status: 'failed', reason: c.reason };
    }
  }

  private async onTeamsPresence(p: TeamsPresence): Promise<Outcome> {
    if (!this.pair.subFrom) return DONE;
    if (!this.d.policy.verdict(this.teamsUser, this.remoteDomain()).allowed) return DONE; // presence obeys the whitelist too
    const x: XmppPresence = teamsToXmpp(p);
    const fingerprint = JSON.stringify(x);
    if (fingerprint === this.lastPresenceSent) return DONE;
    const sent = await this.trySend(
      presence({
        from: this.teamsJid,
        to: this.key.remoteJid,
        type: x.available ? undefined : 'unavailable',
        show: x.show,
        status: x.status,
        extra: x.available ? [capsElement(userInfo(this.teamsUser.displayName)), avatarUpdate(await this.d.avatarHash(this.key.teamsUserId))] : [],
      }),
    );
    if (!sent) return { status: 'retry', reason: 'the XMPP link is down' };
    this.lastPresenceSent = fingerprint;
    this.d.metrics.presenceRelayed.inc({ direction: 'teams_to_xmpp' });
    return DONE;
  }

  /** After activation, a restart or a reconnect: send her presence again and ask for his (RFC 6121 §4.3). */
  private async resync(log: Logger): Promise<Outcome> {
    let outcome: Outcome = DONE;
    if (this.pair.subFrom) {
      this.lastPresenceSent = undefined;
      outcome = await this.sendCurrentTeamsPresence(log);
    }
    if (this.pair.subTo) {
      if (this.resources.size > 0) await this.pushXmppPresenceToTeams(log, true);
      await this.trySend(presence({ from: this.teamsJid, to: this.key.remoteJid, type: 'probe' }));
    }
    return outcome;
  }
}
