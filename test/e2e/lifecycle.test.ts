/**
 * Graph's lifecycle notifications end to end (issue 13 item 7): the emulator asks for reauthorization before the
 * token behind a subscription expires and pauses delivery once it has
 * (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events). Shortened so that a test sees
 * several token lifetimes: 20-second tokens (Entra: 60 to 90 minutes), challenges from 12 s before expiry every 2 s
 * (the emulator's defaults: 15 and 5 minutes); the gateway records a repeated notice once per second (60 s).
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
const TOKEN_SECONDS = 20;
const isChatFrom = (from: string, body: string) => (el: Element) => el.name === 'message' && el.attrs.type === 'chat' && el.attrs.from?.split('/')[0] === from && el.getChildText('body') === body;

describe('Graph lifecycle notifications end to end', { timeout: 240_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;
  const messageSubscription = () => f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages'));

  before(async () => {
    f = await Federation.start({ tokenLifetimeSeconds: TOKEN_SECONDS, lifecycleReplaySeconds: 1, lifecycle: { reauthorizationLeadMs: 12_000, reauthorizationIntervalMs: 2_000, removeAfterPausedMs: 600_000 } });
    juliet = await f.client('juliet');
    await juliet.requestRoster();
    await juliet.sendPresence();
    await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'first' }, xml('body', {}, 'hello')));
    await eventually(messageSubscription, 20_000, 'the message subscription');
  });
  after(async () => {
    await f?.stop();
  });

  it('reauthorizes each time Graph asks (204), so delivery never pauses over several token lifetimes', async () => {
    const sub = messageSubscription();
    assert.ok(sub);
    const t0 = Date.now();
    for (let i = 0; Date.now() - t0 < 2.5 * TOKEN_SECONDS * 1000; i++) {
      await f.emulator.sendAs(ALICE_UPN, JULIET, `steady ${i}`);
      await juliet.waitFor(isChatFrom(ALICE, `steady ${i}`), 20_000, `steady ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
    const reauthorized = f.emulator.requests().filter((r) => r.at >= t0 && r.method === 'POST' && r.path === `/v1.0/subscriptions/${sub.id}/reauthorize`);
    assert.ok(reauthorized.length >= 2, `${reauthorized.length} reauthorizations`);
    assert.ok(reauthorized.every((r) => r.status === 204));
    assert.deepEqual(f.emulator.deliveries().filter((d) => d.at >= t0 && d.dropped !== undefined), [], 'nothing dropped');
  });

  it('catches up the messages Graph lost while delivery paused (the gateway was down past the token lifetime)', async () => {
    const sub = messageSubscription();
    assert.ok(sub);
    await f.gateway.stop();
    // Past the token's lifetime: the subscription pauses, and a message written now is not notified.
    await eventually(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const m = await f.emulator.sendAs(ALICE_UPN, JULIET, `written during the pause ${Date.now()}`);
        return f.emulator.deliveries().some((d) => d.subscriptionId === sub.id && /paused/u.test(d.dropped ?? '') && d.at >= Date.parse(m.createdDateTime)) ? m : undefined;
      },
      (TOKEN_SECONDS + 15) * 1000,
      'a message lost to the pause',
    );
    const lost = f.emulator.chatsOf(ALICE_UPN)[0]?.messages.filter((m) => m.body.content.startsWith('written during the pause')) ?? [];
    // She also edits a message relayed before the pause: its notification is lost to the pause too.
    const earlier = f.emulator.chatsOf(ALICE_UPN)[0]?.messages.find((m) => m.body.content === 'steady 0') ?? assert.fail('steady 0 in Teams');
    await f.emulator.editAs(ALICE_UPN, '', earlier.id, 'steady 0, edited during the pause');
    await f.restartGateway();
    // Reauthorized on the next challenge, then caught up: every message written during the pause arrives, and the
    // edit as an XEP-0308 correction of the message relayed before.
    for (const m of lost) await juliet.waitFor(isChatFrom(ALICE, m.body.content), 30_000, m.body.content);
    const fix = await juliet.waitFor((el) => el.getChild('replace', 'urn:xmpp:message-correct:0') !== undefined && el.getChildText('body') === 'steady 0, edited during the pause', 30_000, 'the edit made during the pause');
    assert.equal(fix.getChild('replace', 'urn:xmpp:message-correct:0')?.attrs.id, earlier.id);
    await f.emulator.sendAs(ALICE_UPN, JULIET, 'after the pause');
    await juliet.waitFor(isChatFrom(ALICE, 'after the pause'), 20_000, 'after the pause');
    const copies = juliet.received.filter((el) => el.getChildText('body')?.startsWith('written during the pause') === true).length;
    assert.equal(copies, lost.length, 'each once');
  });

  it('re-creates a subscription Graph removed (subscriptionRemoved) and relays what was written meanwhile', async () => {
    const removed = messageSubscription();
    assert.ok(removed);
    await f.emulator.fireLifecycle(removed.id, 'subscriptionRemoved');
    // Written right after the removal: no subscription notifies it; the catch-up after re-creating does.
    await f.emulator.sendAs(ALICE_UPN, JULIET, 'written after the removal');
    const next = await eventually(() => f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages') && s.id !== removed.id), 20_000, 'a new subscription');
    assert.equal(next.includeResourceData, true);
    await juliet.waitFor(isChatFrom(ALICE, 'written after the removal'), 30_000, 'the message written after the removal');
    await f.emulator.sendAs(ALICE_UPN, JULIET, 'on the new subscription');
    await juliet.waitFor(isChatFrom(ALICE, 'on the new subscription'), 20_000, 'on the new subscription');
    assert.equal(juliet.received.filter((el) => el.getChildText('body') === 'written after the removal').length, 1);
  });
});
