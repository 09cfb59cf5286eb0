import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import type { Envelope } from '../../src/actors/actor.js';
import type { Outcome, PairMessage } from '../../src/actors/user-pair-actor.js';
import { createLogger } from '../../src/observability/logger.js';
import type { OutboxRow, PairKey } from '../../src/store/store.js';
import { AcceptedHandOver, MAX_BATCH_CHARS, MAX_BATCH_ROWS } from '../../src/xmpp/accepted-handover.js';

const alice: PairKey = { teamsUserId: 'teams-1', remoteJid: 'alice@xmpp.example' };
const bob: PairKey = { teamsUserId: 'teams-1', remoteJid: 'bob@xmpp.example' };

const row = (key: PairKey, id: number, body = `message ${id}`): OutboxRow => ({
  ...key,
  id,
  dedupKey: `k${id}`,
  sender: `${key.remoteJid}/phone`,
  stanzaId: `s${id}`,
  receiptRequested: true,
  body,
  state: 'pending',
  attempts: 0,
  nextAttemptAt: 0,
  lastError: undefined,
  teamsMessageId: undefined,
  sendingSince: undefined,
  createdAt: 0,
});

const envelope = (id: number): Envelope => ({ correlationId: `c${id}` });
const turn = () => new Promise((r) => setImmediate(r));

/** A pair actor whose every message is answered when the test says so; what it was told, in order. */
function actors(answer: 'done' | 'fail' = 'done') {
  const told: { key: PairKey; ids: number[]; correlationId: string; finish: () => void }[] = [];
  const tell = (key: PairKey, m: PairMessage, e: Envelope): Promise<Outcome> =>
    new Promise((resolve, reject) => {
      assert.equal(m.type, 'xmpp-accepted');
      const ids = m.type === 'xmpp-accepted' ? m.rows.map((r) => r.id) : [];
      told.push({ key, ids, correlationId: e.correlationId, finish: () => (answer === 'done' ? resolve({ status: 'done' }) : reject(new Error('actor unavailable'))) });
    });
  return { told, tell };
}

const lines: Record<string, unknown>[] = [];
const log = createLogger({ level: 'info', nodeId: 'test', stream: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }) });

/** A hand-over to actors that answer as `answer` says. */
function handOver(answer: 'done' | 'fail' = 'done') {
  const a = actors(answer);
  return { a, h: new AcceptedHandOver(a.tell, log) };
}

describe('AcceptedHandOver', () => {
  it("gives the rows of the stanzas accepted while the pair's actor is busy to it together, in arrival order, once it is done", async () => {
    const { a, h } = handOver();
    h.add(alice, [row(alice, 1)], envelope(1));
    h.add(alice, [row(alice, 2), row(alice, 3)], envelope(2)); // a long message split in two parts
    h.add(alice, [row(alice, 4)], envelope(4));
    await turn();
    assert.deepEqual(a.told.map((t) => t.ids), [[1]]);
    assert.equal(h.pending(), 3);
    a.told[0]?.finish();
    await turn();
    assert.deepEqual(a.told.map((t) => [t.ids, t.correlationId]), [[[1], 'c1'], [[2, 3, 4], 'c2']]);
    a.told[1]?.finish();
    await turn();
    assert.equal(h.pending(), 0);
    // Idle again: the next stanza's rows go at once.
    h.add(alice, [row(alice, 5)], envelope(5));
    await turn();
    assert.deepEqual(a.told.at(-1)?.ids, [5]);
  });

  it('sends the rows that wait before another message of the pair (flush), and the pairs do not wait for each other', async () => {
    const { a, h } = handOver();
    h.add(alice, [row(alice, 1)], envelope(1));
    h.add(alice, [row(alice, 2)], envelope(2));
    h.add(bob, [row(bob, 10)], envelope(10));
    h.flush(bob); // nothing waits for bob
    h.flush(alice);
    h.add(alice, [row(alice, 3)], envelope(3));
    await turn();
    assert.deepEqual(a.told.map((t) => [t.key.remoteJid, t.ids]), [
      ['alice@xmpp.example', [1]],
      ['bob@xmpp.example', [10]],
      ['alice@xmpp.example', [2]],
    ]);
    a.told[0]?.finish();
    await turn();
    assert.deepEqual(a.told.at(-1)?.ids, [3]);
  });

  it('puts at most MAX_BATCH_ROWS rows, and MAX_BATCH_CHARS characters of bodies, in one actor message (between nodes it is one frame)', async () => {
    const { a, h } = handOver();
    h.add(alice, [row(alice, 1)], envelope(1));
    for (let id = 2; id <= MAX_BATCH_ROWS + 51; id++) h.add(alice, [row(alice, id)], envelope(id));
    const big = 'x'.repeat(MAX_BATCH_CHARS / 2 + 1);
    h.add(alice, [row(alice, 1000, big)], envelope(1000));
    h.add(alice, [row(alice, 1001, big)], envelope(1001));
    for (let i = 0; i < 4; i++) {
      await turn();
      a.told.at(-1)?.finish();
    }
    await turn();
    assert.deepEqual(
      a.told.map((t) => [t.ids.length, t.ids[0], t.ids.at(-1)]),
      [
        [1, 1, 1],
        [MAX_BATCH_ROWS, 2, MAX_BATCH_ROWS + 1],
        [51, MAX_BATCH_ROWS + 2, 1000],
        [1, 1001, 1001],
      ],
    );
    assert.equal(h.pending(), 0);
  });

  it('logs a hand-over the actor could not take, and hands over the rows after it all the same', async () => {
    const { a, h } = handOver('fail');
    lines.length = 0;
    h.add(alice, [row(alice, 1)], envelope(1));
    h.add(alice, [row(alice, 2)], envelope(2));
    await turn();
    a.told[0]?.finish();
    await turn();
    await turn();
    assert.deepEqual(a.told.map((t) => t.ids), [[1], [2]]);
    assert.deepEqual(lines.map((l) => [l.message, l.correlationId]), [['the pair actor was not told of accepted messages; the outbox sweep delivers them', 'c1']]);
    a.told[1]?.finish();
    await turn();
    assert.equal(h.pending(), 0);
  });
});
