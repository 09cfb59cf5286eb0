import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SfbDirectory, jidOfSip, sipOfJid } from '../../../src/sfb/sfb-directory.js';

describe('where an internal user is homed, and SfB users as JIDs', () => {
  const d = new SfbDirectory({ domains: ['legacy.example'], users: ['carol@contoso.example'], defaultDomain: 'contoso.example', componentDomain: 'gw.xmpp.example' });
  const table: [string, string | undefined][] = [
    ['carol', 'sip:carol@contoso.example'], // homed on SfB by name, in the shared default domain
    ['alice.smith', undefined], // same domain, not listed: Teams
    ['dan\\40legacy.example', 'sip:dan@legacy.example'], // a whole domain on SfB
    ['dave\\40fabrikam.example', undefined],
    ['Carol', 'sip:carol@contoso.example'],
    ['x\\22y', undefined], // a quote cannot be in a SIP address
    [`${'a'.repeat(130)}`, undefined], // too long for the store's keys
    ['x\\2fy\\40legacy.example', undefined], // '/' separates a tenant from an actor key (RFC 3261 allows it; SfB does not issue it)
    ['x|y\\40legacy.example', undefined], // '|' separates the two addresses of a pair key
  ];
  for (const [local, home] of table) it(`${local} -> ${home ?? 'Teams'}`, async () => assert.equal(await d.homeOf(local), home));
  it('one address per user, both ways', async () => {
    assert.equal(d.jidOf('sip:carol@contoso.example'), 'carol@gw.xmpp.example');
    assert.equal(d.jidOf('sip:dan@legacy.example'), 'dan\\40legacy.example@gw.xmpp.example');
    for (const aor of ['sip:carol@contoso.example', 'sip:dan@legacy.example']) assert.equal(await d.homeOf(d.jidOf(aor).split('@')[0] as string), aor);
    assert.equal(d.acceptsFrom('sip:Dan@Legacy.example'), true);
    assert.equal(d.acceptsFrom('sip:alice.smith@contoso.example'), false);
    assert.equal(d.acceptsFrom('sip:x/y@legacy.example'), false, 'no actor key can be forged from a SIP From');
    assert.equal(d.isSfbAddress('sip:alice.smith@contoso.example'), false);
    assert.equal(jidOfSip(sipOfJid('juliet@xmpp.example')), 'juliet@xmpp.example');
  });
});
