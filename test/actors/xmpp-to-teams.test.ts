/**
 * XMPP -> Teams delivery in one pair actor, with the XMPP link down when Graph accepts a message (the node holding
 * the link died and another is taking it over): the receipt is kept and sent once the link is back, so the sender
 * hears about every message the gateway accepted. The store is real (SQLite in memory); Graph and the XMPP link
 * are ports answering as the test says.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { Element } from '@xmpp/xml';
import type { PairDeps, PairMessage } from '../../src/actors/user-pair/messages.js';
import { PairContext } from '../../src/actors/user-pair/pair-context.js';
import { BATCH_ROWS, XmppToTeams } from '../../src/actors/user-pair/xmpp-to-teams.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { TeamsError, type ChatPost, type PostOutcome, type TeamsPort } from '../../src/teams/teams-port.js';
import { XmppLinkDownError, type XmppPort } from '../../src/xmpp/component-link.js';

/**
 * A Graph that answers the calls of a post (puppet, chat, message, batch of messages) and keeps what it posted.
 * `batchScript` answers the batches in turn, post by post: 'ok', or a status (429 with `retryMs`, 424, ...); or
 * 'refused': Graph refuses the batch itself (400).
 */
function postingTeams(chatId: string, batchScript: ((number | 'ok')[] | 'refused')[] = [], retryMs = 0): { teams: TeamsPort; posts: () => number; posted: string[]; batches: () => number } {
  let posts = 0;
  let batches = 0;
  const posted: string[] = [];
  const post = (html: string) => {
    posted.push(html);
    return `tm-${chatId}-${++posts}`;
  };
  const teams = new Proxy({} as TeamsPort, {
    get: (_t, prop) => {
      if (prop === 'ensurePuppet') return async (jid: string) => ({ remoteJid: jid, userId: `puppet-${chatId}`, upn: `p-${chatId}@xmpp.contoso.example` });
      if (prop === 'ensureChat') return async () => chatId;
      if (prop === 'sendMessage') return async (_p: unknown, _c: string, html: string) => post(html);
      if (prop === 'postMessages') {
        return async (_p: unknown, _c: string, list: readonly ChatPost[]): Promise<PostOutcome[]> => {
          const script = batchScript[batches++] ?? list.map(() => 'ok' as const);
          if (script === 'refused') throw new TeamsError('post the messages to Teams: BadRequest Invalid batch payload format.', 400, 'BadRequest', false);
          return list.map((p, i) => {
            const s = script[i] ?? 'ok';
            if (s === 'ok') return { id: post(p.html) };
            return { error: new TeamsError(`post: status ${s}`, s, s === 429 ? 'TooManyRequests' : 'FailedDependency', true, s === 429 ? retryMs : undefined) };
          });
        };
      }
      return () => Promise.reject(new Error(`not used: ${String(prop)}`));
    },
  });
  return { teams, posts: () => posts, posted, batches: () => batches };
}

/** The ports of one pair actor: the store is real, Graph and the XMPP link as the test says. */
function pairDeps(store: SqliteStore, teams: TeamsPort, xmpp: XmppPort, backoffMs = 1000): PairDeps {
  return {
    store,
    teams,
    xmpp,
    subscriptions: { puppetReady: async () => undefined, presenceInterestChanged: async () => undefined },
    metrics: new Metrics({ defaultMetrics: false }),
    settings: { outboxMaxAttempts: 10, outboxBackoffInitialMs: backoffMs, outboxBackoffMaxMs: 300_000 },
    now: Date.now,
  } as unknown as PairDeps;
}

/**
 * A pair (whose XMPP link is up and keeps what it is sent) with `count` messages committed to its outbox, each
 * asking for a receipt: `${tag}${i}` with the body `${word} ${i}`.
 */
