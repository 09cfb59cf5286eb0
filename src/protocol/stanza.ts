/**
 * Stanzas as the component sees them (XEP-0114 with RFC 6120/6121 semantics): parsing into a typed model, and
 * building the stanzas the gateway sends. Pure functions over @xmpp/xml elements.
 */
import xml, { type Element } from '@xmpp/xml';
import { parseJid, JidError, type Jid } from './jid.js';
import { StanzaError } from './stanza-error.js';
import { detectEncryption, encryptedMessageRefusal } from './encryption.js';
import { NS } from './namespaces.js';
import type { XmppShow } from './presence-map.js';

export type MessageType = 'chat' | 'normal' | 'groupchat' | 'headline' | 'error';
export type PresenceType = 'available' | 'unavailable' | 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed' | 'probe' | 'error';
export type IqType = 'get' | 'set' | 'result' | 'error';

interface Addressed {
  readonly from: Jid;
  readonly to: Jid;
  readonly id: string | undefined;
}

export interface InboundMessage extends Addressed {
  readonly kind: 'message';
  readonly type: MessageType;
  readonly body: string | undefined;
  /** XEP-0184 §5.1: the sender asks for a receipt. */
  readonly receiptRequested: boolean;
  /** XEP-0359 origin-id, the sender's own stable id, preferred over the stanza id for dedup. */
  readonly originId: string | undefined;
  /** XEP-0184 <received id=.../>: the contact's client acknowledges a message the gateway sent. */
  readonly receiptFor: string | undefined;
  /** XEP-0308: this message corrects the one with this id. */
  readonly replaceId: string | undefined;
  /** XEP-0424: the sender retracts the message with this id. */
  readonly retractId: string | undefined;
  /** XEP-0444: the sender's complete set of reactions to the message with this id (empty: all removed). */
  readonly reactions: { readonly id: string; readonly emojis: readonly string[] } | undefined;
  /** XEP-0085 chat state (composing, paused, active, inactive, gone). */
  readonly chatState: string | undefined;
  /** XEP-0333: the sender has displayed (read) messages up to this id. */
  readonly displayedId: string | undefined;
  /** XEP-0461: the message this one replies to, and the body without the quote marked as fallback (XEP-0428). */
  readonly reply: { readonly id: string; readonly to: string | undefined; readonly body: string | undefined } | undefined;
}

export interface InboundPresence extends Addressed {
  readonly kind: 'presence';
  readonly type: PresenceType;
  readonly show: XmppShow | undefined;
  readonly status: string | undefined;
  readonly priority: number;
  /** XEP-0153 avatar hash advertised in the presence ('' for no avatar; undefined when not advertised). */
  readonly avatarHash: string | undefined;
}

export interface InboundIq extends Addressed {
  readonly kind: 'iq';
  readonly type: IqType;
  readonly id: string;
  /** The single payload child of a get/set (RFC 6120 §8.2.3). */
  readonly payload: Element | undefined;
}

export type Inbound = InboundMessage | InboundPresence | InboundIq;

export interface ParseLimits {
  /** Largest <body/> accepted, in UTF-8 bytes. */
  readonly maxBodyBytes: number;
}

const MESSAGE_TYPES: readonly MessageType[] = ['chat', 'normal', 'groupchat', 'headline', 'error'];
const PRESENCE_TYPES: readonly PresenceType[] = ['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error'];
const SHOWS: readonly XmppShow[] = ['chat', 'away', 'xa', 'dnd'];

/** Whether the gateway may answer this stanza with an error (RFC 6120 §8.3.1: never to an error, nor to an iq result). */
export function mayReplyWithError(stanza: Element): boolean {
  const type = stanza.attrs.type;
  if (type === 'error') return false;
  if (stanza.name === 'iq') return type === 'get' || type === 'set';
  return stanza.name === 'message' || stanza.name === 'presence';
}

function address(stanza: Element): { from: Jid; to: Jid } {
  const { from, to } = stanza.attrs;
  if (!from || !to) throw new StanzaError('bad-request', "a stanza to a component must carry 'from' and 'to' (XEP-0114 §3)");
  try {
    return { from: parseJid(from), to: parseJid(to) };
  } catch (err) {
    if (err instanceof JidError) throw new StanzaError('jid-malformed', err.reason);
    throw err;
  }
}

/** The body in the stanza's own language, else the first (RFC 6121 §5.2.3). */
function pickBody(stanza: Element): string | undefined {
  const bodies = stanza.getChildren('body');
  if (bodies.length === 0) return undefined;
  const lang = stanza.attrs['xml:lang'];
  const chosen = bodies.find((b) => !b.attrs['xml:lang'] || b.attrs['xml:lang'] === lang) ?? bodies[0];
  return chosen?.text();
}

/**
 * Most XEP-0428 fallback ranges read for one reply. A client marks one quote; a message with many ranges is
 * refused, so that its cost does not grow with what the sender writes (issue 12 finding 9).
 */
export const MAX_FALLBACK_RANGES = 8;

/**
 * XEP-0461 with XEP-0428: ranges are in code points (XEP-0426); an invalid range leaves the body whole. The cut
 * is one pass over the body (a difference array), whatever the ranges overlap.
 */
