/**
 * Issue 17 end to end: real Prosody and real XMPP clients on one side, the SfB emulator's Front End pool on the
 * other, one gateway node (its CLI, a real config file) as the pool's trusted application, beside Teams. One
 * federation for the whole file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import xml, { type Element } from '@xmpp/xml';
import { testImage } from '../emulators/graph/image.js';
import { COMPONENT, Federation, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';
import type { SfbEmulator } from '../emulators/sfb/index.js';
import { newCallId, newTag } from '../../src/sfb/sip/build.js';
import { header, type SipRequest } from '../../src/sfb/sip/message.js';

const CAROL = `carol@${COMPONENT}`;
const DAN = `dan@${COMPONENT}`;
const ERIN = `erin@${COMPONENT}`;
const NOBODY = `nobody@${COMPONENT}`;
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';
const NS_RECEIPTS = 'urn:xmpp:receipts';

const condition = (el: Element) => el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;
const from = (jid: string) => (el: Element) => el.attrs.from?.split('/')[0] === jid;

async function control(emu: SfbEmulator, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${emu.controlUrl}/_emulator${path}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
  return (await res.json()) as Record<string, unknown>;
}

describe('Skype for Business through the gateway', { timeout: 240_000 }, () => {
  let f: Federation;
  let emu: SfbEmulator;
  let juliet: TestXmppClient;

  before(async () => {
    f = await Federation.start({ sfb: {} });
    emu = f.sfb as SfbEmulator;
    juliet = await f.client('juliet');
    await juliet.requestRoster();
    await juliet.sendPresence();
  });

  after(async () => {
    if (f) process.stdout.write(f.gateway.errorReport('gateway'));
    await f?.stop();
  });

  it('XMPP -> SfB: the first message rides in the INVITE, the next in the session, each confirmed by a receipt', async () => {
    const send = async (id: string, body: string) => {
      const receipt = juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 15_000, `receipt ${id}`);
      await juliet.send(xml('message', { to: CAROL, type: 'chat', id }, xml('body', {}, body), xml('request', { xmlns: NS_RECEIPTS })));
      return receipt;
    };
    await send('x1', 'Hello Carol, from XMPP 👋');
    await send('x2', 'second line\nwith a newline');
    const inbox = emu.user('carol').inbox;
    const texts = inbox.filter((m) => m.kind === 'message').map((m) => m.text);
    assert.deepEqual(texts.slice(-2), ['Hello Carol, from XMPP 👋', 'second line\r\nwith a newline']);
    assert.equal(inbox.find((m) => m.kind === 'message')?.contentType, 'ms-text-format', 'the first message came in the INVITE');
    assert.deepEqual(emu.frontEnd.violations, [], 'Record-Route copied verbatim, FQDN Contact, ACKs sent');
  });

  it('SfB -> XMPP in plain, HTML and multipart forms, with typing in both forms and XMPP typing back', async () => {
    const post = (path: string, body: unknown) => control(emu, 'POST', `/users/dan/${path}`, body);
    assert.equal((await post('messages', { to: 'juliet@xmpp.example', text: 'Hi Juliet, Dan here' })).status, 200);
    await juliet.waitFor((el) => from(DAN)(el) && el.getChildText('body') === 'Hi Juliet, Dan here', 10_000, 'plain message');
    assert.equal((await post('messages', { to: 'juliet@xmpp.example', text: 'in <b>bold</b>', form: 'html' })).status, 200);
    await juliet.waitFor((el) => from(DAN)(el) && el.getChildText('body') === 'in <b>bold</b>', 10_000, 'html message as text');
    assert.equal((await post('messages', { to: 'juliet@xmpp.example', text: 'both forms', form: 'multipart' })).status, 200);
    await juliet.waitFor((el) => from(DAN)(el) && el.getChildText('body') === 'both forms', 10_000, 'multipart message');
    assert.equal((await post('typing', { to: 'juliet@xmpp.example' })).status, 200);
    await juliet.waitFor((el) => from(DAN)(el) && el.getChild('composing', NS_CHATSTATES) !== undefined, 10_000, 'composing (isComposing form)');
    emu.user('dan').devices.forEach((d) => (d.typingForm = 'info'));
    assert.equal((await post('typing', { to: 'juliet@xmpp.example', state: 'idle' })).status, 200);
    await juliet.waitFor((el) => from(DAN)(el) && el.getChild('paused', NS_CHATSTATES) !== undefined, 10_000, 'paused (INFO form)');
    // XEP-0085 from XMPP into the open session.
    await juliet.send(xml('message', { to: DAN, type: 'chat' }, xml('composing', { xmlns: NS_CHATSTATES })));
    await eventually(() => (emu.user('dan').inbox.some((m) => m.kind === 'typing' && m.text === 'composing') ? true : undefined), 10_000, 'typing at Dan');
    // A reply goes into the session Dan opened (no new INVITE).
    await juliet.send(xml('message', { to: DAN, type: 'chat', id: 'r1' }, xml('body', {}, 'Hi Dan')));
    await eventually(() => (emu.user('dan').inbox.some((m) => m.kind === 'message' && m.text === 'Hi Dan' && m.contentType?.startsWith('text/plain')) ? true : undefined), 10_000, 'reply in the session');
  });

  it('presence both ways, and the SfB contact card without phones', async () => {
    // XMPP watches SfB: subscribe, then scripted availability changes.
    await juliet.sendPresence({ to: CAROL, type: 'subscribe' });
    await juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.attrs.type === 'subscribed', 10_000, 'subscribed');
    await juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.attrs.type === undefined && el.getChildText('status') === 'Available', 10_000, 'her presence');
    await control(emu, 'POST', '/users/carol/presence', { script: [{ afterMs: 10, availability: 6500, activity: 'in-a-meeting', note: 'back at 3', noteContainers: [100] }] });
    const busy = await juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.getChildText('show') === 'dnd', 10_000, 'dnd');
    assert.equal(busy.getChildText('status'), 'In a meeting: back at 3');
    await control(emu, 'POST', '/users/carol/presence', { availability: 18500, activity: null, note: null });
    await juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.attrs.type === 'unavailable', 10_000, 'offline');
    // The card: External container fields only.
    const card = await juliet.iq(CAROL, 'get', xml('vCard', { xmlns: 'vcard-temp' }));
    const v = card.getChild('vCard', 'vcard-temp');
    assert.equal(v?.getChildText('FN'), 'Carol Baker');
    assert.equal(v?.getChildText('TITLE'), 'Engineer');
    assert.equal(v?.getChildren('TEL').length, 0);
    // SfB watches XMPP: Carol adds Juliet; the gateway asks Juliet, she approves and goes dnd.
    const ask = juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.attrs.type === 'subscribe', 10_000, 'subscribe from Carol');
    assert.equal((await control(emu, 'POST', '/users/carol/watch', { to: 'juliet@xmpp.example' })).status, 200);
    await ask;
    await juliet.sendPresence({ to: CAROL, type: 'subscribed' });
    await juliet.sendPresence({}, xml('show', {}, 'dnd'), xml('status', {}, 'writing'));
    const seen = await eventually(async () => {
      const w = (await control(emu, 'GET', '/users/carol/watching'))['sip:juliet@xmpp.example'] as { body: string } | undefined;
      return w && /<availability>9500<\/availability>/u.test(w.body) ? w.body : undefined;
    }, 10_000, 'Juliet busy as Carol sees her');
    assert.match(seen, /writing/u);
    assert.match(seen, /container="100"/u);
    // Refresh (in-dialog SUBSCRIBE) and unsubscribe (Expires: 0) are answered by the gateway.
    assert.deepEqual((await control(emu, 'POST', '/users/carol/refresh')).statuses, [200]);
    assert.equal((await control(emu, 'POST', '/users/carol/unwatch', { to: 'juliet@xmpp.example' })).status, 200);
    await juliet.sendPresence();
  });

  it('photos on contact cards both ways: her web picture in her vCard and presence, his vCard photo at an address her client fetches', async () => {
    const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
    // SfB -> XMPP: Carol shows a picture from a web address; Juliet (subscribed to her) sees its hash, then the photo.
    const carolPng = testImage(48, 48, 'image/png', [200, 40, 40]);
    await control(emu, 'PUT', '/users/carol/photo', { type: 'image/png', base64: carolPng.toString('base64') });
    const withAvatar = juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.getChild('x', 'vcard-temp:x:update')?.getChildText('photo') === sha1(carolPng), 15_000, 'her avatar hash (XEP-0153)');
    await control(emu, 'POST', '/users/carol/presence', { availability: 3500 });
    await withAvatar;
    const card = (await juliet.iq(CAROL, 'get', xml('vCard', { xmlns: 'vcard-temp' }))).getChild('vCard', 'vcard-temp');
    assert.equal(card?.getChild('PHOTO')?.getChildText('TYPE'), 'image/png');
    assert.deepEqual(Buffer.from(card?.getChild('PHOTO')?.getChildText('BINVAL') ?? '', 'base64'), carolPng);
    // She removes it: the next presence says "no avatar" (an empty hash).
    const removed = juliet.waitFor((el) => el.name === 'presence' && from(CAROL)(el) && el.getChild('x', 'vcard-temp:x:update')?.getChildText('photo') === '', 15_000, 'no avatar');
    await control(emu, 'PUT', '/users/carol/photo', {});
    await removed;
    // XMPP -> SfB: Juliet's vCard photo; Carol watches her and her client fetches the address in Juliet's card.
    const julietPng = testImage(32, 32, 'image/png', [20, 90, 200]);
    const set = await juliet.iq(juliet.bare, 'set', xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Juliet Capulet'), xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, julietPng.toString('base64')))));
    assert.equal(set.attrs.type, 'result', set.toString());
    assert.equal((await control(emu, 'POST', '/users/carol/watch', { to: 'juliet@xmpp.example' })).status, 200);
    await juliet.sendPresence({}, xml('x', { xmlns: 'vcard-temp:x:update' }, xml('photo', {}, sha1(julietPng))));
    const shown = await eventually(async () => {
      const r = (await control(emu, 'GET', '/users/carol/contact-photo?contact=juliet@xmpp.example')) as { status: number; url?: string; type?: string; base64?: string };
      return r.status === 200 ? r : undefined;
    }, 15_000, "Juliet's photo as Carol's client shows it");
    assert.match(shown.url ?? '', /^https:\/\/sfb-gw\.xmpp\.example:\d+\/sfb\/photos\/juliet%40xmpp\.example\/[0-9a-f]{40}$/u);
    assert.equal(shown.type, 'image/png');
    assert.deepEqual(Buffer.from(shown.base64 ?? '', 'base64'), julietPng);
    const w = (await control(emu, 'GET', '/users/carol/watching'))['sip:juliet@xmpp.example'] as { body: string };
    assert.match(w.body, /<displayName>Juliet Capulet<\/displayName>/u);
    assert.equal((await control(emu, 'POST', '/users/carol/unwatch', { to: 'juliet@xmpp.example' })).status, 200);
    assert.deepEqual(emu.frontEnd.violations, []);
  });

  it('a batch SUBSCRIBE reaching the gateway is answered resource by resource; the XMPP user is then watched singly', async () => {
    // [MS-SIP] §3.3.4.1: clients send batches to their own pool, which is not documented to pass one to a trusted
    // application; this checks that if one arrives anyway (here sent on the Front End's own connection), it is
    // answered as the pool answers a trusted application's batch, not taken for a single subscription.
    const route = emu.frontEnd.routeFor('xmpp.example');
    assert.ok(route);
    const carol = 'sip:carol@contoso.example';
    const req: SipRequest = {
      kind: 'request',
      method: 'SUBSCRIBE',
      uri: carol,
      headers: [
        { name: 'Max-Forwards', value: '69' },
        { name: 'From', value: `<${carol}>;tag=${newTag()};epid=01010101` },
        { name: 'To', value: `<${carol}>` },
        { name: 'Call-ID', value: newCallId() },
        { name: 'CSeq', value: '1 SUBSCRIBE' },
        { name: 'Contact', value: `<${carol};opaque=user:epid:batch;gruu>` },
        { name: 'Event', value: 'presence' },
        { name: 'Accept', value: 'application/msrtc-event-categories+xml, application/rlmi+xml, multipart/related' },
        { name: 'Supported', value: 'ms-benotify, ms-piggyback-first-notify' },
        { name: 'Require', value: 'adhoclist, categoryList' },
        { name: 'Content-Type', value: 'application/msrtc-adrl-categorylist+xml' },
      ],
      body: Buffer.from(
        `<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="${carol}" name=""><action name="subscribe" id="1"><adhocList><resource uri="sip:juliet@xmpp.example"/><resource uri="sip:eve@not-whitelisted.example"/><resource uri="sip:dan@contoso.example"/></adhocList></action></batchSub>`,
      ),
    };
    // Without piggy-back the answer has nowhere to go: the extension is refused (RFC 3261 §8.2.2.3).
    const bare = { ...req, headers: req.headers.filter((h) => h.name !== 'Supported').map((h) => (h.name === 'Call-ID' ? { name: 'Call-ID', value: newCallId() } : h)) };
    const refused = await emu.frontEnd.toApp(bare, { host: route.host, port: route.port });
    assert.equal(refused.status, 420);
    assert.equal(header(refused, 'Unsupported'), 'adhoclist');
    const wrongType = { ...req, headers: req.headers.map((h) => (h.name === 'Content-Type' ? { name: 'Content-Type', value: 'text/plain' } : h.name === 'Call-ID' ? { name: 'Call-ID', value: newCallId() } : h)) };
    const unsupported = await emu.frontEnd.toApp(wrongType, { host: route.host, port: route.port });
    assert.equal(unsupported.status, 415);
    assert.match(header(unsupported, 'Accept') ?? '', /application\/msrtc-adrl-categorylist\+xml, application\/adrl\+xml/u);
    const res = await emu.frontEnd.toApp(req, { host: route.host, port: route.port });
    assert.equal(res.status, 200);
    assert.match(header(res, 'subscription-state') ?? '', /^terminated;reason=deactivated/u);
    assert.match(header(res, 'Content-Type') ?? '', /^multipart\/related; type="application\/rlmi\+xml"/u);
    const states = [...res.body.toString().matchAll(/<resource uri="([^"]+)"><instance id="\d+" state="terminated" reason="(\w+)"\/>/gu)].map((m) => [m[1], m[2]]);
    assert.deepEqual(states, [
      ['sip:juliet@xmpp.example', 'deactivated'],
      ['sip:eve@not-whitelisted.example', 'rejected'],
      ['sip:dan@contoso.example', 'noresource'],
    ]);
    // Subscribe singly, as the answer says: the gateway serves Juliet's presence.
    assert.equal((await control(emu, 'POST', '/users/carol/watch', { to: 'juliet@xmpp.example' })).status, 200);
    assert.equal((await control(emu, 'POST', '/users/carol/unwatch', { to: 'juliet@xmpp.example' })).status, 200);
  });

  const failures: [string, string, () => Promise<void>, string, () => Promise<void>][] = [
    ['a signed-out SfB user', ERIN, async () => undefined, 'recipient-unavailable', async () => undefined],
    ['an SfB user the pool does not know', NOBODY, async () => undefined, 'item-not-found', async () => undefined],
    [
      'a busy SfB user (do not disturb)',
      `carol@${COMPONENT}`,
      async () => {
        await control(emu, 'POST', '/users/carol/drop-sessions');
        await control(emu, 'PATCH', '/users/carol/devices', { answer: 'busy' });
      },
      'recipient-unavailable',
      async () => void (await control(emu, 'PATCH', '/users/carol/devices', { answer: 'auto' })),
    ],
  ];
  for (const [what, to, setup, cond, teardown] of failures) {
    it(`a message to ${what} gets <${cond}/>`, async () => {
      await setup();
      try {
        // A fresh session is needed for the failure to show: end any open one first.
        await control(emu, 'POST', `/users/${to.split('@')[0]}/bye`, { to: 'juliet@xmpp.example' }).catch(() => undefined);
        const id = `fail-${Math.random().toString(36).slice(2)}`;
        const err = juliet.waitFor((el) => el.name === 'message' && el.attrs.type === 'error' && el.attrs.id === id, 15_000, `error for ${what}`);
        await juliet.send(xml('message', { to, type: 'chat', id }, xml('body', {}, 'are you there?')));
        assert.equal(condition(await err), cond);
      } finally {
        await teardown();
      }
    });
  }

  it('a conference invitation is declined, and the XMPP user is told', async () => {
    assert.equal((await control(emu, 'POST', '/users/dan/conference', { to: 'juliet@xmpp.example' })).status, 415);
    await juliet.waitFor((el) => from(DAN)(el) && /group conversation/u.test(el.getChildText('body') ?? ''), 10_000, 'the note about the conference');
  });

  it('a session the pool lost (481) is started again, and a BYE from SfB ends it for XMPP', async () => {
    await juliet.send(xml('message', { to: CAROL, type: 'chat', id: 'd1' }, xml('body', {}, 'before the pool lost it')));
    await eventually(() => (emu.user('carol').inbox.some((m) => m.text === 'before the pool lost it') ? true : undefined), 10_000, 'first');
    assert.ok(((await control(emu, 'POST', '/users/carol/drop-sessions')).dropped as number) >= 1);
    await juliet.send(xml('message', { to: CAROL, type: 'chat', id: 'd2' }, xml('body', {}, 'after the pool lost it')));
    await eventually(() => (emu.user('carol').inbox.some((m) => m.text === 'after the pool lost it') ? true : undefined), 15_000, 'delivered in a new session');
    assert.equal((await control(emu, 'POST', '/users/carol/bye', { to: 'juliet@xmpp.example' })).status, 200);
    await juliet.waitFor((el) => from(CAROL)(el) && el.getChild('gone', NS_CHATSTATES) !== undefined, 10_000, 'gone');
    // SfB starts a new session for the next message.
    assert.equal((await control(emu, 'POST', '/users/carol/messages', { to: 'juliet@xmpp.example', text: 'new session' })).status, 200);
    await juliet.waitFor((el) => from(CAROL)(el) && el.getChildText('body') === 'new session', 10_000, 'message in a new session');
  });

  it('after a Front End failover (ms-diagnostics 1004, route set no longer valid) the message goes in a new session', async () => {
    const receipt = (id: string) => juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 15_000, `receipt ${id}`);
    const first = receipt('fo1');
    await juliet.send(xml('message', { to: CAROL, type: 'chat', id: 'fo1' }, xml('body', {}, 'before the failover'), xml('request', { xmlns: NS_RECEIPTS })));
    await first;
    assert.ok(((await control(emu, 'POST', '/users/carol/fail-over')).invalidated as number) >= 1);
    const errors = juliet.received.length;
    const second = receipt('fo2');
    await juliet.send(xml('message', { to: CAROL, type: 'chat', id: 'fo2' }, xml('body', {}, 'after the failover'), xml('request', { xmlns: NS_RECEIPTS })));
    await second;
    const inbox = emu.user('carol').inbox;
    assert.ok(inbox.some((m) => m.kind === 'session-end' && m.text === 'route set no longer valid'), 'the pool refused the old session with 1004');
    assert.equal(inbox.filter((m) => m.text === 'after the failover').length, 1);
    assert.equal(juliet.received.slice(errors).some((el) => el.attrs.type === 'error'), false);
  });

  it('refuses an XMPP domain outside the whitelist before anything reaches SfB', async () => {
    const mallory = await f.client('mallory');
    const err = mallory.waitFor((el) => el.name === 'message' && el.attrs.type === 'error', 10_000, 'refusal');
    await mallory.send(xml('message', { to: CAROL, type: 'chat', id: 'm1' }, xml('body', {}, 'hi')));
    assert.equal(condition(await err), 'service-unavailable');
    assert.equal(emu.user('carol').inbox.some((m) => m.text === 'hi'), false);
  });
});
