/** Batched presence subscriptions ([MS-SIP] §3.3.4.1, §4.3): reading the batch, writing the RLMI answer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchAnswer, isBatchSubscribe, MAX_BATCH_RESOURCES, readBatchResources } from '../../../src/sfb/protocol/batch.js';
import { child, children, parseXml } from '../../../src/sfb/protocol/xml.js';
import type { SipRequest } from '../../../src/sfb/sip/message.js';

/** What a subscriber reads of an RLMI answer (RFC 4662 §5.2): each resource and its instance state. */
function readRlmi(multipart: string): { uri: string; state: string; reason: string | undefined }[] {
  const list = parseXml(multipart.slice(multipart.indexOf('<list'), multipart.indexOf('</list>') + '</list>'.length));
  return children(list, 'resource').map((r) => {
    const inst = child(r, 'instance');
    return { uri: String(r.attrs.uri ?? ''), state: String(inst?.attrs.state ?? ''), reason: inst?.attrs.reason as string | undefined };
  });
}

const subscribe = (require: string[]): SipRequest => ({ kind: 'request', method: 'SUBSCRIBE', uri: 'sip:carol@contoso.example', headers: require.map((value) => ({ name: 'Require', value })), body: Buffer.alloc(0) });

describe('batch SUBSCRIBE', () => {
  const table: [string, string[], boolean][] = [
    ['Require: adhoclist', ['adhoclist'], true],
    ['Require: adhoclist, categoryList', ['adhoclist, categoryList'], true],
    ['Require in two header fields, any case', ['categoryList', 'AdHocList'], true],
    ['no Require', [], false],
    ['another option tag', ['eventlist'], false],
  ];
  for (const [what, req, batch] of table) it(`${what} -> ${batch ? 'a batch' : 'a single subscription'}`, () => assert.equal(isBatchSubscribe(subscribe(req)), batch));

  const bodies: [string, string, string[]][] = [
    [
      'batchSub (application/msrtc-adrl-categorylist+xml)',
      '<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="sip:carol@contoso.example" name=""><action name="subscribe" id="1"><adhocList><resource uri="sip:juliet@xmpp.example"/><resource uri="sip:dan@contoso.example"/></adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist"><category name="state"/></categoryList></action></batchSub>',
      ['sip:juliet@xmpp.example', 'sip:dan@contoso.example'],
    ],
    [
      'adhoclist (application/adrl+xml, [MS-SIP] §4.3)',
      '<?xml version="1.0"?><adhoclist xmlns="urn:ietf:params:xml:ns:adrl" uri="sip:user1@contoso.example" name="sip:user1@contoso.example"><create xmlns=""><resource uri="sip:user2@contoso.example"></resource><resource uri="sip:user3@contoso.example"/></create></adhoclist>',
      ['sip:user2@contoso.example', 'sip:user3@contoso.example'],
    ],
    ['a resource named twice, and one without a uri', '<batchSub><action><adhocList><resource uri="sip:a@x.example"/><resource/><resource uri="sip:a@x.example"/></adhocList></action></batchSub>', ['sip:a@x.example']],
  ];
  for (const [what, body, uris] of bodies) it(`reads ${what}`, () => assert.deepEqual(readBatchResources(body), uris));

  it(`reads at most ${MAX_BATCH_RESOURCES} resources`, () => {
    const many = Array.from({ length: MAX_BATCH_RESOURCES + 5 }, (_, i) => `<resource uri="sip:u${i}@x.example"/>`).join('');
    assert.equal(readBatchResources(`<batchSub><action><adhocList>${many}</adhocList></action></batchSub>`).length, MAX_BATCH_RESOURCES);
  });
  it('refuses what is not a batch, and malformed XML', () => {
    assert.throws(() => readBatchResources('<categories/>'), /not a batch subscription/u);
    assert.throws(() => readBatchResources('<batchSub><action>'), /XML/u);
  });

  it('answers RLMI in multipart/related, the root part named by start, every resource terminated with its reason', () => {
    const { contentType, body } = batchAnswer('sip:carol@contoso.example', [
      { uri: 'sip:juliet@xmpp.example', reason: 'deactivated' },
      { uri: 'sip:eve@evil.example', reason: 'rejected' },
      { uri: 'sip:a"<b@x.example', reason: 'noresource' },
    ]);
    const boundary = /boundary="([^"]+)"/u.exec(contentType)?.[1];
    const start = /start="([^"]+)"/u.exec(contentType)?.[1];
    assert.match(contentType, /^multipart\/related; type="application\/rlmi\+xml"/u);
    assert.ok(boundary && body.startsWith(`--${boundary}\r\n`) && body.endsWith(`--${boundary}--\r\n`));
    assert.ok(start && body.includes(`Content-ID: ${start}\r\n`));
    assert.deepEqual(readRlmi(body), [
      { uri: 'sip:juliet@xmpp.example', state: 'terminated', reason: 'deactivated' },
      { uri: 'sip:eve@evil.example', state: 'terminated', reason: 'rejected' },
      { uri: 'sip:a"<b@x.example', state: 'terminated', reason: 'noresource' },
    ]);
  });
});
