/**
 * Service discovery (XEP-0030) and entity capabilities (XEP-0115) for the component and its users.
 */
import { createHash } from 'node:crypto';
import xml, { type Element } from '@xmpp/xml';
import { NS } from './namespaces.js';

export interface Identity {
  readonly category: string;
  readonly type: string;
  readonly name?: string | undefined;
}

export interface DiscoInfo {
  readonly identities: readonly Identity[];
  readonly features: readonly string[];
}

/**
 * The component: a gateway. The registry (https://xmpp.org/registrar/disco-categories.html) has no type for
 * Teams; "ocs" is its registered ancestor (Office Communications Server, later Lync and Skype for Business).
 */
export const COMPONENT_INFO: DiscoInfo = {
  identities: [{ category: 'gateway', type: 'ocs', name: 'Microsoft Teams' }],
  features: [NS.discoInfo, NS.discoItems, NS.ping, NS.version, NS.jidEscaping],
};

/** A Teams user's JID: an account (XEP-0030 §3.1 and the registry's "account/registered"). */
export function userInfo(displayName: string | undefined): DiscoInfo {
  return {
    identities: [{ category: 'account', type: 'registered', name: displayName }],
    features: [NS.discoInfo, NS.ping, NS.receipts, NS.vcardTemp, NS.vcard4],
  };
}

export function discoInfoQuery(info: DiscoInfo, node?: string): Element {
  return xml(
    'query',
    { xmlns: NS.discoInfo, node },
    ...info.identities.map((i) => xml('identity', { category: i.category, type: i.type, name: i.name })),
    ...info.features.map((f) => xml('feature', { var: f })),
  );
}

/** XEP-0115 §5.1: the verification string's SHA-1, base64. */
export function capsVer(info: DiscoInfo): string {
  const identities = info.identities.map((i) => `${i.category}/${i.type}//${i.name ?? ''}`).sort();
  const features = [...info.features].sort();
  const s = [...identities, ...features].map((x) => `${x}<`).join('');
  return createHash('sha1').update(s, 'utf8').digest('base64');
}

export const CAPS_NODE = 'https://github.com/xmpp-teams-gateway';

/** XEP-0115 §4: the <c/> element a presence carries so clients can cache what a user JID supports. */
export function capsElement(info: DiscoInfo): Element {
  return xml('c', { xmlns: NS.caps, hash: 'sha-1', node: CAPS_NODE, ver: capsVer(info) });
}
