/**
 * Keeps the gateway's Graph change-notification subscriptions alive
 * (https://learn.microsoft.com/en-us/graph/change-notifications-overview):
 * - per XMPP user account (puppet), one subscription to the messages of all its chats,
 *   `/users/{id}/chats/getAllMessages`, created with the puppet's delegated token
 *   (https://learn.microsoft.com/en-us/graph/teams-changenotifications-chatmessage);
 * - presence: one subscription per carrying account, covering the watched Teams users it carries
 *   (presence-carriers.ts explains why: one presence subscription per user and application, 650 users each);
 * - one application subscription to profile changes of the tenant's users;
 * - with an encryption certificate configured, message and presence subscriptions ask for resource data (rich
 *   notifications: no GET per notification); the certificate is rotated on each subscription at its renewal, or as
 *   soon as a notification shows one still using an older certificate
 *   (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#rotating-keys);
 * - every subscription has a lifecycleNotificationUrl, as Graph asks any of them to reauthorize
 *   (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events): renewal before expiry (PATCH),
 *   re-creation when Graph lost one (404 on renew, subscriptionRemoved), reauthorization on request.
 * Subscriptions are recorded in the store, so a restarted node renews instead of duplicating them.
 */
import { randomBytes } from 'node:crypto';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { GraphSubscriptionRecord, Store } from '../store/store.js';
import type { CreatedSubscription, SubscriptionApi, SubscriptionCertificate } from './graph-teams-adapter.js';
import { assignCarriers } from './presence-carriers.js';
import type { Puppet } from './teams-port.js';
import { lifecycleUrl } from './webhook-server.js';

/** Graph's longest lifetimes per resource (minutes); past 60 a lifecycleNotificationUrl is required. */
export const MAX_MINUTES = { messages: 4320, presence: 60, users: 41760 } as const;
/** New messages, and edits, reactions and deletes of existing ones. */
export const MESSAGE_CHANGES = 'created,updated,deleted';

/** At most this many ids in one presence subscription filter. */
export const MAX_PRESENCE_IDS = 650;

/**
 * Entra access tokens live 60 to 90 minutes
 * (https://learn.microsoft.com/en-us/entra/identity-platform/configurable-token-lifetimes#access-tokens): a
 * subscription authorized more recently than this cannot have paused for want of a reauthorization.
 */
export const MIN_TOKEN_LIFETIME_MS = 60 * 60_000;
/** How far back a catch-up reads when it is not known since when notifications may have been lost. */
export const CATCH_UP_LOOKBACK_MS = 60 * 60_000;

export interface SubscriptionManagerOptions {
  readonly api: SubscriptionApi;
  readonly store: Store;
  readonly publicUrl: string;
  readonly subscriptionMinutes: number;
  readonly renewBeforeMinutes: number;
  readonly log: Logger;
  readonly now?: () => number;
  /** In a cluster only the node holding the duties lease renews and reconciles. */
  readonly active?: () => boolean;
  /** The current encryption certificate: message and presence subscriptions carry resource data. */
  readonly certificate?: SubscriptionCertificate | undefined;
  /** The subscription carrying these watched users was re-created: their presence changes may have been missed. */
  readonly presenceGap?: (teamsUserIds: string[]) => void;
}

type Kind = keyof typeof MAX_MINUTES;

/** What may have been missed after a lifecycle notification, for the caller to catch up on. */
export type LifecycleOutcome =
  | { readonly missed: false }
  | {
      readonly missed: true;
      /** Changes since then may not have been notified. */
      readonly since: number;
      readonly kind: Kind;
      /** The account whose message subscription it was (its chats to read again). */
      readonly ownerUserId: string | undefined;
      /** The watched users a presence subscription covered (their presence to read again). */
      readonly presenceOf: string[];
    };

function purposeOf(kind: Kind, puppetUserId: string): string {
  return `${kind}:${puppetUserId}`;
}

export function presenceResource(userIds: readonly string[]): string {
  if (userIds.length === 1) return `/communications/presences/${userIds[0]}`;
  return `/communications/presences?$filter=id in (${userIds.map((id) => `'${id}'`).join(',')})`;
}

