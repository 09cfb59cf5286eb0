/**
 * End-to-end encrypted messages the gateway cannot read. The gateway is not an endpoint of the XMPP user's
 * encryption (nor could Teams show it), so relaying such a message would post its fallback text ("I sent you an
 * OMEMO encrypted message but your client doesn't seem to support that…") and confirm a delivery that did not
 * happen. XEP-0380 (Explicit Message Encryption) lets a recipient tell the sender it could not decrypt; the
 * gateway does so with a stanza error: RFC 6120 §8.3.3.12 <not-acceptable/>, type "modify" (retry after changing
 * what was sent, i.e. without encryption), with a text saying so.
 */
import type { Element } from '@xmpp/xml';
import { StanzaError } from './stanza-error.js';

export interface Encryption {
  /** The mechanism's namespace (what XEP-0380's 'namespace' attribute carries). */
  readonly namespace: string;
  /** Its name for people. */
  readonly name: string;
}

/** Namespace → name, as XEP-0380 §5 lists them (plus OMEMO's current namespaces, XEP-0384 0.8). */
const KNOWN: Readonly<Record<string, string>> = {
  'eu.siacs.conversations.axolotl': 'OMEMO', // XEP-0384 before 0.4: what Conversations, Dino, Gajim and Monal send
  'urn:xmpp:omemo:1': 'OMEMO',
  'urn:xmpp:omemo:2': 'OMEMO', // XEP-0384 0.8
  'urn:xmpp:openpgp:0': 'OpenPGP for XMPP', // XEP-0373/0374
  'jabber:x:encrypted': 'legacy OpenPGP', // XEP-0027
  'urn:xmpp:otr:0': 'OTR', // XEP-0364
};

/** The payload element of each mechanism (name and namespace), found even without an XEP-0380 marker. */
const PAYLOADS: readonly { readonly name: string; readonly ns: string }[] = [
  { name: 'encrypted', ns: 'eu.siacs.conversations.axolotl' },
  { name: 'encrypted', ns: 'urn:xmpp:omemo:1' },
  { name: 'encrypted', ns: 'urn:xmpp:omemo:2' },
  { name: 'openpgp', ns: 'urn:xmpp:openpgp:0' },
  { name: 'x', ns: 'jabber:x:encrypted' },
];

const NS_EME = 'urn:xmpp:eme:0';
/** XEP-0364 §3: an OTR data, query or error message is a body that starts with "?OTR". */
const OTR_BODY = /^\?OTR/u;

/** The end-to-end encryption a message uses, or undefined for a message the gateway can read. */
export function detectEncryption(message: Element): Encryption | undefined {
  const eme = message.getChild('encryption', NS_EME);
  const marked = eme?.attrs.namespace;
  if (eme) {
    const namespace = typeof marked === 'string' && marked !== '' ? marked : NS_EME;
    // XEP-0380 §4: 'name' is for mechanisms the recipient may not know; never trusted for a known one.
    const name = KNOWN[namespace] ?? (typeof eme.attrs.name === 'string' && eme.attrs.name.trim() !== '' ? eme.attrs.name.trim().slice(0, 40) : namespace.slice(0, 80));
    return { namespace, name };
  }
  for (const p of PAYLOADS) if (message.getChild(p.name, p.ns)) return { namespace: p.ns, name: KNOWN[p.ns] ?? p.ns };
  const body = message.getChildText('body');
  if (body !== null && OTR_BODY.test(body)) return { namespace: 'urn:xmpp:otr:0', name: 'OTR' };
  return undefined;
}

/** The refusal sent back for an encrypted message: what happened and what to do. */
export function encryptedMessageRefusal(e: Encryption): StanzaError {
  return new StanzaError(
    'not-acceptable',
    `This message is end-to-end encrypted (${e.name}) and was not delivered: the Microsoft Teams gateway cannot read encrypted messages. ` +
      'Turn encryption off for this contact in your client and send it again.',
  );
}
