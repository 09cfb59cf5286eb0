/** Photos on contact cards: the pure parts (image types, photo addresses, contactCard photo in and out, vCard PHOTO). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { readCategories, writeCategories } from '../../../src/sfb/protocol/categories.js';
import { sfbCardToVcard, vcardPhoto } from '../../../src/sfb/protocol/card.js';
import { imageTypeOf, parsePhotoPath, photoPath, photoUrl } from '../../../src/sfb/protocol/photo.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const JPEG = Buffer.from('ffd8ffe000104a464946', 'hex');
const GIF = Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1');

describe('image types by their leading bytes', () => {
  const table: [string, Buffer, string | undefined][] = [
    ['PNG', PNG, 'image/png'],
    ['JPEG', JPEG, 'image/jpeg'],
    ['GIF89a', GIF, 'image/gif'],
    ['GIF87a', Buffer.from('GIF87a', 'latin1'), 'image/gif'],
    ['an HTML page', Buffer.from('<!doctype html><title>intranet</title>'), undefined],
    ['SVG (scripts: never a photo)', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), undefined],
    ['a truncated PNG signature', PNG.subarray(0, 5), undefined],
    ['nothing', Buffer.alloc(0), undefined],
  ];
  for (const [what, bytes, type] of table) it(`${what} -> ${type ?? 'not a photo'}`, () => assert.equal(imageTypeOf(bytes), type));
});

describe('photo addresses on the gateway', () => {
  const sha1 = 'a'.repeat(40);
  it('names the bare JID and the SHA-1, and reads them back', () => {
    assert.equal(photoPath('juliet@xmpp.example', sha1), `/sfb/photos/juliet%40xmpp.example/${sha1}`);
    assert.equal(photoUrl('https://gw.example:8061/', 'juliet@xmpp.example', sha1), `https://gw.example:8061/sfb/photos/juliet%40xmpp.example/${sha1}`);
    assert.deepEqual(parsePhotoPath(photoPath('juliet@xmpp.example', sha1)), { jid: 'juliet@xmpp.example', sha1 });
  });
  const refused: [string, string][] = [
    ['another path', '/admin'],
    ['a short hash', `/sfb/photos/juliet%40xmpp.example/${'a'.repeat(39)}`],
    ['an upper-case hash', `/sfb/photos/juliet%40xmpp.example/${'A'.repeat(40)}`],
    ['a full JID (resource)', `/sfb/photos/${encodeURIComponent('juliet@xmpp.example/phone')}/${sha1}`],
    ['a domain, not a user', `/sfb/photos/xmpp.example/${sha1}`],
    ['bad percent-encoding', `/sfb/photos/%E0%A4%A/${sha1}`],
    ['a trailing segment', `/sfb/photos/juliet%40xmpp.example/${sha1}/x`],
  ];
  for (const [what, path] of refused) it(`refuses ${what}`, () => assert.equal(parsePhotoPath(path), undefined));
});

describe('the contactCard photo ([MS-PRES] §7.3)', () => {
  const doc = (photos: string) => `<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="sip:carol@contoso.example">
 <category name="contactCard" instance="0" container="100" version="1"><contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard">
  <identity><name><displayName>Carol</displayName></name></identity></contactCard></category>
 <category name="contactCard" instance="6" container="100" version="1"><contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard">${photos}</contactCard></category>
</categories>`;
  const table: [string, string, unknown][] = [
    ['a web picture', '<photo type="default"><uri>https://photos.contoso.example/carol.png</uri><hash>0A1B</hash></photo>', { url: 'https://photos.contoso.example/carol.png', hash: '0A1B', type: 'default' }],
    [
      'the web picture beside an enterprise (AD) one',
      '<photo type="enterprise"><uri></uri><hash>FF</hash></photo><photo type="default"><uri>http://web.contoso.example/c.jpg</uri><hash>EE</hash></photo>',
      { url: 'http://web.contoso.example/c.jpg', hash: 'EE', type: 'default' },
    ],
    ['an enterprise photo only: nothing a federated watcher can fetch', '<photo type="enterprise"><uri></uri><hash>FF</hash></photo>', { url: undefined, hash: 'FF', type: 'enterprise' }],
    ['a file: address is no web address', '<photo type="default"><uri>file:///etc/passwd</uri><hash>01</hash></photo>', { url: undefined, hash: '01', type: 'default' }],
    ['no photo', '', undefined],
  ];
  for (const [what, photos, ref] of table) {
    it(`reads ${what}`, () => {
      const card = readCategories(doc(photos)).card;
      assert.equal(card?.displayName, 'Carol');
      assert.deepEqual(card?.photo, ref);
    });
  }
  it('writes the XMPP user\'s photo address and reads it back', () => {
    const url = `https://gw.example:8061/sfb/photos/juliet%40xmpp.example/${'b'.repeat(40)}`;
    const text = writeCategories({ uri: 'sip:juliet@xmpp.example', state: { availability: 3500 }, card: { displayName: 'Juliet', photo: { url, hash: 'b'.repeat(40), type: 'default' } }, at: '2026-01-01T00:00:00Z', version: 1 });
    assert.match(text, /<displayADPhoto>false<\/displayADPhoto>/u);
    assert.deepEqual(readCategories(text).card?.photo, { url, hash: 'b'.repeat(40), type: 'default' });
  });
  it('writes no photo element without a web address', () => {
    const text = writeCategories({ uri: 'sip:juliet@xmpp.example', state: { availability: 3500 }, card: { displayName: 'Juliet' }, at: '2026-01-01T00:00:00Z', version: 1 });
    assert.doesNotMatch(text, /<photo/u);
  });
});

describe('the vCard PHOTO (XEP-0054 §3.1.1)', () => {
  it('an SfB user\'s fetched photo goes in her vCard, base64', () => {
    const v = sfbCardToVcard({ displayName: 'Carol' }, 'carol@sfb.xmpp.example', false, { type: 'image/png', bytes: PNG });
    assert.equal(v.getChild('PHOTO')?.getChildText('TYPE'), 'image/png');
    assert.equal(v.getChild('PHOTO')?.getChildText('BINVAL'), PNG.toString('base64'));
  });
  it('an XMPP user\'s PHOTO is read (base64 with line breaks), and none when absent', () => {
    const b64 = JPEG.toString('base64');
    const v = xml('vCard', { xmlns: 'vcard-temp' }, xml('PHOTO', {}, xml('TYPE', {}, 'image/jpeg'), xml('BINVAL', {}, `${b64.slice(0, 4)}\n${b64.slice(4)}`)));
    assert.deepEqual(vcardPhoto(v), { type: 'image/jpeg', bytes: JPEG });
    assert.equal(vcardPhoto(xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'x'))), undefined);
    assert.equal(vcardPhoto(undefined), undefined);
  });
});
