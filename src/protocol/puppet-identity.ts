/**
 * How an XMPP user is named in the tenant (docs/teams-identity.md): one Entra ID account per XMPP contact.
 * Pure derivations, so that every node derives the same account for the same JID without coordination.
 */
import { createHash, createHmac } from 'node:crypto';

/** UPN local parts allow letters, digits and ' . - _ ! # ^ ~, at most 64 characters, no leading/trailing or double dot. */
const UPN_LOCAL_MAX = 64;
const READABLE_MAX = 48;

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
 * bob@xmpp.example -> bob_xmpp.example.k2x7q9ab@<upnDomain>
 */
export function puppetUpn(bareJid: string, upnDomain: string): string {
  const at = bareJid.indexOf('@');
  const local = at === -1 ? '' : bareJid.slice(0, at);
  const domain = at === -1 ? bareJid : bareJid.slice(at + 1);
  const readable = readablePart(local ? `${local}_${domain}` : domain)
    .slice(0, READABLE_MAX)
    .replace(/^[.-]+|[.-]+$/gu, '');
  const hash = base32(createHash('sha256').update(bareJid, 'utf8').digest()).slice(0, 8);
  const localPart = `${readable || 'xmpp'}.${hash}`;
  if (localPart.length > UPN_LOCAL_MAX) throw new Error('puppet UPN local part too long'); // cannot happen: 48 + 1 + 8
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
