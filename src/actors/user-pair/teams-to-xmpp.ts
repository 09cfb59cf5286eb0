/**
 * Teams -> XMPP for one pair: a message the Teams user wrote in the 1:1 chat is sent to the XMPP user once (dedup
 * by Teams message id), within the whitelist and the rate limits; her edits, deletes and reactions follow as
 * XEP-0308 corrections, XEP-0424 retractions and XEP-0444 reactions. The message comes with its notification when
 * Graph sent it with resource data (rich notifications, decrypted by the notification processor); only otherwise
 * is it read from Graph (GET), whose chat-message reads are limited per app and tenant
 * (https://learn.microsoft.com/en-us/graph/throttling-limits#microsoft-teams-service-limits).
 */
import { randomUUID } from 'node:crypto';
import { teamsHtmlToText } from '../../protocol/message-body.js';
import { mapAttachments } from '../../protocol/attachments.js';
import { hostedImagesOf } from '../../protocol/hosted-content.js';
import { chatMessage, correction, reactionsMessage, retraction, type ReplyRef } from '../../protocol/stanza.js';
import { teamsReactionToEmoji } from '../../protocol/reactions.js';
import type { Logger } from '../../observability/logger.js';
import type { Puppet, TeamsChatMessage } from '../../teams/teams-port.js';
import { DONE, type Outcome } from './messages.js';
import { outcomeOf, type PairContext } from './pair-context.js';
import { resendNotification } from './resend-schedule.js';

/**
 * When a Teams message the XMPP side returned with a transient error is sent again: after the first bounce, then
 * after each further one; after the last, the Teams user is told it was not delivered (about 50 min in all, a
 * partner server's usual maintenance window). RFC 6120 §8.3.3.15-16: remote-server-not-found/-timeout.
 */
export const RESEND_DELAYS_MS: readonly number[] = [5_000, 15_000, 60_000, 300_000, 900_000, 1_800_000];
/** How long after a resend a bounce still counts as that message's next one (a server's S2S connect timeout is less). */
const BOUNCE_MEMORY_MS = 120_000;
/** Messages of one pair waiting to be sent again: a bound on what forged bounces can make the pair hold. */
export const MAX_RESENDS_PER_PAIR = 200;

/** What relayAll gives each message of its run (see {@link TeamsToXmpp.relay}). */
interface RunHandOver {
  readonly commits: Promise<unknown>[];
  handedOver(sent: Promise<boolean>): void;
}

export class TeamsToXmpp {
  /**
   * Teams message id -> bounces so far, for messages waiting to be sent again or sent again lately. An entry lapses
   * BOUNCE_MEMORY_MS after its resend (no bounce since: it went through), so the map holds only messages in trouble;
   * after a restart the count comes back with the resend (the inbox row keeps it).
   */
  private readonly bounces = new Map<string, { readonly n: number; readonly until: number; readonly waiting: boolean }>();

  /** Ids of messages sent to XMPP whose relayed id is being committed (relayAll): a copy of one is not sent again. */
  private readonly relaying = new Set<string>();

  constructor(private readonly c: PairContext) {}

  /**
   * New messages of the chat, in order: each is relayed as {@link relay} does, but their relayed ids are committed
   * together (one commit for the lot, not one per message) before the outcome is answered, so that the
   * notifications are marked done only once those are durable. Their stanzas go to the link one after the other
   * without waiting for each write (the link sends the run in one write, not one per event-loop turn); each relayed
   * id is committed once its stanza is written. Stops at the first that is not done: a stanza the link refused
   * (down) leaves it and the rest of the run for the retry, with the ids of those before it committed.
   */
  async relayAll(chatId: string, messages: readonly { readonly messageId: string; readonly message?: TeamsChatMessage | undefined }[], log: Logger): Promise<Outcome> {
    const commits: Promise<unknown>[] = [];
    const sends: { readonly index: number; readonly sent: Promise<boolean> }[] = [];
    // Which were relayed before (redelivered notifications): one store read for the lot, not one a message.
    const relayed = await this.c.d.store.relayedAmong(chatId, messages.map((m) => m.messageId));
    // Set as soon as the link refuses a stanza: none after it goes (they would overtake it).
    let refused = false;
    const handedOver = (index: number, sent: Promise<boolean>) => {
      sends.push({ index, sent });
      sent.then(
        (ok) => void (refused ||= !ok),
        () => void (refused = true),
      );
    };
    try {
      let stopped: Outcome | undefined;
      for (const [index, m] of messages.entries()) {
        if (refused) break;
        if (relayed.has(m.messageId)) continue;
        const outcome = await this.relay(chatId, m.messageId, log, m.message, { run: { commits, handedOver: (sent) => handedOver(index, sent) } });
        if (outcome.status !== 'done') {
          stopped = { ...outcome, finished: index };
          break;
        }
      }
      for (const { index, sent } of sends) {
        if (await sent) continue;
        if (stopped?.finished === undefined || index < stopped.finished) stopped = { status: 'retry', reason: 'the XMPP link is down', finished: index };
        break;
      }
      return stopped ?? { status: 'done', finished: messages.length };
    } finally {
      // A failed commit crashes the actor (the batch runs again from the inbox; what was sent is sent again).
      await Promise.all(commits);
    }
  }

