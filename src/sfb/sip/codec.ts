/**
 * SIP over a stream (RFC 3261 §7, §18.3, §20): frames messages out of a byte stream by Content-Length, parses
 * start line and header fields, and serialises messages back. Every size is bounded before it is spent
 * (DESIGN.md decision 9): the header block, the number of header fields, and the body. RFC 5626 §3.5.1 keep-alives
 * (a double-CRLF "ping", a single-CRLF "pong") between messages are reported, not parsed as messages.
 */
import { canonicalHeaderName, cseqOf, header, type SipHeader, type SipMessage } from './message.js';

export interface CodecLimits {
  /** Start line and header fields together, in bytes. */
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
  readonly maxBodyBytes: number;
}

export const DEFAULT_LIMITS: CodecLimits = { maxHeaderBytes: 16 * 1024, maxHeaders: 100, maxBodyBytes: 64 * 1024 };

/**
 * A message that cannot be used. `fatal`: the stream's framing is lost (the connection must close); otherwise the
 * message was framed and skipped, and a request can still be answered with `status` (§8.2, §21.4.1, §21.5.1).
 */
export class SipParseError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 | 513,
    readonly fatal: boolean,
    /** What could be read of the message, enough to answer it (Via, From, To, Call-ID, CSeq). */
    readonly partial?: SipMessage | undefined,
  ) {
    super(message);
    this.name = 'SipParseError';
  }
}

export type Framed = { readonly type: 'message'; readonly message: SipMessage } | { readonly type: 'ping' } | { readonly type: 'pong' } | { readonly type: 'invalid'; readonly error: SipParseError };

const CRLFCRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/u;

/** Parses a header block (start line and fields, without the empty line); throws SipParseError (non-fatal). */
type StartLine = { kind: 'request'; method: string; uri: string } | { kind: 'response'; status: number; reason: string };

export function parseHead(text: string, limits: CodecLimits): { start: StartLine; headers: SipHeader[] } {
  const raw = text.split('\r\n');
  const lines: string[] = [];
  for (const line of raw) {
    // §7.3.1: a line starting with whitespace continues the previous field (line folding).
    if ((line.startsWith(' ') || line.startsWith('\t')) && lines.length > 1) lines[lines.length - 1] += ` ${line.trim()}`;
    else lines.push(line);
  }
  const first = lines.shift() ?? '';
  let start: StartLine;
  const res = /^SIP\/2\.0 ([1-6]\d\d) ?(.*)$/u.exec(first);
  if (res) start = { kind: 'response', status: Number(res[1]), reason: res[2] ?? '' };
  else {
    const req = /^([^ ]+) ([^ ]+) SIP\/2\.0$/u.exec(first);
    if (!req || !TOKEN.test(req[1] ?? '')) throw new SipParseError(`bad start line: ${first.slice(0, 80)}`, 400, false);
    start = { kind: 'request', method: req[1] ?? '', uri: req[2] ?? '' };
  }
  if (lines.length > limits.maxHeaders) throw new SipParseError(`more than ${limits.maxHeaders} header fields`, 513, false);
  const headers: SipHeader[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    if (!TOKEN.test(name)) throw new SipParseError(`bad header field: ${line.slice(0, 80)}`, 400, false);
    headers.push({ name: canonicalHeaderName(name), value: line.slice(colon + 1).trim() });
  }
  return { start, headers };
}

/** §8.1.1 / §8.2.1: what every message must carry for the transaction layer to place it. */
function checkMandatory(m: SipMessage): void {
  for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
    if (header(m, name) === undefined) throw new SipParseError(`missing ${name}`, 400, false, m);
  }
  try {
    const cseq = cseqOf(m);
    if (m.kind === 'request' && cseq.method !== m.method.toUpperCase() && !(m.method === 'ACK' && cseq.method === 'ACK')) {
      throw new SipParseError('CSeq method does not match the request method', 400, false, m);
    }
  } catch (err) {
    if (err instanceof SipParseError) throw err;
    throw new SipParseError('bad CSeq', 400, false, m);
  }
}

