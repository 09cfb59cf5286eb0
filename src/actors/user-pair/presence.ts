/**
 * Presence for one pair, both ways (RFC 6121): the gateway answers subscriptions for the Teams user as her server
 * would, sends her Teams presence to the XMPP user, and shows the XMPP user's presence (aggregated over their
 * resources) on their Teams account. The node's PresenceKeeper keeps that session alive (Graph fades an Available
 * session after 5 minutes without a call) once per account, whatever the number of pairs reporting it.
 */
import { aggregateResources, teamsToXmpp, xmppToTeams, type ResourcePresence, type TeamsPresence, type XmppPresence } from '../../protocol/presence-map.js';
import { presence, type InboundPresence } from '../../protocol/stanza.js';
import { capsElement, userInfo } from '../../protocol/disco.js';
import { avatarUpdate } from '../../protocol/vcard.js';
import type { Logger } from '../../observability/logger.js';
import type { CardSync } from './card-sync.js';
import { DONE, type Outcome } from './messages.js';
import { classify, type PairContext } from './pair-context.js';
import { pairKey } from '../actor-keys.js';

export class PairPresence {
  private readonly resources = new Map<string, ResourcePresence>();
  private lastPresenceSent: string | undefined;
  private lastIntentSent: string | undefined;
  /** True while the XMPP user's presence shows a session this pair reported (the keeper keeps it alive). */
  private holding = false;
  /** A failed push waits for its retry (a new account's licence, throttling): its timer and how many tries so far. */
  private retry: { timer: NodeJS.Timeout; attempts: number } | undefined;
  /** Presence from a resource over the limit was ignored (logged once until a place frees). */
  private resourcesFull = false;

  constructor(
    private readonly c: PairContext,
    private readonly cards: CardSync,
  ) {}

  /** True while the XMPP user is online in Teams through this pair: its presence must stay known (no passivation). */
  isBusy(): boolean {
    return this.holding || this.retry !== undefined;
  }

  stop(): void {
    clearTimeout(this.retry?.timer);
    this.retry = undefined;
    if (this.c.puppet) this.c.d.presenceKeeper.release(this.c.puppet.userId, pairKey(this.c.key));
    this.holding = false;
  }

  async onXmppPresence(p: InboundPresence, log: Logger): Promise<Outcome> {
    const resource = p.from.resource;
    if (p.type === 'unavailable') this.resources.delete(resource);
    else if (this.resources.has(resource) || this.resources.size < this.c.d.settings.maxResources) {
      this.resources.set(resource, { resource, available: true, show: p.show, status: p.status, priority: p.priority });
    } else {
      // One JID cannot grow memory by changing resource (issue 12 finding 13): further resources wait for a free place.
      if (!this.resourcesFull) log.warn('presence from one resource too many ignored', { resources: this.resources.size });
      this.resourcesFull = true;
      return DONE;
    }
    this.resourcesFull = false;
    // A presence alone never makes an account (issue 12 finding 5): it shows on one a message or a subscription made.
    if (!(await this.c.knownPuppet())) return DONE;
    if (p.type !== 'unavailable') await this.cards.sync(p.avatarHash, log);
    return this.pushXmppPresenceToTeams(log, false);
  }

  async pushXmppPresenceToTeams(log: Logger, refresh: boolean): Promise<Outcome> {
    const intent = xmppToTeams(aggregateResources(this.resources.values()));
    const fingerprint = JSON.stringify(intent);
    if (!refresh && fingerprint === this.lastIntentSent) return DONE;
    try {
      const puppet = await this.c.knownPuppet();
      if (!puppet) return DONE;
      await this.c.d.presenceKeeper.apply(puppet, pairKey(this.c.key), intent, refresh);
    } catch (err) {
      const c = classify(err);
      log.warn('could not set the XMPP user presence in Teams', { reason: c.reason, transient: c.transient });
      if (c.transient) this.retryLater(c.retryAfterMs);
      return c.transient ? { status: 'retry', reason: c.reason } : { status: 'failed', reason: c.reason };
    }
    clearTimeout(this.retry?.timer);
    this.retry = undefined;
    this.lastIntentSent = fingerprint;
    this.c.d.metrics.presenceRelayed.inc({ direction: 'xmpp_to_teams' });
    this.holding = intent.session !== null;
    return DONE;
  }

  /**
   * Nobody resends a presence the gateway could not show (a new account still waiting for its licence, Graph
   * throttling): try again with the outbox's backoff (1 s, doubling, at most 5 minutes), until it succeeds or the
   * XMPP user's presence changes.
   */
  private retryLater(retryAfterMs: number | undefined): void {
    const attempts = (this.retry?.attempts ?? 0) + 1;
    clearTimeout(this.retry?.timer);
    const s = this.c.d.settings;
    const delay = Math.max(retryAfterMs ?? 0, Math.min(s.outboxBackoffMaxMs, s.outboxBackoffInitialMs * 2 ** (attempts - 1)));
    const timer = setTimeout(() => this.c.self({ type: 'refresh-presence' }), delay);
    timer.unref();
    this.retry = { timer, attempts };
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

  /**
   * Nobody used the pair for a long time: it is forgotten. Its subscriptions end as RFC 6121 §3.2 and §3.3 cancel
   * them (the XMPP user's roster follows), the Teams user's presence is no longer watched for it, and the row goes.
   */
  async forget(log: Logger): Promise<Outcome> {
    const { subFrom, subTo, subToPending } = this.c.pair;
    if (subFrom) await this.c.trySend(presence({ from: this.c.teamsJid, to: this.c.key.remoteJid, type: 'unsubscribed' }));
    if (subTo || subToPending) await this.c.trySend(presence({ from: this.c.teamsJid, to: this.c.key.remoteJid, type: 'unsubscribe' }));
    await this.c.d.store.deletePair(this.c.key);
    this.c.pair = { ...this.c.key, chatId: this.c.pair.chatId, subFrom: false, subTo: false, subToPending: false };
    this.resources.clear();
    if (subFrom && (await this.c.knownPuppet())) await this.watchPresence(log);
    this.c.d.metrics.pairsPruned.inc();
    log.info('unused pair forgotten', { subFrom, subTo });
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
