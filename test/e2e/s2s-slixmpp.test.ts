/**
 * A client nobody here wrote (issue 14): the partner organisation's user runs slixmpp (Debian's python3-slixmpp)
 * on the partner's Prosody, federated over S2S with the gateway's Prosody. Everything the user does goes through
 * slixmpp's own plugins (disco, vCard, ping, receipts, corrections, reactions, XEP-0380), so the gateway is
 * checked against another implementation's reading of the same XEPs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { eventually } from '../support/federation.js';
import { ALICE, ALICE_UPN, chatsWith } from '../support/scenarios/common.js';
import { PARTNER, S2sFederation } from '../support/s2s-federation.js';
import { SlixmppClient, type SlixmppEvent } from '../support/slixmpp-client.js';

const bare = (jid: unknown) => String(jid).split('/')[0];

describe('S2S with a slixmpp client on the partner server', { timeout: 240_000 }, () => {
  let f: S2sFederation;
  let mercutio: SlixmppClient;
  const account = DEMO.partnerUsers.find((u) => u.user === 'mercutio')!;
  const jid = `${account.user}@${PARTNER}`;
  const inTeams = () => chatsWith(f, jid).flatMap((c) => c.messages);

  before(async () => {
    f = await S2sFederation.start({ front: 'prosody', partner: 'prosody' });
    mercutio = await SlixmppClient.connect({ jid, password: account.password, port: f.ports.partnerC2s });
  });
  after(async () => {
    await mercutio?.stop();
    await f?.stop();
  });

  it('discovers the gateway and a Teams user, reads her vCard and pings her, over S2S', async () => {
    mercutio.command({ op: 'disco', to: DEMO.componentDomain });
    const gateway = await mercutio.waitFor((e) => e.event === 'disco' && e.to === DEMO.componentDomain, 30_000, 'disco#info of the gateway');
    assert.deepEqual((gateway.identities as string[][])[0]?.slice(0, 2), ['gateway', 'ocs']);
    mercutio.command({ op: 'disco', to: ALICE });
    const alice = await mercutio.waitFor((e) => e.event === 'disco' && e.to === ALICE, 20_000, 'disco#info of Alice');
    assert.equal((alice.identities as string[][])[0]?.[3], 'Alice Smith');
    assert.ok((alice.features as string[]).includes('urn:xmpp:receipts'));
    mercutio.command({ op: 'vcard', to: ALICE });
    const card = await mercutio.waitFor((e) => e.event === 'vcard' && e.to === ALICE, 20_000, "Alice's vCard");
    assert.equal(card.fn, 'Alice Smith');
    assert.equal(card.title, 'Liaison officer');
    mercutio.command({ op: 'ping', to: ALICE });
    await mercutio.waitFor((e) => e.event === 'pong' && e.to === ALICE, 20_000, 'pong');
  });

  it('chats both ways with receipts', async () => {
    mercutio.command({ op: 'message', to: ALICE, id: 'sx-1', body: 'Good morrow, from slixmpp', receipt: true });
    const receipt = await mercutio.waitFor((e) => e.event === 'receipt' && e.id === 'sx-1', 20_000, 'the receipt');
    assert.equal(bare(receipt.frm), ALICE);
    assert.ok(inTeams().some((m) => m.body.content === 'Good morrow, from slixmpp'));
    await f.emulator.sendAs(ALICE_UPN, jid, 'And a good morrow to you');
    const reply = await mercutio.waitFor((e) => e.event === 'message' && e.body === 'And a good morrow to you', 20_000, "Alice's reply");
    assert.equal(bare(reply.frm), ALICE);
  });

  it('corrects its message and reacts to hers, and sees her reaction to its own', async () => {
    mercutio.command({ op: 'message', to: ALICE, id: 'sx-2', body: 'a plague o both your houses', receipt: true });
    await mercutio.waitFor((e) => e.event === 'receipt' && e.id === 'sx-2', 20_000, 'receipt of the draft');
    const draft = inTeams().find((m) => m.body.content === 'a plague o both your houses')!;
    mercutio.command({ op: 'message', to: ALICE, id: 'sx-2-fix', body: "a plague o' both your houses", replace: 'sx-2', receipt: true });
    const edited = await eventually(() => inTeams().find((m) => m.id === draft.id && m.lastEditedDateTime), 20_000, 'the edit in Teams');
    assert.match(edited.body.content, /^a plague o(&#39;|&#x27;|') both your houses$/u);

    await f.emulator.reactAs(ALICE_UPN, '', draft.id, 'laugh');
    const hers = await mercutio.waitFor((e) => e.event === 'reactions' && e.id === 'sx-2', 20_000, 'her reaction');
    assert.deepEqual(hers.emojis, ['😆']);

    await f.emulator.sendAs(ALICE_UPN, jid, 'what say you?');
    const msg = await mercutio.waitFor((e) => e.event === 'message' && e.body === 'what say you?', 20_000, 'her message');
    mercutio.command({ op: 'react', to: ALICE, id: msg.id, emojis: ['👍'] });
    await eventually(() => inTeams().find((m) => m.id === msg.id && (m.reactions ?? []).some((r) => r.reactionType === '👍')), 20_000, 'his reaction in Teams');
  });

  it('subscribes to her presence and follows it', async () => {
    f.emulator.setPresence(ALICE_UPN, 'Available', 'Available');
    mercutio.command({ op: 'subscribe', to: ALICE });
    await mercutio.waitFor((e) => e.event === 'presence' && e.type === 'subscribed' && bare(e.frm) === ALICE, 20_000, 'subscribed');
    f.emulator.setPresence(ALICE_UPN, 'Busy', 'InAMeeting');
    const busy = await mercutio.waitFor((e: SlixmppEvent) => e.event === 'presence' && bare(e.frm) === ALICE && e.show === 'dnd', 20_000, 'her busy presence');
    assert.match(String(busy.status), /meeting/iu);
  });

  it('gets a clear refusal, and no receipt, for a message marked end-to-end encrypted (XEP-0380)', async () => {
    mercutio.command({ op: 'message', to: ALICE, id: 'sx-omemo', body: 'I sent you an OMEMO encrypted message', receipt: true, eme: 'eu.siacs.conversations.axolotl' });
    const err = await mercutio.waitFor((e) => e.event === 'error' && e.id === 'sx-omemo', 20_000, 'the refusal');
    assert.equal(err.condition, 'not-acceptable');
    assert.equal(err.type, 'modify');
    assert.match(String(err.text), /OMEMO.*Turn encryption off for this contact/u);
    assert.ok(!mercutio.events.some((e) => e.event === 'receipt' && e.id === 'sx-omemo'));
    assert.ok(!inTeams().some((m) => m.body.content.includes('OMEMO')));
  });
});
