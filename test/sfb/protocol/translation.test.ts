import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { readFileSync } from 'node:fs';
import { sfbPresenceTablesMarkdown, sfbToXmpp, xmppToSfb } from '../../../src/sfb/protocol/presence.js';
import { readCategories, writeCategories } from '../../../src/sfb/protocol/categories.js';
import { sfbCardToVcard, vcardToSfbCard } from '../../../src/sfb/protocol/card.js';
import { chatStateToTyping, firstMessageOf, imBodyToText, isComposingBody, msTextFormatHeader, readTyping, sdpOffersIm, UnsupportedBodyError } from '../../../src/sfb/protocol/im.js';
import { sipToStanzaError, stanzaConditionToSip } from '../../../src/sfb/protocol/errors.js';
import { parseXml } from '../../../src/sfb/protocol/xml.js';

describe('SfB availability -> XMPP presence', () => {
  const table: [number, string | undefined, string | undefined, boolean, string | undefined, string][] = [
    [3500, undefined, undefined, true, undefined, 'Available'],
    [3000, 'available', undefined, true, undefined, 'Available'],
    [4499, undefined, undefined, true, undefined, 'Available'],
    [4500, undefined, undefined, true, 'away', 'Available - Idle'],
    [6500, 'in-a-meeting', 'back at 3', true, 'dnd', 'In a meeting: back at 3'],
    [7500, undefined, undefined, true, 'dnd', 'Busy - Idle'],
    [9500, 'urgent-interruptions-only', undefined, true, 'dnd', 'Urgent interruptions only'],
    [12500, undefined, undefined, true, 'away', 'Be Right Back'],
    [15500, 'out-of-office', 'on leave', true, 'xa', 'Out of office: on leave'],
    [17999, 'away', undefined, true, 'away', 'Away'],
    [18000, undefined, undefined, false, undefined, 'Offline'],
    [18500, 'offline', 'gone home', false, undefined, 'Offline: gone home'],
    [0, undefined, undefined, false, undefined, 'None'],
    [6000, 'Writing the report', undefined, true, 'dnd', 'Writing the report'],
  ];
  for (const [availability, activity, note, available, show, status] of table) {
    it(`${availability}${activity ? `/${activity}` : ''} -> ${available ? (show ?? 'available') : 'unavailable'} "${status}"`, () => {
      assert.deepEqual(sfbToXmpp({ availability, activity, note }), available ? { available, show, status } : { available, status });
    });
  }
});

describe('XMPP presence -> SfB state', () => {
  const table: [boolean, string | undefined, number, string | undefined][] = [
    [true, undefined, 3500, 'available'],
    [true, 'chat', 3500, 'available'],
    [true, 'away', 15500, 'away'],
    [true, 'xa', 15500, 'off-work'],
    [true, 'dnd', 9500, 'do-not-disturb'],
    [false, undefined, 18500, undefined],
  ];
  for (const [available, show, availability, activity] of table) {
    it(`${available ? (show ?? 'available') : 'unavailable'} -> ${availability}`, () => {
      const s = xmppToSfb({ available, show: show as never, status: ' lunch ' });
      assert.deepEqual(s, { availability, activity, note: 'lunch' });
      // Round trip: the SfB watcher and an XMPP watcher of the same state agree on the show.
      const back = sfbToXmpp(s);
      assert.equal(back.available, available);
      if (available) assert.equal(back.show ?? 'chat', show === undefined ? 'chat' : show);
    });
  }
  it('the README shows the tables the code uses', () => {
    const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('<!-- sfb-presence-table:start -->');
    const end = readme.indexOf('<!-- sfb-presence-table:end -->');
    assert.ok(start > 0 && end > start, 'README has the SfB presence table markers');
    assert.equal(readme.slice(start + '<!-- sfb-presence-table:start -->'.length, end).trim(), sfbPresenceTablesMarkdown().trim());
  });
});

