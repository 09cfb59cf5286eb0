/**
 * XMPP -> Teams for one pair: a message accepted from the XMPP user is committed to the outbox, then posted into
 * the 1:1 chat in order, retried with backoff, and answered with an XEP-0184 receipt only once Graph has it (or a
 * stanza error once it is dead-lettered). Corrections, retractions and reactions are applied to the Teams message
 * they refer to.
 */
import { createHash } from 'node:crypto';
import { splitForTeams, textToTeamsHtml, teamsHtmlToText } from '../../protocol/message-body.js';
import type { InboundMessage } from '../../protocol/stanza.js';
import { emojiToTeamsReaction, reactionDiff } from '../../protocol/reactions.js';
import { StanzaError } from '../../protocol/stanza-error.js';
import { formatJid } from '../../protocol/jid.js';
import type { Logger } from '../../observability/logger.js';
import type { OutboxRow } from '../../store/store.js';
import type { Puppet } from '../../teams/teams-port.js';
import { DONE, type Outcome } from './messages.js';
import { classify, stanzaErrorForTeams, type PairContext } from './pair-context.js';

export class XmppToTeams {
  private drainTimer: NodeJS.Timeout | undefined;
  /** When this activation accepted each outbox row (for the relay latency histogram; not durable). */
  private readonly acceptedAt = new Map<number, number>();

  constructor(private readonly c: PairContext) {}

  stop(): void {
    clearTimeout(this.drainTimer);
  }

  async accept(msg: InboundMessage, log: Logger): Promise<Outcome> {
    if (msg.retractId || msg.reactions || (msg.replaceId && msg.body)) return this.changeFromXmpp(msg, log);
    // XEP-0461: a reply to a message Teams knows is posted as a Teams quote, without the quote XMPP added as fallback.
    const quoted = msg.reply && this.c.pair.chatId ? await this.c.d.store.findRelayedByXmppId(this.c.pair.chatId, msg.reply.id) : undefined;
    const body = (quoted ? msg.reply?.body : msg.body) ?? '';
    if (body.trim() === '') {
      // XEP-0333 "displayed" becomes the Teams read state of the chat (what Alice sees as "Seen"); chat states
      // (XEP-0085) have no Graph counterpart and are not relayed.
      if (msg.displayedId && this.c.pair.chatId) await this.markRead(this.c.pair.chatId, log);
      return DONE;
    }
    const html = textToTeamsHtml(body);
    // XEP-0359 origin-id is unique per sender; a plain stanza id only per stream, so it counts as the same message
    // only with the same text (a retransmission), never a new message that reuses an id.
    const stableId = msg.originId ?? (msg.id ? `${msg.id}#${createHash('sha256').update(body).digest('base64url').slice(0, 16)}` : undefined);
    const baseKey = stableId ? `${this.c.key.teamsUserId}|${formatJid({ ...msg.from, resource: '' })}|${stableId}` : undefined;
    // A retransmission of an accepted message is answered without costing rate-limit tokens.
    // (A split message's parts have their own keys; its retransmission is caught by the enqueue below.)
    const known = baseKey ? await this.c.d.store.findOutbound(baseKey) : undefined;
    if (known) {
      log.info('retransmitted message ignored (already accepted)', { outboxId: known.id, state: known.state });
      if (known.state === 'delivered' && msg.receiptRequested && msg.id) await this.c.sendReceipt(formatJid(msg.from), msg.id);
      return DONE;
    }
    // Bounded: the message is not yet committed while it waits, so it must not wait long.
    const admitted = await this.c.d.throttle.admit('xmpp_to_teams', this.c.admission(body), this.c.d.settings.onRateExceeded, this.c.d.settings.maxThrottleDelayMs);
    if (!admitted.ok) {
      log.info('message over the rate limit refused', { scope: admitted.scope });
      // RFC 6120 §8.3.3.18: <resource-constraint/> (wait): the sender may retry later.
      await this.c.sendError(formatJid(msg.from), msg.id, new StanzaError('resource-constraint', `rate limit exceeded (${admitted.scope}); slow down and retry later`, 'wait'));
      return DONE;
    }
    const tooLong = Buffer.byteLength(html, 'utf8') > this.c.d.settings.maxTeamsHtmlBytes;
    if (tooLong && this.c.d.settings.longMessages === 'refuse') {
      await this.c.sendError(formatJid(msg.from), msg.id, new StanzaError('policy-violation', `message too long for Teams (limit ${this.c.d.settings.maxTeamsHtmlBytes} bytes once formatted)`));
      return DONE;
    }
    // One outbox row per part, committed in order (a retransmission fills in any part a crash left out); the
    // receipt rides on the last part.
    const parts = tooLong ? splitForTeams(body, this.c.d.settings.maxTeamsHtmlBytes) : [body];
    let row: OutboxRow | undefined;
    let inserted = false;
    for (const [i, part] of parts.entries()) {
      const r = await this.c.d.store.enqueueOutbound(
        {
          ...this.c.key,
          dedupKey: baseKey && parts.length > 1 ? `${baseKey}#${i + 1}/${parts.length}` : baseKey,
          sender: formatJid(msg.from),
          stanzaId: msg.id,
          receiptRequested: msg.receiptRequested && i === parts.length - 1,
          body: part,
          replyToTeamsId: i === 0 ? quoted?.teamsMessageId : undefined,
        },
        this.c.d.now(),
      );
      row = r.row;
      inserted ||= r.inserted;
      if (r.inserted) this.acceptedAt.set(r.row.id, this.c.d.now());
    }
    if (!row) return DONE;
    if (!inserted) {
      log.info('retransmitted message ignored (already accepted)', { outboxId: row.id, state: row.state });
      if (row.state === 'delivered' && msg.receiptRequested && msg.id) await this.c.sendReceipt(formatJid(msg.from), msg.id);
      return DONE;
    }
    if (parts.length > 1) log.info('long message split for Teams', { parts: parts.length });
    log.debug('message accepted into the outbox', { outboxId: row.id, body });
    return this.drain(log);
  }

