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
import { SETTINGS } from './settings.js';

export interface NodeDutiesOptions {
  readonly store: Store;
  /** The tenant's Graph subscriptions; undefined without Microsoft 365 (SfB Server only). */
  readonly subscriptions: SubscriptionManager | undefined;
  readonly router: () => ActorRouter | undefined;
  readonly retention: RuntimeConfig['store']['retention'];
  /** True while this node holds the cluster's duties (alone: always). */
  readonly holdsDuties: () => boolean;
  /** Wakes the inbox processor. */
  readonly kickInbox: () => void;
  /** True when an outbox row's pair belongs to another side (SfB, issue 17), which wakes it itself. */
  readonly claimedElsewhere?: (key: PairKey) => boolean;
  /** Asks the node holding the duties to reconcile presence subscriptions (when this node does not hold them). */
  readonly kickPresence: () => void;
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

  /**
   * Who watches whose presence changed: the presence subscriptions follow (subscription-manager.ts), reconciled by
   * the one node holding the duties; another node asks it to.
   */
  async syncPresence(): Promise<void> {
    if (this.o.holdsDuties()) await this.o.subscriptions?.syncPresence();
    else this.o.kickPresence();
  }

  /**
   * Another node asked for the reconciliation (the Redis channel): only the duties holder does it. A node without
   * the duties must not ask again, or every node would echo every request (a publish storm).
   */
  async presenceSyncRequested(): Promise<void> {
    if (this.o.holdsDuties()) await this.o.subscriptions?.syncPresence();
  }

  /** After a restart: every puppet's subscriptions exist again (renewed or re-created). */
  private async restoreSubscriptions(): Promise<void> {
    const subs = this.o.subscriptions;
    if (!subs) return;
    await subs.renewDue().catch(() => undefined);
    await subs.ensureUsers().catch((err: unknown) => this.o.log.warn('no Graph subscription to profile changes; cards refresh on their TTL only', { error: errorMessage(err) }));
    for (const puppet of await this.o.store.puppets()) {
      try {
        await subs.ensureMessages(puppet);
      } catch (err) {
        this.o.log.warn('could not restore the Graph subscriptions of an XMPP user', { remoteJid: puppet.remoteJid, error: errorMessage(err) });
      }
    }
    await subs.syncPresence().catch((err: unknown) => this.o.log.warn('could not restore the presence subscriptions; the renewal pass retries', { error: errorMessage(err) }));
  }

  /** Pending outbox rows whose actor is not active (after a restart, or a node left) get their pair woken up. */
  async sweepOutbox(): Promise<void> {
    if (!this.o.holdsDuties()) return;
    try {
      for (const key of await this.o.store.pairsWithDueOutbound(Date.now(), 100)) {
        if (this.o.claimedElsewhere?.(key)) continue;
        this.tell(key, { type: 'drain' });
      }
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
      await this.forgetUnusedPairs();
    } catch (err) {
      this.o.log.warn('store pruning failed', { error: errorMessage(err) });
    }
  }

  /**
   * Pairs nobody used for store.retention.unusedPairDays are forgotten (issue 12 finding 5: what a flood of
   * subscriptions left behind does not stay for ever). Each pair's actor ends its subscriptions and deletes it.
   */
  private async forgetUnusedPairs(): Promise<void> {
    const days = this.o.retention.unusedPairDays;
    if (days <= 0) return;
    const unused = await this.o.store.unusedPairs(Date.now() - days * 86_400_000, SETTINGS.forgetPairsPerPass);
    for (const pair of unused) await this.o.router()?.pair(pair, { type: 'forget' }, { correlationId: randomUUID() }).catch(() => undefined);
    if (unused.length > 0) this.o.log.info('unused pairs forgotten', { pairs: unused.length, unusedDays: days });
  }

  /**
   * Notifications of an account's message subscription may have been lost since `since` (lifecycle events): its
   * pairs send presence again and relay what was written in their chats meanwhile.
   */
  async catchUpPuppet(puppetUserId: string, since: number): Promise<void> {
    const puppet = await this.o.store.getPuppetByUserId(puppetUserId);
    if (!puppet) return;
    for (const pair of await this.o.store.pairsOfRemote(puppet.remoteJid)) {
      this.tell(pair, { type: 'resync' });
      if (pair.chatId) this.tell(pair, { type: 'teams-catch-up', chatId: pair.chatId, since });
    }
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
