/**
 * Nothing accepted is lost (DESIGN.md decision 4): the node process is killed (SIGKILL) between accepting a
 * message and delivering it, in both directions, and after a restart every message arrives exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_RECEIPTS = 'urn:xmpp:receipts';

describe('crash between accept and delivery', { timeout: 180_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;
  const copiesInTeams = (text: string) => f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.messages).filter((m) => m.body.content === text).length;
  const copiesAtJuliet = (text: string) => juliet.received.filter((el: Element) => el.name === 'message' && el.getChildText('body') === text).length;
  const send = (id: string, text: string) =>
    juliet.send(xml('message', { to: ALICE, type: 'chat', id }, xml('body', {}, text), xml('request', { xmlns: NS_RECEIPTS })));
  const receipt = (id: string) => juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 30_000, `receipt for ${id}`);

  before(async () => {
    // Graph keeps retrying a failed notification for a while (hours in production; seconds here).
    // Basic notifications (no certificate): the gateway reads each Teams message from Graph, and the last test
    // holds a committed notification before it is relayed by slowing that read.
    f = await Federation.start({ notificationRetryDelaysMs: [1000, 2000, 4000, 8000], certificates: [] });
    juliet = await f.client('juliet');
    await juliet.sendPresence();
    await send('warm', 'warm-up');
    await receipt('warm');
  });
  after(async () => f?.stop());

  it('XMPP -> Teams: killed while Graph was failing, the accepted message is delivered once after restart', async () => {
    f.emulator.throttle({ method: 'POST', path: '/messages', count: 2, retryAfterSeconds: 0, status: 503 });
    // Only this message's failed attempt counts: the warm-up's first post may also have waited (a new account's
    // Teams licence arrives a moment after the account).
    const before = f.gateway.lines.length;
    await send('c1', 'accepted before the crash');
    await eventually(() => f.gateway.lines.slice(before).find((l) => l.message === 'Teams did not accept the message yet; will retry'), 10_000, 'first failed attempt');
    await f.restartGateway('kill');
    await receipt('c1');
    assert.equal(copiesInTeams('accepted before the crash'), 1);
  });

  it('XMPP -> Teams: killed after Graph accepted but before the node recorded it, the message is not posted twice', async () => {
    f.emulator.slowReplies({ method: 'POST', path: '/messages', count: 1, delayMs: 4000 });
    await send('c2', 'in doubt at the crash');
    await eventually(() => (copiesInTeams('in doubt at the crash') === 1 ? true : undefined), 10_000, 'the post reaching Graph');
    await f.restartGateway('kill');
    await receipt('c2');
    assert.equal(copiesInTeams('in doubt at the crash'), 1);
    assert.ok(f.gateway.lines.some((l) => l.message === 'an earlier attempt had reached Teams; not posting again'));
  });

  it('Teams -> XMPP: a message sent while the node is down arrives once (Graph redelivers)', async () => {
    await f.gateway.kill();
    const t0 = Date.now();
    await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, 'sent while the gateway was down');
    await eventually(() => f.emulator.deliveries().find((d) => d.at >= t0 && d.status !== 202), 5_000, 'a failed delivery');
    await f.restartGateway('stop');
    await juliet.waitFor((el) => el.getChildText('body') === 'sent while the gateway was down', 30_000, 'redelivered message');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(copiesAtJuliet('sent while the gateway was down'), 1);
  });

  it('Teams -> XMPP: killed after committing a notification but before relaying it, the message arrives once after restart', async () => {
    f.emulator.slowReplies({ method: 'GET', path: /\/chats\/[^/]+\/messages\/\d+/u, count: 1, delayMs: 4000 });
    const t0 = Date.now();
    await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, 'committed before the crash');
    // The webhook answered 202: the notification is committed; reading the message takes 4 s, so it is not relayed yet.
    await eventually(() => f.emulator.deliveries().find((d) => d.at >= t0 && d.status === 202), 10_000, 'the notification committed');
    assert.equal(copiesAtJuliet('committed before the crash'), 0);
    await f.restartGateway('kill');
    await juliet.waitFor((el) => el.getChildText('body') === 'committed before the crash', 30_000, 'message after restart');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(copiesAtJuliet('committed before the crash'), 1);
  });
});
