import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { CARD_FIELDS, avatarHash, avatarUpdate, profileToVcard4, profileToVcardTemp, vcardTempToProfile, type CardField } from '../../src/protocol/vcard.js';

const profile = {
  displayName: 'Alice Smith',
  givenName: 'Alice',
  surname: 'Smith',
  jobTitle: 'Liaison officer',
  department: 'J5 Plans',
  companyName: 'Contoso',
  officeLocation: 'Building 2, room 114',
  mail: 'alice.smith@contoso.example',
  businessPhones: ['+44 20 7946 0000'],
  mobilePhone: '+44 7700 900000',
};
const photo = { type: 'image/jpeg', bytes: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]) };
const all = new Set<CardField>(CARD_FIELDS);

describe('Graph profile -> vcard-temp (XEP-0054)', () => {
  it('maps every field', () => {
    const v = profileToVcardTemp(profile, 'alice.smith@teams.xmpp.example', all, photo);
    assert.equal(v.attrs.xmlns, 'vcard-temp');
    assert.equal(v.getChildText('FN'), 'Alice Smith');
    assert.equal(v.getChild('N')?.getChildText('GIVEN'), 'Alice');
    assert.equal(v.getChild('N')?.getChildText('FAMILY'), 'Smith');
    assert.equal(v.getChildText('TITLE'), 'Liaison officer');
    assert.equal(v.getChild('ORG')?.getChildText('ORGNAME'), 'Contoso');
    assert.equal(v.getChild('ORG')?.getChildText('ORGUNIT'), 'J5 Plans');
    assert.equal(v.getChild('ADR')?.getChildText('EXTADD'), 'Building 2, room 114');
    assert.equal(v.getChild('EMAIL')?.getChildText('USERID'), 'alice.smith@contoso.example');
    const tels = v.getChildren('TEL');
    assert.deepEqual(tels.map((t) => [t.getChild('CELL') ? 'cell' : 'work', t.getChildText('NUMBER')]), [['work', '+44 20 7946 0000'], ['cell', '+44 7700 900000']]);
    assert.equal(v.getChild('PHOTO')?.getChildText('BINVAL'), photo.bytes.toString('base64'));
    assert.equal(v.getChildText('JABBERID'), 'alice.smith@teams.xmpp.example');
  });
  it('leaves out the fields the tenant hides, and empty ones', () => {
    const v = profileToVcardTemp({ ...profile, jobTitle: null }, 'a@t', new Set<CardField>(['name', 'email', 'title']), photo);
    assert.equal(v.getChildren('TEL').length, 0);
    assert.equal(v.getChild('PHOTO'), undefined);
    assert.equal(v.getChild('TITLE'), undefined);
    assert.equal(v.getChildText('FN'), 'Alice Smith');
  });
  it('hashes the avatar as XEP-0153 says (hex SHA-1 of the bytes)', async () => {
    const { createHash } = await import('node:crypto');
    assert.equal(avatarHash(photo), createHash('sha1').update(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])).digest('hex'));
    assert.match(avatarHash(photo), /^[0-9a-f]{40}$/u);
    assert.equal(avatarHash(undefined), '');
    assert.equal(avatarUpdate('abc').getChildText('photo'), 'abc');
    assert.equal(avatarUpdate('').getChild('photo')?.getText(), '');
    assert.equal(avatarUpdate(undefined).getChild('photo'), undefined);
  });
});

describe('Graph profile -> vCard4 (XEP-0292)', () => {
  it('maps the same fields in RFC 6351 XML', () => {
    const v = profileToVcard4(profile, 'alice.smith@teams.xmpp.example', all, photo);
    assert.equal(v.attrs.xmlns, 'urn:ietf:params:xml:ns:vcard-4.0');
    assert.equal(v.getChild('fn')?.getChildText('text'), 'Alice Smith');
    assert.equal(v.getChild('n')?.getChildText('given'), 'Alice');
    assert.equal(v.getChild('impp')?.getChildText('uri'), 'xmpp:alice.smith@teams.xmpp.example');
    assert.deepEqual(v.getChild('org')?.getChildren('text').map((t) => t.text()), ['Contoso', 'J5 Plans']);
    assert.deepEqual(v.getChildren('tel').map((t) => [t.getChild('parameters')?.getChild('type')?.getChildText('text'), t.getChildText('uri')]), [['work', 'tel:+442079460000'], ['cell', 'tel:+447700900000']]);
    assert.equal(v.getChild('photo')?.getChildText('uri'), `data:image/jpeg;base64,${photo.bytes.toString('base64')}`);
    assert.equal(profileToVcard4(profile, 'a@t', new Set<CardField>(['name']), photo).getChildren('tel').length, 0);
  });
});

describe('vcard-temp -> Graph profile of the XMPP user account', () => {
  it('reads name, title, organisation and photo', () => {
    const v = xml(
      'vCard',
      { xmlns: 'vcard-temp' },
      xml('FN', {}, 'Juliet Capulet'),
      xml('N', {}, xml('FAMILY', {}, 'Capulet'), xml('GIVEN', {}, 'Juliet')),
      xml('TITLE', {}, 'Envoy'),
      xml('ORG', {}, xml('ORGNAME', {}, 'Verona'), xml('ORGUNIT', {}, 'Embassy')),
      xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, 'iVBO\nRw0K')),
    );
    const { profile: p, photo: ph } = vcardTempToProfile(v);
    assert.deepEqual(p, { displayName: 'Juliet Capulet', givenName: 'Juliet', surname: 'Capulet', jobTitle: 'Envoy', companyName: 'Verona', department: 'Embassy' });
    assert.equal(ph?.type, 'image/png');
    assert.deepEqual(ph?.bytes, Buffer.from('iVBORw0K', 'base64'));
    assert.deepEqual(vcardTempToProfile(undefined), { profile: {}, photo: undefined });
  });
});
