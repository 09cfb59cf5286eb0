/**
 * The chores of a node that are not an actor's (DESIGN.md "cluster-wide duties"): the outbox sweep that wakes
 * pairs with due rows, retention, restoring Graph subscriptions when the duties arrive here, and re-sending
 * presence when the XMPP link comes back. Sweep, retention and restore run only on the node holding the duties
 * lease (alone: always); presence resync runs wherever the link came up.
 */
import { randomUUID } from 'node:crypto';
import { pairKey } from '../actors/actor-keys.js';
import type { PairMessage } from '../actors/user-pair-actor.js';
import type { ActorRouter } from '../cluster/actor-router.js';
import type { RuntimeConfig } from '../config/load.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import { pruneCutoffs } from '../store/open-store.js';
import type { PairKey, Store } from '../store/store.js';
import type { SubscriptionManager } from '../teams/subscription-manager.js';
import type { Puppet } from '../teams/teams-port.js';
import { SETTINGS } from './settings.js';

export interface NodeDutiesOptions {
  readonly store: Store;
  readonly subscriptions: SubscriptionManager;
  readonly router: () => ActorRouter | undefined;
  readonly retention: RuntimeConfig['store']['retention'];
  /** True while this node holds the cluster's duties (alone: always). */
  readonly holdsDuties: () => boolean;
  /** Wakes the inbox processor. */
  readonly kickInbox: () => void;
  readonly log: Logger;
}

export class NodeDuties {
  private sweeper: NodeJS.Timeout | undefined;
  private pruner: NodeJS.Timeout | undefined;

  constructor(private readonly o: NodeDutiesOptions) {}

  start(): void {
    this.sweeper = setInterval(() => void this.sweepOutbox(), SETTINGS.outboxSweepMs);
    this.sweeper.unref();
    this.pruner = setInterval(() => void this.prune(), this.o.retention.pruneIntervalMinutes * 60_000);
    this.pruner.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    clearInterval(this.pruner);
  }

  /** What the node holding the duties does when it gets them (alone: at start). */
  taken(): void {
    this.o.kickInbox();
    void this.sweepOutbox(); // a dead holder's pending rows go on now, not at the next sweep
    void this.prune();
    void this.restoreSubscriptions().catch((err: unknown) => this.o.log.warn('restoring Graph subscriptions failed; the renewal pass retries', { error: errorMessage(err) }));
  }

  /** A message to a pair through the router, so it is supervised like any other (retry timers, wake-ups). */
  tell(key: PairKey, message: PairMessage): void {
    this.o
      .router()
      ?.pair(key, message, { correlationId: randomUUID() })
      .catch((err: unknown) => this.o.log.warn('self-message failed', { actorKey: pairKey(key), type: message.type, error: errorMessage(err) }));
  }

  /** The Teams users the XMPP user is subscribed to: their presence is watched through the account's subscription. */
  async syncPresence(puppet: Puppet): Promise<void> {
    const ids = (await this.o.store.pairsOfRemote(puppet.remoteJid)).filter((p) => p.subFrom).map((p) => p.teamsUserId);
    await this.o.subscriptions.syncPresence(puppet, ids);
  }

  /** After a restart: every puppet's subscriptions exist again (renewed or re-created). */
  private async restoreSubscriptions(): Promise<void> {
    const subs = this.o.subscriptions;
    await subs.renewDue().catch(() => undefined);
    await subs.ensureUsers().catch((err: unknown) => this.o.log.warn('no Graph subscription to profile changes; cards refresh on their TTL only', { error: errorMessage(err) }));
    for (const puppet of await this.o.store.puppets()) {
      try {
        await subs.ensureMessages(puppet);
        await this.syncPresence(puppet);
      } catch (err) {
        this.o.log.warn('could not restore the Graph subscriptions of an XMPP user', { remoteJid: puppet.remoteJid, error: errorMessage(err) });
      }
    }
  }

  /** Pending outbox rows whose actor is not active (after a restart, or a node left) get their pair woken up. */
  async sweepOutbox(): Promise<void> {
    if (!this.o.holdsDuties()) return;
    try {
      for (const key of await this.o.store.pairsWithDueOutbound(Date.now(), 100)) this.tell(key, { type: 'drain' });
    } catch (err) {
      this.o.log.warn('outbox sweep failed', { error: errorMessage(err) });
    }
  }

  /** Retention: finished inbox/outbox rows and old relayed ids go (DESIGN.md: data minimisation). */
  private async prune(): Promise<void> {
    if (!this.o.holdsDuties()) return;
    try {
      const r = await this.o.store.prune(pruneCutoffs(this.o.retention, Date.now()));
      if (r.outbox + r.inbox + r.relayed > 0) this.o.log.info('store pruned', { ...r });
    } catch (err) {
      this.o.log.warn('store pruning failed', { error: errorMessage(err) });
    }
  }

  /** Graph asked for a resync of an account's subscriptions (lifecycle "missed"): its pairs send presence again. */
  async resyncPuppet(puppetUserId: string): Promise<void> {
    const puppet = await this.o.store.getPuppetByUserId(puppetUserId);
    if (!puppet) return;
    for (const pair of await this.o.store.pairsOfRemote(puppet.remoteJid)) this.tell(pair, { type: 'resync' });
  }

  /** The link came (back) up: presence is re-sent both ways (RFC 6121 §4.3 probes), one pair at a time. */
  async resyncAll(): Promise<void> {
    try {
      const seen = new Set<string>();
      const pairs = [...(await this.o.store.pairsWithSubTo())];
      for (const id of await this.o.store.watchedTeamsUsers()) pairs.push(...(await this.o.store.pairsOfTeamsUser(id)));
      for (const p of pairs) {
        const key = pairKey(p);
        if (seen.has(key) || (!p.subFrom && !p.subTo)) continue;
        seen.add(key);
        await this.o.router()?.pair(p, { type: 'resync' }, { correlationId: randomUUID() }).catch(() => undefined);
      }
    } catch (err) {
      this.o.log.warn('presence resync failed', { error: errorMessage(err) });
    }
  }
}