describe('categories documents ([MS-PRES] §2.2)', () => {
  const NOTIFY = `<?xml version="1.0" encoding="utf-8"?>
<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="sip:alice@contoso.example">
 <category name="state" instance="952347119" publishTime="2026-01-01T10:00:00Z" container="100" version="4" expireType="user">
  <state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="false" xsi:type="aggregateState">
   <availability>6500</availability><activity token="in-a-meeting"/>
  </state>
 </category>
 <category name="note" instance="0" container="100" version="2"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">Back at 3</body></note></category>
 <category name="contactCard" instance="0" container="100" version="1"><contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard">
  <identity><name><displayName>Alice Smith</displayName></name><email>alice@contoso.example</email></identity>
  <company>Contoso</company><title>Engineer</title><office>B1/204</office></contactCard></category>
</categories>`;
  it('reads state, note and card', () => {
    const d = readCategories(NOTIFY);
    assert.deepEqual(d.state, { availability: 6500, activity: 'in-a-meeting', note: 'Back at 3' });
    assert.deepEqual(d.card, { displayName: 'Alice Smith', email: 'alice@contoso.example', company: 'Contoso', title: 'Engineer', office: 'B1/204' });
    assert.equal(sfbToXmpp(d.state ?? { availability: 0 }).status, 'In a meeting: Back at 3');
  });
  it('writes what it reads (External container, no phones)', () => {
    const text = writeCategories({ uri: 'sip:juliet@xmpp.example', state: { availability: 9500, activity: 'do-not-disturb', note: 'focus' }, card: { displayName: 'Juliet', title: 'Poet' }, at: '2026-01-01T00:00:00Z', version: 3 });
    assert.match(text, /container="100"/u);
    const d = readCategories(text);
    assert.deepEqual(d.state, { availability: 9500, activity: 'do-not-disturb', note: 'focus' });
    assert.deepEqual(d.card, { displayName: 'Juliet', title: 'Poet' });
  });
  it('refuses a DTD and malformed XML', () => {
    assert.throws(() => parseXml('<!DOCTYPE x [<!ENTITY a "b">]><categories/>'));
    assert.throws(() => readCategories('<categories><category>'));
  });
});

describe('contact cards', () => {
  it('contactCard -> vcard-temp carries name, title, email, company and office only', () => {
    const v = sfbCardToVcard({ displayName: 'Alice Smith', title: 'Engineer', email: 'alice@contoso.example', company: 'Contoso', office: 'B1' }, 'alice@sfb.xmpp.example', false, undefined);
    assert.equal(v.getChildText('FN'), 'Alice Smith');
    assert.equal(v.getChildText('TITLE'), 'Engineer');
    assert.equal(v.getChild('ORG')?.getChildText('ORGNAME'), 'Contoso');
    assert.equal(v.getChild('EMAIL')?.getChildText('USERID'), 'alice@contoso.example');
    assert.equal(v.getChild('ADR')?.getChildText('EXTADD'), 'B1');
    assert.equal(v.getChildren('TEL').length, 0);
  });
  it('vcard-temp -> contactCard drops phones', () => {
    const v = xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Juliet Capulet'), xml('TITLE', {}, 'Poet'), xml('ORG', {}, xml('ORGNAME', {}, 'Verona')), xml('EMAIL', {}, xml('USERID', {}, 'j@xmpp.example')), xml('TEL', {}, xml('NUMBER', {}, '+1')), xml('ADR', {}, xml('WORK'), xml('EXTADD', {}, 'Balcony')));
    assert.deepEqual(vcardToSfbCard(v), { displayName: 'Juliet Capulet', title: 'Poet', company: 'Verona', email: 'j@xmpp.example', office: 'Balcony' });
  });
});