/** The user ids a presence subscription resource names (the inverse of {@link presenceResource}). */
export function presenceIdsOf(resource: string): string[] {
  const single = /^\/?communications\/presences\/([^/?]+)$/iu.exec(resource);
  if (single) return [single[1] as string];
  const m = /\$filter=id in \((.*)\)\s*$/iu.exec(resource);
  return m ? (m[1] as string).split(',').map((s) => s.trim().replace(/^'(.*)'$/u, '$1')).filter(Boolean) : [];
}

function isConflict(err: unknown): boolean {
  return (err as { status?: number }).status === 409;
}

export class SubscriptionManager {
  private readonly locks = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** When this node last created, renewed or reauthorized each subscription (in memory: unknown after a restart). */
  private readonly authorizedAt = new Map<string, number>();
  /** Subscriptions already moved to the current certificate by this node. */
  private readonly rotated = new Set<string>();
  private presenceRun: Promise<void> | undefined;
  private presenceAgain = false;

  constructor(private readonly o: SubscriptionManagerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Serialises work per purpose, so two callers never create the same subscription twice. */
  private exclusive<T>(purpose: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(purpose) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(purpose, tail);
    void tail.then(() => {
      if (this.locks.get(purpose) === tail) this.locks.delete(purpose);
    });
    return next;
  }

  private minutes(kind: Kind): number {
    return Math.min(this.o.subscriptionMinutes, MAX_MINUTES[kind]);
  }

  /** Users (directory) subscriptions cannot carry resource data (change-notifications-with-resource-data). */
  private certificateFor(kind: Kind): SubscriptionCertificate | undefined {
    return kind === 'users' ? undefined : this.o.certificate;
  }

  private async find(purpose: string): Promise<GraphSubscriptionRecord | undefined> {
    return (await this.o.store.subscriptions()).find((s) => s.purpose === purpose);
  }

  private async create(kind: Kind, owner: Puppet | undefined, resource: string, changeType: string): Promise<GraphSubscriptionRecord> {
    const minutes = this.minutes(kind);
    const clientState = randomBytes(24).toString('base64url');
    const request = {
      resource,
      changeType,
      notificationUrl: this.o.publicUrl,
      lifecycleNotificationUrl: lifecycleUrl(this.o.publicUrl),
      clientState,
      expirationDateTime: new Date(this.now() + minutes * 60_000),
      resourceData: this.certificateFor(kind),
    };
    let created: CreatedSubscription;
    try {
      created = await this.o.api.createSubscription(owner, request);
    } catch (err) {
      if (kind !== 'presence' || !isConflict(err)) throw err;
      // Graph already has a presence subscription of this account that the store does not (a create whose
      // record was lost): it goes, as only one is allowed.
      await this.dropUnrecordedPresence(owner);
      created = await this.o.api.createSubscription(owner, request);
    }
    const record: GraphSubscriptionRecord = {
      id: created.id,
      purpose: purposeOf(kind, owner?.userId ?? 'tenant'),
      resource,
      changeType,
      ownerUserId: owner?.userId,
      clientState,
      expiresAt: created.expiresAt,
    };
    await this.o.store.saveSubscription(record);
    this.authorizedAt.set(created.id, this.now());
    this.o.log.info('Graph subscription created', {
      subscriptionId: created.id,
      purpose: record.purpose,
      expiresAt: new Date(created.expiresAt).toISOString(),
      certificateId: created.certificateId,
    });
    return record;
  }

  private async dropUnrecordedPresence(owner: Puppet | undefined): Promise<void> {
    const recorded = new Set((await this.o.store.subscriptions()).map((s) => s.id));
    for (const s of await this.o.api.listSubscriptions(owner)) {
      if (!/^\/?communications\/presences/iu.test(s.resource) || recorded.has(s.id)) continue;
      this.o.log.warn('deleting a presence subscription Graph has but the store does not', { subscriptionId: s.id });
      await this.o.api.deleteSubscription(owner, s.id);
    }
  }

  /** The puppet's message subscription exists (created if missing). */
  ensureMessages(puppet: Puppet): Promise<void> {
    const purpose = purposeOf('messages', puppet.userId);
    return this.exclusive(purpose, async () => {
      const existing = await this.find(purpose);
      if (existing && existing.expiresAt > this.now() && existing.changeType === MESSAGE_CHANGES) return;
      if (existing) {
        // Expired, or made by an older version for fewer change types: replaced.
        await this.o.api.deleteSubscription(puppet, existing.id).catch(() => undefined);
        await this.o.store.deleteSubscription(existing.id);
      }
      await this.create('messages', puppet, `/users/${puppet.userId}/chats/getAllMessages`, MESSAGE_CHANGES);
    });
  }

  /**
   * One application subscription to profile changes of the tenant's users, so that cached cards (and the avatar
   * hash in presence) are refreshed when a profile or photo changes.
   */
  ensureUsers(): Promise<void> {
    const purpose = purposeOf('users', 'tenant');
    return this.exclusive(purpose, async () => {
      const existing = await this.find(purpose);
      if (existing && existing.expiresAt > this.now()) return;
      if (existing) await this.o.store.deleteSubscription(existing.id);
      await this.create('users', undefined, '/users', 'updated');
    });
  }

  /**
   * Presence subscriptions match who watches whom (presence-carriers.ts): requests made while one pass runs are
   * served by one more pass after it. Runs only where the duties are (one reconciler in a cluster).
   */
  syncPresence(): Promise<void> {
    if (!(this.o.active?.() ?? true)) return Promise.resolve();
    if (this.presenceRun) {
      this.presenceAgain = true;
      return this.presenceRun;
    }
    this.presenceRun = (async () => {
      try {
        do {
          this.presenceAgain = false;
          await this.reconcilePresence();
        } while (this.presenceAgain);
      } finally {
        this.presenceRun = undefined;
      }
    })();
    return this.presenceRun;
  }

  private async reconcilePresence(): Promise<void> {
    const watchers = new Map<string, string[]>();
    for (const w of await this.o.store.presenceWatchers()) watchers.set(w.teamsUserId, [...(watchers.get(w.teamsUserId) ?? []), w.puppetUserId]);
    const records = (await this.o.store.subscriptions()).filter((s) => s.purpose.startsWith('presence:') && s.ownerUserId !== undefined);
    const current = new Map(records.map((s) => [s.ownerUserId as string, presenceIdsOf(s.resource)]));
    const plan = assignCarriers({ watchers, current, capacity: MAX_PRESENCE_IDS });
    if (plan.uncarried.length > 0) {
      this.o.log.warn('watched Teams users no presence subscription has room for; their presence changes are not followed', { users: plan.uncarried.length });
    }
    const gap: string[] = [];
    for (const puppetUserId of plan.changed) {
      const ids = plan.assignment.get(puppetUserId) ?? [];
      const before = current.get(puppetUserId) ?? [];
      try {
        await this.replacePresence(puppetUserId, ids);
        // Users this subscription carried before and still does were not watched while it was re-created.
        gap.push(...before.filter((u) => ids.includes(u)));
      } catch (err) {
        this.o.log.warn('presence subscription not updated; the next pass retries', { puppetUserId, error: errorMessage(err) });
      }
    }
    if (gap.length > 0) this.o.presenceGap?.(gap);
  }

  private replacePresence(puppetUserId: string, ids: readonly string[]): Promise<void> {
    const purpose = purposeOf('presence', puppetUserId);
    return this.exclusive(purpose, async () => {
      const owner = await this.o.store.getPuppetByUserId(puppetUserId);
      const existing = await this.find(purpose);
      // One presence subscription per user and application: the old one goes first, even at the cost of a gap.
      if (existing) {
        await this.o.api.deleteSubscription(owner, existing.id);
        await this.o.store.deleteSubscription(existing.id);
        this.authorizedAt.delete(existing.id);
      }
      if (ids.length > 0 && owner) await this.create('presence', owner, presenceResource(ids), 'updated');
    });
  }

  /** Renews what expires within renewBeforeMinutes; re-creates what Graph no longer knows. */
  async renewDue(): Promise<void> {
    const horizon = this.now() + this.o.renewBeforeMinutes * 60_000;
    for (const s of await this.o.store.subscriptions()) {
      if (s.expiresAt > horizon) continue;
      await this.exclusive(s.purpose, () => this.renewOne(s)).catch((err: unknown) =>
        this.o.log.warn('Graph subscription renewal failed; will retry', { subscriptionId: s.id, purpose: s.purpose, error: errorMessage(err) }),
      );
    }
  }

  private async owner(s: GraphSubscriptionRecord): Promise<Puppet | undefined> {
    if (!s.ownerUserId) return undefined;
    return this.o.store.getPuppetByUserId(s.ownerUserId);
  }

  private kindOf(s: GraphSubscriptionRecord): Kind {
    return s.purpose.startsWith('presence:') ? 'presence' : s.purpose.startsWith('users:') ? 'users' : 'messages';
  }

  private async renewOne(s: GraphSubscriptionRecord): Promise<void> {
    const current = await this.o.store.findSubscription(s.id);
    if (!current) return; // replaced meanwhile
    const owner = await this.owner(current);
    const kind = this.kindOf(current);
    let renewed: CreatedSubscription;
    try {
      renewed = await this.o.api.renewSubscription(owner, current.id, new Date(this.now() + this.minutes(kind) * 60_000));
    } catch (err) {
      if ((err as { status?: number }).status !== 404 || (!owner && current.ownerUserId)) throw err;
      this.o.log.warn('Graph no longer has the subscription; re-creating it', { subscriptionId: current.id });
      await this.recreate(current, owner);
      return;
    }
    await this.o.store.saveSubscription({ ...current, expiresAt: renewed.expiresAt });
    this.authorizedAt.set(current.id, this.now());
    this.o.log.info('Graph subscription renewed', { subscriptionId: current.id, expiresAt: new Date(renewed.expiresAt).toISOString() });
    const wanted = this.certificateFor(kind);
    if (wanted && renewed.certificateId === undefined) {
      // Made before rich notifications were configured: replaced by one with resource data.
      this.o.log.info('replacing a subscription without resource data by one with it', { subscriptionId: current.id });
      await this.recreate(current, owner);
    } else if (wanted && renewed.certificateId !== wanted.certificateId) {
      await this.moveToCurrentCertificate(current, owner, wanted);
    }
  }

  /**
   * A new subscription for the same purpose. A message subscription's successor exists before the old one goes
   * (a notification heard twice is deduplicated); a presence one cannot (one per user), so it has a gap.
   */
  private async recreate(current: GraphSubscriptionRecord, owner: Puppet | undefined): Promise<GraphSubscriptionRecord> {
    const kind = this.kindOf(current);
    if (kind === 'presence') {
      await this.o.api.deleteSubscription(owner, current.id).catch(() => undefined);
      await this.o.store.deleteSubscription(current.id);
      const next = await this.create(kind, owner, current.resource, current.changeType);
      this.o.presenceGap?.(presenceIdsOf(current.resource));
      return next;
    }
    // The new record replaces the old one (same purpose) only once it exists: a failed create leaves the old
    // record, so the next renewal pass tries again.
    const next = await this.create(kind, owner, current.resource, current.changeType);
    await this.o.api.deleteSubscription(owner, current.id).catch(() => undefined);
    this.authorizedAt.delete(current.id);
    return next;
  }

  private async moveToCurrentCertificate(s: GraphSubscriptionRecord, owner: Puppet | undefined, wanted: SubscriptionCertificate): Promise<void> {
    await this.o.api.updateSubscriptionCertificate(owner, s.id, wanted);
    this.rotated.add(s.id);
    this.o.log.info('Graph subscription moved to the current encryption certificate', { subscriptionId: s.id, certificateId: wanted.certificateId });
  }

  /**
   * A notification of this subscription was encrypted to a certificate other than the current one: the
   * subscription moves to the current one (once per node; until then the older certificate still decrypts).
   */
  rotateCertificate(subscriptionId: string): Promise<void> {
    const wanted = this.o.certificate;
    if (!wanted || this.rotated.has(subscriptionId)) return Promise.resolve();
    this.rotated.add(subscriptionId);
    return (async () => {
      const s = await this.o.store.findSubscription(subscriptionId);
      if (!s || !this.certificateFor(this.kindOf(s))) return;
      await this.exclusive(s.purpose, async () => this.moveToCurrentCertificate(s, await this.owner(s), wanted));
    })().catch((err: unknown) => {
      this.rotated.delete(subscriptionId);
      this.o.log.warn('could not move a Graph subscription to the current encryption certificate; its renewal will', { subscriptionId, error: errorMessage(err) });
    });
  }

  /**
   * A lifecycle notification (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events).
   * - reauthorizationRequired: reauthorize (or renew, which also reauthorizes; or re-create when Graph lost it).
   *   Graph pauses delivery once the authorizing token expired and loses the changes meanwhile; if this node did
   *   not authorize the subscription within the shortest token lifetime, they may have been lost: caught up.
   * - subscriptionRemoved: re-created, then what happened meanwhile is caught up ("you can sync the resource data
   *   to identify any missed change notifications").
   * - missed: caught up.
   */
  async onLifecycle(subscriptionId: string, event: string): Promise<LifecycleOutcome> {
    const s = await this.o.store.findSubscription(subscriptionId);
    if (!s) return { missed: false };
    const owner = await this.owner(s);
    const kind = this.kindOf(s);
    const lastAuthorized = this.authorizedAt.get(s.id);
    const missed = (since: number): LifecycleOutcome => ({
      missed: true,
      since,
      kind,
      ownerUserId: kind === 'messages' ? s.ownerUserId : undefined,
      presenceOf: kind === 'presence' ? presenceIdsOf(s.resource) : [],
    });
    switch (event) {
      case 'reauthorizationRequired': {
        await this.exclusive(s.purpose, async () => {
          const still = await this.o.store.findSubscription(s.id);
          if (!still) return;
          try {
            await this.o.api.reauthorizeSubscription(owner, s.id);
            this.authorizedAt.set(s.id, this.now());
          } catch {
            await this.renewOne(still); // a renewal also reauthorizes
          }
        });
        const paused = lastAuthorized === undefined || this.now() - lastAuthorized >= MIN_TOKEN_LIFETIME_MS;
        return paused ? missed(lastAuthorized ?? this.now() - CATCH_UP_LOOKBACK_MS) : { missed: false };
      }
      case 'subscriptionRemoved': {
        const removedAt = this.now();
        await this.exclusive(s.purpose, async () => {
          // Create first: if it fails, the old record stays and the renewal pass re-creates it (404 on renew).
          if (owner || !s.ownerUserId) {
            if (kind === 'presence') await this.o.store.deleteSubscription(s.id); // one per user: Graph removed it already
            await this.create(kind, owner, s.resource, s.changeType);
          } else await this.o.store.deleteSubscription(s.id);
          this.authorizedAt.delete(s.id);
        });
        return missed(Math.min(removedAt, lastAuthorized ?? removedAt) - 60_000);
      }
      case 'missed':
        return missed(lastAuthorized ?? this.now() - CATCH_UP_LOOKBACK_MS);
      default:
        this.o.log.warn('unknown lifecycle event ignored', { subscriptionId, event });
        return { missed: false };
    }
  }

  start(intervalMs = 60_000): void {
    this.timer = setInterval(() => {
      if (!(this.o.active?.() ?? true)) return;
      this.renewDue()
        .then(() => this.syncPresence())
        .catch((err: unknown) => this.o.log.warn('Graph subscription renewal pass failed', { error: errorMessage(err) }));
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * Deletes every subscription of the tenant from Graph and the store (the tenant is removed from the node, issue
   * 16): Graph stops posting its notifications. One that Graph no longer has is forgotten all the same.
   */
  async removeAll(): Promise<number> {
    let removed = 0;
    for (const s of await this.o.store.subscriptions()) {
      await this.exclusive(s.purpose, async () => {
        await this.o.api.deleteSubscription(await this.owner(s), s.id).catch((err: unknown) => this.o.log.warn('could not delete a Graph subscription of a removed tenant', { subscriptionId: s.id, error: errorMessage(err) }));
        await this.o.store.deleteSubscription(s.id);
        removed++;
      });
    }
    return removed;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.presenceRun?.catch(() => undefined);
    await Promise.all([...this.locks.values()]);
  }
}
