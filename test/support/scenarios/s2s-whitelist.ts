/**
 * The whitelist at both layers over real S2S (issue 14): the front server refuses S2S streams from domains the
 * gateway does not federate with (its configuration generated from policy.domains), the gateway refuses what a
 * stale front configuration lets through, certificates are required unless dialback is allowed for a domain,
 * and a stanza claiming another domain than the one its stream authenticated never reaches the gateway.
 * Needs an {@link S2sFederation} started with `whitelistHosts`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { issueXmppCertificate } from '../../../src/sandbox/tls.js';
import { COMPONENT, eventually } from '../federation.js';
import { S2sAttacker } from '../s2s-attacker.js';
import { PARTNER, WHITELIST_DOMAINS, type S2sFederation } from '../s2s-federation.js';
import type { TestXmppClient } from '../xmpp-client.js';
import { ALICE, ALICE_UPN, NS, errorCondition } from './common.js';

async function domainRefusals(f: S2sFederation): Promise<number> {
  const m = /xtg_policy_refusals_total\{direction="xmpp_to_teams",reason="domain"\} (\d+)/u.exec(await f.gateway.metrics());
  return m ? Number(m[1]) : 0;
}

/** Gateway log lines that mention a domain (every stanza it handles is logged at debug, refusals with their sender). */
function gatewayLinesAbout(f: S2sFederation, domain: string): string[] {
  return f.gateway.dump().split('\n').filter((l) => l.includes(domain));
}

const messagesOfAlice = (f: S2sFederation) => f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.messages);

async function sendAndWait(c: TestXmppClient, id: string, body: string, timeoutMs = 30_000): Promise<Element> {
  await c.send(xml('message', { to: ALICE, type: 'chat', id }, xml('body', {}, body), xml('request', { xmlns: NS.receipts })));
  return c.waitFor((el) => (el.attrs.id === id && el.attrs.type === 'error') || el.getChild('received', NS.receipts)?.attrs.id === id, timeoutMs, `outcome of ${id}`);
}