describe('IM bodies and typing', () => {
  const table: [string, string, string][] = [
    ['text/plain; charset=UTF-8', 'Grüße\r\nzwei', 'Grüße\nzwei'],
    ['text/html; charset=UTF-8', '<div><b>Hi</b> &amp; <a href="https://x.example">link</a></div><script>x</script>', 'Hi & link (https://x.example)'],
    [
      'multipart/alternative; boundary="b1"',
      '--b1\r\nContent-Type: text/html\r\n\r\n<p>rich</p>\r\n--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nplain one\r\n--b1--\r\n',
      'plain one',
    ],
    ['multipart/alternative;boundary=b2', '--b2\r\nContent-Type: text/html\r\n\r\n<p>only html</p>\r\n--b2--\r\n', 'only html'],
  ];
  for (const [type, body, text] of table) {
    it(`${type.split(';')[0]} -> "${text}"`, () => assert.equal(imBodyToText(type, Buffer.from(body, 'utf8')).trim(), text));
  }
  it('refuses what is not text (415)', () => {
    assert.throws(() => imBodyToText('text/rtf', Buffer.from('{\\rtf1}')), UnsupportedBodyError);
    assert.throws(() => imBodyToText('multipart/alternative; boundary=z', Buffer.from('--z\r\nContent-Type: image/png\r\n\r\nx\r\n--z--')), UnsupportedBodyError);
  });
  it('the first message rides in ms-text-format and comes back out', () => {
    assert.equal(firstMessageOf(msTextFormatHeader('hello 👋')), 'hello 👋');
    assert.equal(firstMessageOf('text/plain; charset=UTF-8;ms-body='), undefined);
    assert.equal(firstMessageOf(undefined), undefined);
  });
  it('reads both typing forms and maps XEP-0085 states', () => {
    assert.equal(readTyping('application/im-iscomposing+xml', Buffer.from(isComposingBody('composing'))), 'composing');
    assert.equal(readTyping('application/im-iscomposing+xml', Buffer.from(isComposingBody('idle'))), 'idle');
    assert.equal(readTyping('application/xml', Buffer.from('<?xml version="1.0"?><KeyboardActivity><status status="type"/></KeyboardActivity>')), 'composing');
    assert.equal(readTyping('application/xml', Buffer.from('<KeyboardActivity><status status="idle"/></KeyboardActivity>')), 'idle');
    assert.equal(readTyping('text/plain', Buffer.from('hi')), undefined);
    assert.deepEqual(['composing', 'paused', 'active', 'gone', undefined].map(chatStateToTyping), ['composing', 'idle', 'idle', 'idle', undefined]);
  });
  it('tells an IM offer from audio/video', () => {
    assert.deepEqual(sdpOffersIm('v=0\r\nm=message 5060 sip null\r\n'), { im: true, otherMedia: false });
    assert.deepEqual(sdpOffersIm('v=0\r\nm=audio 5004 RTP/AVP 0\r\n'), { im: false, otherMedia: true });
  });
});

describe('failure codes <-> stanza errors', () => {
  const table: [number, string | undefined, string, string][] = [
    [404, undefined, 'item-not-found', 'cancel'],
    [480, undefined, 'recipient-unavailable', 'wait'],
    [486, undefined, 'recipient-unavailable', 'wait'],
    [415, undefined, 'not-acceptable', 'modify'],
    [603, undefined, 'service-unavailable', 'cancel'],
    [606, '399 lcs.microsoft.com "Federation policy forbids"', 'policy-violation', 'modify'],
    [606, undefined, 'not-acceptable', 'modify'],
    [500, undefined, 'remote-server-timeout', 'wait'],
    [503, undefined, 'service-unavailable', 'wait'],
    [408, undefined, 'remote-server-timeout', 'wait'],
  ];
  for (const [status, warning, condition, type] of table) {
    it(`${status}${warning ? ' (policy warning)' : ''} -> ${condition}/${type}`, () => {
      const e = sipToStanzaError({ status, warning });
      assert.equal(e.condition, condition);
      assert.equal(e.type, type);
    });
  }
  it('XMPP bounces -> SIP', () => {
    assert.deepEqual(['item-not-found', 'policy-violation', 'service-unavailable', 'forbidden', undefined].map(stanzaConditionToSip), [404, 606, 480, 403, 500]);
  });
});