  /**
   * A message relayed from Teams came back with a transient error (isTransientBounce): it is scheduled in the
   * inbox (resend-schedule.ts; durable, so a node dying meanwhile does not lose it) to be sent again after the next
   * delay of RESEND_DELAYS_MS, with its Teams id as stanza id again (a client that got it after all can tell the
   * copy). Only ids this pair relayed to this XMPP user count; anything else is ignored.
   */
  async bounced(id: string, condition: string, log: Logger): Promise<Outcome> {
    const chatId = this.c.pair.chatId;
    if (!chatId) return DONE;
    const relayed = await this.c.d.store.findRelayedByXmppId(chatId, id);
    if (relayed?.direction !== 'teams_to_xmpp') return DONE;
    const messageId = relayed.teamsMessageId;
    const now = this.c.d.now();
    for (const [k, b] of this.bounces) if (b.until < now) this.bounces.delete(k);
    const prior = this.bounces.get(messageId);
    if (prior?.waiting) return DONE; // returned twice (two copies were on their way): one resend is enough
    const n = (prior?.n ?? 0) + 1;
    const delay = RESEND_DELAYS_MS[n - 1];
    if (delay === undefined) {
      this.bounces.delete(messageId);
      log.warn('Teams message returned by the XMPP side too often; the Teams user is told', { teamsMessageId: messageId, condition, bounces: n });
      await this.c.noticeToTeams(chatId, `Not delivered: ${this.c.remoteDomain()} could not be reached (${condition}); the message was tried ${n} times.`, log);
      return DONE;
    }
    if (!prior && this.bounces.size >= MAX_RESENDS_PER_PAIR) {
      log.warn('Teams message returned by the XMPP side not sent again: too many waiting for this pair', { teamsMessageId: messageId, condition });
      return DONE;
    }
    this.bounces.set(messageId, { n, until: now + delay + BOUNCE_MEMORY_MS, waiting: true });
    await this.c.d.store.scheduleNotification(resendNotification({ key: this.c.key, chatId, messageId, bounces: n }, now), now + delay, now);
    log.warn('Teams message returned by the XMPP side; it will be sent again', { teamsMessageId: messageId, condition, bounces: n, delayMs: delay });
    return DONE;
  }

  /** A message the XMPP side returned ({@link bounced}) is due: it is read and sent again. */
  async resend(chatId: string, messageId: string, bounces: number, log: Logger): Promise<Outcome> {
    this.bounces.set(messageId, { n: bounces, until: this.c.d.now() + BOUNCE_MEMORY_MS, waiting: false });
    log.info('Teams message sent again to XMPP', { teamsMessageId: messageId, bounces });
    return this.relay(chatId, messageId, log, undefined, { resend: true });
  }

