import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JidError, escapeLocalpart, parseJid, unescapeLocalpart } from '../../src/protocol/jid.js';
import { localpartToUpn, upnToLocalpart } from '../../src/protocol/teams-address.js';

// XEP-0106 §5.1 "JID Examples" (version 1.1.1), user input -> escaped localpart.
const XEP_0106_EXAMPLES: [number, string, string][] = [
  [1, 'space cadet', 'space\\20cadet'],
  [2, 'call me "ishmael"', 'call\\20me\\20\\22ishmael\\22'],
  [3, 'at&t guy', 'at\\26t\\20guy'],
  [4, "d'artagnan", 'd\\27artagnan'],
  [5, '/.fanboy', '\\2f.fanboy'],
  [6, '::foo::', '\\3a\\3afoo\\3a\\3a'],
  [7, '<foo>', '\\3cfoo\\3e'],
  [8, 'user@host', 'user\\40host'],
  [9, 'c:\\net', 'c\\3a\\5cnet'],
  [10, 'c:\\\\net', 'c\\3a\\5c\\5cnet'],
  [11, 'c:\\cool stuff', 'c\\3a\\5ccool\\20stuff'],
  [12, 'c:\\5commas', 'c\\3a\\5c5commas'],
];

describe('XEP-0106 JID escaping', () => {
  for (const [n, raw, escaped] of XEP_0106_EXAMPLES) {
    it(`example #${n}: ${raw}`, () => {
      assert.equal(escapeLocalpart(raw), escaped);
      assert.equal(unescapeLocalpart(escaped), raw);
      // The escaped form is a valid localpart.
      assert.equal(parseJid(`${escaped}@example.com`).local, escaped);
    });
  }
  it('leaves partial and unknown sequences alone (§4.3)', () => {
    assert.equal(unescapeLocalpart('\\2plus\\2is\\4'), '\\2plus\\2is\\4');
    assert.equal(unescapeLocalpart('foo\\bar'), 'foo\\bar');
    assert.equal(unescapeLocalpart('foob\\41r'), 'foob\\41r');
  });
  it('treats only lower-case sequences as escapes (§3.1)', () => {
    assert.equal(unescapeLocalpart('a\\2Fb'), 'a\\2Fb');
  });
  it('refuses leading or trailing spaces (§4.1)', () => {
    assert.throws(() => escapeLocalpart(' x'), JidError);
    assert.throws(() => escapeLocalpart('x '), JidError);
  });
});

describe('JID parsing (RFC 7622)', () => {
  it('normalises localpart and domain, keeps the resource', () => {
    assert.deepEqual(parseJid('Juliet@Example.COM/Balcony'), { local: 'juliet', domain: 'example.com', resource: 'Balcony' });
  });
  const good: [string, { local: string; domain: string; resource: string }][] = [
    ['Example.COM', { local: '', domain: 'example.com', resource: '' }],
    ['juliet@example.com.', { local: 'juliet', domain: 'example.com', resource: '' }],
    // NFC (RFC 7622 §3.3.2): a decomposed ë is composed; non-ASCII capitals are lower-cased.
    ['Zoe\u0308@Example.com/Phone', { local: 'zo\u00eb', domain: 'example.com', resource: 'Phone' }],
    ['\u00c9LISE@b\u00dcCHER.example', { local: '\u00e9lise', domain: 'b\u00fccher.example', resource: '' }],
    [`${'a'.repeat(1023)}@x`, { local: 'a'.repeat(1023), domain: 'x', resource: '' }],
    [`${'\u00eb'.repeat(511)}@x/${'r'.repeat(1023)}`, { local: '\u00eb'.repeat(511), domain: 'x', resource: 'r'.repeat(1023) }],
  ];
  for (const [input, jid] of good) it(`parses ${JSON.stringify(input.slice(0, 30))}`, () => assert.deepEqual(parseJid(input), jid));
  const bad = [
    '@example.com',
    'a@',
    'juliet@example.com/',
    "o'brien@example.com",
    'a b@example.com',
    'x@exa mple.com',
    'juliet@.',
    `${'a'.repeat(1024)}@x`,
    // 512 two-byte characters: 1,024 bytes of UTF-8 (RFC 7622 §3.1 counts bytes).
    `${'\u00eb'.repeat(512)}@x`,
    `x@${'d'.repeat(1024)}`,
    `x@y/${'\u00eb'.repeat(512)}`,
  ];
  for (const input of bad) it(`rejects ${JSON.stringify(input.slice(0, 30))}`, () => assert.throws(() => parseJid(input), JidError));
});

describe('Teams user addresses', () => {
  const book = { defaultUpnDomain: 'contoso.com' };
  const table: [string, string][] = [
    ['alice.smith@contoso.com', 'alice.smith'],
    ['Alice.Smith@Contoso.com', 'alice.smith'],
    ["sean.o'brien@contoso.com", 'sean.o\\27brien'],
    ['dave@fabrikam.com', 'dave\\40fabrikam.com'],
    ['zoë@contoso.com', 'zoë'],
  ];
  for (const [upn, local] of table) {
    it(`${upn} <-> ${local}`, () => {
      assert.equal(upnToLocalpart(upn, book), local);
      assert.equal(localpartToUpn(local, book), upn.toLowerCase());
    });
  }
  it('needs a domain when there is no default', () => {
    assert.equal(localpartToUpn('alice', { defaultUpnDomain: undefined }), undefined);
    assert.equal(upnToLocalpart('alice@contoso.com', { defaultUpnDomain: undefined }), 'alice\\40contoso.com');
  });
  it('names no user for an empty or domain-less escaped address', () => {
    assert.equal(localpartToUpn('\\40contoso.com', book), undefined);
    assert.equal(localpartToUpn('alice\\40', book), undefined);
  });
});
