/**
 * Presence for one pair, both ways (RFC 6121): the gateway answers subscriptions for the Teams user as her server
 * would, sends her Teams presence to the XMPP user, and shows the XMPP user's presence (aggregated over their
 * resources) on their Teams account, renewing the presence session before it lapses.
 */
import { aggregateResources, teamsToXmpp, xmppToTeams, type ResourcePresence, type TeamsPresence, type XmppPresence } from '../../protocol/presence-map.js';
import { presence, type InboundPresence } from '../../protocol/stanza.js';
import { capsElement, userInfo } from '../../protocol/disco.js';
import { avatarUpdate } from '../../protocol/vcard.js';
import type { Logger } from '../../observability/logger.js';
import type { CardSync } from './card-sync.js';
import { DONE, type Outcome } from './messages.js';
import { classify, type PairContext } from './pair-context.js';

export class PairPresence {
  private readonly resources = new Map<string, ResourcePresence>();
  private lastPresenceSent: string | undefined;
  private lastIntentSent: string | undefined;
  private presenceRefresh: NodeJS.Timeout | undefined;

  constructor(
    private readonly c: PairContext,
    private readonly cards: CardSync,
  ) {}

  /** True while a presence session is being kept alive (the actor must not passivate). */
  isBusy(): boolean {
    return this.presenceRefresh !== undefined;
  }

  stop(): void {
    clearTimeout(this.presenceRefresh);
  }

  async onXmppPresence(p: InboundPresence, log: Logger): Promise<Outcome> {
    if (p.type !== 'unavailable') await this.cards.sync(p.avatarHash, log);
    const resource = p.from.resource;
    if (p.type === 'unavailable') this.resources.delete(resource);
    else this.resources.set(resource, { resource, available: true, show: p.show, status: p.status, priority: p.priority });
    return this.pushXmppPresenceToTeams(log, false);
  }

  async pushXmppPresenceToTeams(log: Logger, refresh: boolean): Promise<Outcome> {
    const intent = xmppToTeams(aggregateResources(this.resources.values()));
    const fingerprint = JSON.stringify(intent);
    if (!refresh && fingerprint === this.lastIntentSent) return DONE;
    try {
      const puppet = await this.c.ensurePuppet();
      await this.c.d.teams.setPuppetPresence(puppet, intent, this.c.d.settings.presenceSessionMinutes);
    } catch (err) {
      const c = classify(err);
      log.warn('could not set the XMPP user presence in Teams', { reason: c.reason });
      return c.transient ? { status: 'retry', reason: c.reason } : { status: 'failed', reason: c.reason };
    }
    this.lastIntentSent = fingerprint;
    this.c.d.metrics.presenceRelayed.inc({ direction: 'xmpp_to_teams' });
    clearTimeout(this.presenceRefresh);
    this.presenceRefresh = undefined;
    if (intent.session) {
      // The presence session lapses after its expirationDuration; renew it well before.
      const ms = Math.max(60_000, (this.c.d.settings.presenceSessionMinutes - 5) * 60_000);
      this.presenceRefresh = setTimeout(() => this.c.self({ type: 'refresh-presence' }), ms);
      this.presenceRefresh.unref();
    }
    return DONE;
  }

