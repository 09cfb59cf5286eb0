/**
 * XMPP -> Teams for one pair, what is not new content: XEP-0308 corrections, XEP-0424 retractions and XEP-0444
 * reactions, applied to the Teams message they refer to (found by the XMPP id it was relayed with), and XEP-0333
 * "displayed" markers, which become the chat's read state. New messages go through the outbox (xmpp-to-teams.ts).
 */
import { textToTeamsHtml } from '../../protocol/message-body.js';
import type { InboundMessage } from '../../protocol/stanza.js';
import { reactionDiff } from '../../protocol/reactions.js';
import { StanzaError } from '../../protocol/stanza-error.js';
import { formatJid } from '../../protocol/jid.js';
import type { Logger } from '../../observability/logger.js';
import { DONE, type Outcome } from './messages.js';
import { classify, stanzaErrorForTeams, type PairContext } from './pair-context.js';

export class XmppChanges {
  constructor(
    private readonly c: PairContext,
    /** Resolves once the pair's outcomes being committed (relayed ids among them) have landed. */
    private readonly settle: () => Promise<void>,
  ) {}

  /**
   * What the XMPP user sent that is not new content: an XEP-0308 correction, XEP-0424 retraction or XEP-0444
   * reaction, or an XEP-0333 marker (chat states, XEP-0085, have no Graph counterpart and are not relayed).
   */
  async apply(msg: InboundMessage, log: Logger): Promise<Outcome> {
    // The message it refers to may have been posted just before, its outcome (the relayed id) still being
    // committed: the sender had its receipt already, so the change must find it.
    if (msg.retractId || msg.reactions || (msg.replaceId && msg.body)) return this.settle().then(() => this.changeFromXmpp(msg, log));
    if (msg.displayedId) return this.markRead(log);
    return DONE;
  }

  /** XEP-0333 "displayed" becomes the Teams read state of the chat (what she sees as "Seen"). */
  private async markRead(log: Logger): Promise<Outcome> {
    const chatId = this.c.pair.chatId;
    if (!chatId) return DONE;
    try {
      await this.c.d.teams.markChatRead(await this.c.ensurePuppet(), chatId);
    } catch (err) {
      log.info('could not mark the Teams chat read', { reason: classify(err).reason });
    }
    return DONE;
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
        log.debug('retraction relayed to Teams', { teamsMessageId: relayed.teamsMessageId });
      } else if (msg.reactions) {
        const current = (await this.c.d.teams.getMessage(puppet, chatId, relayed.teamsMessageId)).reactions ?? [];
        const mine = current.filter((r) => r.userId === puppet.userId).map((r) => r.reactionType);
        const diff = reactionDiff(mine, msg.reactions.emojis);
        for (const r of diff.unset) await this.c.d.teams.unsetReaction(puppet, chatId, relayed.teamsMessageId, r);
        for (const r of diff.set) await this.c.d.teams.setReaction(puppet, chatId, relayed.teamsMessageId, r);
        log.debug('reactions relayed to Teams', { teamsMessageId: relayed.teamsMessageId, set: diff.set.length, unset: diff.unset.length });
      } else {
        if (!own) throw new StanzaError('forbidden', "only the sender's own messages can be corrected");
        await this.c.d.teams.editMessage(puppet, chatId, relayed.teamsMessageId, textToTeamsHtml(msg.body ?? ''));
        log.debug('correction relayed to Teams', { teamsMessageId: relayed.teamsMessageId });
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
