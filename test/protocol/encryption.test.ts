/** End-to-end encrypted messages the gateway cannot read: detected as real clients send them, refused clearly. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml, { type Element } from '@xmpp/xml';
import { detectEncryption, encryptedMessageRefusal } from '../../src/protocol/encryption.js';
import { parseInbound } from '../../src/protocol/stanza.js';
import { StanzaError } from '../../src/protocol/stanza-error.js';

const base = { from: 'juliet@partner.example/phone', to: 'alice.smith@teams.xmpp.example', type: 'chat', id: 'e1' };
const OMEMO_FALLBACK = "I sent you an OMEMO encrypted message but your client doesn't seem to support that. Find more information on https://conversations.im/omemo";
const receiptRequest = () => xml('request', { xmlns: 'urn:xmpp:receipts' });

/** An OMEMO message as Conversations, Dino, Gajim and Monal send it (XEP-0384 0.3 with the XEP-0380 marker). */
function omemoLegacy(withMarker: boolean): Element {
  return xml(
    'message',
    base,
    xml('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('header', { sid: '27183' }, xml('key', { rid: '31415' }, 'BASE64=='), xml('iv', {}, 'BASE64==')), xml('payload', {}, 'BASE64==')),
    withMarker ? xml('encryption', { xmlns: 'urn:xmpp:eme:0', namespace: 'eu.siacs.conversations.axolotl' }) : null,
    xml('body', {}, OMEMO_FALLBACK),
    xml('store', { xmlns: 'urn:xmpp:hints' }),
    receiptRequest(),
  );
}

const CASES: readonly { name: string; stanza: Element; expected: { namespace: string; name: string } | undefined }[] = [
  { name: 'OMEMO (eu.siacs.conversations.axolotl) with the XEP-0380 marker', stanza: omemoLegacy(true), expected: { namespace: 'eu.siacs.conversations.axolotl', name: 'OMEMO' } },
  { name: 'OMEMO (eu.siacs.conversations.axolotl) without a marker', stanza: omemoLegacy(false), expected: { namespace: 'eu.siacs.conversations.axolotl', name: 'OMEMO' } },
  {
    name: 'OMEMO 0.8 (urn:xmpp:omemo:2)',
    stanza: xml('message', base, xml('encrypted', { xmlns: 'urn:xmpp:omemo:2' }, xml('header', { sid: '1' }), xml('payload', {}, 'x')), xml('encryption', { xmlns: 'urn:xmpp:eme:0', namespace: 'urn:xmpp:omemo:2', name: 'OMEMO' }), xml('body', {}, 'fallback')),
    expected: { namespace: 'urn:xmpp:omemo:2', name: 'OMEMO' },
  },
  {
    name: 'OMEMO key transport (no payload, no body)',
    stanza: xml('message', base, xml('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('header', { sid: '1' }, xml('key', { rid: '2' }, 'k')))),
    expected: { namespace: 'eu.siacs.conversations.axolotl', name: 'OMEMO' },
  },
  {
    name: 'OpenPGP for XMPP (XEP-0373/0374)',
    stanza: xml('message', base, xml('openpgp', { xmlns: 'urn:xmpp:openpgp:0' }, 'BASE64=='), xml('encryption', { xmlns: 'urn:xmpp:eme:0', namespace: 'urn:xmpp:openpgp:0' }), xml('body', {}, 'This message is encrypted with OpenPGP for XMPP.')),
    expected: { namespace: 'urn:xmpp:openpgp:0', name: 'OpenPGP for XMPP' },
  },
  {
    name: 'legacy OpenPGP (XEP-0027)',
    stanza: xml('message', base, xml('x', { xmlns: 'jabber:x:encrypted' }, 'qANQR1DBwU4DX7jmYZnncm...'), xml('body', {}, 'This message is encrypted.')),
    expected: { namespace: 'jabber:x:encrypted', name: 'legacy OpenPGP' },
  },
  { name: 'OTR data message (XEP-0364)', stanza: xml('message', base, xml('body', {}, '?OTR:AAMDJ+MVmSfjFZcAAAAAAQAAAAIAAADA...')), expected: { namespace: 'urn:xmpp:otr:0', name: 'OTR' } },
  { name: 'OTR query message', stanza: xml('message', base, xml('body', {}, '?OTRv23? Juliet has requested an Off-the-Record private conversation.')), expected: { namespace: 'urn:xmpp:otr:0', name: 'OTR' } },
  {
    name: 'an unknown mechanism announced by XEP-0380 (its name, bounded)',
    stanza: xml('message', base, xml('encryption', { xmlns: 'urn:xmpp:eme:0', namespace: 'urn:example:new-e2ee', name: 'NewCrypt' }), xml('body', {}, 'fallback')),
    expected: { namespace: 'urn:example:new-e2ee', name: 'NewCrypt' },
  },
  {
    name: "a known mechanism keeps its own name whatever 'name' says",
    stanza: xml('message', base, xml('encryption', { xmlns: 'urn:xmpp:eme:0', namespace: 'urn:xmpp:otr:0', name: 'Totally not encrypted' }), xml('body', {}, '?OTR:AAM')),
    expected: { namespace: 'urn:xmpp:otr:0', name: 'OTR' },
  },
  { name: 'a plain message', stanza: xml('message', base, xml('body', {}, 'hello'), receiptRequest()), expected: undefined },
  { name: 'a plain message mentioning OTR mid-text', stanza: xml('message', base, xml('body', {}, 'do you use ?OTR at all')), expected: undefined },
  { name: 'a chat state', stanza: xml('message', base, xml('composing', { xmlns: 'http://jabber.org/protocol/chatstates' })), expected: undefined },
  { name: "an 'encrypted' element of another namespace", stanza: xml('message', base, xml('encrypted', { xmlns: 'urn:example:other' }), xml('body', {}, 'hi')), expected: undefined },
];

describe('end-to-end encrypted messages', () => {
  for (const c of CASES) {
    it(`detects ${c.name}`, () => {
      assert.deepEqual(detectEncryption(c.stanza), c.expected);
    });
  }

  it('parseInbound refuses every encrypted message with <not-acceptable/> (modify) and a text saying what to do', () => {
    for (const c of CASES.filter((x) => x.expected)) {
      let refused: unknown;
      try {
        parseInbound(c.stanza, { maxBodyBytes: 10_000 });
      } catch (err) {
        refused = err;
      }
      assert.ok(refused instanceof StanzaError, c.name);
      assert.equal(refused.condition, 'not-acceptable');
      assert.equal(refused.type, 'modify');
      assert.match(refused.text ?? '', new RegExp(`\\(${c.expected!.name}\\)`, 'u'));
      assert.match(refused.text ?? '', /Turn encryption off for this contact/u);
    }
  });

  it('does not refuse an error bounce that quotes an encrypted message, nor plain messages', () => {
    const bounce = xml('message', { ...base, type: 'error' }, xml('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }), xml('error', { type: 'cancel' }));
    assert.equal(parseInbound(bounce, { maxBodyBytes: 10_000 }).kind, 'message');
    for (const c of CASES.filter((x) => !x.expected)) assert.equal(parseInbound(c.stanza, { maxBodyBytes: 10_000 }).kind, 'message', c.name);
  });

  it('names the mechanism in the refusal', () => {
    assert.match(encryptedMessageRefusal({ namespace: 'urn:xmpp:openpgp:0', name: 'OpenPGP for XMPP' }).text ?? '', /OpenPGP for XMPP/u);
  });
});
