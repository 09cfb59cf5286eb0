/**
 * The XEP-0114 link to the XMPP server, on xmpp.js's component building blocks: @xmpp/component-core (the
 * jabber:component:accept stream and its SHA-1 handshake) and @xmpp/reconnect. (@xmpp/component itself adds
 * an iq middleware that answers every iq on its own; the gateway answers iqs after actor work, with its own
 * error conditions, so it uses the building blocks directly.)
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Component } from '@xmpp/component-core';
import reconnect from '@xmpp/reconnect';
import type { Element } from '@xmpp/xml';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

export class XmppLinkDownError extends Error {
  constructor() {
    super('the XMPP component link is down');
    this.name = 'XmppLinkDownError';
  }
}

export class XmppRequestError extends Error {
  constructor(
    message: string,
    readonly condition: string | undefined,
  ) {
    super(message);
    this.name = 'XmppRequestError';
  }
}

/** What actors and the router use to send stanzas. */
export interface XmppPort {
  send(stanza: Element): Promise<void>;
  isOnline(): boolean;
  /** Sends an iq get/set and resolves with its result (RFC 6120 §8.2.3); an error reply rejects. */
  request(iq: Element, timeoutMs?: number): Promise<Element>;
}

export interface ComponentLinkOptions {
  readonly service: string;
  readonly domain: string;
  readonly password: () => string;
  readonly reconnectDelayMs: number;
  readonly log: Logger;
  readonly metrics: Metrics;
}

export interface ComponentLinkEvents {
  stanza: [Element];
  online: [];
  offline: [];
}

export class ComponentLink extends EventEmitter<ComponentLinkEvents> implements XmppPort {
  private readonly entity: Component;
  private readonly reconnector: ReturnType<typeof reconnect>;
  private online = false;
  private readonly pending = new Map<string, (answer: Element) => void>();
  private nextId = 0;
  private readonly idPrefix = randomBytes(4).toString('hex');

  constructor(private readonly o: ComponentLinkOptions) {
    super();
    this.entity = new Component({ service: o.service, domain: o.domain });
    this.reconnector = reconnect({ entity: this.entity });
    this.reconnector.delay = o.reconnectDelayMs;
    this.entity.on('open', (el: Element) => {
      const id = el.attrs.id ?? '';
      this.entity.authenticate(id, o.password()).catch((err: unknown) => this.entity.emit('error', err));
    });
    this.entity.on('online', () => {
      // Each stanza is its own small write: with Nagle's algorithm one waits for the server's ACK of the previous,
      // which the server delays up to 40 ms (delayed ACK), so a Teams message, a receipt or an iq answer sent
      // right after another stalled. bench/s2s.bench.ts measured Teams → XMPP at 45 ms with it, 5 ms without.
      this.entity.socket?.setNoDelay(true);
      this.online = true;
      o.metrics.xmppLinkUp.set(1);
      o.log.info('XMPP component link online', { service: o.service, domain: o.domain });
      this.emit('online');
    });
    this.entity.on('offline', () => this.markOffline());
    this.entity.on('disconnect', () => this.markOffline());
    this.entity.on('error', (err: unknown) => {
      // A failed handshake is a <not-authorized/> stream error from the server (XEP-0114 §3).
      o.log.error('XMPP component link error', { service: o.service, error: errorMessage(err) });
    });
    this.entity.on('stanza', (el: Element) => {
      o.metrics.xmppStanzasIn.inc({ stanza: el.name === 'message' || el.name === 'presence' || el.name === 'iq' ? el.name : 'other' });
      const waiter = el.name === 'iq' && (el.attrs.type === 'result' || el.attrs.type === 'error') ? this.pending.get(el.attrs.id ?? '') : undefined;
      if (waiter) {
        this.pending.delete(el.attrs.id ?? '');
        waiter(el);
        return;
      }
      this.emit('stanza', el);
    });
  }

  /** Resolves a request of this link with an answer that arrived on another connection; false if not ours. */
  answer(el: Element): boolean {
    const waiter = this.pending.get(el.attrs.id ?? '');
    if (!waiter) return false;
    this.pending.delete(el.attrs.id ?? '');
    waiter(el);
    return true;
  }

  private markOffline(): void {
    if (!this.online) return;
    this.online = false;
    this.o.metrics.xmppLinkUp.set(0);
    this.o.log.warn('XMPP component link offline; reconnecting', { service: this.o.service, delayMs: this.o.reconnectDelayMs });
    this.emit('offline');
  }

  /** Connects; keeps retrying in the background when the server is not there yet. */
  async start(): Promise<void> {
    try {
      await this.entity.start();
    } catch (err) {
      // The failed connect ends in a 'disconnect' event, on which @xmpp/reconnect schedules the next attempt.
      this.o.log.warn('XMPP server not reachable yet; will retry', { service: this.o.service, error: errorMessage(err) });
    }
  }

  isOnline(): boolean {
    return this.online;
  }

  async send(stanza: Element): Promise<void> {
    if (!this.online) throw new XmppLinkDownError();
    await this.entity.send(stanza);
  }

  async request(iq: Element, timeoutMs = 10_000): Promise<Element> {
    // Unique across nodes: in 'every-node' mode another node's connection may receive the answer (see SharedXmppLink).
    const id = `xtg-${this.idPrefix}-${Date.now().toString(36)}-${++this.nextId}`;
    iq.attrs.id = id;
    const answer = new Promise<Element>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new XmppRequestError(`no answer to iq ${id} within ${timeoutMs} ms`, 'remote-server-timeout'));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, (el) => {
        clearTimeout(timer);
        if (el.attrs.type === 'result') resolve(el);
        else {
          const condition = el.getChild('error')?.getChildElements()[0]?.name;
          reject(new XmppRequestError(`iq ${id} answered with an error (${condition ?? 'unknown'})`, condition));
        }
      });
    });
    await this.send(iq);
    return answer;
  }

  async stop(): Promise<void> {
    this.reconnector.stop();
    this.online = false;
    this.o.metrics.xmppLinkUp.set(0);
    await this.entity.stop().catch(() => undefined);
  }
}
