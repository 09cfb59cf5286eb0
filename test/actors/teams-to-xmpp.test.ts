/**
 * Teams -> XMPP in one pair actor: a chat's new messages that come together (one 'teams-messages' actor message)
 * reach the XMPP user once each, in order, whether or not some of them were relayed before (a notification
 * redelivered after the node died between sending and finishing it). The store is real (SQLite in memory); the XMPP
 * link keeps what it is sent.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { Element } from '@xmpp/xml';
import type { PairDeps } from '../../src/actors/user-pair/messages.js';
import { PairContext } from '../../src/actors/user-pair/pair-context.js';
import { TeamsToXmpp } from '../../src/actors/user-pair/teams-to-xmpp.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { TeamsChatMessage } from '../../src/teams/teams-port.js';
import { XmppLinkDownError, type XmppPort } from '../../src/xmpp/component-link.js';
import { countingStore } from '../support/counting-store.js';

const CHAT = '19:alice_juliet@unq.gbl.spaces';
const key = { teamsUserId: 'alice-id', remoteJid: 'juliet@xmpp.example' };
const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

/** A text message Alice wrote in the chat (as a rich notification carries it). */
function hers(id: string, text: string): { messageId: string; message: TeamsChatMessage } {
  return { messageId: id, message: { id, chatId: CHAT, fromUserId: key.teamsUserId, messageType: 'message', contentType: 'text', content: text, createdAt: Date.now() } };
}

/** A pair's Teams -> XMPP side over the given link and store (the chat known, Alice's identity set). */
async function teamsToXmpp(xmpp: XmppPort, store: SqliteStore | ReturnType<typeof countingStore>): Promise<TeamsToXmpp> {
  const deps = {
    store,
    xmpp,
    teams: { ensurePuppet: async (jid: string) => ({ remoteJid: jid, userId: 'puppet-juliet', upn: 'juliet@xmpp.contoso.example' }) },
    subscriptions: { puppetReady: async () => undefined },
    policy: { verdict: () => ({ allowed: true }) },
    throttle: { admit: async () => ({ ok: true }) },
    metrics: new Metrics({ defaultMetrics: false }),
    settings: { maxThrottleDelayMs: 0 },
    now: Date.now,
  } as unknown as PairDeps;
  const c = new PairContext(key, deps, log, () => undefined);
  c.pair = await deps.store.updatePair(key, { chatId: CHAT });
  c.teamsUser = { id: key.teamsUserId, upn: 'alice@contoso.example', displayName: 'Alice' };
  c.teamsJid = 'alice@teams.xmpp.example';
  return new TeamsToXmpp(c);
}

describe('TeamsToXmpp', () => {
  const store = SqliteStore.open(':memory:');
  after(() => store.close());

  it("relays a chat's new messages once each, in order, skipping those relayed before, with one store read for the lot", async () => {
    const sent: Element[] = [];
    const xmpp: XmppPort = { send: async (el) => void sent.push(el), isOnline: () => true, request: () => Promise.reject(new Error('not used')) };
    const reads = { lookups: 0 };
    const inbound = await teamsToXmpp(xmpp, countingStore(store, reads, ['findRelayed', 'relayedAmong']));
    const bodies = () => sent.map((el) => [el.attrs.id, el.getChildText('body')]);

    assert.deepEqual(await inbound.relayAll(CHAT, [hers('m1', 'one'), hers('m2', 'two')], log), { status: 'done', finished: 2 });
    assert.deepEqual(bodies(), [['m1', 'one'], ['m2', 'two']]);

    // The node died after sending m1 and m2 but before their notifications were finished: they come again, with m3.
    sent.length = 0;
    const before = reads.lookups;
    assert.deepEqual(await inbound.relayAll(CHAT, [hers('m1', 'one'), hers('m2', 'two'), hers('m3', 'three')], log), { status: 'done', finished: 3 });
    assert.deepEqual(bodies(), [['m3', 'three']], 'only the new one reaches XMPP');
    assert.equal(reads.lookups - before, 1, 'one read of relayed ids for the three');

    // A new activation (another node took the pair over) knows only what the store says.
    sent.length = 0;
    assert.deepEqual(await (await teamsToXmpp(xmpp, store)).relayAll(CHAT, [hers('m2', 'two'), hers('m3', 'three'), hers('m4', 'four')], log), { status: 'done', finished: 3 });
    assert.deepEqual(bodies(), [['m4', 'four']]);
  });

  it("hands a run's stanzas to the link together, none waiting for the write of the one before, and commits each once written", async () => {
    const events: string[] = [];
    // As the component link does: a stanza is written when the event loop's turn ends (the socket is corked till then).
    const xmpp: XmppPort = {
      send: (el) => {
        events.push(`send ${el.attrs.id}`);
        return new Promise((resolve) => setImmediate(() => resolve(void events.push(`written ${el.attrs.id}`))));
      },
      isOnline: () => true,
      request: () => Promise.reject(new Error('not used')),
    };
    const inbound = await teamsToXmpp(xmpp, store);
    assert.deepEqual(await inbound.relayAll(CHAT, [hers('w1', 'one'), hers('w2', 'two'), hers('w3', 'three')], log), { status: 'done', finished: 3 });
    assert.deepEqual(events, ['send w1', 'send w2', 'send w3', 'written w1', 'written w2', 'written w3']);
    assert.deepEqual([...(await store.relayedAmong(CHAT, ['w1', 'w2', 'w3']))].sort(), ['w1', 'w2', 'w3'], 'committed before the outcome');
  });

  it('stops a run at the stanza the link refuses: those before it are relayed and committed, it and the rest are retried in order', async () => {
    const sent: string[] = [];
    let online = true;
    let drops = 1;
    const xmpp: XmppPort = {
      send: async (el) => {
        if (el.attrs.id === 'd2' && drops-- > 0) online = false; // the link drops as d2 is handed over, once
        if (!online) throw new XmppLinkDownError();
        sent.push(el.attrs.id as string);
      },
      isOnline: () => online,
      request: () => Promise.reject(new Error('not used')),
    };
    const inbound = await teamsToXmpp(xmpp, store);
    const run = [hers('d1', 'one'), hers('d2', 'two'), hers('d3', 'three')];
    assert.deepEqual(await inbound.relayAll(CHAT, run, log), { status: 'retry', reason: 'the XMPP link is down', finished: 1 });
    assert.deepEqual(sent, ['d1']);
    assert.deepEqual([...(await store.relayedAmong(CHAT, ['d1', 'd2', 'd3']))], ['d1'], 'only what was written counts as relayed');

    online = true;
    assert.deepEqual(await inbound.relayAll(CHAT, run, log), { status: 'done', finished: 3 });
    assert.deepEqual(sent, ['d1', 'd2', 'd3'], 'the retry sends the rest, in order, and d1 not again');
  });
});
