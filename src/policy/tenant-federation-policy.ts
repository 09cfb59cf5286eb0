/**
 * A tenant's federation policy as the stanza router asks it (issue 16): its whitelist (policy-service.ts) within
 * the walls (walls.ts). A sender of another tenant of the cluster passes only a rule between the two tenants, with
 * both users members of it and on their tenants' whitelists; an outside sender passes the tenant's remote rules (when
 * it has any) and its whitelist. A refusal is answered as for no such user by the router, and audited here in the
 * tenant's audit log (the same sender and user at most once per {@link AUDIT_REPEAT_MS}, so a flood costs a bounded
 * number of rows).
 */
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/store.js';
import type { FederationPolicy } from '../xmpp/stanza-router.js';
import type { PolicyService } from './policy-service.js';
import { isMember, partyDomainMatches, partyMatches, type Walls } from './walls.js';
import type { TeamsIdentity, Verdict } from './whitelist.js';

/** A refusal of the same sender and user is audited again after this long. */
export const AUDIT_REPEAT_MS = 10 * 60_000;
/** Refusals remembered for {@link AUDIT_REPEAT_MS} at most (the oldest forgotten first). */
const AUDIT_MEMORY = 10_000;

/** A user of a peer tenant, as the peer's own directory and whitelist know them. */
export interface PeerUser {
  readonly user: TeamsIdentity;
  readonly groups: ReadonlySet<string>;
  /** On the peer's own whitelist. */
  readonly allowed: boolean;
}

export interface TenantFederationOptions {
  readonly tenant: string;
  readonly walls: Walls;
  readonly policy: PolicyService;
  readonly store: Pick<Store, 'appendAudit'>;
  /** Finds the peer tenant's user behind a JID of its component domain (its directory, its credentials). */
  readonly peerUser: (peer: string, bareJid: string) => Promise<PeerUser | undefined>;
  readonly log: Logger;
  readonly now?: () => number;
}

export type WallVerdict = Verdict | { readonly allowed: false; readonly reason: 'wall' };

export class TenantFederationPolicy implements FederationPolicy {
  private readonly audited = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly o: TenantFederationOptions) {
    this.now = o.now ?? Date.now;
  }

  domainAllowed(domain: string): boolean {
    const w = this.o.walls.about(this.o.tenant, domain);
    if (w.kind === 'peer') {
      // No rule between the two tenants: refused before any lookup, as a domain outside the whitelist is; audited
      // once per peer tenant and period (the tenants are few, so the rows are too).
      if (w.rules.length === 0) void this.record(`peer:${w.peer}`, `${domain} (tenant ${w.peer})`, `no walls.between rule for tenants ${this.o.tenant} and ${w.peer}`);
      return w.rules.length > 0;
    }
    if (!this.o.policy.domainAllowed(domain)) return false;
    if (w.kind === 'outside' && !w.rules.some((r) => r.parties.some((p) => partyDomainMatches(p, domain)))) {
      // On the whitelist but outside the walls: audited once per domain and period (whitelisted domains are few).
      void this.record(`domain:${domain}`, domain, `tenant ${this.o.tenant}'s walls.remote rules name no party of this domain`);
      return false;
    }
    return true;
  }

  async verdict(user: TeamsIdentity, remoteDomain: string, remoteJid?: string): Promise<WallVerdict> {
    const w = this.o.walls.about(this.o.tenant, remoteDomain);
    if (w.kind === 'outside-unruled') return this.o.policy.verdict(user, remoteDomain);
    const jid = remoteJid ?? remoteDomain;
    if (w.kind === 'outside') {
      const base = this.o.policy.verdict(user, remoteDomain);
      if (!base.allowed) return base;
      const groups = this.o.policy.groupsOfUser(user.id);
      if (w.rules.some((r) => r.parties.some((p) => partyMatches(p, jid)) && isMember(r.members, user, groups))) return { allowed: true };
      await this.audit(user, jid, `no walls.remote rule of tenant ${this.o.tenant} lets this user federate with this party`);
      return { allowed: false, reason: 'wall' };
    }
    // Another tenant of the cluster: a rule between the two must name both users, each on their own whitelist.
    if (!this.o.policy.userAllowed(user)) return { allowed: false, reason: 'user' };
    const groups = this.o.policy.groupsOfUser(user.id);
    const mine = w.rules.filter((r) => isMember(r.mine, user, groups));
    const peer = mine.length > 0 ? await this.o.peerUser(w.peer, jid) : undefined;
    if (peer?.allowed && mine.some((r) => isMember(r.theirs, peer.user, peer.groups))) return { allowed: true };
    await this.audit(user, jid, w.rules.length === 0 ? `no walls.between rule for tenants ${this.o.tenant} and ${w.peer}` : `no walls.between rule of tenants ${this.o.tenant} and ${w.peer} names both users`);
    return { allowed: false, reason: 'wall' };
  }

  /** One audit row per sender and user within AUDIT_REPEAT_MS; a failed write is logged, never fatal. */
  private audit(user: TeamsIdentity, jid: string, detail: string): Promise<void> {
    return this.record(`${jid}|${user.id}`, `${jid} -> ${user.upn}`, detail);
  }

  private async record(key: string, subject: string, detail: string): Promise<void> {
    const now = this.now();
    const last = this.audited.get(key);
    if (last !== undefined && now - last < AUDIT_REPEAT_MS) return;
    this.audited.delete(key);
    if (this.audited.size >= AUDIT_MEMORY) this.audited.delete(this.audited.keys().next().value as string);
    this.audited.set(key, now);
    try {
      await this.o.store.appendAudit({ at: now, actor: 'walls', action: 'walls.refused', subject, detail });
    } catch (err) {
      this.o.log.warn('could not audit a refusal by the walls', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}
