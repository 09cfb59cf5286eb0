/**
 * Accept on arrival (src/xmpp/accept.ts) on a real store and the real throttle: an accepted message's row is
 * created at the time it was read off the link, so that its relay latency (xtg_relay_latency_seconds, measured from
 * the row's creation to Graph's answer) counts the wait for its pair's rate limit and turn.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { Throttler } from '../../src/policy/throttle.js';
import { parseInbound, type InboundMessage } from '../../src/protocol/stanza.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { OutboxRow } from '../../src/store/store.js';
import { MessageAcceptor, type Accepted } from '../../src/xmpp/accept.js';
import { XmppRequestError, type XmppPort } from '../../src/xmpp/component-link.js';

const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
const KEY = { teamsUserId: 'teams-alice', remoteJid: 'juliet@xmpp.example' };
const TEAMS_JID = 'alice@teams.example';

class NoXmpp implements XmppPort {
  readonly sent: Element[] = [];
  async send(stanza: Element): Promise<void> {
    this.sent.push(stanza);
  }
  isOnline(): boolean {
    return true;
  }
  async request(): Promise<Element> {
    throw new XmppRequestError('not here', 'service-unavailable');
  }
}

function message(id: string, body: string): InboundMessage {
  return parseInbound(xml('message', { from: `${KEY.remoteJid}/desk`, to: TEAMS_JID, id, type: 'chat' }, xml('body', {}, body)), { maxBodyBytes: 10_000 }) as InboundMessage;
}

async function rowsOf(accepted: Accepted): Promise<OutboxRow[]> {
  assert.equal(accepted.kind, 'committing');
  if (accepted.kind !== 'committing') return [];
  const committed = await accepted.committed;
  return 'rows' in committed ? committed.rows : [];
}

describe('accept on arrival: when a message counts as received', () => {
  let store: SqliteStore;
  let acceptor: MessageAcceptor;

  beforeEach(() => {
    store = SqliteStore.open(':memory:');
    const metrics = new Metrics();
    acceptor = new MessageAcceptor({
      store,
      xmpp: new NoXmpp(),
      // One message a second for the pair, and a message over it waits (queue) up to 5 s before its commit.
      throttle: new Throttler({ pair: { messagesPerSecond: 1, messageBurst: 1 }, user: {}, domain: {}, queueDepth: 4 }, metrics),
      metrics,
      settings: { maxTeamsHtmlBytes: 28_000, longMessages: 'split', onRateExceeded: 'queue', maxThrottleDelayMs: 5_000 },
      now: Date.now,
    });
  });
  afterEach(async () => store.close());

  it('creates the row of a message that waited for its rate limit at the time it was read, not after the wait', async () => {
    const turn = async () => undefined;
    const first = await rowsOf(await acceptor.accept(message('m1', 'first'), KEY, TEAMS_JID, turn, { log, admitted: false, receivedAt: Date.now() }));
    const readAt = Date.now();
    const second = await rowsOf(await acceptor.accept(message('m2', 'second'), KEY, TEAMS_JID, turn, { log, admitted: false, receivedAt: readAt }));
    const committedAt = Date.now();
    assert.equal(first.length, 1);
    assert.equal(second.length, 1);
    assert.ok(committedAt - readAt >= 500, `the second message waited for the pair's rate (${committedAt - readAt} ms)`);
    assert.equal(second[0]?.createdAt, readAt, 'created when read off the link');
    assert.equal((await store.pendingOutbound(KEY)).find((r) => r.stanzaId === 'm2')?.createdAt, readAt, 'as committed');
  });

  it('creates the row at the time of its commit when the caller does not say when it was read', async () => {
    const before = Date.now();
    const rows = await rowsOf(await acceptor.accept(message('m3', 'third'), KEY, TEAMS_JID, async () => undefined, { log, admitted: false }));
    assert.ok((rows[0]?.createdAt ?? 0) >= before);
  });
});
