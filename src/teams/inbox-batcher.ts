/**
 * Commits the notifications of every webhook request that arrives in the same instant together: records queued in
 * one event-loop turn share one store transaction (one WAL sync on SQLite), and the requests are answered when it
 * committed. Graph answers a webhook within 3 seconds or counts it as slow and then throttles or drops its
 * notifications (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#throttling), and a
 * burst of single-item POSTs each waiting for a commit of its own misses that deadline (bench/webhook.bench.ts).
 * Commits run one after the other, so records are committed in arrival order (DESIGN.md decision 4).
 */
import type { InboundNotification, Store } from '../store/store.js';

/** At most this many records in one transaction, so that one commit never holds the store for long. */
export const MAX_RECORDS_PER_COMMIT = 5000;

interface Waiting {
  readonly records: readonly InboundNotification[];
  readonly resolve: (fresh: boolean[]) => void;
  readonly reject: (err: unknown) => void;
}

export class InboxBatcher {
  private queue: Waiting[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Resolves, once committed, with each record's freshness (false: its dedup key was seen before). */
  record(records: readonly InboundNotification[]): Promise<boolean[]> {
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.chain = this.chain.then(() => this.flush());
        });
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const group: Waiting[] = [];
      let size = 0;
      while (this.queue.length > 0 && (group.length === 0 || size + (this.queue[0] as Waiting).records.length <= MAX_RECORDS_PER_COMMIT)) {
        const w = this.queue.shift() as Waiting;
        group.push(w);
        size += w.records.length;
      }
      try {
        const fresh = await this.store.recordNotifications(group.flatMap((w) => w.records), this.now());
        let at = 0;
        for (const w of group) {
          w.resolve(fresh.slice(at, at + w.records.length));
          at += w.records.length;
        }
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
  }

  /** Resolves once everything queued so far is committed (or failed). */
  async drained(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.chain;
  }
}