function readReply(stanza: Element, body: string | undefined): InboundMessage['reply'] {
  const r = stanza.getChild('reply', NS.reply);
  const id = r?.attrs.id;
  if (!r || !id) return undefined;
  if (body === undefined) return { id, to: r.attrs.to, body };
  const ranges = stanza
    .getChildren('fallback', NS.fallback)
    .filter((f) => f.attrs.for === NS.reply)
    .flatMap((fb) => fb.getChildren('body'));
  if (ranges.length > MAX_FALLBACK_RANGES) {
    throw new StanzaError('bad-request', `a reply may mark at most ${MAX_FALLBACK_RANGES} fallback ranges (XEP-0428)`);
  }
  const chars = Array.from(body);
  const depth = new Int32Array(chars.length + 1);
  for (const range of ranges) {
    const start = Number(range.attrs.start ?? 0);
    const end = Number(range.attrs.end ?? chars.length);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > chars.length || start > end) continue;
    depth[start] = (depth[start] ?? 0) + 1;
    depth[end] = (depth[end] ?? 0) - 1;
  }
  let inside = 0;
  let kept = '';
  for (let i = 0; i < chars.length; i++) {
    inside += depth[i] ?? 0;
    if (inside === 0) kept += chars[i];
  }
  return { id, to: r.attrs.to, body: kept };
}

function readReactions(stanza: Element): InboundMessage['reactions'] {
  const r = stanza.getChild('reactions', NS.reactions);
  const id = r?.attrs.id;
  if (!r || !id) return undefined;
  return { id, emojis: r.getChildren('reaction').map((x) => x.text().trim()).filter((e) => e !== '') };
}

/**
 * Parses a stanza into the model, or throws {@link StanzaError} naming what is wrong. Checks that cost nothing
 * (size of the body) come before any work on the content.
 */
export function parseInbound(stanza: Element, limits: ParseLimits): Inbound {
  const { from, to } = address(stanza);
  const id = stanza.attrs.id;
  switch (stanza.name) {
    case 'message': {
      const type = (stanza.attrs.type ?? 'normal') as MessageType;
      if (!MESSAGE_TYPES.includes(type)) throw new StanzaError('bad-request', `unknown message type '${type}'`);
      // Refused before the body is used: never relayed as its fallback text, never receipted.
      const encryption = type === 'error' ? undefined : detectEncryption(stanza);
      if (encryption) throw encryptedMessageRefusal(encryption);
      const body = pickBody(stanza);
      if (body !== undefined && Buffer.byteLength(body, 'utf8') > limits.maxBodyBytes) {
        throw new StanzaError('policy-violation', `message body exceeds ${limits.maxBodyBytes} bytes`);
      }
      return {
        kind: 'message',
        from,
        to,
        id,
        type,
        body,
        receiptRequested: stanza.getChild('request', NS.receipts) !== undefined,
        originId: stanza.getChild('origin-id', NS.sid)?.attrs.id,
        receiptFor: stanza.getChild('received', NS.receipts)?.attrs.id,
        replaceId: stanza.getChild('replace', NS.correction)?.attrs.id,
        retractId: stanza.getChild('retract', NS.retract)?.attrs.id,
        reactions: readReactions(stanza),
        chatState: stanza.getChildElements().find((c) => c.attrs.xmlns === NS.chatStates)?.name,
        reply: readReply(stanza, body),
        displayedId: stanza.getChild('displayed', NS.chatMarkers)?.attrs.id,
      };
    }
    case 'presence': {
      const raw = stanza.attrs.type;
      const type: PresenceType = raw === undefined ? 'available' : (raw as PresenceType);
      if (raw !== undefined && !PRESENCE_TYPES.includes(type)) throw new StanzaError('bad-request', `unknown presence type '${raw}'`);
      const showText = stanza.getChildText('show') ?? undefined;
      const show = showText !== undefined && SHOWS.includes(showText as XmppShow) ? (showText as XmppShow) : undefined;
      if (showText !== undefined && show === undefined) throw new StanzaError('bad-request', `unknown show value '${showText}'`);
      const priorityText = stanza.getChildText('priority');
      const priority = priorityText === null ? 0 : Number.parseInt(priorityText, 10);
      if (!Number.isInteger(priority) || priority < -128 || priority > 127) {
        throw new StanzaError('bad-request', 'priority must be an integer from -128 to 127 (RFC 6121 §4.7.2.3)');
      }
      const update = stanza.getChild('x', NS.vcardUpdate)?.getChild('photo');
      return { kind: 'presence', from, to, id, type, show, status: stanza.getChildText('status') ?? undefined, priority, avatarHash: update ? update.text().trim() : undefined };
    }
    case 'iq': {
      const type = stanza.attrs.type as IqType | undefined;
      if (!id) throw new StanzaError('bad-request', "an iq must carry an 'id' (RFC 6120 §8.2.3)");
      if (type !== 'get' && type !== 'set' && type !== 'result' && type !== 'error') {
        throw new StanzaError('bad-request', "an iq 'type' must be get, set, result or error (RFC 6120 §8.2.3)");
      }
      const children = stanza.getChildElements();
      if ((type === 'get' || type === 'set') && children.length !== 1) {
        throw new StanzaError('bad-request', 'an iq get or set must contain exactly one payload element (RFC 6120 §8.2.3)');
      }
      return { kind: 'iq', from, to, id, type, payload: type === 'get' || type === 'set' ? children[0] : undefined };
    }
    default:
      throw new StanzaError('bad-request', `unknown stanza '${stanza.name}'`);
  }
}

