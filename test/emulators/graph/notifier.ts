/**
 * Delivery of change and lifecycle notifications to subscribers' endpoints, as
 * https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks describes it: a notification is
 * delivered once the endpoint answers any 2xx; otherwise Graph retries with exponential backoff for up to 4 hours
 * and then drops it. Here the pauses come from `retryDelaysMs` (short ones in tests), the notification is dropped
 * after the last, and each subscription's notifications are delivered one after the other, in order. Every
 * attempt is recorded.
 */
import { post } from './outbound.js';
import type { DeliveryRecord } from './types.js';

interface Item {
  readonly subscriptionId: string;
  readonly kind: DeliveryRecord['kind'];
  readonly url: string;
  readonly body: string;
  readonly done: () => void;
}

export interface NotifierOptions {
  readonly retryDelaysMs: readonly number[];
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
  /** False once the subscription is gone: its pending notifications are dropped. */
  readonly subscriptionExists: (id: string) => boolean;
}

export class Notifier {
  private readonly queues = new Map<string, Item[]>();
  private readonly records: DeliveryRecord[] = [];
  private readonly abort = new AbortController();
  private readonly sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();

  constructor(private readonly o: NotifierOptions) {}

  deliveries(): readonly DeliveryRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  /** Queues a notification; resolves once it was delivered or dropped. */
  send(subscriptionId: string, kind: DeliveryRecord['kind'], url: string, payload: unknown): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const key = `${subscriptionId}/${kind}`;
      const queue = this.queues.get(key);
      const item: Item = { subscriptionId, kind, url, body: JSON.stringify(payload), done: resolve };
      if (queue) {
        queue.push(item);
        return;
      }
      this.queues.set(key, [item]);
      void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    for (;;) {
      const queue = this.queues.get(key);
      const item = queue?.[0];
      if (!queue || !item) {
        this.queues.delete(key);
        return;
      }
      await this.deliver(item);
      queue.shift();
      item.done();
    }
  }

  private async deliver(item: Item): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.abort.signal.aborted) return;
      // Lifecycle notifications still go out for a subscription being removed; change notifications stop with it.
      if (item.kind === 'change' && !this.o.subscriptionExists(item.subscriptionId)) return;
      const record: DeliveryRecord = { subscriptionId: item.subscriptionId, url: item.url, kind: item.kind, attempt, at: Date.now() };
      this.records.push(record);
      const outcome = await post(item.url, item.body, 'application/json; charset=utf-8', this.o.timeoutMs, this.abort.signal);
      if ('status' in outcome) record.status = outcome.status;
      else record.error = outcome.error;
      if ('status' in outcome && outcome.status >= 200 && outcome.status < 300) return;
      const pause = this.o.retryDelaysMs[attempt - 1];
      if (pause === undefined) {
        this.o.log(`notification for subscription ${item.subscriptionId} dropped after ${attempt} attempts`);
        return;
      }
      await this.sleep(pause);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeping.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.sleeping.add(entry);
    });
  }

  close(): void {
    this.abort.abort();
    for (const s of this.sleeping) {
      clearTimeout(s.timer);
      s.wake();
    }
    this.sleeping.clear();
    for (const queue of this.queues.values()) for (const item of queue) item.done();
    this.queues.clear();
  }
}
