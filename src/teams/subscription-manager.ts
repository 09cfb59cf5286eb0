/**
 * Keeps the gateway's Graph change-notification subscriptions alive
 * (https://learn.microsoft.com/en-us/graph/change-notifications-overview):
 * - per XMPP user account (puppet), one subscription to the messages of all its chats,
 *   `/users/{id}/chats/getAllMessages`, created with the puppet's delegated token
 *   (https://learn.microsoft.com/en-us/graph/teams-changenotifications-chatmessage);
 * - per puppet, one presence subscription to the Teams users its XMPP user is subscribed to,
 *   `/communications/presences?$filter=id in (...)` — presence subscriptions are delegated-only
 *   (https://learn.microsoft.com/en-us/graph/changenotifications-for-presence);
 * - renewal before expiry (PATCH), re-creation when Graph lost one (404 on renew, subscriptionRemoved), and
 *   reauthorization on request (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events).
 * Subscriptions are recorded in the store, so a restarted node renews instead of duplicating them.
 */
import { randomBytes } from 'node:crypto';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { GraphSubscriptionRecord, Store } from '../store/store.js';
import type { SubscriptionApi } from './graph-teams-adapter.js';
import type { Puppet } from './teams-port.js';
import { lifecycleUrl } from './webhook-server.js';

/** Graph's longest lifetimes per resource (minutes); past 60 a lifecycleNotificationUrl is required. */
export const MAX_MINUTES = { messages: 4320, presence: 60, users: 41760 } as const;
/** New messages, and edits, reactions and deletes of existing ones. */
export const MESSAGE_CHANGES = 'created,updated,deleted';

/** At most this many ids in one presence subscription filter. */
export const MAX_PRESENCE_IDS = 650;

export interface SubscriptionManagerOptions {
  readonly api: SubscriptionApi;
  readonly store: Store;
  readonly publicUrl: string;
  readonly subscriptionMinutes: number;
  readonly renewBeforeMinutes: number;
  readonly log: Logger;
  readonly now?: () => number;
  /** In a cluster only the node holding the duties lease runs the renewal pass. */
  readonly active?: () => boolean;
}

type Kind = keyof typeof MAX_MINUTES;

function purposeOf(kind: Kind, puppetUserId: string): string {
  return `${kind}:${puppetUserId}`;
}

export function presenceResource(userIds: readonly string[]): string {
  if (userIds.length === 1) return `/communications/presences/${userIds[0]}`;
  return `/communications/presences?$filter=id in (${userIds.map((id) => `'${id}'`).join(',')})`;
}

export class SubscriptionManager {
  private readonly locks = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

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

  private async find(purpose: string): Promise<GraphSubscriptionRecord | undefined> {
    return (await this.o.store.subscriptions()).find((s) => s.purpose === purpose);
  }

  private async create(kind: Kind, owner: Puppet | undefined, resource: string, changeType: string): Promise<GraphSubscriptionRecord> {
    const minutes = this.minutes(kind);
    const clientState = randomBytes(24).toString('base64url');
    const created = await this.o.api.createSubscription(owner, {
      resource,
      changeType,
      notificationUrl: this.o.publicUrl,
      lifecycleNotificationUrl: minutes > 60 ? lifecycleUrl(this.o.publicUrl) : undefined,
      clientState,
      expirationDateTime: new Date(this.now() + minutes * 60_000),
    });
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
    this.o.log.info('Graph subscription created', { subscriptionId: created.id, purpose: record.purpose, expiresAt: new Date(created.expiresAt).toISOString() });
    return record;
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

  /** The puppet's presence subscription covers exactly `teamsUserIds` (none: no subscription). */
  syncPresence(puppet: Puppet, teamsUserIds: readonly string[]): Promise<void> {
    const purpose = purposeOf('presence', puppet.userId);
    const ids = [...new Set(teamsUserIds)].sort().slice(0, MAX_PRESENCE_IDS);
    if (teamsUserIds.length > MAX_PRESENCE_IDS) {
      this.o.log.warn('more watched Teams users than one presence subscription holds; the rest are not watched', {
        puppetUserId: puppet.userId,
        watched: teamsUserIds.length,
      });
    }
    return this.exclusive(purpose, async () => {
      const existing = await this.find(purpose);
      const resource = ids.length ? presenceResource(ids) : undefined;
      if (existing && existing.resource === resource && existing.expiresAt > this.now()) return;
      // Graph allows one presence subscription per user and application: the old one goes first.
      if (existing) {
        await this.o.api.deleteSubscription(puppet, existing.id);
        await this.o.store.deleteSubscription(existing.id);
      }
      if (resource) await this.create('presence', puppet, resource, 'updated');
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
    try {
      const renewed = await this.o.api.renewSubscription(owner, current.id, new Date(this.now() + this.minutes(kind) * 60_000));
      await this.o.store.saveSubscription({ ...current, expiresAt: renewed.expiresAt });
      this.o.log.info('Graph subscription renewed', { subscriptionId: current.id, expiresAt: new Date(renewed.expiresAt).toISOString() });
    } catch (err) {
      if ((err as { status?: number }).status !== 404 || (!owner && current.ownerUserId)) throw err;
      this.o.log.warn('Graph no longer has the subscription; re-creating it', { subscriptionId: current.id });
      // The new record replaces the old one (same purpose) only once it exists: a failed create leaves the old
      // record, so the next renewal pass tries again.
      await this.create(kind, owner, current.resource, current.changeType);
    }
  }

  /**
   * A lifecycle notification. Returns true when notifications may have been missed (the caller resyncs).
   * https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
   */
  async onLifecycle(subscriptionId: string, event: string): Promise<boolean> {
    const s = await this.o.store.findSubscription(subscriptionId);
    if (!s) return false;
    const owner = await this.owner(s);
    switch (event) {
      case 'reauthorizationRequired':
        await this.exclusive(s.purpose, async () => {
          try {
            await this.o.api.reauthorizeSubscription(owner, s.id);
          } catch {
            await this.renewOne(s); // a renewal also reauthorizes
          }
        });
        return false;
      case 'subscriptionRemoved':
        await this.exclusive(s.purpose, async () => {
          // Create first: if it fails, the old record stays and the renewal pass re-creates it (404 on renew).
          if (owner || !s.ownerUserId) await this.create(this.kindOf(s), owner, s.resource, s.changeType);
          else await this.o.store.deleteSubscription(s.id);
        });
        return true;
      case 'missed':
        return true;
      default:
        this.o.log.warn('unknown lifecycle event ignored', { subscriptionId, event });
        return false;
    }
  }

  start(intervalMs = 60_000): void {
    this.timer = setInterval(() => {
      if (!(this.o.active?.() ?? true)) return;
      this.renewDue().catch((err: unknown) => this.o.log.warn('Graph subscription renewal pass failed', { error: errorMessage(err) }));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.locks.values()]);
  }
}