  private async markRead(chatId: string, log: Logger): Promise<void> {
    try {
      await this.c.d.teams.markChatRead(await this.c.ensurePuppet(), chatId);
    } catch (err) {
      log.info('could not mark the Teams chat read', { reason: classify(err).reason });
    }
  }

  /** Delivers the pair's pending messages in order; stops at the first one that must wait. */
  async drain(log: Logger): Promise<Outcome> {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    for (const row of await this.c.d.store.pendingOutbound(this.c.key)) {
      const now = this.c.d.now();
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
      const puppet = await this.c.ensurePuppet();
      chatId = await this.c.ensureChat(puppet);
      const html = textToTeamsHtml(row.body);
      const earlier = row.sendingSince === undefined ? undefined : await this.findEarlierPost(puppet, chatId, row, log);
      if (earlier) {
        teamsMessageId = earlier;
      } else {
        await this.c.d.store.markOutboundSending(row.id, this.c.d.now());
        teamsMessageId = row.replyToTeamsId
          ? await this.c.d.teams.replyWithQuote(puppet, chatId, row.replyToTeamsId, html)
          : await this.c.d.teams.sendMessage(puppet, chatId, html);
      }
    } catch (err) {
      const c = classify(err);
      const attempts = row.attempts + 1;
      if (c.transient && attempts < this.c.d.settings.outboxMaxAttempts) {
        const backoff = Math.min(this.c.d.settings.outboxBackoffMaxMs, this.c.d.settings.outboxBackoffInitialMs * 2 ** (attempts - 1));
        const delay = Math.max(backoff, c.retryAfterMs ?? 0);
        if (c.retryAfterMs) this.c.d.metrics.retryAfterWaits.inc({ queue: 'outbox' }, c.retryAfterMs / 1000);
        await this.c.d.store.markOutboundRetry(row.id, c.reason, this.c.d.now() + delay);
        log.warn('Teams did not accept the message yet; will retry', { outboxId: row.id, attempts, delayMs: delay, reason: c.reason });
        this.scheduleDrain(delay);
        return true;
      }
      await this.c.d.store.markOutboundDead(row.id, c.reason, this.c.d.now());
      this.c.d.metrics.deadLetters.inc({ kind: 'user-pair', reason: c.transient ? 'retries_exhausted' : 'rejected_by_teams' });
      log.error('message dead-lettered; the sender is told', { outboxId: row.id, attempts, status: c.status, reason: c.reason });
      await this.c.sendError(row.sender, row.stanzaId, stanzaErrorForTeams(c.transient ? 0 : c.status, c.reason));
      return false;
    }
    await this.c.d.store.markOutboundDelivered(row.id, teamsMessageId, this.c.d.now());
    await this.c.d.store.recordRelayed({ chatId, teamsMessageId, direction: 'xmpp_to_teams', xmppId: row.stanzaId }, this.c.d.now());
    this.c.d.metrics.messagesRelayed.inc({ direction: 'xmpp_to_teams' });
    this.c.d.metrics.messageBytes.inc({ direction: 'xmpp_to_teams' }, Buffer.byteLength(row.body));
    const acceptedAt = this.acceptedAt.get(row.id);
    if (acceptedAt !== undefined) {
      this.acceptedAt.delete(row.id);
      this.c.d.metrics.relayLatency.observe({ direction: 'xmpp_to_teams' }, (this.c.d.now() - acceptedAt) / 1000);
    }
    log.info('message relayed to Teams', { outboxId: row.id, teamsMessageId });
    // XEP-0184: the receipt says Teams has the message, so it goes only now.
    if (row.receiptRequested && row.stanzaId) await this.c.sendReceipt(row.sender, row.stanzaId);
    return false;
  }

