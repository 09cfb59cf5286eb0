/**
 * What an XMPP user does with a Teams user, end to end (issue 2): disco, ping, messages both ways with receipts,
 * XEP-0106 addresses, presence subscription and updates, errors, metrics, and a gateway restart. Registered
 * inside a caller's `describe`, so the same scenarios run with the XMPP user on the gateway's own server
 * (test/e2e/federation.test.ts) and on a partner server over S2S (test/e2e/s2s-*.test.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { COMPONENT, eventually } from '../federation.js';
import { ALICE, ALICE_UPN, NS, chatsWith, errorCondition, isChatFrom, isPuppetOf, type Scenario } from './common.js';

export function chatScenarios(get: () => Scenario): void {
  const s = () => get();

  it('answers disco#info on the component as a Teams gateway', async () => {
    const r = await s().xmpp.iq(COMPONENT, 'get', xml('query', { xmlns: NS.disco }));
    assert.equal(r.attrs.type, 'result');
    const q = r.getChild('query', NS.disco);
    const identity = q?.getChild('identity');
    assert.equal(identity?.attrs.category, 'gateway');
    assert.equal(identity?.attrs.name, 'Microsoft Teams');
    const features = q?.getChildren('feature').map((x) => x.attrs.var) ?? [];
    for (const f2 of [NS.disco, 'urn:xmpp:ping', 'jid\\20escaping']) assert.ok(features.includes(f2), `feature ${f2} in ${features.join(', ')}`);
  });

  it('answers disco#info and ping on a Teams user JID, and item-not-found style errors for strangers', async () => {
    const { xmpp } = s();
    const r = await xmpp.iq(ALICE, 'get', xml('query', { xmlns: NS.disco }));
    assert.equal(r.attrs.type, 'result');
    const identity = r.getChild('query', NS.disco)?.getChild('identity');
    assert.equal(identity?.attrs.category, 'account');
    assert.equal(identity?.attrs.name, 'Alice Smith');
    const features = r.getChild('query', NS.disco)?.getChildren('feature').map((x) => x.attrs.var) ?? [];
    assert.ok(features.includes(NS.receipts));
    const ping = await xmpp.iq(ALICE, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }));
    assert.equal(ping.attrs.type, 'result');
    const compPing = await xmpp.iq(COMPONENT, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }));
    assert.equal(compPing.attrs.type, 'result');
  });

  it('answers a message to a nonexistent Teams user with <item-not-found/>', async () => {
    const { xmpp } = s();
    await xmpp.send(xml('message', { to: `nobody.here@${COMPONENT}`, type: 'chat', id: 'm-nobody' }, xml('body', {}, 'hello?')));
    const err = await xmpp.waitFor((el) => el.name === 'message' && el.attrs.id === 'm-nobody' && el.attrs.type === 'error');
    assert.equal(errorCondition(err), 'item-not-found');
  });

  it('relays a message to Teams (text survives, HTML-escaped) and sends the receipt only after Graph accepted it', async () => {
    const { f, xmpp } = s();
    const text = 'Grüße aus Zürich 👋 <b>not bold</b> & "quotes"\nsecond line';
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id: 'm-1' }, xml('body', {}, text), xml('request', { xmlns: NS.receipts })));
    const receipt = await xmpp.waitFor((el) => el.name === 'message' && el.getChild('received', NS.receipts)?.attrs.id === 'm-1', 20_000, 'receipt');
    assert.equal(receipt.attrs.from?.split('/')[0], ALICE);
    // When the receipt arrives, Alice already has the message in a 1:1 chat with the XMPP user's account.
    const chats = chatsWith(f, xmpp.bare);
    assert.equal(chats.length, 1);
    const chat = chats[0]!;
    const m = chat.messages.at(-1)!;
    assert.equal(m.body.contentType, 'html');
    assert.equal(m.body.content, 'Grüße aus Zürich 👋 &lt;b&gt;not bold&lt;/b&gt; &amp; &quot;quotes&quot;<br>second line');
  });

  it('refuses an OMEMO message with <not-acceptable/> saying what to do: no receipt, nothing in Teams', async () => {
    const { f, xmpp } = s();
    const fallback = "I sent you an OMEMO encrypted message but your client doesn't seem to support that.";
    await xmpp.send(
      xml(
        'message',
        { to: ALICE, type: 'chat', id: 'm-omemo' },
        xml('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('header', { sid: '4242' }, xml('key', { rid: '1' }, 'a2V5'), xml('iv', {}, 'aXY=')), xml('payload', {}, 'Y2lwaGVy')),
        xml('encryption', { xmlns: 'urn:xmpp:eme:0', namespace: 'eu.siacs.conversations.axolotl' }),
        xml('body', {}, fallback),
        xml('request', { xmlns: NS.receipts }),
        xml('store', { xmlns: 'urn:xmpp:hints' }),
      ),
    );
    const err = await xmpp.waitFor((el) => el.attrs.id === 'm-omemo' && el.attrs.type === 'error', 20_000, 'the refusal');
    assert.equal(errorCondition(err), 'not-acceptable');
    assert.equal(err.getChild('error')?.attrs.type, 'modify');
    assert.match(err.getChild('error')?.getChildText('text', NS.stanzas) ?? '', /encrypted \(OMEMO\).*Turn encryption off for this contact/u);
    // A message sent after it is relayed, so the refused one had its turn: it never reached Teams, nor a receipt.
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id: 'm-after-omemo' }, xml('body', {}, 'sent in clear'), xml('request', { xmlns: NS.receipts })));
    await xmpp.waitFor((el) => el.getChild('received', NS.receipts)?.attrs.id === 'm-after-omemo', 20_000, 'receipt of the clear message');
    assert.equal(xmpp.received.filter((el) => el.getChild('received', NS.receipts)?.attrs.id === 'm-omemo').length, 0);
    assert.ok(!chatsWith(f, xmpp.bare).some((c) => c.messages.some((m) => m.body.content.includes('OMEMO'))));
  });

  it("relays Alice's reply as a chat message from her JID, sanitised to text", async () => {
    const { f, xmpp } = s();
    await f.emulator.sendAs(ALICE_UPN, xmpp.bare, '<p>Hi <b>Juliet</b> &amp; 😀</p><p>2nd line &lt;tag&gt;</p><script>alert(1)</script>', { html: true });
    const msg = await xmpp.waitFor(isChatFrom(ALICE), 20_000, 'reply from Alice');
    assert.equal(msg.getChildText('body'), 'Hi Juliet & 😀\n2nd line <tag>');
  });

  it('addresses UPNs that are not valid localparts with XEP-0106 escaping', async () => {
    const { f, xmpp } = s();
    await xmpp.send(xml('message', { to: `sean.o\\27brien@${COMPONENT}`, type: 'chat', id: 'm-sean' }, xml('body', {}, 'Dia duit')));
    await xmpp.send(xml('message', { to: `dave\\40fabrikam.example@${COMPONENT}`, type: 'chat', id: 'm-dave' }, xml('body', {}, 'Hi Dave')));
    await eventually(() => f.emulator.chatsOf("sean.o'brien@contoso.example").find((c) => c.messages.some((m) => m.body.content === 'Dia duit')), 20_000, 'message to Seán');
    await eventually(() => f.emulator.chatsOf('dave@fabrikam.example').find((c) => c.messages.some((m) => m.body.content === 'Hi Dave')), 20_000, 'message to Dave');
    await f.emulator.sendAs("sean.o'brien@contoso.example", xmpp.bare, 'Fáilte');
    await xmpp.waitFor(isChatFrom(`sean.o\\27brien@${COMPONENT}`, 'Fáilte'), 20_000, "Seán's reply from the escaped JID");
  });

  it('handles a presence subscription both ways and relays presence changes both ways', async () => {
    const { f, xmpp } = s();
    f.emulator.setPresence(ALICE_UPN, 'Available', 'Available');
    await xmpp.send(xml('presence', { to: ALICE, type: 'subscribe' }));
    await xmpp.waitFor((el) => el.name === 'presence' && el.attrs.from === ALICE && el.attrs.type === 'subscribed', 10_000, 'subscribed');
    await xmpp.waitFor((el) => el.name === 'presence' && el.attrs.from?.startsWith(ALICE) === true && el.attrs.type === undefined, 10_000, 'her presence');
    // She asks for the XMPP user's presence in return (so Teams can show it); the user approves.
    await xmpp.waitFor((el) => el.name === 'presence' && el.attrs.from === ALICE && el.attrs.type === 'subscribe', 10_000, 'subscribe from Alice');
    await xmpp.send(xml('presence', { to: ALICE, type: 'subscribed' }));

    // Teams -> XMPP: Alice is in a call.
    f.emulator.setPresence(ALICE_UPN, 'Busy', 'InACall');
    const busy = await xmpp.waitFor(
      (el) => el.name === 'presence' && el.attrs.from?.startsWith(ALICE) === true && el.getChildText('show') === 'dnd',
      20_000,
      'busy presence',
    );
    assert.match(busy.getChildText('status') ?? '', /call/i);

    // XMPP -> Teams: the user goes away with a status; Alice sees it on the user's account.
    await xmpp.send(xml('presence', {}, xml('show', {}, 'away'), xml('status', {}, 'lunch 🍜')));
    const puppet = await eventually(() => f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.members).find(isPuppetOf(xmpp.bare)), 5000, 'puppet');
    const seen = await eventually(
      () => {
        const p = f.emulator.presenceOf(puppet.upn);
        return p.availability === 'Away' && p.statusMessage === 'lunch 🍜' ? p : undefined;
      },
      20_000,
      "the XMPP user's presence in Teams",
    );
    assert.equal(seen.activity, 'Away');
  });

  it('refuses a malformed stanza with an error and keeps serving', async () => {
    const { xmpp } = s();
    const ok = await xmpp.iq(ALICE, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }));
    assert.equal(ok.attrs.type, 'result');
    const id = 'iq-two-payloads';
    const answer = xmpp.waitFor((el) => el.name === 'iq' && el.attrs.id === id);
    await xmpp.send(xml('iq', { to: ALICE, type: 'get', id }, xml('ping', { xmlns: 'urn:xmpp:ping' }), xml('query', { xmlns: NS.disco })));
    const err: Element = await answer;
    assert.equal(err.attrs.type, 'error');
    assert.equal(errorCondition(err), 'bad-request');
    const big = 'x'.repeat(20_000);
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id: 'm-big' }, xml('body', {}, big)));
    const tooBig = await xmpp.waitFor((el) => el.attrs.id === 'm-big' && el.attrs.type === 'error');
    assert.equal(errorCondition(tooBig), 'policy-violation');
    const ping = await xmpp.iq(COMPONENT, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }));
    assert.equal(ping.attrs.type, 'result');
  });

  it('exposes relayed messages, stanza errors, Graph requests and live actors on /metrics', async () => {
    const text = await s().f.gateway.metrics();
    assert.match(text, /xtg_messages_relayed_total\{direction="xmpp_to_teams"\} [1-9]/u);
    assert.match(text, /xtg_messages_relayed_total\{direction="teams_to_xmpp"\} [1-9]/u);
    assert.match(text, /xtg_stanza_errors_total\{condition="item-not-found"\} [1-9]/u);
    assert.match(text, /xtg_graph_requests_total\{[^}]*status="201"[^}]*\} [1-9]/u);
    assert.match(text, /xtg_actors_live\{kind="user-pair"\} [1-9]/u);
  });

  it('keeps the chat mapping across a gateway restart (the same Teams chat is reused)', async () => {
    const { f, xmpp } = s();
    const before = chatsWith(f, xmpp.bare);
    assert.equal(before.length, 1);
    const chatId = before[0]!.id;
    const requestsBefore = f.emulator.requests().length;
    await f.restartGateway('stop');
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id: 'm-after-restart' }, xml('body', {}, 'after the restart')));
    await eventually(() => chatsWith(f, xmpp.bare).find((c) => c.messages.some((m) => m.body.content === 'after the restart')), 20_000, 'message after restart');
    const afterChats = chatsWith(f, xmpp.bare);
    assert.equal(afterChats.length, 1);
    assert.equal(afterChats[0]!.id, chatId);
    // The node did not even ask Graph for the chat again: the mapping came from its store.
    const chatCreates = f.emulator.requests().slice(requestsBefore).filter((r) => r.method === 'POST' && r.path.endsWith('/chats'));
    assert.equal(chatCreates.length, 0);
    // And replies still arrive after the restart (subscriptions were restored, not lost).
    await f.emulator.sendAs(ALICE_UPN, xmpp.bare, 'still here');
    await xmpp.waitFor(isChatFrom(ALICE, 'still here'), 20_000, 'reply after restart');
  });
}
