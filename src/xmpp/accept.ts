/**
 * Accept on arrival (DESIGN.md decision 4): a chat message to a Teams user is committed to the durable outbox as
 * soon as it is read off the XMPP link and admitted, before it waits for its pair's turn; the pair actor then
 * drains the outbox in order. A node killed mid-flood loses only what had not been read off its socket (and what
 * was being committed at that instant): everything else is delivered after a restart, or by another node.
 *
 * The stage runs in the stanza router's order per pair (RFC 6120 §10.1), so the rows of a pair are committed in
 * arrival order; the commit itself is not awaited here: it joins the store's group commit, and the router tells
 * the actor once it is durable. Messages that are not new content (corrections, retractions, reactions, markers,
 * empty bodies) are not outbox rows: they go to the actor as before, in the same order.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { splitForTeams, textToTeamsHtml } from '../protocol/message-body.js';
import { formatJid } from '../protocol/jid.js';
import { receipt, type InboundMessage } from '../protocol/stanza.js';
import { StanzaError } from '../protocol/stanza-error.js';
import { pairAdmission } from '../policy/throttle.js';
import type { PairThrottle } from '../actors/user-pair/messages.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { MessageOrigin, OutboxRow, PairKey, RelayedMessage, Store } from '../store/store.js';
import type { XmppPort } from './component-link.js';

/** How often, and how far apart, a reply's quoted message is looked up before it is posted without the quote. */
const REPLY_LOOKUPS = 4;
const REPLY_LOOKUP_PAUSE_MS = 15;

export interface AcceptSettings {
  /** Largest Teams message body (HTML) Graph accepts. */
  readonly maxTeamsHtmlBytes: number;
  readonly longMessages: 'refuse' | 'split';
  /** Over a rate limit: refuse at once, or wait (bounded) before the commit. */
  readonly onRateExceeded: 'refuse' | 'queue';
  readonly maxThrottleDelayMs: number;
}

export interface AcceptOptions {
  readonly store: Store;
  readonly xmpp: XmppPort;
  readonly throttle: PairThrottle;
  readonly metrics: Metrics;
  readonly settings: AcceptSettings;
  readonly now: () => number;
}

/**
 * A retransmission of a message accepted earlier and not known to be delivered: its pair actor answers it (the
 * post may have just happened, its outcome not committed yet, and the sender already had one receipt).
 */
export interface Retransmission {
  readonly dedupKey: string;
  readonly sender: string;
  readonly stanzaId: string | undefined;
  readonly receiptRequested: boolean;
}

/** What the commit gave: the new rows (one per part), or a retransmission of rows committed before. */
export type Committed = { readonly rows: OutboxRow[] } | { readonly retransmission: Retransmission };

export type Accepted =
  /** Not new content (a change, a marker, an empty body): the pair actor handles the stanza itself. */
  | { readonly kind: 'for-actor' }
  /** A retransmission of a message already delivered: answered here (a receipt when one was asked for). */
  | { readonly kind: 'known' }
  /** A retransmission of a message still on its way: the pair actor answers it, in order. */
  | { readonly kind: 'retransmitted'; readonly retransmission: Retransmission }
  /** The rows are being committed; resolves once durable. */
  | { readonly kind: 'committing'; readonly committed: Promise<Committed> };

/** True for a message the actor handles without the outbox: XEP-0308/0424/0444 changes, XEP-0333 markers, no text. */
export function isOutboxMessage(msg: InboundMessage): boolean {
  if (msg.retractId || msg.reactions || (msg.replaceId && msg.body)) return false;
  return (msg.body ?? '').trim() !== '' || (msg.reply?.body ?? '').trim() !== '';
}

export class MessageAcceptor {
  constructor(private readonly o: AcceptOptions) {}