  /** RFC 6121 §3: the gateway answers for the Teams user as her server would. */
  async onSubscription(p: InboundPresence, log: Logger): Promise<Outcome> {
    const remote = this.c.key.remoteJid;
    switch (p.type) {
      case 'subscribe': {
        // §3.1.3-3.1.5: approve, then send her current presence; ask for his in return so Teams can show it.
        this.c.pair = await this.c.d.store.updatePair(this.c.key, { subFrom: true });
        await this.c.trySend(presence({ from: this.c.teamsJid, to: remote, type: 'subscribed' }));
        await this.watchPresence(log);
        this.lastPresenceSent = undefined;
        await this.sendCurrentTeamsPresence(log);
        if (!this.c.pair.subTo && !this.c.pair.subToPending) {
          this.c.pair = await this.c.d.store.updatePair(this.c.key, { subToPending: true });
          await this.c.trySend(presence({ from: this.c.teamsJid, to: remote, type: 'subscribe' }));
        }
        return DONE;
      }
      case 'subscribed':
        // RFC 6121 §3.1.6: a "subscribed" nobody asked for is ignored.
        if (!this.c.pair.subToPending && !this.c.pair.subTo) return DONE;
        this.c.pair = await this.c.d.store.updatePair(this.c.key, { subTo: true, subToPending: false });
        return DONE;
      case 'unsubscribe':
        // §3.3.3: the contact's server sends unavailable presence once the subscription is gone.
        this.c.pair = await this.c.d.store.updatePair(this.c.key, { subFrom: false });
        await this.c.trySend(presence({ from: this.c.teamsJid, to: remote, type: 'unavailable' }));
        await this.watchPresence(log);
        return DONE;
      case 'unsubscribed':
        this.c.pair = await this.c.d.store.updatePair(this.c.key, { subTo: false, subToPending: false });
        this.resources.clear();
        return DONE;
      case 'probe':
        // §4.3.2: presence only for a subscribed user; otherwise say there is no subscription.
        if (!this.c.pair.subFrom) {
          await this.c.trySend(presence({ from: this.c.teamsJid, to: remote, type: 'unsubscribed' }));
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
      await this.c.d.subscriptions.presenceInterestChanged(await this.c.ensurePuppet());
    } catch (err) {
      const c = classify(err);
      log.warn('could not update the presence subscription', { reason: c.reason });
    }
  }

  private async sendCurrentTeamsPresence(log: Logger): Promise<Outcome> {
    try {
      return await this.onTeamsPresence(await this.c.d.teams.getPresence(this.c.key.teamsUserId));
    } catch (err) {
      const c = classify(err);
      log.warn('could not read the Teams user presence', { reason: c.reason });
      return c.transient ? { status: 'retry', reason: c.reason } : { status: 'failed', reason: c.reason };
    }
  }

  async onTeamsPresence(p: TeamsPresence): Promise<Outcome> {
    if (!this.c.pair.subFrom) return DONE;
    if (!this.c.d.policy.verdict(this.c.teamsUser, this.c.remoteDomain()).allowed) return DONE; // presence obeys the whitelist too
    const x: XmppPresence = teamsToXmpp(p);
    const fingerprint = JSON.stringify(x);
    if (fingerprint === this.lastPresenceSent) return DONE;
    const sent = await this.c.trySend(
      presence({
        from: this.c.teamsJid,
        to: this.c.key.remoteJid,
        type: x.available ? undefined : 'unavailable',
        show: x.show,
        status: x.status,
        extra: x.available ? [capsElement(userInfo(this.c.teamsUser.displayName)), avatarUpdate(await this.c.d.avatarHash(this.c.key.teamsUserId))] : [],
      }),
    );
    if (!sent) return { status: 'retry', reason: 'the XMPP link is down' };
    this.lastPresenceSent = fingerprint;
    this.c.d.metrics.presenceRelayed.inc({ direction: 'teams_to_xmpp' });
    return DONE;
  }

  /** After activation, a restart or a reconnect: send her presence again and ask for his (RFC 6121 §4.3). */
  async resync(log: Logger): Promise<Outcome> {
    let outcome: Outcome = DONE;
    if (this.c.pair.subFrom) {
      this.lastPresenceSent = undefined;
      outcome = await this.sendCurrentTeamsPresence(log);
    }
    if (this.c.pair.subTo) {
      if (this.resources.size > 0) await this.pushXmppPresenceToTeams(log, true);
      await this.c.trySend(presence({ from: this.c.teamsJid, to: this.c.key.remoteJid, type: 'probe' }));
    }
    return outcome;
  }
}
