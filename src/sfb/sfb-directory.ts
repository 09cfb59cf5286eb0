/**
 * Where an internal user is homed, and SfB users as XMPP addresses (issue 17). One address per internal user on
 * the gateway's component domain, whether she is on Teams or on SfB: a SIP address in the default SfB domain keeps
 * only its user part (carol@<component>), any other carries its domain escaped (XEP-0106: dan\40fabrikam.example).
 * A user is on SfB when her domain is listed in sfb.domains or her address in sfb.users; everyone else is on Teams.
 */
import { escapeLocalpart, unescapeLocalpart } from '../protocol/jid.js';

/** SIP addresses longer than this are refused (store keys are bounded; no real address comes close). */
export const MAX_SFB_URI = 120;

export interface SfbHoming {
  readonly domains: readonly string[];
  readonly users: readonly string[];
  readonly defaultDomain: string;
  readonly componentDomain: string;
}

export class SfbDirectory {
  private readonly domains: ReadonlySet<string>;
  private readonly users: ReadonlySet<string>;

  constructor(private readonly o: SfbHoming) {
    this.domains = new Set(o.domains.map((d) => d.toLowerCase()));
    this.users = new Set(o.users.map((u) => u.toLowerCase()));
  }

  /** The SfB address of record a JID localpart names, when that user is homed on SfB ("sip:carol@contoso.example"). */
  homeOf(localpart: string): string | undefined {
    const raw = unescapeLocalpart(localpart).toLowerCase();
    const address = raw.includes('@') ? raw : `${raw}@${this.o.defaultDomain}`;
    const at = address.lastIndexOf('@');
    const user = address.slice(0, at);
    const domain = address.slice(at + 1);
    if (!user || /[\s<>";]/u.test(address) || address.length + 4 > MAX_SFB_URI) return undefined;
    return this.domains.has(domain) || this.users.has(address) ? `sip:${address}` : undefined;
  }

  /** Whether a SIP address of record belongs to a user homed on SfB. */
  isSfbUser(aor: string): boolean {
    const address = aor.replace(/^sip:/iu, '').toLowerCase();
    const domain = address.slice(address.lastIndexOf('@') + 1);
    return this.domains.has(domain) || this.users.has(address);
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

/** The SIP address an XMPP user has towards SfB (the static route for its domain leads to the gateway). */
export function sipOfJid(bareJid: string): string {
  return `sip:${bareJid}`;
}

/** The bare JID of an XMPP user's SIP address of record ("sip:juliet@xmpp.example" -> "juliet@xmpp.example"). */
export function jidOfSip(aor: string): string {
  return aor.replace(/^sip:/iu, '');
}