  /**
   * Admits and starts committing one message from `msg.from` to the Teams user `key.teamsUserId` (whose JID the
   * sender addressed, `teamsJid`); the commit is issued once `turn` resolves (the earlier stanzas of the pair were
   * issued). Throws a StanzaError for a message refused before the commit (rate limit, too long for Teams).
   * `admitted`: the stanza router already took the message's rate-limit tokens (the first message of a new pair).
   * `origin`: the stanza's correlation id and trace, kept with the rows for whoever delivers them.
   * `receivedAt`: when the stanza was read off the link (default: now), the rows' creation time, from which their
   * relay latency is measured (a wait for the rate limit or the pair's turn is part of it).
   */
  async accept(msg: InboundMessage, key: PairKey, teamsJid: string, turn: () => Promise<void>, how: { log: Logger; admitted: boolean; origin?: MessageOrigin; receivedAt?: number }): Promise<Accepted> {
    const { log, admitted, origin } = how;
    if (!isOutboxMessage(msg)) return { kind: 'for-actor' };
    const sender = formatJid(msg.from);
    // XEP-0461: a reply to a message Teams knows is posted as a Teams quote, without the quote XMPP added as fallback.
    const quoted = msg.reply ? await this.quoted(key, msg.reply.id) : undefined;
    const body = (quoted ? msg.reply?.body : msg.body) ?? '';
    if (body.trim() === '') return { kind: 'for-actor' };
    // XEP-0359 origin-id is unique per sender; a plain stanza id only per stream, so it counts as the same message
    // only with the same text (a retransmission), never a new message that reuses an id.
    const stableId = msg.originId ?? (msg.id ? `${msg.id}#${createHash('sha256').update(body).digest('base64url').slice(0, 16)}` : undefined);
    const baseKey = stableId ? `${key.teamsUserId}|${formatJid({ ...msg.from, resource: '' })}|${stableId}` : undefined;
    // A retransmission of an accepted message is answered without costing rate-limit tokens (a split message's
    // parts have their own keys; its retransmission is caught by the enqueue below).
    const known = baseKey ? await this.o.store.findOutbound(baseKey) : undefined;
    if (known && baseKey) {
      log.debug('retransmitted message ignored (already accepted)', { outboxId: known.id, state: known.state });
      if (known.state !== 'pending') {
        if (known.state === 'delivered') await this.receiptFor(msg, teamsJid);
        return { kind: 'known' };
      }
      await turn();
      return { kind: 'retransmitted', retransmission: { dedupKey: baseKey, sender, stanzaId: msg.id, receiptRequested: msg.receiptRequested } };
    }
    // Bounded: the message is not committed while it waits, so it must not wait long.
    const admission = admitted
      ? ({ ok: true } as const)
      : await this.o.throttle.admit('xmpp_to_teams', pairAdmission(key, Buffer.byteLength(body, 'utf8')), this.o.settings.onRateExceeded, this.o.settings.maxThrottleDelayMs);
    if (!admission.ok) {
      log.debug('message over the rate limit refused', { scope: admission.scope });
      // RFC 6120 §8.3.3.18: <resource-constraint/> (wait): the sender may retry later.
      throw new StanzaError('resource-constraint', `rate limit exceeded (${admission.scope}); slow down and retry later`, 'wait');
    }
    const max = this.o.settings.maxTeamsHtmlBytes;
    const tooLong = Buffer.byteLength(textToTeamsHtml(body), 'utf8') > max;
    if (tooLong && this.o.settings.longMessages === 'refuse') throw new StanzaError('policy-violation', `message too long for Teams (limit ${max} bytes once formatted)`);
    // One outbox row per part, issued in order into the same group commit (a retransmission fills in any part a
    // crash left out); the receipt rides on the last part.
    const parts = tooLong ? splitForTeams(body, max) : [body];
    if (parts.length > 1) log.info('long message split for Teams', { parts: parts.length });
    await turn();
    const now = how.receivedAt ?? this.o.now();
    const enqueued = parts.map((part, i) =>
      this.o.store.enqueueOutbound(
        {
          ...key,
          dedupKey: baseKey && parts.length > 1 ? `${baseKey}#${i + 1}/${parts.length}` : baseKey,
          sender,
          stanzaId: msg.id,
          receiptRequested: msg.receiptRequested && i === parts.length - 1,
          body: part,
          replyToTeamsId: i === 0 ? quoted?.teamsMessageId : undefined,
          origin,
        },
        now,
      ),
    );
    const committed = Promise.all(enqueued).then(async (results): Promise<Committed> => {
      const fresh = results.filter((r) => r.inserted).map((r) => r.row);
      const last = results.at(-1)?.row;
      if (fresh.length === 0 && last) {
        log.debug('retransmitted message ignored (already accepted)', { outboxId: last.id, state: last.state });
        if (last.state === 'pending' && last.dedupKey) return { retransmission: { dedupKey: last.dedupKey, sender, stanzaId: msg.id, receiptRequested: msg.receiptRequested } };
        if (last.state === 'delivered') await this.receiptFor(msg, teamsJid);
      }
      if (fresh.length > 0) this.o.metrics.messagesAccepted.inc({ direction: 'xmpp_to_teams' });
      log.debug('message accepted into the outbox', { outboxIds: fresh.map((r) => r.id), body });
      return { rows: fresh };
    });
    return { kind: 'committing', committed };
  }

  /**
   * The relayed message a reply refers to. The one it answers may have reached the XMPP user a moment ago, its
   * relayed id still being committed by its pair actor (the stanza goes before the commit, so that a crash cannot
   * lose it): a miss is looked up again, a few times, a commit's time apart.
   */
  private async quoted(key: PairKey, xmppId: string): Promise<RelayedMessage | undefined> {
    for (let attempt = 0; ; attempt++) {
      const chatId = (await this.o.store.getPair(key))?.chatId;
      const found = chatId ? await this.o.store.findRelayedByXmppId(chatId, xmppId) : undefined;
      if (found || attempt >= REPLY_LOOKUPS - 1) return found;
      await sleep(REPLY_LOOKUP_PAUSE_MS);
    }
  }

  private async receiptFor(msg: InboundMessage, teamsJid: string): Promise<void> {
    if (!msg.receiptRequested || !msg.id) return;
    try {
      await this.o.xmpp.send(receipt({ from: teamsJid, to: formatJid(msg.from), forId: msg.id, id: randomUUID() }));
    } catch {
      // Best effort, as every receipt: the link being down must not fail the message.
    }
  }
}
