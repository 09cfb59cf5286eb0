/**
 * JIDs (RFC 7622) and XEP-0106 JID escaping. Pure functions, no I/O.
 *
 * Normalisation is the practical subset of PRECIS the gateway needs: localpart and domainpart are
 * NFC-normalised and lower-cased (RFC 7622 §3.3 UsernameCaseMapped, §3.2 domainpart); the resourcepart is kept
 * as sent (§3.4 OpaqueString).
 */

export interface Jid {
  readonly local: string;
  readonly domain: string;
  readonly resource: string;
}

export class JidError extends Error {
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`invalid JID ${JSON.stringify(input)}: ${reason}`);
    this.name = 'JidError';
  }
}

/** RFC 7622 §3.3.1: characters a localpart must not contain (space is excluded by the PRECIS profile). */
const FORBIDDEN_LOCAL = /["&'/:<>@\s]/u;
const MAX_PART_BYTES = 1023; // RFC 7622 §3.1

/** Printable ASCII without space: NFC leaves it as it is, and its UTF-8 length is its length. */
const PRINTABLE_ASCII = /^[\x21-\x7e]*$/u;

/** RFC 7622 §3.1: more than MAX_PART_BYTES of UTF-8 (a UTF-16 unit is at most 3 bytes, so most parts need no count). */
function tooLong(s: string): boolean {
  return s.length * 3 > MAX_PART_BYTES && Buffer.byteLength(s, 'utf8') > MAX_PART_BYTES;
}

/**
 * NFC, then lower case. Most JIDs are printable ASCII, which NFC leaves as it is: they skip ICU (each stanza's
 * addresses are parsed several times on its way; this was 7.5% of what a node allocated relaying XMPP -> Teams).
 */
function caseMapped(part: string): string {
  return PRINTABLE_ASCII.test(part) ? part.toLowerCase() : part.normalize('NFC').toLowerCase();
}

/** Parses and normalises a JID; throws {@link JidError} on anything RFC 7622 forbids. */
export function parseJid(input: string): Jid {
  const slash = input.indexOf('/');
  const beforeResource = slash === -1 ? input : input.slice(0, slash);
  const resource = slash === -1 ? '' : input.slice(slash + 1);
  const at = beforeResource.indexOf('@');
  const rawLocal = at === -1 ? '' : beforeResource.slice(0, at);
  const rawDomain = at === -1 ? beforeResource : beforeResource.slice(at + 1);

  if (at !== -1 && rawLocal.length === 0) throw new JidError(input, 'empty localpart');
  if (slash !== -1 && resource.length === 0) throw new JidError(input, 'empty resourcepart');
  const mapped = caseMapped(rawDomain);
  // A fully qualified domain's final dot is not part of the domainpart (RFC 7622 §3.2).
  const domain = mapped.endsWith('.') ? mapped.slice(0, -1) : mapped;
  if (domain.length === 0) throw new JidError(input, 'empty domainpart');
  if (/[\s@/]/u.test(domain)) throw new JidError(input, 'domainpart contains a forbidden character');
  const local = caseMapped(rawLocal);
  if (FORBIDDEN_LOCAL.test(local)) throw new JidError(input, 'localpart contains a forbidden character');
  if (tooLong(local)) throw new JidError(input, `localpart longer than ${MAX_PART_BYTES} bytes`);
  if (tooLong(domain)) throw new JidError(input, `domainpart longer than ${MAX_PART_BYTES} bytes`);
  if (tooLong(resource)) throw new JidError(input, `resourcepart longer than ${MAX_PART_BYTES} bytes`);
  return { local, domain, resource };
}

export function tryParseJid(input: string | undefined): Jid | undefined {
  if (input === undefined) return undefined;
  try {
    return parseJid(input);
  } catch {
    return undefined;
  }
}

export function bareJid(jid: Jid): string {
  return jid.local ? `${jid.local}@${jid.domain}` : jid.domain;
}

export function formatJid(jid: Jid): string {
  return jid.resource ? `${bareJid(jid)}/${jid.resource}` : bareJid(jid);
}

/** XEP-0106 §3.1: the characters escaped in a localpart, with their escape sequence. */
const ESCAPES: ReadonlyMap<string, string> = new Map([
  [' ', '\\20'],
  ['"', '\\22'],
  ['&', '\\26'],
  ["'", '\\27'],
  ['/', '\\2f'],
  [':', '\\3a'],
  ['<', '\\3c'],
  ['>', '\\3e'],
  ['@', '\\40'],
  ['\\', '\\5c'],
]);
const UNESCAPES: ReadonlyMap<string, string> = new Map([...ESCAPES].map(([ch, seq]) => [seq.slice(1), ch]));

/**
 * XEP-0106 §3.2: escapes a string into a valid localpart. Every backslash becomes \5c, as in the examples of
 * XEP-0106 §5.1 (#9-#12), so that unescaping always restores the original. Leading or trailing spaces cannot be
 * escaped (§3.2 note, §4.1 rule 6).
 */
export function escapeLocalpart(raw: string): string {
  if (raw.startsWith(' ') || raw.endsWith(' ')) {
    throw new JidError(raw, 'a localpart cannot begin or end with a space (XEP-0106 §4.1)');
  }
  let out = '';
  for (const ch of raw) out += ESCAPES.get(ch) ?? ch;
  return out;
}

/** XEP-0106 §3.3 and §4.3: replaces each sequence of the table by its character; any other backslash stays. */
export function unescapeLocalpart(escaped: string): string {
  // §3.1: "CASE IS SIGNIFICANT": only the lower-case sequences are escapes.
  return escaped.replace(/\\([0-9a-f]{2})/gu, (seq, hex: string) => UNESCAPES.get(hex) ?? seq);
}
