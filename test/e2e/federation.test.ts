/**
 * The federation path end to end (issue 2): a real Prosody and real XMPP clients on one side, the Graph
 * emulator on the other, one gateway node between them started by its CLI.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_DISCO = 'http://jabber.org/protocol/disco#info';
const NS_RECEIPTS = 'urn:xmpp:receipts';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function errorCondition(el: Element): string | undefined {
  return el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;
}

function isChatFrom(from: string, body?: string) {
  return (el: Element) => el.name === 'message' && el.attrs.type === 'chat' && el.attrs.from?.split('/')[0] === from && (body === undefined || el.getChildText('body') === body);
}

describe('federation path on one node', { timeout: 180_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;

  before(async () => {
    f = await Federation.start();
    juliet = await f.client('juliet');
    await juliet.requestRoster();
    await juliet.sendPresence(); // initial presence: the server delivers messages to available resources
  });

  after(async () => {
    await f?.stop();
  });

  it('answers disco#info on the component as a Teams gateway', async () => {
    const r = await juliet.iq(COMPONENT, 'get', xml('query', { xmlns: NS_DISCO }));
    assert.equal(r.attrs.type, 'result');
    const q = r.getChild('query', NS_DISCO);
    const identity = q?.getChild('identity');
    assert.equal(identity?.attrs.category, 'gateway');
    assert.equal(identity?.attrs.name, 'Microsoft Teams');
    const features = q?.getChildren('feature').map((x) => x.attrs.var) ?? [];
    for (const f2 of [NS_DISCO, 'urn:xmpp:ping', 'jid\\20escaping']) assert.ok(features.includes(f2), `feature ${f2} in ${features.join(', ')}`);
  });

  it('answers disco#info and ping on a Teams user JID, and item-not-found style errors for strangers', async () => {
    const r = await juliet.iq(ALICE, 'get', xml('query', { xmlns: NS_DISCO }));
    assert.equal(r.attrs.type, 'result');
    const identity = r.getChild('query', NS_DISCO)?.getChild('identity');
    assert.equal(identity?.attrs.category, 'account');
    assert.equal(identity?.attrs.name, 'Alice Smith');
    const features = r.getChild('query', NS_DISCO)?.getChildren('feature').map((x) => x.attrs.var) ?? [];
    assert.ok(features.includes(NS_RECEIPTS));
    const ping = await juliet.iq(ALICE, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }));
    assert.equal(ping.attrs.type, 'result');
    const compPing = await juliet.iq(COMPONENT, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }));
    assert.equal(compPing.attrs.type, 'result');
  });

  it('answers a message to a nonexistent Teams user with <item-not-found/>', async () => {
    await juliet.send(xml('message', { to: `nobody.here@${COMPONENT}`, type: 'chat', id: 'm-nobody' }, xml('body', {}, 'hello?')));
    const err = await juliet.waitFor((el) => el.name === 'message' && el.attrs.id === 'm-nobody' && el.attrs.type === 'error');
    assert.equal(errorCondition(err), 'item-not-found');
  });

  it('relays a message to Teams (text survives, HTML-escaped) and sends the receipt only after Graph accepted it', async () => {
    const text = 'Grüße aus Zürich 👋 <b>not bold</b> & "quotes"\nsecond line';
    await juliet.send(
      xml('message', { to: ALICE, type: 'chat', id: 'm-1' }, xml('body', {}, text), xml('request', { xmlns: NS_RECEIPTS })),
    );
    const receipt = await juliet.waitFor((el) => el.name === 'message' && el.getChild('received', NS_RECEIPTS)?.attrs.id === 'm-1', 20_000, 'receipt');
    assert.equal(receipt.attrs.from?.split('/')[0], ALICE);
    // When the receipt arrives, Alice already has the message in a 1:1 chat with Juliet's account.
    const chats = f.emulator.chatsOf(ALICE_UPN).filter((c) => c.chatType === 'oneOnOne');
    assert.equal(chats.length, 1);
    const chat = chats[0]!;
    assert.ok(chat.members.some((m) => m.displayName.startsWith(`juliet@${XMPP_DOMAIN}`)), JSON.stringify(chat.members));
    const m = chat.messages.at(-1)!;
    assert.equal(m.body.contentType, 'html');
    assert.equal(m.body.content, 'Grüße aus Zürich 👋 &lt;b&gt;not bold&lt;/b&gt; &amp; &quot;quotes&quot;<br>second line');
  });

  it("relays Alice's reply as a chat message from her JID, sanitised to text", async () => {
    await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, '<p>Hi <b>Juliet</b> &amp; 😀</p><p>2nd line &lt;tag&gt;</p><script>alert(1)</script>', { html: true });
    const msg = await juliet.waitFor(isChatFrom(ALICE), 20_000, 'reply from Alice');
    assert.equal(msg.getChildText('body'), 'Hi Juliet & 😀\n2nd line <tag>');
  });

  it('addresses UPNs that are not valid localparts with XEP-0106 escaping', async () => {
    await juliet.send(xml('message', { to: `sean.o\\27brien@${COMPONENT}`, type: 'chat', id: 'm-sean' }, xml('body', {}, 'Dia duit')));
    await juliet.send(xml('message', { to: `dave\\40fabrikam.example@${COMPONENT}`, type: 'chat', id: 'm-dave' }, xml('body', {}, 'Hi Dave')));
    await eventually(() => f.emulator.chatsOf("sean.o'brien@contoso.example").find((c) => c.messages.some((m) => m.body.content === 'Dia duit')), 20_000, 'message to Seán');
    await eventually(() => f.emulator.chatsOf('dave@fabrikam.example').find((c) => c.messages.some((m) => m.body.content === 'Hi Dave')), 20_000, 'message to Dave');
    await f.emulator.sendAs("sean.o'brien@contoso.example", `juliet@${XMPP_DOMAIN}`, 'Fáilte');
    await juliet.waitFor(isChatFrom(`sean.o\\27brien@${COMPONENT}`, 'Fáilte'), 20_000, "Seán's reply from the escaped JID");
  });

  it('handles a presence subscription both ways and relays presence changes both ways', async () => {
    f.emulator.setPresence(ALICE_UPN, 'Available', 'Available');
    await juliet.send(xml('presence', { to: ALICE, type: 'subscribe' }));
    await juliet.waitFor((el) => el.name === 'presence' && el.attrs.from === ALICE && el.attrs.type === 'subscribed', 10_000, 'subscribed');
    await juliet.waitFor((el) => el.name === 'presence' && el.attrs.from?.startsWith(ALICE) === true && el.attrs.type === undefined, 10_000, 'her presence');
    // She asks for his presence in return (so Teams can show it); Juliet approves.
    await juliet.waitFor((el) => el.name === 'presence' && el.attrs.from === ALICE && el.attrs.type === 'subscribe', 10_000, 'subscribe from Alice');
    await juliet.send(xml('presence', { to: ALICE, type: 'subscribed' }));

    // Teams -> XMPP: Alice is in a call.
    f.emulator.setPresence(ALICE_UPN, 'Busy', 'InACall');
    const busy = await juliet.waitFor(
      (el) => el.name === 'presence' && el.attrs.from?.startsWith(ALICE) === true && el.getChildText('show') === 'dnd',
      20_000,
      'busy presence',
    );
    assert.match(busy.getChildText('status') ?? '', /call/i);

    // XMPP -> Teams: Juliet goes away with a status; Alice sees it on Juliet's account.
    await juliet.send(xml('presence', {}, xml('show', {}, 'away'), xml('status', {}, 'lunch 🍜')));
    const puppet = await eventually(() => f.emulator.chatsOf(ALICE_UPN)[0]?.members.find((m) => m.displayName.startsWith('juliet@')), 5000, 'puppet');
    const seen = await eventually(
      () => {
        const p = f.emulator.presenceOf(puppet.upn);
        return p.availability === 'Away' && p.statusMessage === 'lunch 🍜' ? p : undefined;
      },
      20_000,
      "Juliet's presence in Teams",
    );
    assert.equal(seen.activity, 'Away');
  });

  it('refuses a malformed stanza with an error and keeps serving', async () => {
    const bad = await juliet.iq(ALICE, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }));
    assert.equal(bad.attrs.type, 'result');
    const id = 'iq-two-payloads';
    const answer = juliet.waitFor((el) => el.name === 'iq' && el.attrs.id === id);
    await juliet.send(xml('iq', { to: ALICE, type: 'get', id }, xml('ping', { xmlns: 'urn:xmpp:ping' }), xml('query', { xmlns: NS_DISCO })));
    const err = await answer;
    assert.equal(err.attrs.type, 'error');
    assert.equal(errorCondition(err), 'bad-request');
    const big = 'x'.repeat(20_000);
    await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'm-big' }, xml('body', {}, big)));
    const tooBig = await juliet.waitFor((el) => el.attrs.id === 'm-big' && el.attrs.type === 'error');
    assert.equal(errorCondition(tooBig), 'policy-violation');
    const ping = await juliet.iq(COMPONENT, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }));
    assert.equal(ping.attrs.type, 'result');
  });

  it('exposes relayed messages, stanza errors, Graph requests and live actors on /metrics', async () => {
    const text = await f.gateway.metrics();
    assert.match(text, /xtg_messages_relayed_total\{direction="xmpp_to_teams"\} [1-9]/u);
    assert.match(text, /xtg_messages_relayed_total\{direction="teams_to_xmpp"\} [1-9]/u);
    assert.match(text, /xtg_stanza_errors_total\{condition="item-not-found"\} [1-9]/u);
    assert.match(text, /xtg_graph_requests_total\{[^}]*status="201"[^}]*\} [1-9]/u);
    assert.match(text, /xtg_actors_live\{kind="user-pair"\} [1-9]/u);
  });

  it('keeps the chat mapping across a gateway restart (the same Teams chat is reused)', async () => {
    const before = f.emulator.chatsOf(ALICE_UPN).filter((c) => c.chatType === 'oneOnOne');
    assert.equal(before.length, 1);
    const chatId = before[0]!.id;
    const requestsBefore = f.emulator.requests().length;
    await f.restartGateway('stop');
    await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'm-after-restart' }, xml('body', {}, 'after the restart')));
    await eventually(() => f.emulator.chatsOf(ALICE_UPN).find((c) => c.messages.some((m) => m.body.content === 'after the restart')), 20_000, 'message after restart');
    const afterChats = f.emulator.chatsOf(ALICE_UPN).filter((c) => c.chatType === 'oneOnOne');
    assert.equal(afterChats.length, 1);
    assert.equal(afterChats[0]!.id, chatId);
    // The node did not even ask Graph for the chat again: the mapping came from its store.
    const chatCreates = f.emulator.requests().slice(requestsBefore).filter((r) => r.method === 'POST' && r.path.endsWith('/chats'));
    assert.equal(chatCreates.length, 0);
    // And replies still arrive after the restart (subscriptions were restored, not lost).
    await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, 'still here');
    await juliet.waitFor(isChatFrom(ALICE, 'still here'), 20_000, 'reply after restart');
  });
});
