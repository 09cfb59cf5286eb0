/**
 * Enhanced presence documents ([MS-PRES] §2.2: application/msrtc-event-categories+xml): reading the state, note
 * and contactCard categories of an SfB user, and writing those of an XMPP user for SfB watchers. Pure functions.
 *
 * Containers ([MS-PRES] §3.7; Lync Server "Remotely accessible category instances"): 100 is External (federated
 * contacts), 200 Company, 300 Team, 400 Personal, 32000 Blocked. A federated watcher, which is what the gateway is
 * for SfB, sees the External container only; the gateway publishes its XMPP users' categories there.
 */
import xml, { type Element } from '@xmpp/xml';
import { child, children, localName, parseXml, textOf } from './xml.js';
import type { SfbState } from './presence.js';

export const NS_CATEGORIES = 'http://schemas.microsoft.com/2006/09/sip/categories';
export const NS_STATE = 'http://schemas.microsoft.com/2006/09/sip/state';
export const NS_NOTE = 'http://schemas.microsoft.com/2006/09/sip/note';
export const NS_CONTACT_CARD = 'http://schemas.microsoft.com/2006/09/sip/contactcard';
export const CATEGORIES_TYPE = 'application/msrtc-event-categories+xml';
export const EXTERNAL_CONTAINER = 100;

/**
 * The photo a contact card points at (contactCard/photo: `<photo type=".."><uri>..</uri><hash>..</hash></photo>`,
 * [MS-PRES] §7.3 photoTypeEnum; Lync Server contactCard schema, https://learn.microsoft.com/en-us/previous-versions/office/gg448905(v=office.14)). A federated watcher can fetch only a
 * photo with a web address (type "default", "Show a picture from a web address"): an "enterprise" photo comes
 * from Active Directory or Exchange, which only the user's own organisation reaches (its uri is empty).
 */
export interface SfbPhotoRef {
  readonly url: string | undefined;
  /** The publisher's hash of the image (a cache key: its algorithm is the publisher's, e.g. 32 hex digits). */
  readonly hash: string;
  readonly type: string | undefined;
}

/** What an SfB contact card may show a federated watcher: no phones (the External container rule). */
export interface SfbCard {
  readonly displayName?: string | undefined;
  readonly title?: string | undefined;
  readonly email?: string | undefined;
  readonly company?: string | undefined;
  readonly office?: string | undefined;
  readonly photo?: SfbPhotoRef | undefined;
}

export interface PresenceDocument {
  readonly uri: string | undefined;
  /** Undefined when the document carries no state category (e.g. a card-only update). */
  readonly state: SfbState | undefined;
  readonly card: SfbCard | undefined;
}

/** Reads a categories document; throws SfbXmlError when it is not one. */
export function readCategories(text: string): PresenceDocument {
  const root = parseXml(text);
  if (localName(root.name) !== 'categories') throw new Error(`not a categories document: <${root.name}>`);
  let availability: number | undefined;
  let activity: string | undefined;
  let note: string | undefined;
  let card: SfbCard | undefined;
  for (const cat of children(root, 'category')) {
    const name = cat.attrs.name;
    if (name === 'state') {
      const st = child(cat, 'state');
      const type = st?.attrs['xsi:type'] ?? '';
      // The aggregate wins over a device or user state when both are present (§3.7.5.x aggregation).
      if (!st || (availability !== undefined && type !== 'aggregateState')) continue;
      const n = Number(textOf(child(st, 'availability')));
      if (Number.isFinite(n)) availability = n;
      const act = child(st, 'activity');
      activity = act?.attrs.token ?? textOf(child(act, 'custom')) ?? activity;
    } else if (name === 'note') {
      const bodies = children(child(cat, 'note'), 'body');
      // The out-of-office note takes precedence over the personal one, as SfB clients show it.
      const oof = bodies.find((b) => b.attrs.type === 'OOF');
      note = textOf(oof ?? bodies[0]) ?? note;
    } else if (name === 'contactCard') {
      const cc = child(cat, 'contactCard');
      if (!cc) continue;
      const identity = child(cc, 'identity');
      card = {
        ...card,
        ...defined({
          displayName: textOf(child(child(identity, 'name'), 'displayName')),
          email: textOf(child(identity, 'email')) ?? textOf(child(cc, 'email')),
          company: textOf(child(cc, 'company')),
          title: textOf(child(cc, 'title')),
          office: textOf(child(cc, 'office')),
          photo: photoOf(cc, card?.photo),
        }),
      };
    }
  }
  return {
    uri: root.attrs.uri,
    state: availability === undefined ? (note !== undefined ? { availability: 0, note } : undefined) : { availability, activity, note },
    card,
  };
}

