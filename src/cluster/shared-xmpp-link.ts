/**
 * The XMPP component link in a cluster (issue: "the XMPP link in a cluster"). Prosody accepts one connection per
 * component domain, so in 'one' mode a leader lease picks the node that connects; the others send their stanzas
 * through it, and a standby takes the lease over when the holder dies. ejabberd accepts several connections for
 * one component and balances between them, so in 'every-node' mode each serving node connects itself.
 *
 * Stanzas received on a link are routed by the cluster router, so it does not matter which node receives them.
 */
import { EventEmitter } from 'node:events';
import type { Element } from '@xmpp/xml';
import { errorMessage, type Logger } from '../observability/logger.js';
import { parseStanza, type StanzaLimits } from '../xmpp/bounded-parser.js';
import { XmppLinkDownError, XmppRequestError, type ComponentLink, type XmppPort } from '../xmpp/component-link.js';
import type { LeaderLease } from './leader-lease.js';
import type { Membership } from './membership.js';
import { NodeUnreachableError, RemoteCallError, type NodeTransport } from './node-transport.js';

export interface SharedXmppLinkEvents {
  stanza: [Element];
  online: [];
}

export interface SharedXmppLinkOptions {
  readonly mode: 'one' | 'every-node';
  /** Several links on one node (one per tenant, issue 16): each calls the holder on its own paths, /xmpp<path>/send. */
  readonly path?: string;
  readonly nodeId: string;
  /** Makes a fresh link (a component link cannot be restarted once stopped). */
  readonly createLink: () => ComponentLink;
  /** The lease that decides the link holder in 'one' mode. */
  readonly lease: LeaderLease;
  readonly membership: Membership;
  readonly transport: NodeTransport;
  /** Whether this node may connect (licensed, not leaving). */
  readonly serving: () => boolean;
  readonly callTimeoutMs: number;
  /** The bounds of the link's parser, applied again to stanzas that cross between nodes as text. */
  readonly limits: StanzaLimits;
  /**
   * 'every-node': ejabberd may deliver the answer to an iq on another node's connection (it balances each stanza
   * on its own), so unmatched answers are passed to the other nodes (Redis pub/sub) to find their requester.
   */
  readonly relayAnswer?: (stanza: string) => void;
  readonly log: Logger;
}

export class SharedXmppLink extends EventEmitter<SharedXmppLinkEvents> implements XmppPort {
  private link: ComponentLink | undefined;
  private holder: string | undefined;
  private holderTimer: NodeJS.Timeout | undefined;
  private switching: Promise<void> = Promise.resolve();

  constructor(private readonly o: SharedXmppLinkOptions) {
    super();
    o.transport.handle(`/xmpp${o.path ?? ''}/send`, async (body) => {
      await this.sendLocal(this.parse((body as { stanza: string }).stanza));
      return null;
    });
    o.transport.handle(`/xmpp${o.path ?? ''}/request`, async (body) => {
      const b = body as { stanza: string; timeoutMs: number };
      const link = this.link;
      if (!link?.isOnline()) throw new XmppLinkDownError();
      // The answer was bounded by the link's parser, so serializing it is bounded too.
      return (await link.request(this.parse(b.stanza), b.timeoutMs)).toString();
    });
    if (o.mode === 'one') {
      o.lease.on('acquired', () => this.switchTo(true));
      o.lease.on('lost', () => this.switchTo(false));
    }
  }

  /** 'one': compete for the lease; 'every-node': connect now (when serving). */
  async start(): Promise<void> {
    if (this.o.mode === 'one') {
      this.o.lease.start();
      this.holderTimer = setInterval(() => void this.refreshHolder(), 1000);
      await this.refreshHolder();
    } else if (this.o.serving()) {
      await this.switchTo(true);
    }
  }

  /** 'every-node' mode: the node's serving state changed (licence, leaving). */
  async servingChanged(): Promise<void> {
    if (this.o.mode === 'every-node') await this.switchTo(this.o.serving());
    else await this.o.lease.tick();
  }

  private switchTo(connected: boolean): Promise<void> {
    this.switching = this.switching.then(async () => {
      if (connected && !this.link) {
        const link = this.o.createLink();
        link.on('stanza', (el) => {
          const isAnswer = el.name === 'iq' && (el.attrs.type === 'result' || el.attrs.type === 'error');
          if (!isAnswer) this.emit('stanza', el);
          // Only answers to the cluster's own requests go to the other nodes (the id carries the cluster's MAC);
          // any other iq result is nobody's business, whoever sent it.
          else if (this.o.mode === 'every-node' && this.o.relayAnswer && link.issued(el.attrs.id)) this.o.relayAnswer(el.toString());
        });
        link.on('online', () => this.emit('online'));
        this.link = link;
        await link.start();
      } else if (!connected && this.link) {
        const link = this.link;
        this.link = undefined;
        await link.stop().catch((err: unknown) => this.o.log.warn('closing the XMPP link failed', { error: errorMessage(err) }));
      }
    });
    return this.switching;
  }

  private async refreshHolder(): Promise<void> {
    try {
      this.holder = await this.o.lease.holder();
    } catch {
      this.holder = undefined;
    }
  }

  /** An iq answer another node received (see relayAnswer): resolves this node's request if it is one. */
  foreignAnswer(text: string): void {
    try {
      this.link?.answer(this.parse(text));
    } catch {
      // not a stanza within the limits: ignored
    }
  }

  private parse(text: string): Element {
    return parseStanza(text, this.o.limits);
  }

  /** True when this node holds an online link, or another node holds the lease. */
  isOnline(): boolean {
    if (this.link?.isOnline()) return true;
    return this.o.mode === 'one' && this.holder !== undefined && this.holder !== this.o.nodeId;
  }

  /** True when this node's own link is connected. */
  holdsLink(): boolean {
    return this.link?.isOnline() ?? false;
  }

  private async sendLocal(stanza: Element): Promise<void> {
    if (!this.link) throw new XmppLinkDownError();
    await this.link.send(stanza);
  }

  async send(stanza: Element): Promise<void> {
    if (this.link?.isOnline()) return this.link.send(stanza);
    await this.viaHolder(`/xmpp${this.o.path ?? ''}/send`, { stanza: stanza.toString() });
  }

  async request(iq: Element, timeoutMs = 10_000): Promise<Element> {
    if (this.link?.isOnline()) return this.link.request(iq, timeoutMs);
    return this.parse((await this.viaHolder(`/xmpp${this.o.path ?? ''}/request`, { stanza: iq.toString(), timeoutMs }, timeoutMs + 2000)) as string);
  }

  private async viaHolder(path: string, body: unknown, timeoutMs = this.o.callTimeoutMs): Promise<unknown> {
    if (this.o.mode !== 'one') throw new XmppLinkDownError();
    await this.refreshHolder();
    const holder = this.holder;
    const node = holder === undefined ? undefined : this.o.membership.node(holder);
    if (!holder || holder === this.o.nodeId || !node) throw new XmppLinkDownError();
    try {
      return await this.o.transport.call(holder, node.rpcUrl, path, body, timeoutMs);
    } catch (err) {
      if (err instanceof NodeUnreachableError || (err instanceof RemoteCallError && err.remoteName === 'XmppLinkDownError')) throw new XmppLinkDownError();
      if (err instanceof RemoteCallError && err.remoteName === 'XmppRequestError') throw new XmppRequestError(err.message, err.detail.condition as string | undefined);
      throw err;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.holderTimer);
    if (this.o.mode === 'one') await this.o.lease.stop();
    await this.switchTo(false);
  }
}