async function pairWithBacklog(store: SqliteStore, graph: { teams: TeamsPort }, o: { user: string; jid: string; chatId: string; tag: string; word: string; count: number }) {
  const sent: Element[] = [];
  const xmpp: XmppPort = { send: async (el) => void sent.push(el), isOnline: () => true, request: () => Promise.reject(new Error('not used')) };
  const key = { teamsUserId: `${o.user}-id`, remoteJid: o.jid };
  const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
  const selfMessages: PairMessage[] = [];
  const c = new PairContext(key, pairDeps(store, graph.teams, xmpp, 10), log, (m) => selfMessages.push(m));
  c.pair = await store.updatePair(key, { chatId: o.chatId });
  c.teamsJid = `${o.user}@teams.xmpp.example`;
  const rows = [];
  for (let i = 1; i <= o.count; i++) {
    rows.push((await store.enqueueOutbound({ ...key, dedupKey: `${o.tag}${i}`, sender: `${o.jid}/pc`, stanzaId: `${o.tag}${i}`, receiptRequested: true, body: `${o.word} ${i}` }, Date.now())).row);
  }
  const receipts = () => sent.map((el) => el.getChild('received', 'urn:xmpp:receipts')?.attrs.id);
  // `another`: the pair's next activation (after a move or a restart), over the same store and ports.
  return { outbound: new XmppToTeams(c), another: () => new XmppToTeams(c), key, log, rows, selfMessages, receipts };
}

