/**
 * SIP addresses (RFC 3261 §19.1 SIP URIs, §20.10 name-addr / addr-spec with header parameters) and Via values
 * (§20.42). Parsing is strict where the gateway relies on a part (host, tags, branch) and lenient elsewhere.
 */

export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  readonly user: string | undefined;
  readonly host: string;
  readonly port: number | undefined;
  /** URI parameters in order; a parameter without a value maps to ''. Names are lower-cased. */
  readonly params: ReadonlyMap<string, string>;
}

export class SipAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SipAddressError';
  }
}

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/u;

export function parseUri(text: string): SipUri {
  const s = text.trim();
  const m = /^(sips?):(?:([^@;?]+)@)?([^;?]+?)(?::(\d{1,5}))?((?:;[^?]*)?)(?:\?.*)?$/iu.exec(s);
  if (!m) throw new SipAddressError(`not a SIP URI: ${s.slice(0, 80)}`);
  const host = m[3] ?? '';
  if (!HOST.test(host)) throw new SipAddressError(`bad host in SIP URI: ${host.slice(0, 80)}`);
  return {
    scheme: (m[1] ?? 'sip').toLowerCase() as 'sip' | 'sips',
    user: m[2] === undefined ? undefined : safeDecode(m[2]),
    host: host.toLowerCase(),
    port: m[4] === undefined ? undefined : Number(m[4]),
    params: parseParams(m[5] ?? ''),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function formatUri(u: SipUri): string {
  const user = u.user === undefined ? '' : `${encodeUser(u.user)}@`;
  const port = u.port === undefined ? '' : `:${u.port}`;
  return `${u.scheme}:${user}${u.host}${port}${formatParams(u.params)}`;
}

/** RFC 3261 §25.1 "user" unreserved characters stay; the rest is %-escaped. */
function encodeUser(user: string): string {
  return user.replace(/[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/gu, (ch) => encodeURIComponent(ch));
}

/** ";a=b;c" -> Map (names lower-cased, values as written, quotes kept). */
export function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of splitOutsideQuotes(text, ';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) params.set(p.toLowerCase(), '');
    else params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  return params;
}

export function formatParams(params: ReadonlyMap<string, string>): string {
  let s = '';
  for (const [k, v] of params) s += v === '' ? `;${k}` : `;${k}=${v}`;
  return s;
}

function splitOutsideQuotes(text: string, sep: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted && ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === sep) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** A From / To / Contact / Route value: display name, URI and header parameters (e.g. tag, epid). */
export interface NameAddr {
  readonly display: string | undefined;
  readonly uri: string;
  readonly params: ReadonlyMap<string, string>;
}

export function parseNameAddr(text: string): NameAddr {
  const s = text.trim();
  const lt = indexOutsideQuotes(s, '<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt);
    if (gt < 0) throw new SipAddressError('unterminated <URI>');
    let display = s.slice(0, lt).trim();
    if (display.startsWith('"') && display.endsWith('"') && display.length >= 2) display = display.slice(1, -1).replace(/\\(.)/gu, '$1');
    return { display: display || undefined, uri: s.slice(lt + 1, gt).trim(), params: parseParams(s.slice(gt + 1).replace(/^\s*;?/u, '')) };
  }
  // addr-spec: the URI cannot carry parameters of its own, so everything after ';' belongs to the header (§20.10).
  const semi = s.indexOf(';');
  return { display: undefined, uri: (semi < 0 ? s : s.slice(0, semi)).trim(), params: parseParams(semi < 0 ? '' : s.slice(semi + 1)) };
}

function indexOutsideQuotes(s: string, ch: string): number {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    if (quoted && s[i] === '\\') i++;
    else if (s[i] === '"') quoted = !quoted;
    else if (!quoted && s[i] === ch) return i;
  }
  return -1;
}

export function formatNameAddr(a: NameAddr): string {
  const display = a.display ? `"${a.display.replace(/["\\]/gu, (c) => `\\${c}`)}" ` : '';
  return `${display}<${a.uri}>${formatParams(a.params)}`;
}

/** The tag parameter of a From or To value (§19.3). */
export function tagOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const t = parseNameAddr(value).params.get('tag');
  return t === undefined || t === '' ? undefined : t;
}

/** The address-of-record of a From/To value: the URI without parameters, lower-cased host ("sip:alice@contoso.com"). */
export function aorOf(value: string): string {
  const u = parseUri(parseNameAddr(value).uri);
  return `sip:${u.user ?? ''}@${u.host}`;
}

export interface Via {
  readonly transport: string;
  readonly host: string;
  readonly port: number | undefined;
  readonly params: ReadonlyMap<string, string>;
}

export function parseVia(text: string): Via {
  const m = /^\s*SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+([^\s;:]+|\[[^\]]+\])(?:\s*:\s*(\d{1,5}))?\s*((?:;.*)?)$/u.exec(text);
  if (!m) throw new SipAddressError(`bad Via: ${text.slice(0, 80)}`);
  return { transport: (m[1] ?? '').toUpperCase(), host: (m[2] ?? '').toLowerCase(), port: m[3] === undefined ? undefined : Number(m[3]), params: parseParams(m[4] ?? '') };
}

export function formatVia(v: Via): string {
  return `SIP/2.0/${v.transport} ${v.host}${v.port === undefined ? '' : `:${v.port}`}${formatParams(v.params)}`;
}

/** RFC 3261 §8.1.1.7: branches of this stack start with the magic cookie. */
export const BRANCH_COOKIE = 'z9hG4bK';
