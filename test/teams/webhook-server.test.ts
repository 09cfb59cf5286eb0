import assert from 'node:assert/strict';
import { request, Agent, type IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { OwnPosts } from '../../src/teams/own-posts.js';
import { WebhookServer, type WebhookOptions } from '../../src/teams/webhook-server.js';
import { freePort } from '../support/ports.js';

const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

/** A webhook on a free port in front of `store`, with sub-1 (clientState right-secret) as its subscription. */
async function startWebhook(store: SqliteStore, onRecorded: () => void, extra: Partial<WebhookOptions> = {}): Promise<{ server: WebhookServer; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graph/notifications`;
  const server = new WebhookServer({ listen: `127.0.0.1:${port}`, publicUrl: url, tls: undefined, store, log, metrics: new Metrics({ defaultMetrics: false }), onRecorded, ...extra });
  await server.start();
  await store.saveSubscription({ id: 'sub-1', purpose: 'messages:p1', resource: '/users/p1/chats/getAllMessages', changeType: 'created', ownerUserId: 'p1', clientState: 'right-secret', expiresAt: Date.now() + 3_600_000 });
  return { server, url };
}

describe('change-notification webhook', () => {
  const store = SqliteStore.open(':memory:');
  let server: WebhookServer;
  let url: string;
  let kicks = 0;
  before(async () => {
    ({ server, url } = await startWebhook(store, () => kicks++));
  });
  after(async () => {
    await server.stop();
    await store.close();
  });

  const post = (body: unknown, path = url) => fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const note = (clientState: string, messageId: string) => ({
    value: [{ subscriptionId: 'sub-1', clientState, changeType: 'created', resource: `chats('19:a_b@unq.gbl.spaces')/messages('${messageId}')`, tenantId: 't' }],
  });

  it('answers the validation handshake with the decoded token as text/plain', async () => {
    const token = 'Validation: Testing client application reachability for subscription Request-Id: 1b2c & more';
    const r = await fetch(`${url}?validationToken=${encodeURIComponent(token)}`, { method: 'POST', headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/u);
    assert.equal(await r.text(), token);
  });

  it('commits a notification with the right clientState, then answers 202; a redelivery is not recorded twice', async () => {
    const r = await post(note('right-secret', 'm1'));
    assert.equal(r.status, 202);
    const again = await post(note('right-secret', 'm1'));
    assert.equal(again.status, 202);
    const due = await store.dueNotifications(Date.now(), 10);
    assert.deepEqual(due.map((n) => n.dedupKey), ['created:m1/19:a_b@unq.gbl.spaces']);
    assert.equal(kicks, 1);
  });

  it('refuses a notification with a wrong clientState or for an unknown subscription', async () => {
    assert.equal((await post(note('wrong-secret', 'm2'))).status, 403);
    assert.equal((await post({ value: [{ ...note('right-secret', 'm3').value[0], subscriptionId: 'nope' }] })).status, 403);
    assert.deepEqual((await store.dueNotifications(Date.now(), 10)).map((n) => n.dedupKey), ['created:m1/19:a_b@unq.gbl.spaces']);
  });

  it('rejects malformed and oversized bodies, and other paths', async () => {
    assert.equal((await post('{not json')).status, 400);
    assert.equal((await post({ value: [{ clientState: 'x' }] })).status, 400);
    assert.equal((await post('x'.repeat(1_100_000))).status, 413);
    assert.equal((await post({ value: [] }, url.replace('/graph/notifications', '/other'))).status, 404);
  });
});

describe('a stopping webhook', () => {
  it('tells a client that keeps its connection busy to reconnect, and stops in time', async () => {
    const store = SqliteStore.open(':memory:');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/graph/notifications`;
    const server = new WebhookServer({ listen: `127.0.0.1:${port}`, publicUrl: url, tls: undefined, store, log, metrics: new Metrics({ defaultMetrics: false }), onRecorded: () => undefined });
    await server.start();
    // One keep-alive connection, a request every 20 ms (as a balancer or Graph reusing its connection does), and
    // one of them still being sent when the node starts to stop: its connection is busy, not idle.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const answer = (res: IncomingMessage) =>
      new Promise<{ status: number; connection: string | undefined }>((resolve) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      });
    const ask = () =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const req = request(`${url}?validationToken=ping`, { method: 'POST', agent }, (res) => void answer(res).then(resolve));
        req.on('error', reject);
        req.end();
      });
    assert.equal((await ask()).connection, 'keep-alive');
    const inFlight = request(`${url}?validationToken=ping`, { method: 'POST', agent, headers: { 'content-type': 'text/plain' } });
    const first = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      inFlight.on('response', (res) => void answer(res).then(resolve));
      inFlight.on('error', reject);
    });
    inFlight.write('x');
    await new Promise((resolve) => setTimeout(resolve, 100));
    let stopped = false;
    const started = Date.now();
    const stopping = server.stop().then(() => (stopped = true));
    inFlight.end();
    const answers = [await first];
    while (!stopped && Date.now() - started < 15_000) {
      try {
        answers.push(await ask());
      } catch {
        break; // the listener is gone: a new connection is refused
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await stopping;
    agent.destroy();
    await store.close();
    assert.ok(Date.now() - started < 6_000, `stopped after ${Date.now() - started} ms`);
    assert.ok(answers.every((a) => a.status === 200), 'requests in flight were answered');
    assert.equal(answers.at(-1)?.connection, 'close', 'told to reconnect');
  });
});

