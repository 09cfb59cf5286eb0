/**
 * Who may federate (deny by default, DESIGN.md decision 7). Pure decisions over the lists from configuration and
 * from the store; group membership is resolved elsewhere and passed in.
 */

import { domainToASCII } from 'node:url';

/**
 * A domain as the rules compare it: lower case, and an internationalised domain (U-labels, RFC 7622 §3.2) in its
 * IDNA A-label form, as rules are written (xn--…). A look-alike in another script ("pаrtner" with a Cyrillic а)
 * has an A-label of its own, so it matches no rule of the real domain; text IDNA refuses becomes '' and matches
 * nothing.
 */
export function domainKey(domain: string): string {
  const d = domain.toLowerCase();
  return /^[\x00-\x7f]*$/u.test(d) ? d : domainToASCII(d);
}

/** `example.org` matches itself only; `*.example.org` matches every subdomain of example.org (not itself). */
export function domainMatches(rule: string, domain: string): boolean {
  const r = rule.toLowerCase();
  const d = domainKey(domain);
  if (d === '') return false;
  if (r.startsWith('*.')) return d.endsWith(r.slice(1)) && d.length > r.length - 1;
  return r === d;
}

export function domainAllowed(rules: Iterable<string>, domain: string): boolean {
  for (const rule of rules) if (domainMatches(rule, domain)) return true;
  return false;
}

/**
 * The same decision as {@link domainAllowed}, precompiled: exact rules in one set, suffix rules in another, so a
 * check costs one lookup per label of the domain whatever the number of rules.
 */
export function compileDomainRules(rules: Iterable<string>): (domain: string) => boolean {
  const exact = new Set<string>();
  const suffixes = new Set<string>();
  for (const r of rules) {
    const rule = r.toLowerCase();
    if (rule.startsWith('*.')) suffixes.add(rule.slice(2));
    else exact.add(rule);
  }
  return (domain) => {
    const d = domainKey(domain);
    if (d === '') return false;
    if (exact.has(d)) return true;
    for (let i = d.indexOf('.'); i !== -1; i = d.indexOf('.', i + 1)) if (suffixes.has(d.slice(i + 1))) return true;
    return false;
  };
}

export interface TeamsIdentity {
  readonly id: string;
  readonly upn: string;
}

/** Users by UPN or object id; `*` allows every user of the tenant. */
export interface UserRules {
  readonly users: ReadonlySet<string>;
  readonly groups: ReadonlySet<string>;
}

export function userMatches(rules: UserRules, user: TeamsIdentity, groupsOfUser: ReadonlySet<string>): boolean {
  if (rules.users.has('*') || rules.users.has(user.id) || rules.users.has(user.upn.toLowerCase())) return true;
  for (const g of rules.groups) if (groupsOfUser.has(g)) return true;
  return false;
}

/** Optional: these users may talk only to these domains (and these domains only to these users). */
export interface PairingRule extends UserRules {
  readonly domains: readonly string[];
}

export type Verdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: 'domain' | 'user' | 'pairing' };

export interface Policy {
  readonly domains: readonly string[];
  /** Precompiled `domains` (compileDomainRules); computed from `domains` when absent. */
  readonly domainCheck?: (domain: string) => boolean;
  readonly users: UserRules;
  readonly pairing: readonly PairingRule[];
}

/**
 * May this Teams user and this remote domain federate? The domain and the user must each be listed; when pairing
 * rules exist, a rule must name both (a user or domain no rule names is free to pair with any listed party).
 */
export function mayFederate(p: Policy, user: TeamsIdentity, groupsOfUser: ReadonlySet<string>, domain: string): Verdict {
  if (!(p.domainCheck ? p.domainCheck(domain) : domainAllowed(p.domains, domain))) return { allowed: false, reason: 'domain' };
  if (!userMatches(p.users, user, groupsOfUser)) return { allowed: false, reason: 'user' };
  const forUser = p.pairing.filter((r) => userMatches(r, user, groupsOfUser));
  const forDomain = p.pairing.filter((r) => domainAllowed(r.domains, domain));
  if (forUser.length === 0 && forDomain.length === 0) return { allowed: true };
  return forUser.some((r) => domainAllowed(r.domains, domain)) ? { allowed: true } : { allowed: false, reason: 'pairing' };
}

export function normaliseUserRule(v: string): string {
  return v.includes('@') ? v.toLowerCase() : v;
}
