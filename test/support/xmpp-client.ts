/**
 * A real XMPP client (xmpp.js @xmpp/client) for end-to-end tests: logs in to the test Prosody over c2s and
 * records every stanza it receives, so a test can wait for the one it expects.
 */
import { client, xml, type XmppClient } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { StanzaInbox } from './stanza-inbox.js';

export class TestXmppClient {
  private readonly inbox: StanzaInbox;
  private constructor(
    readonly jid: string,
    private readonly c: XmppClient,
  ) {
    this.inbox = new StanzaInbox(jid);
  }

  static async connect(o: { port: number; domain: string; user: string; password: string; resource?: string }): Promise<TestXmppClient> {
    const c = client({ service: `xmpp://127.0.0.1:${o.port}`, domain: o.domain, username: o.user, password: o.password, resource: o.resource ?? 'test' });
    c.on('error', () => undefined);
    // No XEP-0198 on c2s: xmpp.js 0.14 resets its 'h' counter after <enabled/> asynchronously, so a stanza and an
    // <r/> arriving with <enabled/> make it acknowledge h=1 then h=0, and Prosody (with mod_smacks, which S2S
    // needs) ends the session. The feature is hidden from xmpp.js before its stream-features handler reads it.
    c.prependListener('element', (el: Element) => {
      if (el.is('features', 'http://etherx.jabber.org/streams')) el.children = el.children.filter((ch) => typeof ch === 'string' || !ch.is('sm', 'urn:xmpp:sm:3'));
    });
    const jid = await c.start();
    // As clients do: no Nagle stalls (up to 40 ms per stanza against the server's delayed ACK) in the timings.
    const s = c.socket;
    (s && 'setNoDelay' in s ? s : s?.socket)?.setNoDelay(true);
    const t = new TestXmppClient(jid.toString(), c);
    c.on('stanza', (el: Element) => t.inbox.add(el));
    return t;
  }

  get received(): Element[] {
    return this.inbox.received;
  }

  get bare(): string {
    return this.jid.split('/')[0] as string;
  }

  /** Resolves with the first stanza (already received or future) matching `pred`. */
  waitFor(pred: (el: Element) => boolean, timeoutMs = 10_000, what = 'stanza'): Promise<Element> {
    return this.inbox.waitFor(pred, timeoutMs, what);
  }

  async send(el: Element): Promise<void> {
    await this.c.send(el);
  }

  async sendPresence(attrs: Record<string, string> = {}, ...children: Element[]): Promise<void> {
    await this.c.send(xml('presence', attrs, ...children));
  }

  /** Sends an iq and resolves with the answer (result or error), whatever its type. */
  async iq(to: string, type: 'get' | 'set', payload: Element, timeoutMs = 10_000): Promise<Element> {
    const id = `iq-${Math.random().toString(36).slice(2)}`;
    const answer = this.waitFor((el) => el.name === 'iq' && el.attrs.id === id, timeoutMs, `iq answer ${id}`);
    await this.c.send(xml('iq', { to, type, id }, payload));
    return answer;
  }

  /** RFC 6121 §2.2: a client that fetched the roster is an "interested resource" and gets subscription stanzas. */
  async requestRoster(): Promise<Element> {
    const id = `roster-${Math.random().toString(36).slice(2)}`;
    const answer = this.waitFor((el) => el.name === 'iq' && el.attrs.id === id, 10_000, 'roster result');
    await this.c.send(xml('iq', { type: 'get', id }, xml('query', { xmlns: 'jabber:iq:roster' })));
    return answer;
  }

  async stop(): Promise<void> {
    this.c.reconnect.stop();
    await this.c.stop().catch(() => undefined);
  }
}

export { xml };
