/**
 * Contact cards between SfB's contactCard category and vcard-temp (XEP-0054). Only what a federated watcher may
 * see in SfB's External container is carried: name, title, email, company, office and photo (no phone numbers,
 * whatever either side holds). Pure functions.
 */
import type { Element } from '@xmpp/xml';
import { profileToVcard4, profileToVcardTemp, vcardTempToProfile, type CardField, type Photo } from '../../protocol/vcard.js';
import type { SfbCard } from './categories.js';

const FIELDS: ReadonlySet<CardField> = new Set(['name', 'title', 'company', 'office', 'email', 'photo']);

/** XEP-0054 §3.2 / XEP-0292: the vCard of an SfB user (his JID on the gateway is `jid`), with her photo if fetched. */
export function sfbCardToVcard(card: SfbCard, jid: string, vcard4: boolean, photo: Photo | undefined): Element {
  const profile = { displayName: card.displayName, jobTitle: card.title, companyName: card.company, officeLocation: card.office, mail: card.email };
  return (vcard4 ? profileToVcard4 : profileToVcardTemp)(profile, jid, FIELDS, photo);
}

/** What an XMPP user's vcard-temp says, as the contactCard SfB watchers see (the photo is published apart). */
export function vcardToSfbCard(vcard: Element | undefined): SfbCard {
  if (!vcard) return {};
  const t = (el: Element | undefined, name: string) => el?.getChildText(name)?.trim() || undefined;
  const email = vcard.getChildren('EMAIL').map((e) => t(e, 'USERID')).find((v) => v !== undefined);
  const adr = vcard.getChildren('ADR').find((a) => a.getChild('WORK')) ?? vcard.getChild('ADR');
  return {
    displayName: t(vcard, 'FN'),
    title: t(vcard, 'TITLE'),
    company: t(vcard.getChild('ORG'), 'ORGNAME'),
    email,
    office: t(adr, 'EXTADD') ?? t(adr, 'LOCALITY'),
  };
}

/** XEP-0054 §3.1.1 PHOTO/BINVAL of a vcard-temp, if any. */
export function vcardPhoto(vcard: Element | undefined): Photo | undefined {
  return vcardTempToProfile(vcard).photo;
}
