/**
 * Ethical walls between the tenants of a cluster and the rest of the world (issue 16, DESIGN.md decision 10).
 * Pure decisions over the `walls` configuration: which remote parties a tenant may federate with at most, and
 * which pairs of the cluster's own tenants may federate with each other (nothing crosses between two tenants
 * unless a rule names both). Group membership is resolved elsewhere and passed in.
 */
import type { WallsRaw } from '../config/tenants-schema.js';
import { domainKey, domainMatches, normaliseUserRule, type TeamsIdentity } from './whitelist.js';

/** Who of one tenant takes part in a rule: users by UPN or object id, and groups; both empty: everyone. */
export interface Members {
  readonly users: readonly string[];
  readonly groups: readonly string[];
}

export function isMember(m: Members, user: TeamsIdentity, groupsOfUser: ReadonlySet<string>): boolean {
  if (m.users.length === 0 && m.groups.length === 0) return true;
  const upn = user.upn.toLowerCase();
  if (m.users.some((u) => normaliseUserRule(u) === upn || u === user.id)) return true;
  return m.groups.some((g) => groupsOfUser.has(g));
}

/** One side's view of a rule between two tenants: its own members, and the peer's. */
export interface PeerRule {
  readonly mine: Members;
  readonly theirs: Members;
}

export interface WallTenant {
  readonly id: string;
  readonly domains: readonly string[];
}

export type WallAnswer =
  /** Not a wall matter: the tenant's whitelist decides alone. */
  | { readonly kind: 'outside-unruled' }
  /** An outside party, within the tenant's remote rules (parties listed here), subject to the whitelist too. */
  | { readonly kind: 'outside'; readonly rules: readonly { readonly parties: readonly string[]; readonly members: Members }[] }
  /** Another tenant of the cluster: the rules between the two (none: nothing flows). */
  | { readonly kind: 'peer'; readonly peer: string; readonly rules: readonly PeerRule[] };

export class Walls {
  private byDomain = new Map<string, string>();

  constructor(
    private walls: WallsRaw,
    tenants: readonly WallTenant[],
  ) {
    this.update(walls, tenants);
  }

  /** New rules and tenants (a configuration reloaded at run time, issue 16): every later decision follows them. */
  update(walls: WallsRaw, tenants: readonly WallTenant[]): void {
    const byDomain = new Map<string, string>();
    for (const t of tenants) for (const d of t.domains) byDomain.set(d.toLowerCase(), t.id);
    this.walls = walls;
    this.byDomain = byDomain;
  }

  /** The tenant of the cluster whose component domain (or a subdomain of it) this is. */
  tenantOfDomain(domain: string): string | undefined {
    const d = domainKey(domain);
    for (let rest = d; rest !== ''; rest = rest.includes('.') ? rest.slice(rest.indexOf('.') + 1) : '') {
      const t = this.byDomain.get(rest);
      if (t !== undefined) return t;
    }
    return undefined;
  }

  /** What the walls say about `tenant` federating with the sender's domain. */
  about(tenant: string, senderDomain: string): WallAnswer {
    const peer = this.tenantOfDomain(senderDomain);
    if (peer !== undefined && peer !== tenant) {
      const rules: PeerRule[] = [];
      for (const r of this.walls.between) {
        if (r.tenant === tenant && r.peer === peer) rules.push({ mine: { users: r.users, groups: r.groups }, theirs: { users: r.peerUsers, groups: r.peerGroups } });
        else if (r.tenant === peer && r.peer === tenant) rules.push({ mine: { users: r.peerUsers, groups: r.peerGroups }, theirs: { users: r.users, groups: r.groups } });
      }
      return { kind: 'peer', peer, rules };
    }
    const remote = this.walls.remote.filter((r) => r.tenant === tenant);
    if (remote.length === 0) return { kind: 'outside-unruled' };
    return { kind: 'outside', rules: remote.map((r) => ({ parties: r.parties, members: { users: r.users, groups: r.groups } })) };
  }

  /** Every group of `tenant` the walls name (its members must be read). */
  groupsOf(tenant: string): string[] {
    const out = new Set<string>();
    for (const r of this.walls.remote) if (r.tenant === tenant) r.groups.forEach((g) => out.add(g));
    for (const r of this.walls.between) {
      if (r.tenant === tenant) r.groups.forEach((g) => out.add(g));
      if (r.peer === tenant) r.peerGroups.forEach((g) => out.add(g));
    }
    return [...out];
  }
}

/**
 * A party of a remote rule matches a bare JID: a domain rule (exact or *.suffix) its domain, a JID rule itself.
 * A *.suffix never matches a component domain of the cluster's own tenants (the caller asks only for outsiders).
 */
export function partyMatches(party: string, bareJid: string): boolean {
  const at = bareJid.lastIndexOf('@');
  const domain = at === -1 ? bareJid : bareJid.slice(at + 1);
  if (party.includes('@')) return party.toLowerCase() === bareJid.toLowerCase();
  return domainMatches(party, domain);
}

/** A party list lets the domain in at all (some rule names the domain, or a user of it). */
export function partyDomainMatches(party: string, domain: string): boolean {
  return party.includes('@') ? domainKey(party.slice(party.lastIndexOf('@') + 1)) === domainKey(domain) : domainMatches(party, domain);
}
