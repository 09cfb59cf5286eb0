/**
 * How an XMPP user is named in the tenant (docs/teams-identity.md): one Entra ID account per XMPP contact.
 * Pure derivations, so that every node derives the same account for the same JID without coordination.
 */
import { createHash, createHmac } from 'node:crypto';

/** UPN local parts allow letters, digits and ' . - _ ! # ^ ~, at most 64 characters, no leading/trailing or double dot. */
const UPN_LOCAL_MAX = 64;
/**
 * 26 base32 characters: 130 bits of SHA-256 over the JID. With 40 bits (8 characters), a user could compute a JID
 * whose account name collides with a victim's and take the account first (issue 12 finding 12); 2^128 work is
 * out of reach.
 */
const HASH_CHARS = 26;
const READABLE_MAX = UPN_LOCAL_MAX - 1 - HASH_CHARS;

function base32(bytes: Buffer): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

function readablePart(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/gu, '-')
    .replace(/\.{2,}/gu, '.')
    .replace(/-{2,}/gu, '-');
}

/**
 * The UPN of the account representing `bareJid`: a readable part (local_domain, sanitised) and a hash of the
 * exact JID, so that two JIDs never share an account even when their readable parts collide.
 * bob@xmpp.example -> bob_xmpp.example.4izdaom6uveb4ywo7qtf63r645@<upnDomain>
 */
export function puppetUpn(bareJid: string, upnDomain: string): string {
  const at = bareJid.indexOf('@');
  const local = at === -1 ? '' : bareJid.slice(0, at);
  const domain = at === -1 ? bareJid : bareJid.slice(at + 1);
  const readable = readablePart(local ? `${local}_${domain}` : domain)
    .slice(0, READABLE_MAX)
    .replace(/^[.-]+|[.-]+$/gu, '');
  const hash = base32(createHash('sha256').update(bareJid, 'utf8').digest()).slice(0, HASH_CHARS);
  const localPart = `${readable || 'xmpp'}.${hash}`;
  if (localPart.length > UPN_LOCAL_MAX) throw new Error('puppet UPN local part too long'); // cannot happen: 37 + 1 + 26
  return `${localPart}@${upnDomain.toLowerCase()}`;
}

/** mailNickname (required by POST /users): the UPN local part without characters Exchange rejects. */
export function puppetMailNickname(upn: string): string {
  return (upn.split('@')[0] ?? 'xmpp').replace(/[^A-Za-z0-9._-]/gu, '-').slice(0, 64);
}

/**
 * The account's password, derived (HMAC-SHA256) from the gateway's master secret and the UPN, so no password is
 * stored anywhere. The prefix guarantees Entra's complexity rule (three of upper, lower, digit, symbol).
 * https://learn.microsoft.com/en-us/entra/identity/authentication/concept-password-ban-bad-combined-policy
 */
export function puppetPassword(masterSecret: string, upn: string): string {
  const mac = createHmac('sha256', masterSecret).update(`xmpp-teams-gateway/puppet/${upn.toLowerCase()}`, 'utf8').digest('base64url');
  return `Xg7!${mac}`;
}

export function puppetDisplayName(bareJid: string, suffix: string): string {
  return `${bareJid}${suffix}`;
}

/** Longest name, title or department taken from a vCard, in characters. */
const CARD_TEXT_MAX = 64;

/**
 * Text from an XMPP user's vCard as it may appear on their Teams account: no control or format characters
 * (bidirectional overrides, zero-width characters can reorder or hide what follows), none of the characters that
 * would let it imitate the account's own marker "(jid) (XMPP)", whitespace collapsed, at most 64 characters.
 */
export function cardText(text: string | null | undefined): string | undefined {
  const clean = Array.from(
    (text ?? '')
      .normalize('NFC')
      .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '')
      .replace(/[()[\]{}<>@]/gu, '')
      .replace(/\s+/gu, ' ')
      .trim(),
  )
    .slice(0, CARD_TEXT_MAX)
    .join('')
    .trim();
  return clean === '' ? undefined : clean;
}

/** What an XMPP user's card may set on their Teams account (the Graph user resource's fields). */
export interface PuppetProfile {
  readonly displayName: string;
  readonly companyName: string;
  readonly givenName?: string;
  readonly surname?: string;
  readonly jobTitle?: string;
  readonly department?: string;
}

/**
 * The account's profile after a vCard sync (issue 12 finding 10). Teams users must always see that the contact is
 * external and from which domain, whatever the card says: the display name ends with the JID and the marker
 * ("Alice Smith (mallory@evil.example) (XMPP)"), and the company is the XMPP domain, never the card's organisation.
 */
export function puppetProfile(
  bareJid: string,
  card: { readonly displayName?: string | null; readonly givenName?: string | null; readonly surname?: string | null; readonly jobTitle?: string | null; readonly department?: string | null },
  suffix: string,
): PuppetProfile {
  const name = cardText(card.displayName);
  const domain = bareJid.slice(bareJid.indexOf('@') + 1);
  const optional = (k: 'givenName' | 'surname' | 'jobTitle' | 'department') => {
    const v = cardText(card[k]);
    return v === undefined ? {} : { [k]: v };
  };
  return {
    displayName: name ? `${name} (${bareJid})${suffix}` : puppetDisplayName(bareJid, suffix),
    companyName: domain,
    ...optional('givenName'),
    ...optional('surname'),
    ...optional('jobTitle'),
    ...optional('department'),
  };
}