/** XEP-0308: a correction of the message `replaceId` (the Teams user edited it). */
export function correction(m: { from: string; to: string; id: string; replaceId: string; body: string }): Element {
  return xml('message', { from: m.from, to: m.to, id: m.id, type: 'chat' }, xml('body', {}, m.body), xml('replace', { xmlns: NS.correction, id: m.replaceId }));
}

/** XEP-0424 §4 with the XEP-0428 fallback body for clients without retraction support. */
export function retraction(m: { from: string; to: string; id: string; retractId: string }): Element {
  return xml(
    'message',
    { from: m.from, to: m.to, id: m.id, type: 'chat' },
    xml('retract', { xmlns: NS.retract, id: m.retractId }),
    xml('fallback', { xmlns: NS.fallback, for: NS.retract }),
    xml('body', {}, 'This person attempted to retract a previous message, but it\'s unsupported by your client.'),
    xml('store', { xmlns: 'urn:xmpp:hints' }),
  );
}

/** XEP-0444 §3.2: the complete set of the sender's reactions to message `to` (empty: none left). */
export function reactionsMessage(m: { from: string; to: string; id: string; messageId: string; emojis: readonly string[] }): Element {
  return xml(
    'message',
    { from: m.from, to: m.to, id: m.id, type: 'chat' },
    xml('reactions', { xmlns: NS.reactions, id: m.messageId }, ...m.emojis.map((e) => xml('reaction', {}, e))),
    xml('store', { xmlns: 'urn:xmpp:hints' }),
  );
}

export interface ReplyRef {
  /** JID of the author of the message replied to. */
  readonly to: string;
  /** Its XMPP id. */
  readonly id: string;
  /** Text of the quote, shown by clients without XEP-0461 (the XEP-0428 fallback). */
  readonly quote: string;
}

/**
 * A chat message; with `reply`, an XEP-0461 reply whose body starts with a "> " quote marked as XEP-0428 fallback
 * (offsets in code points, XEP-0426); with `links`, XEP-0066 out-of-band links (Teams files), also in the body;
 * with `media`, XEP-0066 links whose URL the body already shows where it belongs (Teams inline images).
 */
export function chatMessage(m: {
  from: string;
  to: string;
  id: string;
  body: string;
  reply?: ReplyRef | undefined;
  links?: readonly { url: string; desc: string }[];
  media?: readonly { url: string; desc: string }[];
}): Element {
  const quote = m.reply ? `${m.reply.quote.split('\n').map((l) => `> ${l}`).join('\n')}\n` : '';
  const links = (m.links ?? []).map((l) => `\n📎 ${l.desc}: ${l.url}`).join('');
  return xml(
    'message',
    { from: m.from, to: m.to, id: m.id, type: 'chat' },
    xml('body', {}, `${quote}${m.body}${links}`),
    m.reply ? xml('reply', { xmlns: NS.reply, to: m.reply.to, id: m.reply.id }) : null,
    m.reply ? xml('fallback', { xmlns: NS.fallback, for: NS.reply }, xml('body', { start: '0', end: String(Array.from(quote).length) })) : null,
    ...[...(m.media ?? []), ...(m.links ?? [])].map((l) => xml('x', { xmlns: NS.oob }, xml('url', {}, l.url), xml('desc', {}, l.desc))),
    // XEP-0359: the Teams message id as a stable id assigned by the gateway, for later corrections and dedup.
    xml('stanza-id', { xmlns: NS.sid, id: m.id, by: m.from }),
  );
}

/** XEP-0184 §5.2: the receipt for the message with id `forId`. */
export function receipt(r: { from: string; to: string; forId: string; id: string }): Element {
  return xml('message', { from: r.from, to: r.to, id: r.id }, xml('received', { xmlns: NS.receipts, id: r.forId }));
}

export function presence(p: {
  from: string;
  to: string;
  type?: Exclude<PresenceType, 'available' | 'error'>;
  show?: XmppShow | undefined;
  status?: string | undefined;
  extra?: Element[];
}): Element {
  return xml(
    'presence',
    { from: p.from, to: p.to, type: p.type },
    p.show ? xml('show', {}, p.show) : null,
    p.status ? xml('status', {}, p.status) : null,
    ...(p.extra ?? []),
  );
}

/** RFC 6120 §8.2.3: the result of an iq get/set, with its optional payload. */
export function iqResult(iq: Element, payload?: Element): Element {
  return xml('iq', { type: 'result', id: iq.attrs.id, from: iq.attrs.to, to: iq.attrs.from }, payload ?? null);
}