export function s2sWhitelistScenarios(get: () => S2sFederation): void {
  it('authenticates the partner server by its certificate (SASL EXTERNAL over TLS), not dialback', async () => {
    const f = get();
    const benvolio = await f.client('benvolio', PARTNER, 'certificates');
    await benvolio.sendPresence();
    const outcome = await sendAndWait(benvolio, 'w-partner', 'over a link authenticated by certificates');
    assert.ok(outcome.getChild('received', NS.receipts), outcome.toString());
    const log = await f.pair.front.logTail(100_000);
    assert.match(log, new RegExp(`EXTERNAL (identity from|authentication) ${PARTNER.replace(/\./gu, '\\.')}`, 'u'), log.slice(-3000));
  });

  it('refuses S2S from a domain outside the whitelist at the front server: nothing of it reaches the gateway', async () => {
    const f = get();
    const refusalsBefore = await domainRefusals(f);
    const mallory = await f.client('mallory', WHITELIST_DOMAINS.stranger);
    await mallory.sendPresence();
    await mallory.send(xml('message', { to: ALICE, type: 'chat', id: 'w-stranger' }, xml('body', {}, 'let me in'), xml('request', { xmlns: NS.receipts })));
    // The front server ends the stream (Prosody: mod_gateway_s2s_whitelist; ejabberd: s2s_access). Whether her
    // own server then tells her (an error) or not depends on it: ejabberd's refusal comes after authentication.
    await eventually(
      async () => (/(refused S2S stream from|Closing inbound s2s connection) stranger\.example/u.test(await f.pair.front.logTail(100_000)) ? true : undefined),
      30_000,
      'the front server refusing stranger.example',
    );
    // A barrier through the gateway: a partner's message sent now is relayed after anything that came before.
    const benvolio = await f.client('benvolio', PARTNER, 'barrier');
    assert.ok((await sendAndWait(benvolio, 'w-barrier', 'after the stranger')).getChild('received', NS.receipts));
    assert.deepEqual(gatewayLinesAbout(f, WHITELIST_DOMAINS.stranger), []);
    assert.equal(await domainRefusals(f), refusalsBefore);
    assert.ok(!messagesOfAlice(f).some((m) => m.body.content === 'let me in'));
    assert.ok(!mallory.received.some((el) => el.attrs.id === 'w-stranger' && errorCondition(el) === 'service-unavailable'), 'no refusal from the gateway');
  });

  it('refuses at the gateway a domain that a stale front-server whitelist still lets through', async () => {
    const f = get();
    const refusalsBefore = await domainRefusals(f);
    const mallory = await f.client('mallory', WHITELIST_DOMAINS.lapsed);
    await mallory.sendPresence();
    const outcome = await sendAndWait(mallory, 'w-lapsed', 'still listed over there');
    // README "Whitelisting": <service-unavailable/> with no text, whether or not the Teams user exists.
    assert.equal(errorCondition(outcome), 'service-unavailable', outcome.toString());
    assert.equal(outcome.getChild('error')?.getChildText('text', NS.stanzas) ?? null, null);
    await eventually(async () => ((await domainRefusals(f)) > refusalsBefore ? true : undefined), 10_000, 'the gateway counting the refusal');
    assert.ok(!messagesOfAlice(f).some((m) => m.body.content === 'still listed over there'));
  });

  it('refuses a whitelisted partner without a valid certificate, unless dialback is allowed for it', async () => {
    const f = get();
    const untrusted = await f.client('mallory', WHITELIST_DOMAINS.untrusted);
    await untrusted.sendPresence();
    const refused = await sendAndWait(untrusted, 'w-untrusted', 'my certificate is self-made');
    assert.equal(refused.attrs.type, 'error', refused.toString());
    assert.deepEqual(gatewayLinesAbout(f, WHITELIST_DOMAINS.untrusted), []);
    assert.ok(!messagesOfAlice(f).some((m) => m.body.content === 'my certificate is self-made'));

    const legacy = await f.client('mallory', WHITELIST_DOMAINS.legacy);
    await legacy.sendPresence();
    const accepted = await sendAndWait(legacy, 'w-legacy', 'dialback still works for me');
    assert.ok(accepted.getChild('received', NS.receipts), accepted.toString());
    assert.ok(messagesOfAlice(f).some((m) => m.body.content === 'dialback still works for me'));
  });

  it("never lets a stanza through as another domain than the one its S2S stream authenticated", async () => {
    const f = get();
    const rogue = await issueXmppCertificate(f.tls, [WHITELIST_DOMAINS.rogue]);
    const open = () => S2sAttacker.open({ port: f.pair.frontS2sPort, from: WHITELIST_DOMAINS.rogue, to: COMPONENT, ...rogue, ca: f.tls.caCert });
    const attacker = await open();
    try {
      // Its own domain: whitelisted, authenticated, delivered (so what follows is stopped by the address check).
      attacker.write(`<message from='eve@${WHITELIST_DOMAINS.rogue}/x' to='${ALICE}' type='chat' id='own-1'><body>from my own domain</body></message>`);
      await eventually(() => messagesOfAlice(f).find((m) => m.body.content === 'from my own domain'), 20_000, 'the attacker\'s own-domain message in Teams');
      const mark = attacker.transcript.length;
      attacker.write(`<message from='benvolio@${PARTNER}/evil' to='${ALICE}' type='chat' id='spoof-1'><body>pretending to be benvolio</body></message>`);
      // RFC 6120 §4.9.3: the front server ends the stream (not-authorized from Prosody, invalid-from from ejabberd).
      await attacker.expect(/<stream:error>/u, mark);
    } finally {
      attacker.close();
    }
    // A later message on a new stream arrives; the spoofed one, written before it, never did.
    const again = await open();
    try {
      again.write(`<message from='eve@${WHITELIST_DOMAINS.rogue}/x' to='${ALICE}' type='chat' id='own-2'><body>later, from my own domain</body></message>`);
      await eventually(() => messagesOfAlice(f).find((m) => m.body.content === 'later, from my own domain'), 20_000, 'the later message in Teams');
    } finally {
      again.close();
    }
    assert.ok(!messagesOfAlice(f).some((m) => m.body.content.includes('pretending')));
    assert.deepEqual(gatewayLinesAbout(f, `${PARTNER}/evil`), []);
  });
}
