/**
 * The gateway's Graph subscription records as the webhook and the inbox look them up by id. Every POST of Graph
 * names its subscription, and every run of a chat's new messages asks for its owner: one store read each, on the
 * event loop, and the first read after each commit of the writer thread finds SQLite's page cache dropped (WAL).
 * In Teams -> XMPP at 1,800 msg/s those reads were 3.5% of the event loop's samples (bench/relay.bench.ts --perf).
 *
 * What is kept cannot go stale in a way that matters: a record's id, clientState and owner never change (a new
 * clientState comes with a new subscription, under a new id: subscription-manager.ts; a renewal moves only the
 * expiry, which no reader of this cache uses). A record is kept for SUBSCRIPTION_TTL_MS, so a subscription deleted
 * meanwhile is still found for at most that long: only Graph knows its clientState, and Graph stops notifying a deleted
 * subscription. An id the store does not know is never kept: such ids are what a stranger posting to the public
 * webhook chooses (DESIGN.md decision 9), so they cannot fill the cache, and each costs one read, as before.
 */
import type { GraphSubscriptionRecord } from '../store/store.js';

/** How long a record read from the store is used before it is read again. */
export const SUBSCRIPTION_TTL_MS = 10_000;
/** Records kept at most (one per subscription the gateway made: a puppet's chats and presence, the directory). */
const MAX_RECORDS = 100_000;

type Find = (id: string) => Promise<GraphSubscriptionRecord | undefined>;

export class SubscriptionCache {
  /** By id: the read (shared by lookups that overlap it), and until when its record may be used. */
  private readonly records = new Map<string, { readonly record: Promise<GraphSubscriptionRecord | undefined>; until: number }>();

  constructor(
    private readonly find: Find,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = SUBSCRIPTION_TTL_MS,
  ) {}

  /** The record of subscription `id`, or undefined when the store has none. */
  get(id: string): Promise<GraphSubscriptionRecord | undefined> {
    const now = this.now();
    const kept = this.records.get(id);
    if (kept && kept.until > now) return kept.record;
    if (kept) this.records.delete(id);
    const record = this.find(id);
    if (this.records.size >= MAX_RECORDS) this.records.delete(this.records.keys().next().value as string);
    const entry = { record, until: now + this.ttlMs };
    this.records.set(id, entry);
    // Nothing kept for an unknown id or a failed read (the failure still reaches this caller).
    const drop = () => {
      if (this.records.get(id) === entry) this.records.delete(id);
    };
    record.then((r) => (r ? undefined : drop()), drop);
    return record;
  }
}
