/**
 * SIP messages as values (RFC 3261 §7): a request or a response, its header fields in the order they came (names
 * compared case-insensitively, compact forms expanded, §7.3.3), and a body of bytes. Header values are kept as
 * received, so what must be copied verbatim (Record-Route with SfB's ms-fe / ms-route-sig, [MS-SIPRE] 2.2.3) is.
 */

export interface SipHeader {
  /** Canonical spelling (e.g. "Call-ID"), whatever case or compact form the sender used. */
  readonly name: string;
  readonly value: string;
}

interface SipBase {
  readonly headers: readonly SipHeader[];
  readonly body: Buffer;
}

export interface SipRequest extends SipBase {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: string;
}

export interface SipResponse extends SipBase {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
}

export type SipMessage = SipRequest | SipResponse;

/** RFC 3261 §7.3.3 and the IANA registry: compact forms. */
const COMPACT: Readonly<Record<string, string>> = {
  i: 'Call-ID',
  m: 'Contact',
  e: 'Content-Encoding',
  l: 'Content-Length',
  c: 'Content-Type',
  f: 'From',
  s: 'Subject',
  k: 'Supported',
  t: 'To',
  v: 'Via',
  o: 'Event',
  u: 'Allow-Events',
  r: 'Refer-To',
  b: 'Referred-By',
  x: 'Session-Expires',
};

/** Spellings whose canonical form is not plain Title-Case. */
const SPECIAL: Readonly<Record<string, string>> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'rseq': 'RSeq',
  'rack': 'RAck',
};

/** The canonical name of a header field (compact forms expanded, Title-Case; ms-* names are kept lower-case as SfB sends them). */
export function canonicalHeaderName(name: string): string {
  if (name.length === 1) {
    const full = COMPACT[name.toLowerCase()];
    if (full) return full;
  }
  const lower = name.toLowerCase();
  const special = SPECIAL[lower];
  if (special) return special;
  if (lower.startsWith('ms-')) return lower;
  return lower.replace(/(^|-)([a-z])/gu, (_m, dash: string, ch: string) => dash + ch.toUpperCase());
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The first value of a header field, or undefined. */
export function header(m: { readonly headers: readonly SipHeader[] }, name: string): string | undefined {
  const canonical = canonicalHeaderName(name);
  return m.headers.find((h) => same(h.name, canonical))?.value;
}

/** Every value of a header field, each comma-separated element as its own value (§7.3.1), in order. */
export function headerValues(m: { readonly headers: readonly SipHeader[] }, name: string): string[] {
  const canonical = canonicalHeaderName(name);
  return m.headers.filter((h) => same(h.name, canonical)).flatMap((h) => splitList(h.value));
}

/** The header field lines of one name, as received (not split). */
export function headerLines(m: { readonly headers: readonly SipHeader[] }, name: string): string[] {
  const canonical = canonicalHeaderName(name);
  return m.headers.filter((h) => same(h.name, canonical)).map((h) => h.value);
}

/** Headers with `name` replaced by `values` (removed when empty), at the place of its first occurrence. */
export function withHeader(headers: readonly SipHeader[], name: string, ...values: string[]): SipHeader[] {
  const canonical = canonicalHeaderName(name);
  const at = headers.findIndex((h) => same(h.name, canonical));
  const rest = headers.filter((h) => !same(h.name, canonical));
  const added = values.map((value) => ({ name: canonical, value }));
  if (at < 0) return [...rest, ...added];
  const before = headers.slice(0, at).filter((h) => !same(h.name, canonical));
  return [...before, ...added, ...rest.slice(before.length)];
}

export function withoutHeader(headers: readonly SipHeader[], name: string): SipHeader[] {
  const canonical = canonicalHeaderName(name);
  return headers.filter((h) => !same(h.name, canonical));
}

/**
 * Splits a header value at top-level commas (RFC 3261 §7.3.1), leaving commas inside quoted strings and <URIs>
 * alone. Header fields whose grammar has bare commas in one value (e.g. dates) are not read through this.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '<') depth++;
    else if (ch === '>') depth = Math.max(0, depth - 1);
    else if (ch === ',' && depth === 0) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((v) => v !== '');
}

/** RFC 3261 §21: the default reason phrases the gateway and the emulator use. */
export const REASONS: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  415: 'Unsupported Media Type',
  420: 'Bad Extension',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  513: 'Message Too Large',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status < 200 ? 'Provisional' : status < 300 ? 'OK' : 'Failure');
}

/** The CSeq header of a message: number and method (§20.16). */
export function cseqOf(m: SipMessage): { seq: number; method: string } {
  const v = header(m, 'CSeq') ?? '';
  const match = /^\s*(\d{1,10})\s+([A-Za-z-]+)\s*$/u.exec(v);
  if (!match) throw new Error(`bad CSeq: ${v}`);
  return { seq: Number(match[1]), method: (match[2] ?? '').toUpperCase() };
}

export function callIdOf(m: SipMessage): string {
  return header(m, 'Call-ID') ?? '';
}