describe('change-notification webhook: the Teams messages this node posted itself', () => {
  const store = SqliteStore.open(':memory:');
  const posted = new OwnPosts();
  let server: WebhookServer;
  let url: string;
  let kicks = 0;
  before(async () => {
    // As in a cluster: the store is asked about the messages not posted here.
    ({ server, url } = await startWebhook(store, () => kicks++, {
      postedHere: (chatId, messageId) => posted.has(chatId, messageId),
      relayedAmong: (chatId, messageIds) => store.relayedAmong(chatId, messageIds),
    }));
  });
  after(async () => {
    await server.stop();
    await store.close();
  });

  const created = (messageId: string) => ({
    value: [{ subscriptionId: 'sub-1', clientState: 'right-secret', changeType: 'created', resource: `chats('19:a_b@unq.gbl.spaces')/messages('${messageId}')`, tenantId: 't' }],
  });
  const post = (body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('acknowledges the notification of its own post without an inbox row, before the relayed id is committed', async () => {
    posted.add('19:a_b@unq.gbl.spaces', 'own-1');
    assert.equal((await post(created('own-1'))).status, 202);
    assert.equal((await post(created('hers-1'))).status, 202);
    assert.deepEqual((await store.dueNotifications(Date.now(), 10)).map((n) => n.dedupKey), ['created:hers-1/19:a_b@unq.gbl.spaces']);
    assert.equal(kicks, 1);
  });

  it('commits, of a collection over two chats, only the messages neither posted here nor relayed already, in order', async () => {
    const chatB = '19:c_d@unq.gbl.spaces';
    posted.add('19:a_b@unq.gbl.spaces', 'own-2');
    await store.recordRelayed({ chatId: '19:a_b@unq.gbl.spaces', teamsMessageId: 'done-1', direction: 'teams_to_xmpp', xmppId: 'done-1' }, Date.now());
    await store.recordRelayed({ chatId: chatB, teamsMessageId: 'done-2', direction: 'xmpp_to_teams', xmppId: 'x-2' }, Date.now());
    const item = (chatId: string, messageId: string) => ({ subscriptionId: 'sub-1', clientState: 'right-secret', changeType: 'created', resource: `chats('${chatId}')/messages('${messageId}')`, tenantId: 't' });
    const value = [item(chatB, 'new-1'), item('19:a_b@unq.gbl.spaces', 'own-2'), item('19:a_b@unq.gbl.spaces', 'done-1'), item(chatB, 'done-2'), item('19:a_b@unq.gbl.spaces', 'new-2'), item(chatB, 'new-3')];
    const before = new Set((await store.dueNotifications(Date.now(), 100)).map((n) => n.dedupKey));
    assert.equal((await post({ value })).status, 202);
    const added = (await store.dueNotifications(Date.now(), 100)).map((n) => n.dedupKey).filter((k) => !before.has(k));
    assert.deepEqual(added, [`created:new-1/${chatB}`, 'created:new-2/19:a_b@unq.gbl.spaces', `created:new-3/${chatB}`]);
  });

  it('on a lone node, asks the store nothing: only its own posts, known in memory, are left out', async () => {
    const alone = SqliteStore.open(':memory:');
    let asked = 0;
    const relayedAmong = alone.relayedAmong.bind(alone);
    alone.relayedAmong = (chatId, ids) => {
      asked++;
      return relayedAmong(chatId, ids);
    };
    const started = await startWebhook(alone, () => undefined, { postedHere: (chatId, messageId) => posted.has(chatId, messageId) });
    try {
      posted.add('19:a_b@unq.gbl.spaces', 'own-3');
      // Relayed already, by a node before a restart: recorded here, and finished by its pair, which checks the relayed ids.
      await alone.recordRelayed({ chatId: '19:a_b@unq.gbl.spaces', teamsMessageId: 'earlier-1', direction: 'xmpp_to_teams', xmppId: 'x-9' }, Date.now());
      const value = ['own-3', 'earlier-1', 'new-4'].map((m) => created(m).value[0]);
      const r = await fetch(started.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value }) });
      assert.equal(r.status, 202);
      assert.deepEqual((await alone.dueNotifications(Date.now(), 10)).map((n) => n.dedupKey), ['created:earlier-1/19:a_b@unq.gbl.spaces', 'created:new-4/19:a_b@unq.gbl.spaces']);
      assert.equal(asked, 0);
    } finally {
      await started.server.stop();
      await alone.close();
    }
  });

  it('remembers a bounded number of posts, the oldest forgotten first', () => {
    const few = new OwnPosts(2);
    few.add('c', '1');
    few.add('c', '2');
    few.add('c', '3');
    assert.deepEqual([few.has('c', '1'), few.has('c', '2'), few.has('c', '3')], [false, true, true]);
  });
});
