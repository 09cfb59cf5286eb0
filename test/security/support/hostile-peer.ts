/**
 * A hostile peer server for the hostile-input suite: a real XEP-0114 component connection to the test Prosody
 * (xmpp.js @xmpp/component-core), serving one domain. Prosody routes what it sends to the gateway's component as
 * it routes S2S traffic from a remote domain, and routes the gateway's answers to `<anything>@<its domain>` back
 * to it. With the component's `validateFrom: false` it may also send from any address (as a server over S2S
 * claiming other domains). It sends raw text when a test needs XML no element builder would produce.
 */
import { Component } from '@xmpp/component-core';
import type { Element } from '@xmpp/xml';
import { StanzaInbox } from '../../support/stanza-inbox.js';

export class HostilePeer {
  private readonly inbox: StanzaInbox;
  /** Answers iqs the gateway sends to this domain (e.g. vCard requests); the default leaves them unanswered. */
  onIq: ((iq: Element) => void) | undefined;

  private constructor(
    readonly domain: string,
    private readonly entity: Component,
  ) {
    this.inbox = new StanzaInbox(domain, 50_000);
    entity.on('stanza', (el: Element) => {
      if (el.name === 'iq' && (el.attrs.type === 'get' || el.attrs.type === 'set')) this.onIq?.(el);
      this.inbox.add(el);
    });
  }

  get received(): Element[] {
    return this.inbox.received;
  }

  static async connect(o: { port: number; domain: string; secret: string }): Promise<HostilePeer> {
    const entity = new Component({ service: `xmpp://127.0.0.1:${o.port}`, domain: o.domain });
    entity.on('error', () => undefined);
    entity.on('open', (el: Element) => {
      entity.authenticate(el.attrs.id ?? '', o.secret).catch((err: unknown) => entity.emit('error', err));
    });
    const peer = new HostilePeer(o.domain, entity);
    await entity.start();
    return peer;
  }

  /** Sends text as it is, as one write on the stream. */
  async raw(text: string): Promise<void> {
    await (this.entity as unknown as { write(s: string): Promise<void> }).write(text);
  }

  async send(el: Element): Promise<void> {
    await this.entity.send(el);
  }

  waitFor(pred: (el: Element) => boolean, timeoutMs = 10_000, what = 'stanza'): Promise<Element> {
    return this.inbox.waitFor(pred, timeoutMs, what);
  }

  count(pred: (el: Element) => boolean): number {
    return this.received.filter(pred).length;
  }

  async stop(): Promise<void> {
    await this.entity.stop().catch(() => undefined);
  }
}
