/**
 * RemoteDomainActor: one remote XMPP domain (DESIGN.md). Every stanza from the domain is admitted (or not)
 * here before it reaches a user pair: the domain whitelist is checked first, before any directory lookup, and the
 * actor keeps the domain's traffic and health figures. (The domain's rate bucket is in the Throttler, shared
 * cluster-wide through Redis.) The stanza router refuses strangers before asking, so only whitelisted domains
 * ever have an actor.
 *
 * It also decides whether one more of the domain's users may get a Teams account (each a paid licence, issue 12
 * finding 5): being the one activation of its key in the cluster, it counts the domain's accounts without races.
 */
import { StanzaError } from '../protocol/stanza-error.js';
import { refusalLogBudget, type LogBudget } from '../observability/log-budget.js';
import type { Logger } from '../observability/logger.js';
import type { Actor, ActorContext, Envelope } from './actor.js';

export type DomainMessage =
  | { readonly type: 'admit'; readonly stanza: 'message' | 'presence' | 'iq' }
  | { readonly type: 'bounced'; readonly condition: string | undefined }
  /** May this user of the domain get a Teams account? Asked only for a user who has none. */
  | { readonly type: 'account'; readonly remoteJid: string }
  | { readonly type: 'stats' };

/** How many Teams accounts the gateway may make, and how many there are. */
export interface AccountQuota {
  /** Accounts one remote domain's users may have in all. */
  perDomain(): number;
  /** Accounts the gateway may have in all (the licence's limit, e.g. in evaluation mode); undefined: no limit. */
  total(): number | undefined;
  /** Accounts of one domain's users, or of all when `domain` is undefined (read from the store). */
  count(domain?: string): Promise<number>;
  /** The domain's accounts changed (known plus granted): for the operator's gauge. */
  counted(domain: string, accounts: number): void;
  refused(reason: 'domain' | 'total'): void;
}

const NO_QUOTA: AccountQuota = { perDomain: () => Number.POSITIVE_INFINITY, total: () => undefined, count: async () => 0, counted: () => undefined, refused: () => undefined };

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
  private readonly bounceLog: LogBudget;
  /** The domain's accounts in the store when first asked (undefined until then). */
  private accounts: number | undefined;
  /** Users granted an account since then (their creation may still be under way). */
  private readonly granted = new Set<string>();

  constructor(
    private readonly ctx: ActorContext,
    private readonly now: () => number,
    /** The domain whitelist (deny by default); consulted on every stanza so run-time changes apply at once. */
    private readonly allowed: (domain: string) => boolean = () => true,
    private readonly quota: AccountQuota = NO_QUOTA,
  ) {
    this.log = ctx.log;
    // A partner can send error stanzas at will: their log lines are bounded (DESIGN.md decision 9).
    this.bounceLog = refusalLogBudget(ctx.log);
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
        this.bounceLog.info('remote domain returned an error stanza', { correlationId: env.correlationId, condition: m.condition });
        return { allowed: true };
      case 'account':
        return this.account(m.remoteJid, env);
      case 'stats':
        return { domain: this.ctx.key, admitted: this.admitted, refused: this.refused, bounced: this.bounced, lastSeen: this.lastSeen, lastBounce: this.lastBounce };
    }
  }

  private async account(remoteJid: string, env: Envelope): Promise<DomainReply> {
    if (this.granted.has(remoteJid)) return { allowed: true };
    this.accounts ??= await this.quota.count(this.ctx.key);
    const cap = this.quota.perDomain();
    if (this.accounts + this.granted.size >= cap) {
      this.quota.refused('domain');
      this.log.warn('no Teams account for a new user of the domain: its limit is reached', { correlationId: env.correlationId, accounts: this.accounts + this.granted.size, limit: cap });
      return { allowed: false, error: new StanzaError('resource-constraint', `the gateway has reached its limit of ${cap} Teams accounts for users of ${this.ctx.key}`, 'cancel') };
    }
    const total = this.quota.total();
    // Other domains' accounts from the store, this domain's as counted here (its grants may not be stored yet).
    const everywhere = async () => (await this.quota.count()) - (await this.quota.count(this.ctx.key)) + (this.accounts ?? 0) + this.granted.size;
    if (total !== undefined && (await everywhere()) >= total) {
      this.quota.refused('total');
      this.log.warn('no Teams account for a new XMPP user: the licence limit is reached', { correlationId: env.correlationId, limit: total });
      return { allowed: false, error: new StanzaError('resource-constraint', `the gateway has reached its licensed limit of ${total} Teams accounts`, 'cancel') };
    }
    this.granted.add(remoteJid);
    this.quota.counted(this.ctx.key, this.accounts + this.granted.size);
    return { allowed: true };
  }
}