  /**
   * `resend`: the message was relayed before and came back ({@link bounced}): it is read and sent again.
   * `run`: one of relayAll's messages, which found it not relayed in the store just before: its stanza's write is
   * not awaited but handed over (whether the link took it), and the commit of its relayed id, once it is written,
   * joins the run's commits.
   */
  async relay(chatId: string, messageId: string, log: Logger, given?: TeamsChatMessage, o: { resend?: boolean; run?: RunHandOver } = {}): Promise<Outcome> {
    // A redelivered notification, or our own post.
    if (!o.resend && (this.relaying.has(messageId) || (!o.run && (await this.c.d.store.findRelayed(chatId, messageId))))) return DONE;
    const read = await this.read(chatId, messageId, given);
    if ('status' in read) return read;
    const { puppet, message } = read;
    // Only what the Teams user wrote is relayed: the puppet's own posts and system events are not.
    if (message.messageType !== 'message' || message.fromUserId !== this.c.key.teamsUserId) return DONE;
    const { text, media } = this.textOf(message, puppet);
    if (text.trim() === '' && (message.attachments ?? []).length === 0) {
      log.info('Teams message without text not relayed', { teamsMessageId: messageId });
      return DONE;
    }
    const verdict = this.c.d.policy.verdict(this.c.teamsUser, this.c.remoteDomain());
    if (!verdict.allowed) {
      this.c.d.metrics.policyRefusals.inc({ direction: 'teams_to_xmpp', reason: verdict.reason });
      this.c.d.metrics.refusalsByDomain.add(this.c.remoteDomain(), 'teams_to_xmpp', verdict.reason);
      log.info('Teams message from a user outside the whitelist not relayed; the user is told', { teamsMessageId: messageId, reason: verdict.reason });
      await this.c.d.store.recordRelayed({ chatId, teamsMessageId: messageId, direction: 'teams_to_xmpp', xmppId: undefined }, this.c.d.now());
      await this.c.noticeToTeams(chatId, `Not delivered: your account is not enabled for chat with ${this.c.remoteDomain()} over XMPP. Ask your administrator.`, log);
      return DONE;
    }
    const admitted = await this.c.d.throttle.admit('teams_to_xmpp', this.c.admission(text), 'queue', this.c.d.settings.maxThrottleDelayMs);
    if (!admitted.ok) {
      log.info('Teams message over the rate limit not relayed; the user is told', { teamsMessageId: messageId, scope: admitted.scope });
      await this.c.d.store.recordRelayed({ chatId, teamsMessageId: messageId, direction: 'teams_to_xmpp', xmppId: undefined }, this.c.d.now());
      await this.c.noticeToTeams(chatId, 'Not delivered: too many messages to XMPP in a short time. Please wait a moment and send it again.', log);
      return DONE;
    }
    if (!this.c.pair.chatId) this.c.pair = await this.c.d.store.updatePair(this.c.key, { chatId });
    const mapped = mapAttachments(message.attachments ?? []);
    // A quote of a message relayed just before in the same batch finds it once its relayed id is committed.
    if (mapped.quoted && o.run) await Promise.all(o.run.commits);
    const reply = mapped.quoted ? await this.replyRef(chatId, mapped.quoted.messageId, mapped.quoted.preview) : undefined;
    const note = mapped.unshown.length ? `\n[${mapped.unshown.join(', ')} not shown: open Teams to see it]` : '';
    const sending = this.c.trySend(chatMessage({ from: this.c.teamsJid, to: this.c.key.remoteJid, id: messageId, body: `${text}${note}`, reply, links: mapped.links, media }));
    // Once the stanza is written: its relayed id is committed and it counts as relayed.
    const written = (): Promise<unknown> => {
      this.c.d.metrics.messagesRelayed.inc({ direction: 'teams_to_xmpp' });
      this.c.d.metrics.messageBytes.inc({ direction: 'teams_to_xmpp' }, Buffer.byteLength(text));
      if (message.createdAt > 0) this.c.d.metrics.relayLatency.observe({ direction: 'teams_to_xmpp' }, Math.max(0, this.c.d.now() - message.createdAt) / 1000);
      log.debug('message relayed to XMPP', { teamsMessageId: messageId });
      log.debug('relayed body', { body: text });
      return this.c.d.store.recordRelayed({ chatId, teamsMessageId: messageId, direction: 'teams_to_xmpp', xmppId: messageId }, this.c.d.now());
    };
    if (o.run) {
      o.run.handedOver(sending);
      this.relaying.add(messageId);
      o.run.commits.push(sending.then((sent) => (sent ? written() : undefined)).finally(() => this.relaying.delete(messageId)));
      return DONE;
    }
    if (!(await sending)) return { status: 'retry', reason: 'the XMPP link is down' };
    await written();
    return DONE;
  }

  /** The message as the notification carried it, or read from Graph with the pair's puppet (a failure as an Outcome). */
  private async read(chatId: string, messageId: string, given: TeamsChatMessage | undefined): Promise<{ puppet: Puppet; message: TeamsChatMessage } | Outcome> {
    try {
      const puppet = await this.c.ensurePuppet();
      return { puppet, message: given ?? (await this.c.d.teams.getMessage(puppet, chatId, messageId)) };
    } catch (err) {
      return outcomeOf(err);
    }
  }

  /**
   * Catches up after notifications may have been lost (a Graph subscription paused or removed,
   * https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events): the chat's newest messages
   * (one Graph read) are relayed, oldest first, when she wrote them since `since` and they were not relayed yet;
   * those relayed before that she edited or deleted since then go as a correction or retraction. Reactions made
   * during the gap are not (a Teams reaction as read here carries no time to tell it was new).
   */
  async catchUp(chatId: string, since: number, log: Logger): Promise<Outcome> {
    let recent: TeamsChatMessage[];
    try {
      recent = await this.c.d.teams.recentMessages(await this.c.ensurePuppet(), chatId);
    } catch (err) {
      return outcomeOf(err);
    }
    const hers = recent.filter((m) => m.fromUserId === this.c.key.teamsUserId).sort((a, b) => a.createdAt - b.createdAt);
    let relayed = 0;
    let changed = 0;
    for (const m of hers) {
      const known = await this.c.d.store.findRelayed(chatId, m.id);
      if (!known && m.createdAt >= since) {
        const outcome = await this.relay(chatId, m.id, log, m);
        if (outcome.status !== 'done') return outcome;
        relayed++;
      } else if (known && Math.max(m.editedAt ?? 0, m.deletedAt ?? 0) >= since) {
        // Edited or deleted during the gap: the correction or retraction (relayChange sends each change once).
        const outcome = await this.relayChange(chatId, m.id, log, m);
        if (outcome.status !== 'done') return outcome;
        changed++;
      }
    }
    if (relayed + changed > 0) log.info('Teams messages caught up after a gap in notifications', { relayed, changed, since: new Date(since).toISOString() });
    return DONE;
  }

