/**
 * What an XMPP user sees when Graph pushes back: throttling (429 + Retry-After), transient outages (5xx) and
 * permanent refusals (403), end to end through the real Graph client and the emulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { COMPONENT, Federation } from '../support/federation.js';
import { parsePrometheus, total } from '../support/prometheus.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_RECEIPTS = 'urn:xmpp:receipts';

const receiptFor = (id: string) => (el: Element) => el.name === 'message' && el.getChild('received', NS_RECEIPTS)?.attrs.id === id;
const postedToAlice = (f: Federation, text: string) => f.emulator.chatsOf(ALICE_UPN).some((c) => c.messages.some((m) => m.body.content === text));

async function sendWithReceipt(c: TestXmppClient, id: string, text: string): Promise<void> {
  await c.send(xml('message', { to: ALICE, type: 'chat', id }, xml('body', {}, text), xml('request', { xmlns: NS_RECEIPTS })));
}

describe('Graph throttling and outages', { timeout: 120_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;
  before(async () => {
    f = await Federation.start();
    juliet = await f.client('juliet');
    await juliet.sendPresence();
    await sendWithReceipt(juliet, 'warm-up', 'warm-up');
    await juliet.waitFor(receiptFor('warm-up'), 20_000, 'warm-up receipt');
  });
  after(async () => f?.stop());

  it('waits out a 429 with Retry-After, then delivers; the receipt follows the delivery', async () => {
    f.emulator.throttle({ method: 'POST', path: '/messages', count: 1, retryAfterSeconds: 2 });
    const start = Date.now();
    await sendWithReceipt(juliet, 't-429', 'throttled once');
    await juliet.waitFor(receiptFor('t-429'), 20_000, 'receipt after throttling');
    assert.ok(Date.now() - start >= 1900, `receipt came after ${Date.now() - start} ms, before Retry-After elapsed`);
    assert.ok(postedToAlice(f, 'throttled once'));
    const posts = f.emulator.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/messages') && r.at >= start);
    assert.deepEqual(posts.map((r) => r.status), [429, 201]);
  });

  it('keeps a message through a Graph outage (503) in the outbox and delivers it with backoff, once', async () => {
    f.emulator.throttle({ method: 'POST', path: '/messages', count: 2, retryAfterSeconds: 0, status: 503 });
    const start = Date.now();
    await sendWithReceipt(juliet, 't-503', 'survives an outage');
    await juliet.waitFor(receiptFor('t-503'), 30_000, 'receipt after the outage');
    const posts = f.emulator.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/messages') && r.at >= start);
    assert.deepEqual(posts.map((r) => r.status), [503, 503, 201]);
    const copies = f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.messages).filter((m) => m.body.content === 'survives an outage');
    assert.equal(copies.length, 1);
  });

  it('posts a burst as JSON batches, in order and each once; a post throttled inside a batch waits for its Retry-After', async () => {
    f.emulator.throttle({ method: 'POST', path: '/messages', count: 1, retryAfterSeconds: 1 });
    const posts = async (status: string) =>
      total(parsePrometheus(await f.gateway.metrics()), 'xtg_graph_requests_total', { method: 'POST', endpoint: '/chats/{id}/messages', status });
    const [created0, throttled0] = [await posts('201'), await posts('429')];
    const start = Date.now();
    const texts = Array.from({ length: 30 }, (_, i) => `burst ${i + 1}`);
    for (const [i, text] of texts.entries()) await sendWithReceipt(juliet, `b-${i + 1}`, text);
    for (let i = 1; i <= texts.length; i++) await juliet.waitFor(receiptFor(`b-${i}`), 30_000, `receipt ${i}`);
    const inChat = f.emulator
      .chatsOf(ALICE_UPN)
      .flatMap((c) => c.messages)
      .filter((m) => m.body.content.includes('burst '))
      .map((m) => m.body.content.replace(/<[^>]+>/gu, ''));
    assert.deepEqual(inChat, texts, 'each once, in the order sent');
    const requests = f.emulator.requests().filter((r) => r.method === 'POST' && r.at >= start && (r.path.endsWith('/messages') || r.path.endsWith('/$batch')));
    assert.ok(requests.some((r) => r.path.endsWith('/$batch')), 'a backlog goes as batches');
    assert.ok(requests.length < texts.length, `${requests.length} Graph requests for ${texts.length} messages`);
    // The metrics count each post, inside a batch or not, under its own endpoint and status.
    assert.equal((await posts('201')) - created0, texts.length);
    assert.equal((await posts('429')) - throttled0, 1);
    const receipts = juliet.received.filter((el) => el.name === 'message' && /^b-\d+$/u.test(el.getChild('received', NS_RECEIPTS)?.attrs.id ?? ''));
    assert.deepEqual([...new Set(receipts.map((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id))], texts.map((_, i) => `b-${i + 1}`), 'receipts in order');
  });

  it("keeps a chat's order when an earlier Teams message must be retried (Graph 503 while reading it)", async () => {
    // Four 503s outlast the Graph client's own three retries, so the first message goes back to the inbox.
    f.emulator.throttle({ method: 'GET', path: /\/chats\/[^/]+\/messages\/\d+$/u, count: 4, retryAfterSeconds: 0, status: 503 });
    await f.emulator.sendAs(ALICE_UPN, `juliet@${DEMO.xmppDomain}`, 'first');
    await f.emulator.sendAs(ALICE_UPN, `juliet@${DEMO.xmppDomain}`, 'second');
    const second = await juliet.waitFor((el) => el.getChildText('body') === 'second', 30_000, 'the second message');
    const bodies = juliet.received.filter((el) => el.name === 'message' && (el.getChildText('body') === 'first' || el.getChildText('body') === 'second')).map((el) => el.getChildText('body'));
    assert.deepEqual(bodies, ['first', 'second'], `order: ${bodies.join(', ')} (second arrived as ${second.attrs.id})`);
  });

  it('ignores a retransmission of an accepted message (same id): Teams gets it once, the sender gets the receipt again', async () => {
    await sendWithReceipt(juliet, 't-dup', 'only once');
    await juliet.waitFor(receiptFor('t-dup'), 20_000);
    const receiptsBefore = juliet.received.filter(receiptFor('t-dup')).length;
    await sendWithReceipt(juliet, 't-dup', 'only once');
    await juliet.waitFor((el) => receiptFor('t-dup')(el) && juliet.received.filter(receiptFor('t-dup')).length > receiptsBefore, 20_000);
    const copies = f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.messages).filter((m) => m.body.content === 'only once');
    assert.equal(copies.length, 1);
  });
});

describe('a tenant that did not grant ChatMessage.Send (nor Chat.ReadWrite)', { timeout: 120_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;
  before(async () => {
    f = await Federation.start({ delegatedPermissions: [...DEMO.delegatedPermissions.filter((p) => p !== 'ChatMessage.Send' && p !== 'Chat.ReadWrite'), 'Chat.Read'] });
    juliet = await f.client('juliet');
    await juliet.sendPresence();
  });
  after(async () => f?.stop());

  it('tells the sender with <service-unavailable/> and dead-letters the message, sending no receipt', async () => {
    await sendWithReceipt(juliet, 'x-403', 'cannot be posted');
    const err = await juliet.waitFor((el) => el.attrs.id === 'x-403' && el.attrs.type === 'error', 20_000, 'error');
    assert.equal(err.getChild('error')?.attrs.type, 'cancel');
    assert.ok(err.getChild('error')?.getChild('service-unavailable'));
    assert.match(err.getChild('error')?.getChildText('text') ?? '', /permissions/u);
    assert.equal(juliet.received.filter(receiptFor('x-403')).length, 0);
    assert.equal(postedToAlice(f, 'cannot be posted'), false);
    const post = f.emulator.requests().find((r) => r.method === 'POST' && r.path.endsWith('/messages'));
    assert.equal(post?.status, 403);
    assert.match(await f.gateway.metrics(), /xtg_dead_letters_total\{kind="user-pair",reason="rejected_by_teams"\} 1/u);
    const logLine = f.gateway.lines.find((l) => l.message === 'message dead-lettered; the sender is told');
    assert.equal(logLine?.status, 403);
    assert.equal(JSON.stringify(logLine).includes('cannot be posted'), false, 'the body is not in the error log line');
  });
});
