/**
 * Instant messages between XMPP bodies and SfB IM sessions ([MS-SIPRE] §3.x IM, RFC 3428 MESSAGE in a session as
 * SfB clients use it): text/plain, text/html (reduced to text as Teams HTML is), multipart/alternative, the first
 * message carried in the INVITE's ms-text-format header, and typing notices in both forms SfB clients send:
 * RFC 3994 application/im-iscomposing+xml MESSAGEs and INFO with a KeyboardActivity document. Pure functions.
 */
import { teamsHtmlToText, escapeHtml } from '../../protocol/message-body.js';
import { parseParams } from '../sip/address.js';
import { child, localName, parseXml, textOf } from './xml.js';

export const PLAIN_UTF8 = 'text/plain; charset=UTF-8';
export const ISCOMPOSING_TYPE = 'application/im-iscomposing+xml';
/** How many parts of a multipart body are looked at (hostile input: a sender cannot make parsing cost more). */
const MAX_PARTS = 8;

export class UnsupportedBodyError extends Error {
  constructor(readonly contentType: string) {
    super(`unsupported message body type ${contentType}`);
    this.name = 'UnsupportedBodyError';
  }
}

function mediaType(contentType: string): { type: string; params: Map<string, string> } {
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return { type, params: parseParams(semi < 0 ? '' : contentType.slice(semi + 1)) };
}

function unquote(v: string | undefined): string | undefined {
  return v?.replace(/^"(.*)"$/u, '$1');
}

function decode(body: Buffer, charset: string | undefined): string {
  const cs = unquote(charset)?.toLowerCase();
  if (cs === 'utf-16' || cs === 'utf-16le') return body.toString('utf16le');
  if (cs === 'iso-8859-1' || cs === 'latin1') return body.toString('latin1');
  return body.toString('utf8');
}

/** The text of an IM body; throws UnsupportedBodyError for what cannot be shown as text (answered 415). */
export function imBodyToText(contentType: string | undefined, body: Buffer): string {
  const { type, params } = mediaType(contentType ?? 'text/plain');
  if (type === 'text/plain') return decode(body, params.get('charset')).replace(/\r\n/gu, '\n');
  if (type === 'text/html') return teamsHtmlToText(decode(body, params.get('charset')));
  if (type === 'multipart/alternative') {
    const parts = multipartParts(body, unquote(params.get('boundary')) ?? '');
    // RFC 2046 §5.1.4: the last part is the richest; plain text is what XMPP shows, so it wins when present.
    const plain = parts.find((p) => mediaType(p.contentType).type === 'text/plain');
    const html = parts.find((p) => mediaType(p.contentType).type === 'text/html');
    const pick = plain ?? html;
    if (!pick) throw new UnsupportedBodyError(contentType ?? '');
    return imBodyToText(pick.contentType, pick.body);
  }
  throw new UnsupportedBodyError(type);
}

function multipartParts(body: Buffer, boundary: string): { contentType: string; body: Buffer }[] {
  if (!boundary) return [];
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  const out: { contentType: string; body: Buffer }[] = [];
  let at = text.indexOf(delimiter);
  while (at >= 0 && out.length < MAX_PARTS) {
    const start = text.indexOf('\r\n', at);
    if (start < 0 || text.startsWith('--', at + delimiter.length)) break;
    const next = text.indexOf(`\r\n${delimiter}`, start);
    if (next < 0) break;
    const part = text.slice(start + 2, next);
    const split = part.indexOf('\r\n\r\n');
    const head = split < 0 ? '' : part.slice(0, split);
    const content = split < 0 ? part : part.slice(split + 4);
    const ct = /^content-type:\s*(.+)$/imu.exec(head)?.[1]?.trim() ?? 'text/plain';
    out.push({ contentType: ct, body: Buffer.from(content, 'latin1') });
    at = next + 2;
  }
  return out;
}