/** Incremental framing of one connection's byte stream. */
export class SipStreamParser {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly limits: CodecLimits = DEFAULT_LIMITS) {}

  /** Feeds bytes; returns what they completed. Throws a fatal SipParseError when the stream cannot be framed. */
  push(chunk: Buffer): Framed[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Framed[] = [];
    for (;;) {
      // RFC 5626 §3.5.1 keep-alives between messages.
      if (this.buf.length >= 4 && this.buf.subarray(0, 4).equals(CRLFCRLF)) {
        this.buf = this.buf.subarray(4);
        out.push({ type: 'ping' });
        continue;
      }
      if (this.buf.length >= 2 && this.buf[0] === 13 && this.buf[1] === 10 && (this.buf.length === 2 || this.buf[2] !== 13)) {
        this.buf = this.buf.subarray(2);
        out.push({ type: 'pong' });
        continue;
      }
      const end = this.buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (this.buf.length > this.limits.maxHeaderBytes) throw new SipParseError(`header block over ${this.limits.maxHeaderBytes} bytes`, 513, true);
        return out;
      }
      if (end > this.limits.maxHeaderBytes) throw new SipParseError(`header block over ${this.limits.maxHeaderBytes} bytes`, 513, true);
      const headText = this.buf.subarray(0, end).toString('utf8');
      let head: ReturnType<typeof parseHead>;
      try {
        head = parseHead(headText, this.limits);
      } catch (err) {
        // The body length is unknowable without the fields: the framing is lost.
        throw new SipParseError((err as Error).message, (err as SipParseError).status ?? 400, true);
      }
      const lengthText = head.headers.find((h) => h.name === 'Content-Length')?.value;
      // §18.3: over a stream, Content-Length frames the body; §20.14: absent means no body is not allowed, but a
      // message without one cannot be framed otherwise, so it reads as 0 and is refused below.
      const length = lengthText === undefined ? 0 : /^\d{1,9}$/u.test(lengthText) ? Number(lengthText) : NaN;
      if (Number.isNaN(length)) throw new SipParseError('bad Content-Length', 400, true);
      if (length > this.limits.maxBodyBytes) {
        const partial = { ...head.start, headers: head.headers, body: Buffer.alloc(0) } as SipMessage;
        throw new SipParseError(`body over ${this.limits.maxBodyBytes} bytes`, 513, true, partial);
      }
      const total = end + 4 + length;
      if (this.buf.length < total) return out;
      const body = Buffer.from(this.buf.subarray(end + 4, total));
      this.buf = this.buf.subarray(total);
      const message = { ...head.start, headers: head.headers, body } as SipMessage;
      try {
        if (lengthText === undefined) throw new SipParseError('missing Content-Length (required over stream transports, RFC 3261 §18.3)', 400, false, message);
        checkMandatory(message);
        out.push({ type: 'message', message });
      } catch (err) {
        if (!(err instanceof SipParseError)) throw err;
        out.push({ type: 'invalid', error: err });
      }
    }
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.buf.length;
  }
}

/** One complete message (e.g. from a test table); throws SipParseError. */
export function parseMessage(data: Buffer | string, limits: CodecLimits = DEFAULT_LIMITS): SipMessage {
  const p = new SipStreamParser(limits);
  const framed = p.push(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  const item = framed.find((f) => f.type === 'message' || f.type === 'invalid');
  if (!item) throw new SipParseError('incomplete message', 400, true);
  if (item.type === 'invalid') throw item.error;
  if (item.type !== 'message') throw new SipParseError('not a message', 400, true);
  return item.message;
}

/** Serialises a message; Content-Length is always the body's byte length (§20.14). */
export function serialize(m: SipMessage): Buffer {
  const start = m.kind === 'request' ? `${m.method} ${m.uri} SIP/2.0` : `SIP/2.0 ${m.status} ${m.reason}`;
  const lines = [start];
  for (const h of m.headers) {
    if (h.name === 'Content-Length') continue;
    if (/[\r\n]/u.test(h.value)) throw new Error(`header ${h.name} holds a line break`);
    lines.push(`${h.name}: ${h.value}`);
  }
  lines.push(`Content-Length: ${m.body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), m.body]);
}
