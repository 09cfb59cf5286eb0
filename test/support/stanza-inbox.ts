/** The stanzas a test's XMPP entity received, and waiting for the one a test expects (already there or to come). */
import type { Element } from '@xmpp/xml';

export class StanzaInbox {
  readonly received: Element[] = [];
  private waiters: { pred: (el: Element) => boolean; resolve: (el: Element) => void }[] = [];

  constructor(
    private readonly name: string,
    /** Keep at most this many (a flood's answers), dropping the oldest tenth when over. */
    private readonly max = Number.POSITIVE_INFINITY,
  ) {}

  add(el: Element): void {
    this.received.push(el);
    if (this.received.length > this.max) this.received.splice(0, Math.ceil(this.max / 10));
    for (const w of [...this.waiters]) {
      if (w.pred(el)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(el);
      }
    }
  }

  /** Resolves with the first stanza (already received or future) matching `pred`. */
  waitFor(pred: (el: Element) => boolean, timeoutMs = 10_000, what = 'stanza'): Promise<Element> {
    const hit = this.received.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x.resolve !== done);
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; received:\n${this.received.slice(-20).map(String).join('\n')}`));
      }, timeoutMs);
      const done = (el: Element) => {
        clearTimeout(timer);
        resolve(el);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }
}
