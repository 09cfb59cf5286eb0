/**
 * Rich notifications whose decryption starts before the inbox processes them (notification-processor.ts): as soon
 * as the webhook committed them, and for rows a round of the inbox read but left for the next, so that the
 * decrypting threads (resource-decrypter.ts) work on them while the event loop relays earlier ones. Processing then
 * takes the result instead of waiting for a thread.
 */
import type { InboundNotification } from '../store/store.js';
import type { ResourceDecrypter } from './resource-decrypter.js';
import type { DecryptResult, NotificationCertificate } from './rich-notifications.js';

/**
 * Decryptions started and not taken yet, at most: a node that records more than it processes (a backlog) decrypts
 * the rest when it gets to them. One not taken within STALE_MS (dead-lettered, or processed by another node since)
 * makes room for a new one. 256 is about 85 ms of a decrypting thread's work (bench/decrypt.bench.ts: about 3,000 a
 * second), enough to keep it busy while the event loop relays a round of the inbox; each result waits here as a
 * parsed message until its row is processed, and with 2,048 a flood kept thousands of them alive across the young
 * generation's collections (bench/relay.bench.ts, Teams -> XMPP, 5 runs of each alternated: the scavenges of a
 * node's life a median 1,529 ms with 2,048, 1,281 ms with 256).
 */
const STARTED_AT_MOST = 256;
const STALE_MS = 60_000;

export interface DecryptAheadOptions {
  readonly decrypter: () => ResourceDecrypter;
  /** The gateway's encryption certificates by id; nothing is decrypted ahead without them. */
  readonly certificates: ReadonlyMap<string, NotificationCertificate> | undefined;
  readonly now: () => number;
}

export class DecryptAhead {
  /**
   * By the notification's dedup key (unique in the inbox). Not by its encrypted content, unique too but about
   * 1.5 KB: each lookup would hash a fresh copy of it read from the store.
   */
  private readonly started = new Map<string, { readonly at: number; readonly result: Promise<DecryptResult> }>();

  constructor(private readonly o: DecryptAheadOptions) {}

  /** Starts decrypting the resource data of these notifications (chat messages and presence), never twice. */
  start(notifications: readonly InboundNotification[]): void {
    const certificates = this.o.certificates;
    if (!certificates || certificates.size === 0) return;
    const now = this.o.now();
    for (const n of notifications) {
      if ((n.kind !== 'chatMessage' && n.kind !== 'presence') || !n.detail?.startsWith('{') || this.started.has(n.dedupKey)) continue;
      if (this.started.size >= STARTED_AT_MOST) {
        const [oldest, s] = this.started.entries().next().value as [string, { at: number }];
        if (now - s.at < STALE_MS) return;
        this.started.delete(oldest);
      }
      this.started.set(n.dedupKey, { at: now, result: this.o.decrypter().decrypt(n.detail, certificates) });
    }
  }

  /** Whether a decryption was started for this notification (and not taken yet). */
  has(n: Pick<InboundNotification, 'dedupKey'>): boolean {
    return this.started.has(n.dedupKey);
  }

  /** How many more could start now (not counting those that went stale). */
  room(): number {
    return Math.max(0, STARTED_AT_MOST - this.started.size);
  }

  /** The decryption started for this notification, taken (undefined when none was). */
  take(n: Pick<InboundNotification, 'dedupKey'>): Promise<DecryptResult> | undefined {
    const s = this.started.get(n.dedupKey);
    if (s) this.started.delete(n.dedupKey);
    return s?.result;
  }
}