  /**
   * The text of a Teams message for XMPP. Its inline images (hosted contents of this chat) become media proxy links,
   * written where each image was and returned for XEP-0066; other images keep their alt text or "[image]".
   */
  private textOf(message: TeamsChatMessage, puppet: Puppet): { text: string; media: { url: string; desc: string }[] } {
    if (message.contentType !== 'html') return { text: message.content, media: [] };
    const media = this.c.d.media;
    const urls = new Map(media ? hostedImagesOf(message.content, message.chatId).map((i) => [i.src, media.link(i.ref, puppet.userId)] as const) : []);
    const text = teamsHtmlToText(message.content, { imageText: (src) => urls.get(src) });
    return { text, media: [...urls.values()].map((url) => ({ url, desc: 'image' })) };
  }

  /** The XEP-0461 reference for a quoted Teams message: its XMPP id and author, when it was relayed. */
  private async replyRef(chatId: string, quotedId: string, preview: string): Promise<ReplyRef | undefined> {
    const relayed = await this.c.d.store.findRelayed(chatId, quotedId);
    if (!relayed) return { to: this.c.teamsJid, id: quotedId, quote: preview };
    const author = relayed.direction === 'xmpp_to_teams' ? this.c.key.remoteJid : this.c.teamsJid;
    return { to: author, id: relayed.xmppId ?? quotedId, quote: preview };
  }

  /** What was last sent per Teams message: her reaction set (XEP-0444 sends the full set, so only changes go out) under the message id, and the edit under "<id>:edit". */
  private readonly changesSent = new Map<string, string>();

  /**
   * A relayed message changed in Teams: her edit becomes an XEP-0308 correction, her delete an XEP-0424
   * retraction, and her reactions (on any message of the chat) an XEP-0444 reaction set. Messages that were never
   * relayed are not announced.
   */
  async relayChange(chatId: string, messageId: string, log: Logger, given?: TeamsChatMessage): Promise<Outcome> {
    const relayed = await this.c.d.store.findRelayed(chatId, messageId);
    if (!relayed) return DONE;
    const read = await this.read(chatId, messageId, given);
    if ('status' in read) return read;
    const { puppet, message } = read;
    if (!this.c.d.policy.verdict(this.c.teamsUser, this.c.remoteDomain()).allowed) return DONE; // changes obey the whitelist too
    const xmppId = relayed.xmppId ?? messageId;
    const to = this.c.key.remoteJid;
    const hers = message.fromUserId === this.c.key.teamsUserId;
    const linkDown: Outcome = { status: 'retry', reason: 'the XMPP link is down' };
    if (hers && message.deletedAt !== undefined) {
      if (!(await this.c.trySend(retraction({ from: this.c.teamsJid, to, id: randomUUID(), retractId: xmppId })))) return linkDown;
      log.debug('Teams delete relayed as a retraction', { teamsMessageId: messageId });
      return DONE;
    }
    if (hers && message.editedAt !== undefined) {
      const { text } = this.textOf(message, puppet);
      const fingerprint = `edit:${message.editedAt}`;
      if (this.changesSent.get(`${messageId}:edit`) !== fingerprint && text.trim() !== '') {
        if (!(await this.c.trySend(correction({ from: this.c.teamsJid, to, id: randomUUID(), replaceId: xmppId, body: text })))) return linkDown;
        this.changesSent.set(`${messageId}:edit`, fingerprint);
        log.debug('Teams edit relayed as a correction', { teamsMessageId: messageId });
      }
    }
    const emojis = (message.reactions ?? []).filter((r) => r.userId === this.c.key.teamsUserId).map((r) => teamsReactionToEmoji(r.reactionType));
    const fingerprint = JSON.stringify(emojis);
    if ((this.changesSent.get(messageId) ?? '[]') !== fingerprint) {
      if (!(await this.c.trySend(reactionsMessage({ from: this.c.teamsJid, to, id: randomUUID(), messageId: xmppId, emojis })))) return linkDown;
      this.changesSent.set(messageId, fingerprint);
      log.debug('Teams reactions relayed', { teamsMessageId: messageId, count: emojis.length });
    }
    return DONE;
  }
}
