/**
 * The XEP-0114 link to the XMPP server, on xmpp.js's component building blocks: @xmpp/component-core (the
 * jabber:component:accept stream and its SHA-1 handshake) and @xmpp/reconnect. (@xmpp/component itself adds
 * an iq middleware that answers every iq on its own; the gateway answers iqs after actor work, with its own
 * error conditions, so it uses the building blocks directly.)
 */
import { EventEmitter } from 'node:events';
import { Component } from '@xmpp/component-core';
import reconnect from '@xmpp/reconnect';
import type { Element } from '@xmpp/xml';
import { tryParseJid, formatJid } from '../protocol/jid.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { boundedParser, type StanzaLimits } from './bounded-parser.js';
import type { IqIds } from './iq-ids.js';

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

/**
 * Sends `stanza`, or answers false when the link is down (the caller keeps what must be sent again); other
 * failures are thrown.
 */
export async function sendUnlessLinkDown(xmpp: XmppPort, stanza: Element): Promise<boolean> {
  try {
    await xmpp.send(stanza);
    return true;
  } catch (err) {
    if (err instanceof XmppLinkDownError) return false;
    throw err;
  }
}

export interface ComponentLinkOptions {
  readonly service: string;
  readonly domain: string;
  readonly password: () => string;
  readonly reconnectDelayMs: number;
  /** Bounds on every stanza read off the link (depth, elements, bytes). */
  readonly limits: StanzaLimits;
  /** Issues the ids of the gateway's own iqs (unguessable; in a cluster, recognisable by every node). */
  readonly ids: IqIds;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/** A request waiting for its answer: only an answer with its id from the address it went to completes it. */
interface PendingRequest {
  readonly to: string;
  readonly complete: (answer: Element) => void;
}

/** The address an answer must come from (RFC 6120 §8.2.3): the request's `to`, compared normalised. */
function sameAddress(a: string | undefined, b: string | undefined): boolean {
  const x = tryParseJid(a);
  const y = tryParseJid(b);
  return x !== undefined && y !== undefined && formatJid(x) === formatJid(y);
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
  /** The socket corked for this turn of the event loop (coalesceWrites). */
  private corked: { cork(): void; uncork(): void } | undefined;
  private readonly pending = new Map<string, PendingRequest>();

  constructor(private readonly o: ComponentLinkOptions) {
    super();
    this.entity = new Component({ service: o.service, domain: o.domain });
    // @xmpp/connection makes its parser with `new this.Parser()`: this one bounds every stanza (bounded-parser.ts).
    this.entity.Parser = boundedParser(o.limits);
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
      // This runs inside the socket's data handler: a listener that throws would end the process. Whatever a
      // stanza does to a listener is logged and counted instead.
      try {
        o.metrics.xmppStanzasIn.inc({ stanza: el.name === 'message' || el.name === 'presence' || el.name === 'iq' ? el.name : 'other' });
        if (el.name === 'iq' && (el.attrs.type === 'result' || el.attrs.type === 'error') && this.answer(el)) return;
        this.emit('stanza', el);
      } catch (err) {
        o.metrics.stanzaErrors.inc({ condition: 'internal-server-error' });
        o.log.error('a stanza listener failed; the stanza is dropped', { stanza: el.name, error: errorMessage(err) });
      }
    });
  }

  /** Whether an iq id is one this cluster issued (the only answers worth passing to the other nodes). */
  issued(id: string | undefined): boolean {
    return id !== undefined && this.o.ids.verify(id);
  }

  /**
   * Completes this link's request with its answer (received here or on another node's connection): the id must
   * be pending and the answer must come from the address the request went to (RFC 6120 §8.2.3), so another
   * user cannot answer in someone else's place. False when it completes nothing.
   */
  answer(el: Element): boolean {
    const id = el.attrs.id ?? '';
    const request = this.pending.get(id);
    if (!request) return false;
    if (!sameAddress(el.attrs.from, request.to)) {
      this.o.metrics.xmppRefused.inc({ reason: 'iq-answer-sender' });
      this.o.log.warn('iq answer from another address than the request went to; ignored', { from: el.attrs.from, expected: request.to });
      return true; // ours, and refused: not for the router either
    }
    this.pending.delete(id);
    request.complete(el);
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
    this.coalesceWrites();
    await this.entity.send(stanza);
  }

  /**
   * The stanzas sent while handling one turn of the event loop leave in one write (one system call) rather than one
   * each: the socket is corked until the loop's check phase (setImmediate). Under load a turn handles many
   * notifications and answers; each write of its own cost ~0.1 ms of CPU (bench/relay.bench.ts --cpu-prof).
   * Nagle stays off (setNoDelay): the coalesced write leaves at once.
   */
  private coalesceWrites(): void {
    const socket = this.entity.socket;
    if (!socket || this.corked === socket) return;
    socket.cork();
    this.corked = socket;
    setImmediate(() => {
      if (this.corked === socket) this.corked = undefined;
      socket.uncork();
    });
  }

  async request(iq: Element, timeoutMs = 10_000): Promise<Element> {
    // Unguessable, so nobody answers in advance; unique across nodes, as in 'every-node' mode another node's
    // connection may receive the answer (see SharedXmppLink).
    const id = this.o.ids.issue();
    iq.attrs.id = id;
    const to = iq.attrs.to ?? this.o.domain;
    const answer = new Promise<Element>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new XmppRequestError(`no answer to iq ${id} within ${timeoutMs} ms`, 'remote-server-timeout'));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, {
        to,
        complete: (el) => {
          clearTimeout(timer);
          if (el.attrs.type === 'result') resolve(el);
          else {
            const condition = el.getChild('error')?.getChildElements()[0]?.name;
            reject(new XmppRequestError(`iq ${id} answered with an error (${condition ?? 'unknown'})`, condition));
          }
        },
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
