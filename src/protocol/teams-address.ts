/**
 * Addresses of Teams users on the gateway's XMPP domain. A Teams user's UPN becomes a JID localpart
 * (alice.smith@contoso.com -> alice.smith@teams.xmpp.example) when the UPN is in the tenant's default domain;
 * any other UPN keeps its domain, escaped by XEP-0106 (bob@fabrikam.com -> bob\40fabrikam.com@teams...).
 * Characters a UPN allows but a localpart does not (the apostrophe) are escaped the same way.
 */
import { escapeLocalpart, unescapeLocalpart } from './jid.js';

export interface AddressBook {
  /** The UPN domain whose users get short localparts; undefined means every localpart carries its domain. */
  readonly defaultUpnDomain: string | undefined;
}

export function upnToLocalpart(upn: string, book: AddressBook): string {
  const normalized = upn.normalize('NFC').toLowerCase();
  const at = normalized.lastIndexOf('@');
  const domain = at === -1 ? '' : normalized.slice(at + 1);
  const short = book.defaultUpnDomain !== undefined && domain === book.defaultUpnDomain.toLowerCase();
  return escapeLocalpart(short ? normalized.slice(0, at) : normalized);
}

/** The UPN a localpart names, or undefined when the localpart cannot name a UPN (empty, or no domain known). */
export function localpartToUpn(localpart: string, book: AddressBook): string | undefined {
  const raw = unescapeLocalpart(localpart);
  if (raw.length === 0) return undefined;
  if (raw.includes('@')) {
    const [user, domain] = [raw.slice(0, raw.lastIndexOf('@')), raw.slice(raw.lastIndexOf('@') + 1)];
    return user && domain ? raw : undefined;
  }
  return book.defaultUpnDomain === undefined ? undefined : `${raw}@${book.defaultUpnDomain.toLowerCase()}`;
}
