/**
 * UserPairActor: one Teams user and one XMPP user (DESIGN.md). It owns both sides' presence for the pair, the
 * Teams chat between them, the ordered outbox of XMPP messages on their way to Teams, and the dedup of Teams
 * messages on their way to XMPP. Durable state lives in the store; presence is re-learnt on activation.
 *
 * The class keeps activation, passivation and dispatch; each concern is a module of its own under user-pair/:
 * XMPP -> Teams (xmpp-to-teams.ts), Teams -> XMPP (teams-to-xmpp.ts), presence (presence.ts), the XMPP user's
 * card (card-sync.ts), sharing the activation's state (pair-context.ts).
 *
 * Key: "<Teams user id>|<XMPP bare JID>" (actor-keys.ts).
 */
import type { Actor, ActorContext, Envelope } from './actor.js';
import { parsePairKey } from './actor-keys.js';
import { CardSync } from './user-pair/card-sync.js';
import type { Outcome, PairDeps, PairMessage } from './user-pair/messages.js';
import { PairContext } from './user-pair/pair-context.js';
import { PairPresence } from './user-pair/presence.js';
import { TeamsToXmpp } from './user-pair/teams-to-xmpp.js';
import { XmppToTeams } from './user-pair/xmpp-to-teams.js';

export type { Outcome, PairDeps, PairEvent, PairMessage, PairPolicy, PairSettings, PairSubscriptions, PairThrottle, PairTimer } from './user-pair/messages.js';
export { stanzaErrorForTeams } from './user-pair/pair-context.js';

export class UserPairActor implements Actor<PairMessage, Outcome> {
  private readonly c: PairContext;
  private readonly outbound: XmppToTeams;
  private readonly inbound: TeamsToXmpp;
  private readonly presence: PairPresence;

  constructor(
    ctx: ActorContext,
    private readonly d: PairDeps,
    /** Lets the actor send itself a message later (retry timers) through its supervisor's mailbox. */
    self: (message: PairMessage) => void,
  ) {
    this.c = new PairContext(parsePairKey(ctx.key), d, ctx.log, self);
    this.outbound = new XmppToTeams(this.c);
    this.inbound = new TeamsToXmpp(this.c);
    this.presence = new PairPresence(this.c, new CardSync(this.c));
  }

  async activate(): Promise<void> {
    const c = this.c;
    const user = await this.d.directory.byId(c.key.teamsUserId);
    if (!user) throw new Error(`Teams user ${c.key.teamsUserId} not found`);
    c.teamsUser = user;
    c.teamsJid = this.d.directory.jidOf(user);
    c.pair = (await this.d.store.getPair(c.key)) ?? (await this.d.store.updatePair(c.key, {}));
    c.puppet = await this.d.store.getPuppet(c.key.remoteJid);
    // Messages accepted before a restart, a move, or while the pair was passive wait in the outbox: in order.
    if ((await this.outbound.load()) > 0) c.self({ type: 'drain' });
    // Presence is not stored: after a restart (or a crash) it is learnt again by a probe (RFC 6121 §4.3).
    if (c.pair.subTo) c.self({ type: 'resync' });
  }

  async passivate(): Promise<void> {
    this.presence.stop();
    await this.outbound.stop();
  }

  isBusy(): boolean {
    return this.presence.isBusy();
  }

  async receive(m: PairMessage, env: Envelope): Promise<Outcome> {
    const log = this.c.log.child({ correlationId: env.correlationId });
    switch (m.type) {
      case 'xmpp-chat':
        await this.c.used();
        return this.outbound.change(m.message, log);
      case 'xmpp-accepted':
        await this.c.used();
        return this.outbound.accepted(m.rows, log);
      case 'xmpp-retransmitted':
        return this.outbound.retransmitted(m, log);
      case 'drain':
        return m.requeued ? this.outbound.requeued(log) : this.outbound.drain(log);
      case 'teams-message':
        await this.c.used();
        return this.inbound.relay(m.chatId, m.messageId, log, m.message);
      case 'teams-messages':
        await this.c.used();
        return this.inbound.relayAll(m.chatId, m.messages, log);
      case 'teams-message-changed':
        return this.inbound.relayChange(m.chatId, m.messageId, log, m.message);
      case 'xmpp-bounced':
        return this.inbound.bounced(m.id, m.condition, log);
      case 'resend-to-xmpp':
        return this.inbound.resend(m.chatId, m.messageId, m.bounces, log);
      case 'teams-catch-up':
        return this.inbound.catchUp(m.chatId, m.since, log);
      case 'xmpp-presence':
        return this.presence.onXmppPresence(m.presence, log);
      case 'xmpp-subscription':
        return this.presence.onSubscription(m.presence, log);
      case 'teams-presence':
        return this.presence.onTeamsPresence(m.presence);
      case 'refresh-presence':
        return this.presence.pushXmppPresenceToTeams(log, true);
      case 'resync':
        return this.presence.resync(log);
      case 'forget':
        return this.presence.forget(log);
    }
  }
}
