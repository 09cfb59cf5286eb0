/**
 * Delivery of change and lifecycle notifications to subscribers' endpoints, as
 * https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks describes it:
 * - "Notifications are published using an HTTP client with a 3-second timeout"; a notification is delivered once
 *   the endpoint answers any 2xx within it;
 * - otherwise Graph "tries to resend the change notification multiple times, for up to 4 hours" and then discards
 *   it (the pauses between tries are not documented: here `retryDelaysMs`, the last one repeating);
 * - throttling ("How Microsoft Graph handles throttling for change notifications using webhooks"): an answer
 *   slower than 2,900 ms is slow; once an endpoint has received 100 notifications, an endpoint with 10% or more
 *   slow answers is throttled: its notifications are delayed by 10 minutes, and those that failed are retried in
 *   10 minutes; at 15% or more its notifications are dropped; the counts are flushed every 10 minutes. An endpoint
 *   is its URL: every subscription posting there shares its fate.
 * - "Microsoft Graph may send multiple notifications that correspond to different subscriptions in the same POST
 *   request": pending notifications for one URL go out together, up to `maxItemsPerPost`, with up to
 *   `maxConcurrentPosts` POSTs in flight (neither number is documented). A notification with resource data adds
 *   the collection's validationTokens, one per app and tenant
 *   (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#validation-tokens-in-the-change-notification).
 * One notifier serves every tenant of the emulator: an endpoint is its URL whoever's subscriptions post there, and
 * one POST may carry notifications of several tenants (hence "one per app and tenant" above).
 * Graph does not promise an order; the emulator keeps each subscription's notifications in order (one POST in
 * flight per subscription), as the gateway's tests of edits after posts rely on.
 * Every timing is an option, so tests can shorten them; the defaults are the documented ones. Every POST is
 * recorded, and so is every notification dropped.
 */
import { setMaxListeners } from 'node:events';
import { post } from './outbound.js';
import type { DeliveryRecord, DeliveryTimings } from './types.js';

/** Learn's numbers; `retryDelaysMs`, `maxItemsPerPost` and `maxConcurrentPosts` are the emulator's choice. */
export const DEFAULT_DELIVERY: DeliveryTimings = {
  timeoutMs: 3000,
  slowMs: 2900,
  evaluateAfter: 100,
  throttlePercent: 10,
  dropPercent: 15,
  throttleDelayMs: 10 * 60_000,
  windowMs: 10 * 60_000,
  retryForMs: 4 * 3_600_000,
  retryDelaysMs: [60_000, 120_000, 300_000, 600_000],
  maxItemsPerPost: 100,
  maxConcurrentPosts: 16,
};

export interface NotificationItem {
  /** The tenant of the subscription (the emulator always names it; a test of the notifier alone may not). */
  readonly tenantId?: string;
  readonly subscriptionId: string;
  readonly kind: DeliveryRecord['kind'];
  readonly url: string;
  /** One changeNotification (https://learn.microsoft.com/en-us/graph/api/resources/changenotification). */
  readonly body: Record<string, unknown>;
  /** The subscribing app, for the validation token of a notification with resource data. */
  readonly appId: string;
  readonly withResourceData: boolean;
}

export interface NotifierOptions {
  readonly timings: DeliveryTimings;
  readonly log: (line: string) => void;
  /** False once the subscription is gone: its pending change notifications are dropped. */
  readonly subscriptionExists: (id: string) => boolean;
  /** A validation token for notifications with resource data sent to this app of this tenant. */
  readonly validationToken: (tenantId: string, appId: string) => string;
  readonly now?: () => number;
}

interface Pending {
  readonly item: NotificationItem;
  readonly firstAt: number;
  dueAt: number;
  attempts: number;
  inFlight: boolean;
  readonly done: () => void;
}

/** How an endpoint has been answering (the current 10-minute window). */
export interface EndpointHealth {
  readonly url: string;
  readonly received: number;
  readonly slow: number;
  readonly state: 'normal' | 'throttled' | 'dropping';
}

class Endpoint {
  readonly queue: Pending[] = [];
  /** Pending notifications per subscription (the queue's), so that a pass over the queue can stop early. */
  readonly pendingBySub = new Map<string, number>();
  inFlight = 0;
  readonly busy = new Set<string>();
  timer: NodeJS.Timeout | undefined;
  timerAt = Number.POSITIVE_INFINITY;
  windowStart: number;
  received = 0;
  slow = 0;

