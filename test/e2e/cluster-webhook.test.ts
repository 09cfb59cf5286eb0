/**
 * Graph's webhook across a cluster (issue 13 item 3): a node handing off its actors (SIGTERM) still answers Graph
 * in time and commits what it is sent, as the inbox is shared; Graph sees only 2xx answers, none slow (over
 * 2.9 s: https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#throttling), and every
 * Teams message reaches XMPP once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { ClusterFederation } from '../support/cluster-federation.js';
import { COMPONENT, XMPP_DOMAIN, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const JULIET = `juliet@${XMPP_DOMAIN}`;

describe('the webhook of a cluster node handing off', { timeout: 180_000 }, () => {
  let f: ClusterFederation;
  let juliet: TestXmppClient;

  before(async () => {
    f = await ClusterFederation.start({ nodes: 2, maxNodes: 2, leaseSeconds: 2 });
    juliet = await f.client('juliet');
    await juliet.sendPresence();
    await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'hello' }, xml('body', {}, 'hello')));
    await eventually(() => f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages')), 30_000, 'the message subscription');
  });
  after(async () => f?.stop());

  it('answers every notification in time while a node leaves, commits on the leaving node too, and relays each message once', async () => {
    const status = await f.status();
    const leaving = f.node(status.nodes.find((n) => !n.roles.includes('xmpp-link'))?.id ?? assert.fail('a node without the XMPP link'));
    const t0 = Date.now();
    const texts = Array.from({ length: 40 }, (_, i) => `during the handoff ${i}`);
    const sending = (async () => {
      for (const t of texts) {
        await f.emulator.sendAs(ALICE_UPN, JULIET, t);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // While it leaves, Graph POSTs to it directly too (a load balancer does not retry a POST elsewhere), until its
    // listener is gone: a notification of Alice's first message, already relayed, so harmless to repeat.
    const sub = f.emulator.subscriptions().find((x) => x.resource.endsWith('/chats/getAllMessages')) ?? assert.fail('subscription');
    const first = f.emulator.chatsOf(ALICE_UPN)[0]?.messages[0] ?? assert.fail('a message');
    const body = JSON.stringify({
      value: [{ subscriptionId: sub.id, clientState: sub.clientState, changeType: 'created', tenantId: f.emulator.tenantId, resource: `chats('${first.chatId}')/messages('${first.id}')` }],
    });
    const stopping = leaving.process.stop();
    const answers: { status: number; ms: number }[] = [];
    let exited = false;
    void stopping.then(() => (exited = true));
    while (!exited) {
      const started = Date.now();
      try {
        const r = await fetch(`http://127.0.0.1:${leaving.ports.webhook}/graph/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        answers.push({ status: r.status, ms: Date.now() - started });
      } catch {
        break; // its listener closed
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const code = await stopping;
    f.retire(leaving);
    await sending;
    assert.equal(code, 0);
    assert.ok(answers.length > 0, 'the leaving node was asked');
    assert.deepEqual(answers.filter((a) => a.status !== 202 || a.ms > 2900), [], 'the leaving node answered 202 in time until its listener closed');
    for (const t of texts) await juliet.waitFor((el: Element) => el.getChildText('body') === t, 30_000, t);
    const copies = (t: string) => juliet.received.filter((el) => el.getChildText('body') === t).length;
    assert.deepEqual(texts.filter((t) => copies(t) !== 1), [], 'each message once');
    const posts = f.emulator.deliveries().filter((d) => d.at >= t0 && d.kind === 'change');
    assert.deepEqual(posts.filter((d) => d.status === undefined || d.status >= 300 || d.slow || d.dropped), [], 'every POST answered 2xx within 2.9 s');
    process.stdout.write(`# handoff: ${answers.length} direct POSTs to the leaving node, all 202; ${posts.length} Graph POSTs, slowest ${Math.max(...posts.map((d) => d.durationMs ?? 0))} ms\n`);
    assert.ok(leaving.process.lines.every((l) => l.message !== 'webhook handler failed'));
  });
});