describe('XmppToTeams', () => {
  const store = SqliteStore.open(':memory:');
  after(() => store.close());

  it('keeps a receipt the link could not take, and sends it once the link is back', async () => {
    let linkUp = false;
    const sent: Element[] = [];
    const xmpp: XmppPort = {
      send: async (el) => {
        if (!linkUp) throw new XmppLinkDownError();
        sent.push(el);
      },
      isOnline: () => linkUp,
      request: () => Promise.reject(new Error('not used')),
    };
    const graph = postingTeams('chat-1');
    const selfMessages: PairMessage[] = [];
    const deps = pairDeps(store, graph.teams, xmpp);
    const key = { teamsUserId: 'alice-id', remoteJid: 'juliet@xmpp.example' };
    const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
    const c = new PairContext(key, deps, log, (m) => selfMessages.push(m));
    c.pair = await store.updatePair(key, { chatId: 'chat-1' });
    c.teamsJid = 'alice.smith@teams.xmpp.example';
    const outbound = new XmppToTeams(c);
    const { row } = await store.enqueueOutbound({ ...key, dedupKey: 'k1', sender: 'juliet@xmpp.example/phone', stanzaId: 'm1', receiptRequested: true, body: 'hello' }, Date.now());
    await outbound.accepted([row], log);
    assert.equal(graph.posts(), 1, 'posted while the link was down');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sent.length, 0, 'no link: nothing sent yet');
    // The actor is woken (its drain timer) and sends the receipt once the link is back.
    linkUp = true;
    await new Promise((r) => setTimeout(r, 1_100));
    assert.deepEqual(selfMessages.map((m) => m.type), ['drain']);
    await outbound.drain(log);
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.getChild('received', 'urn:xmpp:receipts')?.attrs.id, 'm1');
    assert.equal(graph.posts(), 1, 'posted once');
    await outbound.stop();
  });

  it('logs each message it delivers under the correlation id of the stanza that brought it, whoever woke it', async () => {
    const xmpp: XmppPort = { send: async () => undefined, isOnline: () => true, request: () => Promise.reject(new Error('not used')) };
    const deps = pairDeps(store, postingTeams('chat-2').teams, xmpp);
    const key = { teamsUserId: 'bob-id', remoteJid: 'romeo@xmpp.example' };
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({ write: (c: Buffer, _e, cb) => { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } });
    // The actor was woken by something else (its activation, another stanza): that is the log it is handed.
    const log = createLogger({ level: 'debug', nodeId: 't', stream }).child({ correlationId: 'activation' });
    const c = new PairContext(key, deps, log, () => undefined);
    c.pair = await store.updatePair(key, { chatId: 'chat-2' });
    c.teamsJid = 'bob.jones@teams.xmpp.example';
    const outbound = new XmppToTeams(c);
    const rows = [];
    for (const [i, corr] of [['1', 'stanza-1'], ['2', 'stanza-2']] as const) {
      const m = { ...key, dedupKey: `o${i}`, sender: 'romeo@xmpp.example/pc', stanzaId: `o${i}`, receiptRequested: false, body: `hi ${i}`, origin: { correlationId: corr } };
      rows.push((await store.enqueueOutbound(m, Date.now())).row);
    }
    const { row: plain } = await store.enqueueOutbound({ ...key, dedupKey: 'o3', sender: 'romeo@xmpp.example/pc', stanzaId: 'o3', receiptRequested: false, body: 'hi 3' }, Date.now());
    await outbound.accepted([...rows, plain], log);
    await new Promise((r) => setTimeout(r, 50));
    const relayed = lines.filter((l) => l.message === 'message relayed to Teams');
    assert.deepEqual(relayed.map((l) => l.correlationId), ['stanza-1', 'stanza-2', 'activation'], 'a row without an origin (written before it existed) keeps the caller\'s');
    await outbound.stop();
  });
  it('does not post again rows an earlier activation delivered, when their hand-over reaches the next one (a move, a restart)', async () => {
    const graph = postingTeams('chat-moved');
    const p = await pairWithBacklog(store, graph, { user: 'mover', jid: 'mover@xmpp.example', chatId: 'chat-moved', tag: 'mv', word: 'moved', count: 3 });
    // The first activation delivers the three rows (loaded, then drained, as an activation does; their hand-over
    // then finds them taken).
    assert.equal(await p.outbound.load(), 3);
    await p.outbound.drain(p.log);
    await p.outbound.accepted(p.rows, p.log);
    await p.outbound.stop();
    assert.equal(graph.posts(), 3);
    // The pair moved: the next activation loads (nothing pending), then a hand-over sent to the first one arrives,
    // its copies of the rows still saying pending.
    const next = p.another();
    assert.equal(await next.load(), 0);
    await next.accepted(p.rows, p.log);
    await next.stop();
    assert.equal(graph.posts(), 3, 'nothing posted twice');
    // A message accepted after the move is this activation's to deliver, once.
    const { row } = await store.enqueueOutbound({ ...p.key, dedupKey: 'mv4', sender: 'mover@xmpp.example/pc', stanzaId: 'mv4', receiptRequested: true, body: 'moved 4' }, Date.now());
    await next.accepted([row], p.log);
    await next.accepted([row], p.log);
    await next.stop();
    assert.equal(graph.posts(), 4);
    assert.deepEqual(graph.posted.map((h) => h.replace(/<[^>]*>/gu, '')), ['moved 1', 'moved 2', 'moved 3', 'moved 4']);
  });

  it('posts a backlog as batches in order; a post throttled inside one waits for its Retry-After and the rest keep their order behind it', async () => {
    // The first batch: two posts go in, the third is throttled (429, retry in 80 ms), the rest are not run (424).
    const graph = postingTeams('chat-3', [['ok', 'ok', 429, ...Array.from({ length: BATCH_ROWS - 3 }, () => 424)]], 80);
    const { outbound, key, log, rows, selfMessages, receipts } = await pairWithBacklog(store, graph, { user: 'carol', jid: 'mercutio@xmpp.example', chatId: 'chat-3', tag: 'c', word: 'line', count: 25 });
    // Only the first row is handed over: the others were committed too, their hand-over still on its way.
    const throttledAt = Date.now();
    await outbound.accepted(rows.slice(0, 1), log);
    assert.equal(graph.posted.length, 2, 'two posted before the throttled one');
    // Its retry is due after the Retry-After: the actor is woken by its drain timer.
    while (selfMessages.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.ok(Date.now() - throttledAt >= 75, 'waited for the Retry-After');
    await outbound.drain(log);
    await outbound.accepted(rows.slice(1), log); // the late hand-overs: already taken in, nothing posted twice
    await outbound.stop();
    assert.deepEqual(graph.posted, Array.from({ length: 25 }, (_, i) => `line ${i + 1}`), 'each posted once, in order');
    assert.ok(graph.batches() >= 3 && graph.batches() <= 5, `${graph.batches()} batches for 25 posts`);
    assert.deepEqual(receipts(), Array.from({ length: 25 }, (_, i) => `c${i + 1}`), 'one receipt per message, in order');
    assert.deepEqual(await store.pendingOutbound(key), []);
  });
  it('posts one by one, each once and in order, when Graph refuses a batch itself', async () => {
    const graph = postingTeams('chat-4', ['refused']);
    const { outbound, key, log, rows, receipts } = await pairWithBacklog(store, graph, { user: 'dave', jid: 'tybalt@xmpp.example', chatId: 'chat-4', tag: 'd', word: 'word', count: 12 });
    await outbound.accepted(rows, log);
    await outbound.drain(log);
    await outbound.stop();
    assert.equal(graph.batches(), 1, 'no batch after the refused one');
    assert.deepEqual(graph.posted, Array.from({ length: 12 }, (_, i) => `word ${i + 1}`), 'each posted once, in order');
    assert.deepEqual(receipts(), Array.from({ length: 12 }, (_, i) => `d${i + 1}`), 'every receipt, in order');
    assert.deepEqual(await store.pendingOutbound(key), []);
  });
});
