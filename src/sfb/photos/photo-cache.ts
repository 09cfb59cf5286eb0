/**
 * Photos kept in memory on a node, bounded by their total size (the oldest used go first): an SfB user's photo is
 * fetched once for all the pairs that show it, and an XMPP user's photo is served to SfB clients without asking
 * the XMPP server again. Also a bounded set of recent misses, so one unanswerable key is not asked for again and
 * again.
 */
import type { Photo } from '../../protocol/vcard.js';

export class PhotoCache {
  private readonly entries = new Map<string, Photo>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): Photo | undefined {
    const p = this.entries.get(key);
    if (p) {
      // Map order is the LRU order: a hit moves to the back.
      this.entries.delete(key);
      this.entries.set(key, p);
    }
    return p;
  }

  set(key: string, photo: Photo): void {
    if (photo.bytes.length > this.maxBytes) return;
    this.delete(key);
    this.entries.set(key, photo);
    this.bytes += photo.bytes.length;
    for (const [k, p] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= p.bytes.length;
    }
  }

  private delete(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    this.bytes -= old.bytes.length;
  }

  get size(): number {
    return this.bytes;
  }
}

/** Keys that recently gave nothing, each forgotten after ttlMs; at most maxEntries (the oldest go first). */
export class RecentMisses {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  has(key: string): boolean {
    const t = this.until.get(key);
    if (t === undefined) return false;
    if (t > this.now()) return true;
    this.until.delete(key);
    return false;
  }

  add(key: string): void {
    this.until.delete(key);
    this.until.set(key, this.now() + this.ttlMs);
    if (this.until.size > this.maxEntries) {
      const oldest = this.until.keys().next().value;
      if (oldest !== undefined) this.until.delete(oldest);
    }
  }
}