  /**
   * An earlier attempt's outcome is unknown (crash or lost answer): Graph may already have the message. It is the
   * newest post of the puppet with the same text, made since that attempt and not yet claimed by another row.
   */
  private async findEarlierPost(puppet: Puppet, chatId: string, row: OutboxRow, log: Logger): Promise<string | undefined> {
    const text = row.body.replace(/\r\n?/gu, '\n');
    const since = (row.sendingSince ?? 0) - 60_000; // clock skew between the node and Graph
    for (const m of await this.c.d.teams.recentMessages(puppet, chatId)) {
      if (m.fromUserId !== puppet.userId || m.createdAt < since) continue;
      const posted = m.contentType === 'html' ? teamsHtmlToText(m.content) : m.content;
      if (posted !== teamsHtmlToText(textToTeamsHtml(text))) continue;
      if (await this.c.d.store.findRelayed(chatId, m.id)) continue;
      log.info('an earlier attempt had reached Teams; not posting again', { outboxId: row.id, teamsMessageId: m.id });
      return m.id;
    }
    return undefined;
  }

  private scheduleDrain(delayMs: number): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => this.c.self({ type: 'drain' }), delayMs);
    this.drainTimer.unref();
  }

  /**
   * XEP-0308 corrections, XEP-0424 retractions and XEP-0444 reactions, applied to the Teams message they refer to
   * (found by the XMPP id it was relayed with). Graph lets the sender edit and delete only its own messages.
   */
  private async changeFromXmpp(msg: InboundMessage, log: Logger): Promise<Outcome> {
    const sender = formatJid(msg.from);
    const refId = msg.retractId ?? msg.reactions?.id ?? msg.replaceId ?? '';
    const relayed = this.c.pair.chatId ? await this.c.d.store.findRelayedByXmppId(this.c.pair.chatId, refId) : undefined;
    if (!relayed || !this.c.pair.chatId) {
      await this.c.sendError(sender, msg.id, new StanzaError('item-not-found', 'the message this refers to is not known in Teams'));
      return DONE;
    }
    const chatId = this.c.pair.chatId;
    const own = relayed.direction === 'xmpp_to_teams';
    try {
      const puppet = await this.c.ensurePuppet();
      if (msg.retractId) {
        if (!own) throw new StanzaError('forbidden', "only the sender's own messages can be retracted");
        await this.c.d.teams.softDeleteMessage(puppet, chatId, relayed.teamsMessageId);
        log.info('retraction relayed to Teams', { teamsMessageId: relayed.teamsMessageId });
      } else if (msg.reactions) {
        const current = (await this.c.d.teams.getMessage(puppet, chatId, relayed.teamsMessageId)).reactions ?? [];
        const mine = current.filter((r) => r.userId === puppet.userId).map((r) => r.reactionType);
        const diff = reactionDiff(mine, msg.reactions.emojis.map(emojiToTeamsReaction));
        for (const r of diff.unset) await this.c.d.teams.unsetReaction(puppet, chatId, relayed.teamsMessageId, r);
        for (const r of diff.set) await this.c.d.teams.setReaction(puppet, chatId, relayed.teamsMessageId, r);
        log.info('reactions relayed to Teams', { teamsMessageId: relayed.teamsMessageId, set: diff.set.length, unset: diff.unset.length });
      } else {
        if (!own) throw new StanzaError('forbidden', "only the sender's own messages can be corrected");
        await this.c.d.teams.editMessage(puppet, chatId, relayed.teamsMessageId, textToTeamsHtml(msg.body ?? ''));
        log.info('correction relayed to Teams', { teamsMessageId: relayed.teamsMessageId });
      }
    } catch (err) {
      if (err instanceof StanzaError) {
        await this.c.sendError(sender, msg.id, err);
        return DONE;
      }
      const c = classify(err);
      await this.c.sendError(sender, msg.id, stanzaErrorForTeams(c.transient ? 0 : c.status, c.reason));
      return DONE;
    }
    if (msg.receiptRequested && msg.id) await this.c.sendReceipt(sender, msg.id);
    return DONE;
  }
}
