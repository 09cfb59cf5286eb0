/**
 * The presence-subscription reconciliation is asked for over Redis by any node and done by the one holding the
 * duties. A node without the duties that hears the request must not ask again: with three nodes that echo turned
 * one request into hundreds of thousands of publishes a second, which starved every node's heartbeat.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { NodeDuties, type NodeDutiesOptions } from '../../src/gateway/node-duties.js';
import { createLogger } from '../../src/observability/logger.js';

function duties(holds: boolean): { duties: NodeDuties; kicks: number[]; syncs: number[] } {
  const kicks: number[] = [];
  const syncs: number[] = [];
  const o = {
    store: {} as NodeDutiesOptions['store'],
    subscriptions: { syncPresence: async () => void syncs.push(1) } as unknown as NodeDutiesOptions['subscriptions'],
    router: () => undefined,
    retention: { deliveredDays: 7, deadDays: 30, relayedDays: 30, keepBodies: false, pruneIntervalMinutes: 60, unusedPairDays: 90 } as NodeDutiesOptions['retention'],
    holdsDuties: () => holds,
    kickInbox: () => undefined,
    kickPresence: () => void kicks.push(1),
    log: createLogger({ level: 'error', nodeId: 't', stream: new PassThrough() }),
  } satisfies NodeDutiesOptions;
  return { duties: new NodeDuties(o), kicks, syncs };
}

describe('presence-subscription reconciliation across nodes', () => {
  it('a node without the duties asks the holder once, and does not echo a request it hears', async () => {
    const other = duties(false);
    await other.duties.syncPresence();
    assert.equal(other.kicks.length, 1, 'its own change: one request to the duties holder');
    await other.duties.presenceSyncRequested();
    assert.equal(other.kicks.length, 1, 'a request heard from another node is not published again');
    assert.equal(other.syncs.length, 0);
  });

  it('the node holding the duties reconciles, for its own change and for a request it hears', async () => {
    const holder = duties(true);
    await holder.duties.syncPresence();
    await holder.duties.presenceSyncRequested();
    assert.deepEqual([holder.syncs.length, holder.kicks.length], [2, 0]);
  });
});
