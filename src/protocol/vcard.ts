/**
 * Contact cards between the Graph user profile (https://learn.microsoft.com/en-us/graph/api/resources/user) and
 * vcard-temp (XEP-0054), with the XEP-0153 avatar hash. Pure functions.
 */
import { createHash } from 'node:crypto';
import xml, { type Element } from '@xmpp/xml';
import { NS } from './namespaces.js';

/** The Graph profile fields a card can show; `cards.fields` chooses which (some tenants hide phone numbers). */
export const CARD_FIELDS = ['name', 'title', 'department', 'company', 'office', 'email', 'phone', 'mobile', 'photo'] as const;
export type CardField = (typeof CARD_FIELDS)[number];

export interface GraphProfile {
  readonly displayName?: string | null;
  readonly givenName?: string | null;
  readonly surname?: string | null;
  readonly jobTitle?: string | null;
  readonly department?: string | null;
  readonly companyName?: string | null;
  readonly officeLocation?: string | null;
  readonly mail?: string | null;
  readonly businessPhones?: readonly string[] | null;
  readonly mobilePhone?: string | null;
}

/** The $select for the profile fields the cards use. */
export const PROFILE_SELECT = ['displayName', 'givenName', 'surname', 'jobTitle', 'department', 'companyName', 'officeLocation', 'mail', 'businessPhones', 'mobilePhone'];

export interface Photo {
  readonly type: string;
  readonly bytes: Buffer;
}

const text = (name: string, value: string | null | undefined): Element | null => (value ? xml(name, {}, value) : null);

/** XEP-0054 §3: the vCard of a Teams user, with only the allowed fields; `jid` is her address on the gateway. */
export function profileToVcardTemp(p: GraphProfile, jid: string, fields: ReadonlySet<CardField>, photo: Photo | undefined): Element {
  const has = (f: CardField) => fields.has(f);
  const phones = [...(p.businessPhones ?? [])];
  return xml(
    'vCard',
    { xmlns: NS.vcardTemp },
    has('name') ? text('FN', p.displayName) : null,
    has('name') && (p.givenName || p.surname) ? xml('N', {}, text('FAMILY', p.surname), text('GIVEN', p.givenName)) : null,
    xml('JABBERID', {}, jid),
    has('title') ? text('TITLE', p.jobTitle) : null,
    (has('company') && p.companyName) || (has('department') && p.department)
      ? xml('ORG', {}, xml('ORGNAME', {}, (has('company') && p.companyName) || ''), has('department') ? text('ORGUNIT', p.department) : null)
      : null,
    has('office') && p.officeLocation ? xml('ADR', {}, xml('WORK'), xml('EXTADD', {}, p.officeLocation)) : null,
    has('email') && p.mail ? xml('EMAIL', {}, xml('WORK'), xml('INTERNET'), xml('PREF'), xml('USERID', {}, p.mail)) : null,
    ...(has('phone') ? phones.map((n) => xml('TEL', {}, xml('WORK'), xml('VOICE'), xml('NUMBER', {}, n))) : []),
    has('mobile') && p.mobilePhone ? xml('TEL', {}, xml('CELL'), xml('VOICE'), xml('NUMBER', {}, p.mobilePhone)) : null,
    has('photo') && photo ? xml('PHOTO', {}, xml('TYPE', {}, photo.type), xml('BINVAL', {}, photo.bytes.toString('base64'))) : null,
  );
}

/** XEP-0153 §4.1: the avatar hash is the hex SHA-1 of the image bytes. */
export function avatarHash(photo: Photo | undefined): string {
  return photo ? createHash('sha1').update(photo.bytes).digest('hex') : '';
}

/** XEP-0153 §4.1: <x xmlns='vcard-temp:x:update'><photo>hash</photo></x>; an empty photo means "no avatar". */
export function avatarUpdate(hash: string | undefined): Element {
  return xml('x', { xmlns: NS.vcardUpdate }, hash === undefined ? null : xml('photo', {}, hash));
}

/** What a remote XMPP user's vCard (XEP-0054) says, as Graph profile fields for the account that represents them. */
export function vcardTempToProfile(vcard: Element | undefined): { profile: GraphProfile; photo: Photo | undefined } {
  if (!vcard) return { profile: {}, photo: undefined };
  const t = (el: Element | undefined, name: string) => el?.getChildText(name)?.trim() || undefined;
  const n = vcard.getChild('N');
  const org = vcard.getChild('ORG');
  const photoEl = vcard.getChild('PHOTO');
  const binval = photoEl?.getChildText('BINVAL')?.replace(/\s+/gu, '');
  const bytes = binval ? Buffer.from(binval, 'base64') : undefined;
  return {
    profile: {
      displayName: t(vcard, 'FN') ?? null,
      givenName: t(n, 'GIVEN') ?? null,
      surname: t(n, 'FAMILY') ?? null,
      jobTitle: t(vcard, 'TITLE') ?? null,
      companyName: t(org, 'ORGNAME') ?? null,
      department: t(org, 'ORGUNIT') ?? null,
    },
    photo: bytes && bytes.length > 0 ? { type: t(photoEl, 'TYPE') ?? 'image/jpeg', bytes } : undefined,
  };
}

/**
 * XEP-0292 (vCard4 over XMPP, the RFC 6351 XML form): the same card for clients that ask in vCard4. Photos are a
 * data: URI, as XEP-0292 §3.2 allows.
 */
export function profileToVcard4(p: GraphProfile, jid: string, fields: ReadonlySet<CardField>, photo: Photo | undefined): Element {
  const has = (f: CardField) => fields.has(f);
  const t = (name: string, value: string | null | undefined, kind = 'text'): Element | null => (value ? xml(name, {}, xml(kind, {}, value)) : null);
  const tel = (type: string, n: string) =>
    xml('tel', {}, xml('parameters', {}, xml('type', {}, xml('text', {}, type))), xml('uri', {}, `tel:${n.replace(/\s+/gu, '')}`));
  return xml(
    'vcard',
    { xmlns: NS.vcard4 },
    has('name') ? t('fn', p.displayName) : null,
    has('name') && (p.givenName || p.surname) ? xml('n', {}, xml('surname', {}, p.surname ?? ''), xml('given', {}, p.givenName ?? '')) : null,
    xml('impp', {}, xml('uri', {}, `xmpp:${jid}`)),
    has('title') ? t('title', p.jobTitle) : null,
    (has('company') && p.companyName) || (has('department') && p.department)
      ? xml('org', {}, ...[has('company') ? p.companyName : null, has('department') ? p.department : null].filter((x): x is string => !!x).map((v) => xml('text', {}, v)))
      : null,
    has('email') ? t('email', p.mail) : null,
    ...(has('phone') ? (p.businessPhones ?? []).map((n) => tel('work', n)) : []),
    has('mobile') && p.mobilePhone ? tel('cell', p.mobilePhone) : null,
    has('photo') && photo ? xml('photo', {}, xml('uri', {}, `data:${photo.type};base64,${photo.bytes.toString('base64')}`)) : null,
  );
}