  constructor(
    readonly url: string,
    now: number,
  ) {
    this.windowStart = now;
  }
}

export class Notifier {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly records: DeliveryRecord[] = [];
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly t: DeliveryTimings;

  constructor(private readonly o: NotifierOptions) {
    this.now = o.now ?? Date.now;
    this.t = o.timings;
    // Every POST in flight listens to the one abort signal.
    setMaxListeners(0, this.abort.signal);
  }

  deliveries(): readonly DeliveryRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  health(url: string): EndpointHealth {
    const e = this.endpoint(url);
    this.flushWindow(e);
    return { url, received: e.received, slow: e.slow, state: this.state(e) };
  }

  /** Queues a notification; resolves once it was delivered or dropped. */
  send(item: NotificationItem): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const e = this.endpoint(item.url);
      const now = this.now();
      const state = this.state(e);
      if (state === 'dropping') {
        this.dropped(item, 1, 'the endpoint is throttled and 15% or more of its answers were slow');
        resolve();
        return;
      }
      e.queue.push({ item, firstAt: now, dueAt: state === 'throttled' ? now + this.t.throttleDelayMs : now, attempts: 0, inFlight: false, done: resolve });
      e.pendingBySub.set(item.subscriptionId, (e.pendingBySub.get(item.subscriptionId) ?? 0) + 1);
      this.pump(e);
    });
  }

  private endpoint(url: string): Endpoint {
    let e = this.endpoints.get(url);
    if (!e) {
      e = new Endpoint(url, this.now());
      this.endpoints.set(url, e);
    }
    return e;
  }

  private flushWindow(e: Endpoint): void {
    const now = this.now();
    if (now - e.windowStart >= this.t.windowMs) {
      e.windowStart = now;
      e.received = 0;
      e.slow = 0;
    }
  }

  private state(e: Endpoint): EndpointHealth['state'] {
    this.flushWindow(e);
    if (e.received < this.t.evaluateAfter) return 'normal';
    const percent = (e.slow / e.received) * 100;
    return percent >= this.t.dropPercent ? 'dropping' : percent >= this.t.throttlePercent ? 'throttled' : 'normal';
  }

  /** Sends what is due, oldest first, keeping each subscription's notifications in order. */
  private pump(e: Endpoint): void {
    if (this.abort.signal.aborted) return;
    // Whether each subscription still exists, asked once per pass (the queue can hold thousands of its items).
    const known = new Map<string, boolean>();
    const exists = (sub: string) => {
      let x = known.get(sub);
      if (x === undefined) known.set(sub, (x = this.o.subscriptionExists(sub)));
      return x;
    };
    while (e.inFlight < this.t.maxConcurrentPosts) {
      const now = this.now();
      const blocked = new Set(e.busy);
      const batch: Pending[] = [];
      let nextDue = Number.POSITIVE_INFINITY;
      for (const p of e.queue) {
        if (batch.length >= this.t.maxItemsPerPost) break;
        const sub = p.item.subscriptionId;
        if (p.inFlight || blocked.has(sub)) {
          blocked.add(sub);
          // Every subscription with something pending waits: the rest of the queue has nothing to send now.
          if (batch.length === 0 && blocked.size >= e.pendingBySub.size) break;
          continue;
        }
        if (p.item.kind === 'change' && !exists(sub)) continue; // dropped below
        if (p.dueAt > now) {
          nextDue = Math.min(nextDue, p.dueAt);
          blocked.add(sub);
          continue;
        }
        batch.push(p);
      }
      this.dropGone(e, exists);
      if (batch.length === 0) {
        this.wakeAt(e, nextDue);
        return;
      }
      void this.deliver(e, batch);
    }
  }

  /** Change notifications of a deleted or expired subscription are not delivered (lifecycle ones still are). */
  private dropGone(e: Endpoint, exists: (sub: string) => boolean): void {
    if ([...e.pendingBySub.keys()].every(exists)) return;
    for (let i = e.queue.length - 1; i >= 0; i--) {
      const p = e.queue[i] as Pending;
      if (!p.inFlight && p.item.kind === 'change' && !exists(p.item.subscriptionId)) {
        e.queue.splice(i, 1);
        this.forget(e, p);
        p.done();
      }
    }
  }

  /** Keeps the count of the subscription's pending items as one leaves the queue. */
  private forget(e: Endpoint, p: Pending): void {
    const sub = p.item.subscriptionId;
    const n = (e.pendingBySub.get(sub) ?? 1) - 1;
    if (n > 0) e.pendingBySub.set(sub, n);
    else e.pendingBySub.delete(sub);
  }

  private wakeAt(e: Endpoint, at: number): void {
    if (!Number.isFinite(at) || at >= e.timerAt) return;
    clearTimeout(e.timer);
    e.timerAt = at;
    e.timer = setTimeout(() => {
      e.timer = undefined;
      e.timerAt = Number.POSITIVE_INFINITY;
      this.pump(e);
    }, Math.max(0, at - this.now()));
    e.timer.unref?.();
  }

  private async deliver(e: Endpoint, batch: Pending[]): Promise<void> {
    e.inFlight++;
    const subs = new Set(batch.map((p) => p.item.subscriptionId));
    for (const s of subs) e.busy.add(s);
    for (const p of batch) {
      p.inFlight = true;
      p.attempts++;
    }
    const apps = new Map(batch.filter((p) => p.item.withResourceData).map((p) => [`${p.item.tenantId ?? ''}|${p.item.appId}`, p.item] as const));
    const body = {
      value: batch.map((p) => p.item.body),
      ...(apps.size > 0 ? { validationTokens: [...apps.values()].map((i) => this.o.validationToken(i.tenantId ?? '', i.appId)) } : {}),
    };
    const at = this.now();
    const started = performance.now();
    const outcome = await post(e.url, JSON.stringify(body), 'application/json; charset=utf-8', this.t.timeoutMs, this.abort.signal);
    const durationMs = Math.round(performance.now() - started);
    const ok = 'status' in outcome && outcome.status >= 200 && outcome.status < 300;
    const slow = durationMs > this.t.slowMs;
    this.flushWindow(e);
    e.received += batch.length;
    if (slow) e.slow += batch.length;
    for (const s of subs) {
      const mine = batch.filter((p) => p.item.subscriptionId === s);
      const record: DeliveryRecord = {
        ...((mine[0] as Pending).item.tenantId !== undefined ? { tenantId: (mine[0] as Pending).item.tenantId } : {}),
        subscriptionId: s,
        url: e.url,
        kind: (mine[0] as Pending).item.kind,
        attempt: Math.max(...mine.map((p) => p.attempts)),
        at,
        items: mine.length,
        durationMs,
        slow,
      };
      if ('status' in outcome) record.status = outcome.status;
      else record.error = outcome.error;
      this.records.push(record);
    }
    const throttled = this.state(e) !== 'normal';
    for (const p of batch) {
      p.inFlight = false;
      if (ok) {
        this.remove(e, p);
        continue;
      }
      const pause = throttled ? this.t.throttleDelayMs : (this.t.retryDelaysMs[p.attempts - 1] ?? this.t.retryDelaysMs.at(-1) ?? 0);
      if (this.abort.signal.aborted || this.now() + pause - p.firstAt > this.t.retryForMs) {
        this.remove(e, p);
        this.dropped(p.item, p.attempts, `not delivered within ${this.t.retryForMs} ms`);
        continue;
      }
      p.dueAt = this.now() + pause;
    }
    for (const s of subs) e.busy.delete(s);
    e.inFlight--;
    this.pump(e);
  }

  private remove(e: Endpoint, p: Pending): void {
    const i = e.queue.indexOf(p);
    if (i !== -1) {
      e.queue.splice(i, 1);
      this.forget(e, p);
    }
    p.done();
  }

  private dropped(item: NotificationItem, attempts: number, why: string): void {
    this.discard(item.tenantId, item.subscriptionId, item.url, why, item.kind, attempts);
  }

  /** Records a change notification that is not sent at all (e.g. while its subscription's delivery is paused). */
  discard(tenantId: string | undefined, subscriptionId: string, url: string, why: string, kind: DeliveryRecord['kind'] = 'change', attempts = 0): void {
    this.records.push({ ...(tenantId !== undefined ? { tenantId } : {}), subscriptionId, url, kind, attempt: attempts, at: this.now(), items: 1, dropped: why });
    this.o.log(`notification for subscription ${subscriptionId} dropped after ${attempts} attempt(s): ${why}`);
  }

  close(): void {
    this.abort.abort();
    for (const e of this.endpoints.values()) {
      clearTimeout(e.timer);
      for (const p of e.queue.splice(0)) p.done();
      e.pendingBySub.clear();
    }
    this.endpoints.clear();
  }
}
