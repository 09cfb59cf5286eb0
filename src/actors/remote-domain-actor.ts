/**
 * RemoteDomainActor: one remote XMPP domain (DESIGN.md). Every stanza from the domain is admitted (or not)
 * here before it reaches a user pair: the domain whitelist is checked first, before any directory lookup, and the
 * actor keeps the domain's traffic and health figures. (The domain's rate bucket is in the Throttler, shared
 * cluster-wide through Redis.)
 */
import { StanzaError } from '../protocol/stanza-error.js';
import type { Logger } from '../observability/logger.js';
import type { Actor, ActorContext, Envelope } from './actor.js';

export type DomainMessage =
  | { readonly type: 'admit'; readonly stanza: 'message' | 'presence' | 'iq' }
  | { readonly type: 'bounced'; readonly condition: string | undefined }
  | { readonly type: 'stats' };

export interface DomainStats {
  readonly domain: string;
  readonly admitted: number;
  readonly refused: number;
  readonly bounced: number;
  readonly lastSeen: number | undefined;
  readonly lastBounce: string | undefined;
}

export type DomainReply = { readonly allowed: true } | { readonly allowed: false; readonly error: StanzaError } | DomainStats;

export class RemoteDomainActor implements Actor<DomainMessage, DomainReply> {
  private admitted = 0;
  private refused = 0;
  private bounced = 0;
  private lastSeen: number | undefined;
  private lastBounce: string | undefined;
  private readonly log: Logger;

  constructor(
    private readonly ctx: ActorContext,
    private readonly now: () => number,
    /** The domain whitelist (deny by default); consulted on every stanza so run-time changes apply at once. */
    private readonly allowed: (domain: string) => boolean = () => true,
  ) {
    this.log = ctx.log;
  }

  async activate(): Promise<void> {}
  async passivate(): Promise<void> {}

  async receive(m: DomainMessage, env: Envelope): Promise<DomainReply> {
    switch (m.type) {
      case 'admit':
        this.lastSeen = this.now();
        if (!this.allowed(this.ctx.key)) {
          this.refused++;
          // RFC 6120 §8.3.3.19: <service-unavailable/> rather than <item-not-found/>, and the same answer for every
          // address, so a stranger learns nothing about which Teams users exist. No text, for the same reason.
          return { allowed: false, error: new StanzaError('service-unavailable') };
        }
        this.admitted++;
        return { allowed: true };
      case 'bounced':
        // An error stanza from the domain in answer to something the gateway sent: the domain's users or server
        // refused it. Counted, so an operator sees a misbehaving peer.
        this.bounced++;
        this.lastBounce = m.condition;
        this.log.info('remote domain returned an error stanza', { correlationId: env.correlationId, condition: m.condition });
        return { allowed: true };
      case 'stats':
        return { domain: this.ctx.key, admitted: this.admitted, refused: this.refused, bounced: this.bounced, lastSeen: this.lastSeen, lastBounce: this.lastBounce };
    }
  }
}