/**
 * The photo of a contactCard instance, the one with a web address first (several instances may carry one, e.g. an
 * "enterprise" photo with an empty uri beside a web picture). `known` is what an earlier instance gave.
 */
function photoOf(cc: Element, known: SfbPhotoRef | undefined): SfbPhotoRef | undefined {
  const photos = children(cc, 'photo').map((p) => ({ url: webUrl(textOf(child(p, 'uri'))), hash: textOf(child(p, 'hash')) ?? '', type: p.attrs.type as string | undefined }));
  const candidates = known ? [known, ...photos] : photos;
  return candidates.find((p) => p.url !== undefined && p.hash !== '') ?? candidates.find((p) => p.hash !== '');
}

/** Only an http(s) address is a picture a federated watcher can fetch (anything else is not followed). */
function webUrl(uri: string | undefined): string | undefined {
  return uri && /^https?:\/\/[^\s]+$/iu.test(uri) ? uri : undefined;
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export interface PublishOptions {
  readonly uri: string;
  readonly state: SfbState;
  readonly card: SfbCard | undefined;
  /** publishTime of the instances (ISO 8601). */
  readonly at: string;
  /** Version of the instances; grows with each change so watchers take the newer one. */
  readonly version: number;
}

/** The categories document the gateway serves for an XMPP user, in the External container. */
export function writeCategories(o: PublishOptions): string {
  const category = (name: string, body: Element) =>
    xml('category', { name, instance: '0', publishTime: o.at, container: String(EXTERNAL_CONTAINER), version: String(o.version), expireType: 'static' }, body);
  const state = xml(
    'state',
    { xmlns: NS_STATE, 'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance', 'xsi:type': 'aggregateState', manual: 'false' },
    xml('availability', {}, String(o.state.availability)),
    o.state.activity ? xml('activity', { token: o.state.activity }) : null,
  );
  const note = xml('note', { xmlns: NS_NOTE }, xml('body', { type: 'personal', uri: '' }, o.state.note ?? ''));
  const c = o.card;
  // displayADPhoto then photo, in the schema's order ([MS-PRES] §7.3); a picture from a web address, so
  // displayADPhoto is false.
  const photo = c?.photo?.url
    ? [
        xml('displayADPhoto', {}, 'false'),
        xml('photo', { type: c.photo.type ?? 'default', updated: o.at }, xml('uri', {}, c.photo.url), xml('hash', {}, c.photo.hash)),
      ]
    : [];
  const card = c
    ? xml(
        'contactCard',
        { xmlns: NS_CONTACT_CARD },
        xml('identity', {}, c.displayName ? xml('name', {}, xml('displayName', {}, c.displayName)) : null, c.email ? xml('email', {}, c.email) : null),
        c.company ? xml('company', {}, c.company) : null,
        c.title ? xml('title', {}, c.title) : null,
        c.office ? xml('office', {}, c.office) : null,
        ...photo,
      )
    : null;
  const root = xml('categories', { xmlns: NS_CATEGORIES, uri: o.uri }, category('state', state), category('note', note), card ? category('contactCard', card) : null);
  return `<?xml version="1.0" encoding="utf-8"?>\n${root.toString()}`;
}
