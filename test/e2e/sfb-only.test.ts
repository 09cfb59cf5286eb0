/**
 * Issue 17: a deployment with Skype for Business Server and no Microsoft 365 tenant (an isolated network): the
 * configuration has `sfb` and no `teams`. Real Prosody and XMPP clients, the SfB emulator's pool, one gateway node.
 * The Graph emulator still runs (the shared fixture starts it) only to show that the gateway never calls it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml, { type Element } from '@xmpp/xml';
import { COMPONENT, Federation, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';
import type { SfbEmulator } from '../emulators/sfb/index.js';

const CAROL = `carol@${COMPONENT}`;
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NS_RECEIPTS = 'urn:xmpp:receipts';
const condition = (el: Element) => el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;
const from = (jid: string) => (el: Element) => el.attrs.from?.split('/')[0] === jid;

describe('SfB Server only: no Microsoft 365 tenant', { timeout: 120_000 }, () => {
  let f: Federation;
  let emu: SfbEmulator;
  let juliet: TestXmppClient;

  before(async () => {
    f = await Federation.start({
      sfb: {},
      // A licence names a tenant without Microsoft 365 by its SIP domain (docs/licensing.md).
      licenceTenants: ['contoso.example'],
      policy: { domains: ['xmpp.example'], users: ['carol@contoso.example', 'dan@contoso.example'], reloadSeconds: 1 },
      transform: (c) => {
        delete c.teams;
      },
    });
    emu = f.sfb as SfbEmulator;
    juliet = await f.client('juliet');
    await juliet.requestRoster(); // RFC 6121 §3.1.6: subscription answers go to interested resources
    await juliet.sendPresence();
  });
  after(async () => {
    if (f) process.stdout.write(f.gateway.errorReport('gateway'));
    await f?.stop();
  });

  it('starts and is ready without Graph: no webhook, no token, no call to Microsoft', async () => {
    const health = await f.gateway.health();
    assert.equal(health.status, 200, JSON.stringify(health.body));
    assert.deepEqual(f.emulator.requests(), [], 'not one request reached Graph');
    assert.ok(f.gateway.lines.some((l) => l.message === 'gateway node started'), 'the node started');
    assert.ok(!f.gateway.lines.some((l) => /EVALUATION MODE/u.test(String(l.message))), 'licensed: the licence covers the SIP domain');
  });

  it('chat both ways with receipts, and presence both ways', async () => {
    const receipt = juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === 'o1', 15_000, 'receipt o1');
    await juliet.send(xml('message', { to: CAROL, type: 'chat', id: 'o1' }, xml('body', {}, 'Hello Carol, no cloud here'), xml('request', { xmlns: NS_RECEIPTS })));
    await receipt;
    assert.ok(emu.user('carol').inbox.some((m) => m.kind === 'message' && m.text === 'Hello Carol, no cloud here'));
    const answer = await fetch(`${emu.controlUrl}/_emulator/users/carol/messages`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example', text: 'Hi Juliet' }) });
    assert.equal(((await answer.json()) as { status: number }).status, 200);
    await juliet.waitFor((el) => from(CAROL)(el) && el.getChildText('body') === 'Hi Juliet', 10_000, "Carol's answer");
    await juliet.sendPresence({ to: CAROL, type: 'subscribe' });
    await juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.attrs.type === 'subscribed', 10_000, 'subscribed');
    await juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.attrs.type === undefined, 10_000, 'her presence');
    assert.deepEqual(f.emulator.requests(), [], 'still no request to Graph');
  });

  it('a Teams address does not exist here: item-not-found, without a directory lookup', async () => {
    const err = juliet.waitFor((el) => el.attrs.type === 'error' && el.attrs.id === 'nt1', 10_000, 'refusal');
    await juliet.send(xml('message', { to: `alice.smith@${COMPONENT}`, type: 'chat', id: 'nt1' }, xml('body', {}, 'anyone on Teams?')));
    assert.equal(condition(await err), 'item-not-found');
    const probe = await eventually(() => f.gateway.lines.find((l) => l.message === 'stanza refused' || l.message === 'stanza handling failed'), 5_000, 'a line about it').catch(() => undefined);
    assert.notEqual(probe?.message, 'stanza handling failed', 'a refusal, not a failure');
    assert.deepEqual(f.emulator.requests(), []);
  });
});
