/**
 * Faults on a real S2S link (issue 14), both servers Prosody with XEP-0198 on S2S (mod_smacks,
 * smacks_s2s_resend): the network between them breaks mid-conversation, and the partner's server goes away and
 * comes back. The S2S records point at relays (test/support/tcp-relay.ts) that stand for that network.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import xml from '@xmpp/xml';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { eventually } from '../support/federation.js';
import { ALICE, ALICE_UPN, NS, chatsWith, isPuppetOf } from '../support/scenarios/common.js';
import { PARTNER, S2sFederation } from '../support/s2s-federation.js';
import { TcpRelay } from '../support/tcp-relay.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

describe('S2S faults: Prosody in front, partner on Prosody', { timeout: 300_000 }, () => {
  let f: S2sFederation;
  let toFront: TcpRelay;
  let toPartner: TcpRelay;
  let benvolio: TestXmppClient;

  before(async () => {
    f = await S2sFederation.start({ front: 'prosody', partner: 'prosody' });
    toFront = await TcpRelay.start(f.pair.frontS2sPort);
    toPartner = await TcpRelay.start(f.pair.partnerS2sPort);
    // Before any S2S traffic (the servers look their peers up on first use, then cache the answer).
    for (const d of [DEMO.componentDomain, DEMO.xmppDomain]) f.pair.dns.setXmppServer(d, toFront.port);
    f.pair.dns.setXmppServer(PARTNER, toPartner.port);
    benvolio = await f.client('benvolio');
    await benvolio.requestRoster();
    await benvolio.sendPresence();
  });
  after(async () => {
    if (process.env.XTG_DUMP) console.log(f?.gateway.dump());
    await toFront?.stop();
    await toPartner?.stop();
    await f?.stop();
  });

  it('loses nothing that either side acknowledged when the S2S link breaks mid-conversation', async (t) => {
    // Both S2S streams up (one each way), through the relays.
    await benvolio.send(xml('message', { to: ALICE, type: 'chat', id: 'warm-1' }, xml('body', {}, 'warming up'), xml('request', { xmlns: NS.receipts })));
    await benvolio.waitFor((el) => el.getChild('received', NS.receipts)?.attrs.id === 'warm-1', 20_000, 'first receipt');
    await f.emulator.sendAs(ALICE_UPN, benvolio.bare, 'warm too');
    await benvolio.waitFor((el) => el.getChildText('body') === 'warm too', 20_000, 'first reply');
    assert.equal(toFront.connections + toPartner.connections, 2);

    const N = 30;
    const fromXmpp = (async () => {
      for (let i = 0; i < N; i++) {
        await benvolio.send(xml('message', { to: ALICE, type: 'chat', id: `x-${i}` }, xml('body', {}, `xmpp ${i}`), xml('request', { xmlns: NS.receipts })));
        await sleep(40);
      }
    })();
    const fromTeams = (async () => {
      for (let i = 0; i < N; i++) {
        await f.emulator.sendAs(ALICE_UPN, benvolio.bare, `teams ${i}`);
        await sleep(40);
      }
    })();
    // Halfway, the path between the servers dies silently for a second (what was sent then is lost on the way),
    // then both ends see it reset; the next stanza opens new S2S streams.
    await sleep((N / 2) * 40);
    toFront.blackhole();
    toPartner.blackhole();
    await sleep(1000);
    toFront.cut();
    toPartner.cut();
    await Promise.all([fromXmpp, fromTeams]);

    const receipted = () => new Set(benvolio.received.map((el) => el.getChild('received', NS.receipts)?.attrs.id).filter((id) => id?.startsWith('x-')));
    await eventually(() => (receipted().size === N ? true : undefined), 60_000, `receipts for all ${N} messages (have ${receipted().size})`).catch(() => undefined);
    const got = () => new Set(benvolio.received.map((el) => el.getChildText('body')).filter((b) => b?.startsWith('teams ')));
    await eventually(() => (got().size === N ? true : undefined), 60_000, `all ${N} Teams messages`).catch(() => undefined);
    const inTeams = chatsWith(f, benvolio.bare).flatMap((c) => c.messages.map((m) => m.body.content));
    const report = {
      receipts: receipted().size,
      inTeams: inTeams.filter((t) => t.startsWith('xmpp ')).length,
      teamsDelivered: got().size,
      teamsDeliveredWithDuplicates: benvolio.received.filter((el) => el.getChildText('body')?.startsWith('teams ')).length,
      relayConnections: { toFront: toFront.accepted, toPartner: toPartner.accepted },
    };
    t.diagnostic(JSON.stringify(report));
    for (const id of receipted()) {
      const n = Number(id!.slice(2));
      assert.equal(inTeams.filter((t) => t === `xmpp ${n}`).length, 1, `message ${id}, receipted, is in Teams exactly once`);
    }
    assert.equal(receipted().size, N);
    assert.equal(got().size, N);
  });

  it('resumes presence both ways when the partner server goes away and comes back, and sends again what Alice wrote meanwhile', async () => {
    await benvolio.send(xml('message', { to: ALICE, type: 'chat', id: 'p-1' }, xml('body', {}, 'before the outage'), xml('request', { xmlns: NS.receipts })));
    await benvolio.waitFor((el) => el.getChild('received', NS.receipts)?.attrs.id === 'p-1', 20_000, 'receipt');
    f.emulator.setPresence(ALICE_UPN, 'Available', 'Available');
    await benvolio.send(xml('presence', { to: ALICE, type: 'subscribe' }));
    await benvolio.waitFor((el) => el.name === 'presence' && el.attrs.from === ALICE && el.attrs.type === 'subscribed', 20_000, 'subscribed');
    await benvolio.waitFor((el) => el.name === 'presence' && el.attrs.from === ALICE && el.attrs.type === 'subscribe', 20_000, 'subscribe from Alice');
    await benvolio.send(xml('presence', { to: ALICE, type: 'subscribed' }));
    await benvolio.sendPresence();
    const puppet = await eventually(() => f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.members).find(isPuppetOf(benvolio.bare)), 10_000, 'his Teams account');
    await eventually(() => (f.emulator.presenceOf(puppet.upn).availability === 'Available' ? true : undefined), 20_000, 'Teams showing him available');

    // He logs off (his contacts are told, RFC 6121 §4.5.2), then his server goes away. (A server that stops also
    // tells its users' contacts as it closes their sessions, but whether that reaches the gateway before its S2S
    // streams close is the server's race, not the gateway's.)
    await benvolio.stop();
    f.dropClients();
    await eventually(() => (f.emulator.presenceOf(puppet.upn).availability === 'Offline' ? true : undefined), 20_000, 'Teams showing him offline');
    await f.pair.stopPartner();
    f.emulator.setPresence(ALICE_UPN, 'Busy', 'InACall'); // she changes while his server is away
    // She writes meanwhile: the front server cannot reach his server and returns the message (remote-server-not-found,
    // RFC 6120 §8.3.3.15); the gateway sends it again later instead of dropping it.
    await f.emulator.sendAs(ALICE_UPN, benvolio.bare, 'written while his server was away');
    await sleep(2000);

    await f.pair.startPartner();
    benvolio = await f.client('benvolio', PARTNER, 'back');
    await benvolio.requestRoster();
    await benvolio.sendPresence();
    // His server probes his contacts (RFC 6121 §4.3): the gateway answers with her presence as it is now.
    const hers = await benvolio.waitFor((el) => el.name === 'presence' && el.attrs.from?.startsWith(ALICE) === true && el.getChildText('show') === 'dnd', 30_000, 'her current presence');
    assert.match(hers.getChildText('status') ?? '', /call/iu);
    await benvolio.waitFor((el) => el.getChildText('body') === 'written while his server was away', 30_000, 'what she wrote while his server was away');
    await eventually(() => (f.emulator.presenceOf(puppet.upn).availability === 'Available' ? true : undefined), 30_000, 'Teams showing him available again');
  });
});
