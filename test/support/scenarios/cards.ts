/**
 * Contact cards and rich chat end to end (issue 6): vCard and avatar of a Teams user, the XMPP user's card on
 * its Teams account, and edits, deletes and reactions made on each side. Registered inside a caller's
 * `describe` (test/e2e/cards-and-edits.test.ts on one server, test/e2e/s2s-*.test.ts over S2S); the gateway
 * must run with `xmpp.longMessages: split`, and Alice must have PHOTO as her photo when it starts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { testImage } from '../../emulators/graph/image.js';
import { eventually } from '../federation.js';
import { ALICE, ALICE_UPN, NS, chatsWith, isPuppetOf, type Scenario } from './common.js';

/**
 * A real JPEG (the emulator decodes and scales photos), 96x96: the size the gateway asks Graph for, which Graph serves
 * as uploaded, so the avatar hash XMPP clients see is this file's.
 */
export const PHOTO = testImage(96, 96, 'image/jpeg', [200, 60, 60]);

export function cardScenarios(get: () => Scenario): void {
  const s = () => get();
  const messagesOfAlice = () => chatsWith(s().f, s().xmpp.bare).flatMap((c) => c.messages);
  const byText = (text: string) => messagesOfAlice().find((m) => m.body.content === text);
  const sendWithReceipt = async (id: string, body: string, ...extra: Element[]) => {
    const { xmpp } = s();
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id }, xml('body', {}, body), xml('request', { xmlns: NS.receipts }), ...extra));
    return xmpp.waitFor((el) => el.attrs.id === id || el.getChild('received', NS.receipts)?.attrs.id === id, 20_000, `outcome of ${id}`);
  };
  const puppet = () => s().f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.members).find(isPuppetOf(s().xmpp.bare));

  it('answers a vCard request for a Teams user from her Graph profile, photo included, and advertises the avatar hash', async () => {
    const { f, xmpp } = s();
    const r = await xmpp.iq(ALICE, 'get', xml('vCard', { xmlns: NS.vcard }));
    assert.equal(r.attrs.type, 'result', r.toString());
    const v = r.getChild('vCard', NS.vcard);
    assert.equal(v?.getChildText('FN'), 'Alice Smith');
    assert.equal(v?.getChildText('TITLE'), 'Liaison officer');
    assert.equal(v?.getChild('ORG')?.getChildText('ORGUNIT'), 'J5 Plans');
    assert.equal(v?.getChild('EMAIL')?.getChildText('USERID'), ALICE_UPN);
    assert.ok(v?.getChildren('TEL').some((t) => t.getChildText('NUMBER') === '+44 7700 900000'));
    assert.equal(v?.getChild('PHOTO')?.getChildText('BINVAL'), PHOTO.toString('base64'));
    const v4 = await xmpp.iq(ALICE, 'get', xml('vcard', { xmlns: NS.vcard4 }));
    assert.equal(v4.getChild('vcard', NS.vcard4)?.getChild('fn')?.getChildText('text'), 'Alice Smith');

    f.emulator.setPresence(ALICE_UPN, 'Available', 'Available');
    await xmpp.send(xml('presence', { to: ALICE, type: 'subscribe' }));
    // She asks for the user's presence in return; the user approves (their presence and card then reach Teams).
    await xmpp.waitFor((el) => el.name === 'presence' && el.attrs.from === ALICE && el.attrs.type === 'subscribe', 20_000, 'subscribe from Alice');
    await xmpp.send(xml('presence', { to: ALICE, type: 'subscribed' }));
    const p = await xmpp.waitFor((el) => el.name === 'presence' && el.attrs.from?.startsWith(ALICE) === true && el.attrs.type === undefined, 20_000, 'her presence');
    assert.equal(p.getChild('x', 'vcard-temp:x:update')?.getChildText('photo'), createHash('sha1').update(PHOTO).digest('hex'));
  });

  it('refreshes her card and avatar hash when Graph reports a profile or photo change', async () => {
    const { f, xmpp } = s();
    const newPhoto = testImage(96, 96, 'image/jpeg', [60, 60, 200]);
    f.emulator.setPhoto(ALICE_UPN, newPhoto);
    const hash = createHash('sha1').update(newPhoto).digest('hex');
    await xmpp.waitFor(
      (el) => el.name === 'presence' && el.attrs.from?.startsWith(ALICE) === true && el.getChild('x', 'vcard-temp:x:update')?.getChildText('photo') === hash,
      20_000,
      'presence with the new avatar hash',
    );
    f.emulator.updateUser(ALICE_UPN, { jobTitle: 'Chief liaison officer' });
    await eventually(async () => {
      const r = await xmpp.iq(ALICE, 'get', xml('vCard', { xmlns: NS.vcard }));
      return r.getChild('vCard', NS.vcard)?.getChildText('TITLE') === 'Chief liaison officer' ? true : undefined;
    }, 20_000, 'the new title in her card');
  });

  it('relays a correction and a retraction of an XMPP message to Teams as an edit and a delete', async () => {
    const { xmpp } = s();
    assert.ok((await sendWithReceipt('e1', 'teh first draft')).getChild('received', NS.receipts));
    const original = await eventually(() => byText('teh first draft'), 10_000, 'the message in Teams');
    const fixed = await sendWithReceipt('e1-fix', 'the first draft', xml('replace', { xmlns: NS.correction, id: 'e1' }));
    assert.ok(fixed.getChild('received', NS.receipts), fixed.toString());
    const edited = messagesOfAlice().find((m) => m.id === original.id);
    assert.equal(edited?.body.content, 'the first draft');
    assert.ok(edited?.lastEditedDateTime);
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id: 'e1-retract' }, xml('retract', { xmlns: NS.retract, id: 'e1' })));
    await eventually(() => messagesOfAlice().find((m) => m.id === original.id && m.deletedDateTime), 10_000, 'the message deleted in Teams');
  });

  it('relays reactions both ways, mapping the classic Teams reactions to emoji', async () => {
    const { f, xmpp } = s();
    await sendWithReceipt('r1', 'react to this');
    const mine = await eventually(() => byText('react to this'), 10_000, 'the message in Teams');
    // Alice reacts in Teams to the user's message: the user gets an XEP-0444 reaction on their own message id.
    await f.emulator.reactAs(ALICE_UPN, '', mine.id, 'like');
    const reaction = await xmpp.waitFor((el) => el.getChild('reactions', NS.reactions)?.attrs.id === 'r1', 20_000, 'reaction from Teams');
    assert.deepEqual(reaction.getChild('reactions', NS.reactions)?.getChildren('reaction').map((x) => x.text()), ['👍']);
    // The user reacts to Alice's message: the gateway sets it as the Unicode emoji (setReaction takes emoji only).
    await f.emulator.sendAs(ALICE_UPN, xmpp.bare, 'a message to react to');
    const hers = await xmpp.waitFor((el) => el.getChildText('body') === 'a message to react to', 20_000, "Alice's message");
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id: 'react-1' }, xml('reactions', { xmlns: NS.reactions, id: hers.attrs.id }, xml('reaction', {}, '❤️'))));
    await eventually(() => messagesOfAlice().find((m) => m.id === hers.attrs.id && (m.reactions ?? []).some((r) => r.reactionType === '❤️')), 10_000, 'heart in Teams');
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id: 'react-2' }, xml('reactions', { xmlns: NS.reactions, id: hers.attrs.id })));
    await eventually(() => messagesOfAlice().find((m) => m.id === hers.attrs.id && (m.reactions ?? []).length === 0), 10_000, 'reaction removed in Teams');
  });

  it("relays Alice's edit and delete in Teams as a correction and a retraction", async () => {
    const { f, xmpp } = s();
    await f.emulator.sendAs(ALICE_UPN, xmpp.bare, 'meet at 1O:00');
    const msg = await xmpp.waitFor((el) => el.getChildText('body') === 'meet at 1O:00', 20_000, "Alice's message");
    await f.emulator.editAs(ALICE_UPN, '', msg.attrs.id ?? '', 'meet at 10:00');
    const corr = await xmpp.waitFor((el) => el.getChild('replace', NS.correction)?.attrs.id === msg.attrs.id, 20_000, 'correction');
    assert.equal(corr.getChildText('body'), 'meet at 10:00');
    await f.emulator.deleteAs(ALICE_UPN, '', msg.attrs.id ?? '');
    const retr = await xmpp.waitFor((el) => el.getChild('retract', NS.retract)?.attrs.id === msg.attrs.id, 20_000, 'retraction');
    assert.ok(retr.getChildText('body'), 'a fallback body for clients without XEP-0424');
  });

  it('answers what cannot be mapped with a documented error, not silence', async () => {
    const { f, xmpp } = s();
    const unknown = await sendWithReceipt('bad-1', 'fix', xml('replace', { xmlns: NS.correction, id: 'never-sent' }));
    assert.ok(unknown.getChild('error')?.getChild('item-not-found'), unknown.toString());
    await f.emulator.sendAs(ALICE_UPN, xmpp.bare, 'not yours to edit');
    const hers = await xmpp.waitFor((el) => el.getChildText('body') === 'not yours to edit', 20_000, "Alice's message");
    const forbidden = await sendWithReceipt('bad-2', 'edited by the XMPP user', xml('replace', { xmlns: NS.correction, id: hers.attrs.id ?? '' }));
    assert.ok(forbidden.getChild('error')?.getChild('forbidden'), forbidden.toString());
  });

  it('relays a Teams reply as an XEP-0461 reply to the right message, and a shared file as an XEP-0066 link', async () => {
    const { f, xmpp } = s();
    await sendWithReceipt('q1', 'shall we meet at ten?');
    const mine = await eventually(() => byText('shall we meet at ten?'), 10_000, 'the message in Teams');
    await f.emulator.sendAs(ALICE_UPN, xmpp.bare, 'yes, room 114', {
      replyTo: mine.id,
      files: [{ name: 'agenda.docx', url: 'https://contoso.sharepoint.com/sites/j5/agenda.docx' }],
    });
    const reply = await xmpp.waitFor((el) => el.getChild('reply', NS.reply) !== undefined, 20_000, 'the reply');
    assert.equal(reply.getChild('reply', NS.reply)?.attrs.id, 'q1');
    assert.equal(reply.getChild('reply', NS.reply)?.attrs.to, xmpp.bare);
    assert.match(reply.getChildText('body') ?? '', /^> shall we meet at ten\?\nyes, room 114\n📎 agenda\.docx: https:\/\/contoso/u);
    assert.equal(reply.getChild('x', 'jabber:x:oob')?.getChildText('url'), 'https://contoso.sharepoint.com/sites/j5/agenda.docx');
  });

  it('posts an XEP-0461 reply as a Teams quote of the right message, without the fallback quote', async () => {
    const { f, xmpp } = s();
    await f.emulator.sendAs(ALICE_UPN, xmpp.bare, 'can you confirm?');
    const hers = await xmpp.waitFor((el) => el.getChildText('body') === 'can you confirm?', 20_000, "Alice's message");
    const quote = '> can you confirm?\n';
    const outcome = await sendWithReceipt(
      'reply-1',
      `${quote}confirmed`,
      xml('reply', { xmlns: NS.reply, to: ALICE, id: hers.attrs.id ?? '' }),
      xml('fallback', { xmlns: 'urn:xmpp:fallback:0', for: NS.reply }, xml('body', { start: '0', end: String(Array.from(quote).length) })),
    );
    assert.ok(outcome.getChild('received', NS.receipts), outcome.toString());
    const posted = await eventually(() => messagesOfAlice().find((m) => m.attachments.some((a) => a.contentType === 'messageReference' && a.id === hers.attrs.id)), 10_000, 'the quote in Teams');
    assert.match(posted.body.content, /confirmed/u);
    assert.doesNotMatch(posted.body.content, /can you confirm/u);
  });

  it('turns an XEP-0333 displayed marker into the Teams read state of the chat', async () => {
    const { f, xmpp } = s();
    await f.emulator.sendAs(ALICE_UPN, xmpp.bare, 'did you read this?');
    const hers = await xmpp.waitFor((el) => el.getChildText('body') === 'did you read this?', 20_000, "Alice's message");
    const puppetRead = () => puppet()?.lastReadDateTime;
    assert.equal(puppetRead() ?? null, null);
    await xmpp.send(xml('message', { to: ALICE, type: 'chat', id: 'seen-1' }, xml('displayed', { xmlns: 'urn:xmpp:chat-markers:0', id: hers.attrs.id ?? '' })));
    await eventually(() => puppetRead() ?? undefined, 10_000, 'the chat marked read for the XMPP user in Teams');
  });

  it('splits a message too long for one Teams message, with one receipt after the last part', async () => {
    const { xmpp } = s();
    const text = `${'<tag> & '.repeat(1800)}end`; // 14.4 kB of text (under xmpp.maxBodyBytes), 32 kB once HTML-escaped
    const outcome = await sendWithReceipt('long-1', text);
    assert.ok(outcome.getChild('received', NS.receipts), outcome.toString());
    const parts = messagesOfAlice().filter((m) => m.body.content.includes('&lt;tag&gt;'));
    assert.ok(parts.length >= 2, `${parts.length} parts`);
    for (const p of parts) assert.ok(Buffer.byteLength(p.body.content, 'utf8') <= 28_000);
    assert.equal(xmpp.received.filter((el) => el.getChild('received', NS.receipts)?.attrs.id === 'long-1').length, 1);
  });

  it("shows the XMPP user's vCard on their Teams account", async () => {
    const { f, xmpp } = s();
    const set = await xmpp.iq(
      xmpp.bare,
      'set',
      xml('vCard', { xmlns: NS.vcard }, xml('FN', {}, 'Juliet Capulet'), xml('TITLE', {}, 'Envoy'), xml('ORG', {}, xml('ORGNAME', {}, 'Verona'))),
    );
    assert.equal(set.attrs.type, 'result', set.toString());
    const account = puppet();
    assert.ok(account);
    // A new avatar hash in the user's presence makes the gateway read the card again (over S2S when it lives there).
    await xmpp.send(xml('presence', {}, xml('x', { xmlns: 'vcard-temp:x:update' }, xml('photo', {}, 'a'.repeat(40)))));
    const shown = await eventually(() => {
      const u = f.emulator.user(account.upn);
      return u?.displayName === `Juliet Capulet (${xmpp.bare}) (XMPP)` ? u : undefined;
    }, 20_000, 'the card on the Teams account');
    assert.equal(shown.jobTitle, 'Envoy');
    // The company is the user's XMPP domain, not what the card says: Teams users always see where a contact is from.
    assert.equal(shown.companyName, xmpp.bare.slice(xmpp.bare.indexOf('@') + 1));
  });
}
