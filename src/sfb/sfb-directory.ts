/**
 * Where an internal user is homed, and SfB users as XMPP addresses (issue 17). One address per internal user on
 * the gateway's component domain, whether she is on Teams or on SfB: a SIP address in the default SfB domain keeps
 * only its user part (carol@<component>), any other carries its domain escaped (XEP-0106: dan\40fabrikam.example).
 * A user is on SfB when her domain is listed in sfb.domains or her address in sfb.users, or, in a domain of
 * sfb.lookup.domains (SfB Server and Teams sharing one SIP domain, a migration in progress), when the pool says so
 * (homing-lookups.ts); everyone else is on Teams.
 */
import { escapeLocalpart, unescapeLocalpart } from '../protocol/jid.js';
import type { LookupPayer } from '../teams/directory.js';
import type { HomingLookups } from './homing-lookups.js';

/** SIP addresses longer than this are refused (store keys are bounded; no real address comes close). */
export const MAX_SFB_URI = 120;

export interface SfbHoming {
  readonly domains: readonly string[];
  readonly users: readonly string[];
  /** Domains whose users are homed one by one, as the pool answers (sfb.lookup.domains). */
  readonly lookupDomains?: readonly string[];
  readonly defaultDomain: string;
  readonly componentDomain: string;
}

export class SfbDirectory {
  private readonly domains: ReadonlySet<string>;
  private readonly users: ReadonlySet<string>;
  private readonly lookupDomains: ReadonlySet<string>;

  constructor(
    private readonly o: SfbHoming,
    /** Required when lookupDomains is not empty. */
    private readonly lookups?: HomingLookups,
  ) {
    this.domains = new Set(o.domains.map((d) => d.toLowerCase()));
    this.users = new Set(o.users.map((u) => u.toLowerCase()));
    this.lookupDomains = new Set((o.lookupDomains ?? []).map((d) => d.toLowerCase()));
  }

  /**
   * Where a JID localpart's user is homed, from configuration alone: 'sfb' (sfb.domains, sfb.users), 'lookup' (a
   * lookup domain: the pool must be asked), or undefined (not an SfB address: Teams). Pure.
   */
  addressOf(localpart: string): { readonly aor: string; readonly homing: 'sfb' | 'lookup' } | undefined {
    const raw = unescapeLocalpart(localpart).toLowerCase();
    const address = raw.includes('@') ? raw : `${raw}@${this.o.defaultDomain}`;
    const at = address.lastIndexOf('@');
    const user = address.slice(0, at);
    const domain = address.slice(at + 1);
    if (!user || !usableAddress(address)) return undefined;
    if (this.domains.has(domain) || this.users.has(address)) return { aor: `sip:${address}`, homing: 'sfb' };
    return this.lookupDomains.has(domain) && this.lookups ? { aor: `sip:${address}`, homing: 'lookup' } : undefined;
  }

  /**
   * The SfB address of record a JID localpart names, when that user is homed on SfB ("sip:carol@contoso.example").
   * In a lookup domain the pool is asked, paid by `payer` (homing-lookups.ts: it may throw LookupRefusedError or
   * SfbLookupFailedError); without a payer only what is already known counts and nothing is asked.
   */
  async homeOf(localpart: string, payer?: LookupPayer): Promise<string | undefined> {
    const a = this.addressOf(localpart);
    if (!a) return undefined;
    if (a.homing === 'sfb' || !this.lookups) return a.aor;
    const onSfb = payer ? await this.lookups.isOnSfb(a.aor, payer) : this.lookups.known(a.aor) === true;
    return onSfb ? a.aor : undefined;
  }

  /** Whether a SIP address of record is in an SfB domain of this deployment (configured or looked up). */
  isSfbAddress(aor: string): boolean {
    const address = aor.replace(/^sip:/iu, '').toLowerCase();
    const domain = address.slice(address.lastIndexOf('@') + 1);
    return this.domains.has(domain) || this.users.has(address) || this.lookupDomains.has(domain);
  }

  /**
   * Whether a request from the trusted pool may come from this SIP address: a user homed on SfB by configuration,
   * or any user of a lookup domain, whose request from the pool proves she is homed there (remembered).
   */
  acceptsFrom(aor: string): boolean {
    const address = aor.replace(/^sip:/iu, '').toLowerCase();
    const domain = address.slice(address.lastIndexOf('@') + 1);
    if (!usableAddress(address)) return false;
    if (this.domains.has(domain) || this.users.has(address)) return true;
    if (!this.lookupDomains.has(domain) || !this.lookups) return false;
    this.lookups.provenOnSfb(`sip:${address}`);
    return true;
  }

  /** The JID of an SfB user on the gateway's component domain. */
  jidOf(aor: string): string {
    const address = aor.replace(/^sip:/iu, '').toLowerCase();
    const at = address.lastIndexOf('@');
    const local = address.slice(at + 1) === this.o.defaultDomain ? address.slice(0, at) : address;
    return `${escapeLocalpart(local)}@${this.o.componentDomain}`;
  }

  /** "carol@contoso.example": the form the whitelist (policy.users) lists SfB users by. */
  static upnOf(aor: string): string {
    return aor.replace(/^sip:/iu, '').toLowerCase();
  }
}

/**
 * Whether an address (user@domain) can name an SfB user here: bounded, and without the characters that separate
 * the parts of an actor key ('|' between the pair, '/' after a tenant) or break a header. RFC 3261 §25.1 allows
 * '/' in a user part; no SfB deployment issues such addresses.
 */
function usableAddress(address: string): boolean {
  return address.length + 4 <= MAX_SFB_URI && !/[\s<>";/|]/u.test(address);
}

/** The SIP address an XMPP user has towards SfB (the static route for its domain leads to the gateway). */
export function sipOfJid(bareJid: string): string {
  return `sip:${bareJid}`;
}

/** The bare JID of an XMPP user's SIP address of record ("sip:juliet@xmpp.example" -> "juliet@xmpp.example"). */
export function jidOfSip(aor: string): string {
  return aor.replace(/^sip:/iu, '');
}
