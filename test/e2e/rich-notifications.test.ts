/**
 * Rich notifications end to end (issue 13 item 5): Graph sends each Teams message encrypted in its notification,
 * the gateway decrypts it and relays it without reading it from Graph; its encryption certificate rotates without
 * losing a message; a message whose data it cannot decrypt is read from Graph instead; without certificates every
 * message costs one read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const JULIET = `juliet@${XMPP_DOMAIN}`;

const isChatFrom = (from: string, body: string) => (el: Element) => el.name === 'message' && el.attrs.type === 'chat' && el.attrs.from?.split('/')[0] === from && el.getChildText('body') === body;
/** Graph reads of one chat message: GET /chats/{chat}/messages/{id}. */
const messageReads = (f: Federation, since: number) => f.emulator.requests().filter((r) => r.at >= since && r.method === 'GET' && /\/chats\/[^/]+\/messages\/[^/?]+$/u.test(r.path)).length;

/** Alice writes; Juliet must receive it. */
async function fromAlice(f: Federation, juliet: TestXmppClient, text: string): Promise<void> {
  await f.emulator.sendAs(ALICE_UPN, JULIET, text);
  await juliet.waitFor(isChatFrom(ALICE, text), 20_000, text);
}

async function start(certificates: string[]): Promise<{ f: Federation; juliet: TestXmppClient }> {
  const f = await Federation.start({ certificates });
  const juliet = await f.client('juliet');
  await juliet.requestRoster();
  await juliet.sendPresence();
  // Juliet writes first: her account, its chat with Alice and its message subscription exist.
  await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'first' }, xml('body', {}, 'hello')));
  await eventually(() => f.emulator.chatsOf(ALICE_UPN)[0]?.messages.find((m) => m.body.content.includes('hello')), 20_000, 'the first message in Teams');
  await eventually(() => f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages')), 20_000, 'the message subscription');
  return { f, juliet };
}

describe('rich notifications end to end', { timeout: 240_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;

  before(async () => {
    ({ f, juliet } = await start(['rot-1']));
  });
  after(async () => {
    await f?.stop();
  });

  it("subscribes with resource data, and relays Alice's messages without reading them from Graph", async () => {
    const sub = f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages'));
    assert.equal(sub?.includeResourceData, true);
    assert.equal(sub?.encryptionCertificateId, 'rot-1');
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) await fromAlice(f, juliet, `rich ${i}`);
    assert.equal(messageReads(f, t0), 0, 'no GET of a chat message');
  });

  it('relays a burst of Alice\'s messages in order, each once, still without reading them from Graph', async () => {
    const t0 = Date.now();
    const texts = Array.from({ length: 30 }, (_, i) => `burst ${i + 1}`);
    for (const text of texts) await f.emulator.sendAs(ALICE_UPN, JULIET, text);
    await juliet.waitFor(isChatFrom(ALICE, 'burst 30'), 30_000, 'the last of the burst');
    await new Promise((r) => setTimeout(r, 300)); // a copy sent twice would be there by now
    const got = juliet.received.filter((el) => el.name === 'message' && el.attrs.type === 'chat' && /^burst \d+$/u.test(el.getChildText('body') ?? '')).map((el) => el.getChildText('body'));
    assert.deepEqual(got, texts);
    assert.equal(messageReads(f, t0), 0, 'no GET of a chat message');
  });

  it('rotates its certificate without losing a message: old and new decrypt meanwhile, and the subscription moves', async () => {
    await f.useCertificates(['rot-2', 'rot-1']);
    await f.restartGateway();
    const t0 = Date.now();
    await fromAlice(f, juliet, 'while rot-1 is still used');
    await eventually(() => f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages') && s.encryptionCertificateId === 'rot-2'), 20_000, 'the subscription on rot-2');
    await fromAlice(f, juliet, 'on rot-2');
    assert.equal(messageReads(f, t0), 0);
    // rot-1 retired: nothing uses it any more.
    await f.useCertificates(['rot-2']);
    await f.restartGateway();
    await fromAlice(f, juliet, 'after rot-1 is gone');
    assert.equal(messageReads(f, t0), 0);
  });

  it('reads a message from Graph when its data was encrypted to a certificate it no longer has, and moves the subscription', async () => {
    await f.useCertificates(['rot-3']);
    await f.restartGateway();
    const t0 = Date.now();
    await fromAlice(f, juliet, 'encrypted to the retired rot-2');
    assert.equal(messageReads(f, t0), 1, 'read from Graph once');
    await eventually(() => f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages') && s.encryptionCertificateId === 'rot-3'), 20_000, 'the subscription on rot-3');
    const t1 = Date.now();
    await fromAlice(f, juliet, 'on rot-3');
    assert.equal(messageReads(f, t1), 0);
  });
});

describe('basic notifications end to end (no certificate)', { timeout: 180_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;
  before(async () => {
    ({ f, juliet } = await start([]));
  });
  after(async () => {
    await f?.stop();
  });

  it('subscribes without resource data and reads each message from Graph once', async () => {
    const sub = f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages'));
    assert.equal(sub?.includeResourceData, false);
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) await fromAlice(f, juliet, `basic ${i}`);
    assert.equal(messageReads(f, t0), 3);
  });
});