/**
 * The first message an SfB client puts in its INVITE: `ms-text-format: text/plain; charset=UTF-8; ms-body=<base64>`
 * ([MS-SIPRE] ms-text-format header). Undefined when absent or empty.
 */
export function firstMessageOf(msTextFormat: string | undefined): string | undefined {
  if (!msTextFormat) return undefined;
  const { type, params } = mediaType(msTextFormat);
  const b64 = params.get('ms-body');
  if (!b64) return undefined;
  const raw = Buffer.from(b64, 'base64');
  const text = imBodyToText(`${type}; charset=${params.get('charset') ?? 'UTF-8'}`, raw);
  return text.trim() === '' ? undefined : text;
}

/** The ms-text-format header carrying `text` in an INVITE. */
export function msTextFormatHeader(text: string): string {
  return `${PLAIN_UTF8};ms-body=${Buffer.from(text, 'utf8').toString('base64')}`;
}

/** XMPP text as an SfB IM: plain UTF-8 text (what SfB shows as is), and the HTML form for clients that prefer it. */
export function textToIm(text: string): { contentType: string; body: Buffer; html: string } {
  return { contentType: PLAIN_UTF8, body: Buffer.from(text.replace(/\r?\n/gu, '\r\n'), 'utf8'), html: escapeHtml(text).replace(/\r?\n/gu, '<br/>') };
}

export type Typing = 'composing' | 'idle';

/** RFC 3994 §3: the isComposing document for a typing state (refresh 60 s while composing). */
export function isComposingBody(state: Typing): string {
  const inner = state === 'composing' ? '<state>active</state><contenttype>text/plain</contenttype><refresh>60</refresh>' : '<state>idle</state><contenttype>text/plain</contenttype>';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">${inner}</isComposing>`;
}

/**
 * A typing notice from SfB, in either form: RFC 3994 isComposing, or the KeyboardActivity document SfB clients send
 * in INFO (`<KeyboardActivity><status status="type"/></KeyboardActivity>`). Undefined when the body is neither.
 */
export function readTyping(contentType: string | undefined, body: Buffer): Typing | undefined {
  const { type } = mediaType(contentType ?? '');
  if (type !== ISCOMPOSING_TYPE && type !== 'application/xml' && type !== 'text/xml') return undefined;
  let root;
  try {
    root = parseXml(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (localName(root.name) === 'isComposing') return textOf(child(root, 'state')) === 'active' ? 'composing' : 'idle';
  if (localName(root.name) === 'KeyboardActivity') return child(root, 'status')?.attrs.status === 'type' ? 'composing' : 'idle';
  return undefined;
}

/** XEP-0085 chat state -> SfB typing: only composing is "active"; paused, active, inactive and gone stop it. */
export function chatStateToTyping(state: string | undefined): Typing | undefined {
  if (!state) return undefined;
  return state === 'composing' ? 'composing' : 'idle';
}

export function typingToChatState(t: Typing): 'composing' | 'paused' {
  return t === 'composing' ? 'composing' : 'paused';
}

/** SDP of an IM session ([MS-SIPRE]: m=message over sip; the port is a placeholder, no media flows). */
export function imSdp(host: string): string {
  return ['v=0', `o=- 0 0 IN IP4 ${host}`, 's=session', 'c=IN IP4 0.0.0.0', 't=0 0', 'm=message 5060 sip null', 'a=accept-types:text/plain text/html multipart/alternative application/im-iscomposing+xml', ''].join('\r\n');
}

/** Whether an SDP offer asks for an IM session (m=message ... sip) and nothing else (audio, video: not ours). */
export function sdpOffersIm(sdp: string): { im: boolean; otherMedia: boolean } {
  const media = sdp.split(/\r?\n/u).filter((l) => l.startsWith('m='));
  const im = media.some((l) => /^m=message \d+ sip /u.test(l));
  return { im, otherMedia: media.some((l) => !/^m=message /u.test(l)) };
}
