/**
 * One XMPP user of the relay benchmark: a real xmpp.js client logged in to Prosody, sending chat messages with
 * XEP-0184 receipt requests and noting when each receipt and each message from Teams arrives. It keeps only
 * timestamps by id or body, so thousands of stanzas cost the benchmark little.
 */
import { client, xml, type XmppClient } from '@xmpp/client';
import type { Element } from '@xmpp/xml';

const NS_RECEIPTS = 'urn:xmpp:receipts';

export class BenchClient {
  /** Receipt arrival times by the id of the message they confirm. */
  readonly receipts = new Map<string, number>();
  /** Error replies by message id (a message that will never get a receipt). */
  readonly errors = new Map<string, string>();
  /** Arrival times of messages (from Teams) by body. */
  readonly bodies = new Map<string, number>();
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  private constructor(
    readonly jid: string,
    private readonly c: XmppClient,
  ) {}

  static async connect(o: { port: number; domain: string; user: string; password: string }): Promise<BenchClient> {
    const c = client({ service: `xmpp://127.0.0.1:${o.port}`, domain: o.domain, username: o.user, password: o.password, resource: 'bench' });
    c.on('error', () => undefined);
    const jid = await c.start();
    const b = new BenchClient(jid.toString(), c);
    c.on('stanza', (el: Element) => b.onStanza(el));
    await c.send(xml('presence', {}));
    return b;
  }

  get bare(): string {
    return this.jid.split('/')[0] as string;
  }

  private onStanza(el: Element): void {
    if (el.name !== 'message') return;
    const now = performance.now();
    const received = el.getChild('received', NS_RECEIPTS);
    if (received?.attrs.id) this.receipts.set(String(received.attrs.id), now);
    else if (el.attrs.type === 'error' && el.attrs.id) this.errors.set(String(el.attrs.id), el.getChild('error')?.children.map((c) => (typeof c === 'string' ? c : c.name)).join(',') ?? '?');
    else {
      const body = el.getChildText('body');
      if (body !== null) this.bodies.set(body, now);
    }
    if (this.waiters.length > 0) {
      this.waiters = this.waiters.filter((w) => {
        if (!w.check()) return true;
        w.resolve();
        return false;
      });
    }
  }

  /** Sends a chat message to `to` with a receipt request; `id` names it. */
  send(to: string, id: string, body: string): Promise<void> {
    return this.c.send(xml('message', { to, type: 'chat', id }, xml('body', {}, body), xml('request', { xmlns: NS_RECEIPTS })));
  }

  /** Resolves once `check` holds (checked at every incoming message), or rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`${this.bare}: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ check, resolve: done });
    });
  }

  async stop(): Promise<void> {
    this.c.reconnect.stop();
    await this.c.stop().catch(() => undefined);
  }
}
