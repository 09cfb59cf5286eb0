/**
 * Issue 17: the whitelist and the rate limits hold on the SfB side as on the Teams side. One federation: Carol is
 * whitelisted by SIP address, Dan is not; each pair may send 1 message/s with a burst of 2.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml, { type Element } from '@xmpp/xml';
import { COMPONENT, Federation } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';
import type { SfbEmulator } from '../emulators/sfb/index.js';

const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const condition = (el: Element) => el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;

describe('SfB: whitelist and rate limits', { timeout: 120_000 }, () => {
  let f: Federation;
  let emu: SfbEmulator;
  let juliet: TestXmppClient;

  before(async () => {
    f = await Federation.start({
      sfb: {},
      policy: { domains: ['xmpp.example'], users: ['alice.smith@contoso.example', 'carol@contoso.example'], reloadSeconds: 1 },
      throttle: { pair: { messagesPerSecond: 1, messageBurst: 2 } },
    });
    emu = f.sfb as SfbEmulator;
    juliet = await f.client('juliet');
    await juliet.sendPresence();
  });
  after(async () => f?.stop());

  it('an SfB user outside the whitelist does not exist for XMPP, and cannot write to XMPP', async () => {
    const err = juliet.waitFor((el) => el.attrs.type === 'error' && el.attrs.id === 'p1', 10_000, 'refusal');
    await juliet.send(xml('message', { to: `dan@${COMPONENT}`, type: 'chat', id: 'p1' }, xml('body', {}, 'hi Dan')));
    assert.equal(condition(await err), 'item-not-found');
    const sub = juliet.waitFor((el) => el.name === 'presence' && el.attrs.type === 'error', 10_000, 'subscribe refused');
    await juliet.sendPresence({ to: `dan@${COMPONENT}`, type: 'subscribe' });
    assert.equal(condition(await sub), 'item-not-found');
    const r = (await (await fetch(`${emu.controlUrl}/_emulator/users/dan/messages`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example', text: 'from Dan' }) })).json()) as { status: number };
    assert.equal(r.status, 403);
    assert.equal(emu.user('dan').inbox.some((m) => m.text === 'hi Dan'), false);
  });

  it('XMPP -> SfB over the pair limit gets <resource-constraint/>; the messages within it are delivered', async () => {
    const ids = ['t1', 't2', 't3', 't4', 't5'];
    const errors: Element[] = [];
    const gotErrors = Promise.all(ids.slice(2).map((id) => juliet.waitFor((el) => el.attrs.type === 'error' && el.attrs.id === id, 10_000, `limit ${id}`).then((e) => errors.push(e)).catch(() => undefined)));
    for (const id of ids) await juliet.send(xml('message', { to: `carol@${COMPONENT}`, type: 'chat', id }, xml('body', {}, `flood ${id}`)));
    await gotErrors;
    assert.ok(errors.length >= 1, 'at least one message over the limit was refused');
    for (const e of errors) {
      assert.equal(condition(e), 'resource-constraint');
      assert.equal(e.getChild('error')?.attrs.type, 'wait');
    }
    const delivered = () => emu.user('carol').inbox.filter((m) => m.text?.startsWith('flood ')).length;
    const deadline = Date.now() + 10_000;
    while (delivered() < ids.length - errors.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(delivered(), ids.length - errors.length, 'every accepted message arrived, once');
  });
});
