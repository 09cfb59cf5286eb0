import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GraphSubscriptionRecord } from '../../src/store/store.js';
import { SUBSCRIPTION_TTL_MS, SubscriptionCache } from '../../src/teams/subscription-cache.js';

const record = (id: string): GraphSubscriptionRecord => ({
  id,
  purpose: `messages:${id}`,
  resource: '/users/p1/chats/getAllMessages',
  changeType: 'created',
  ownerUserId: 'p1',
  clientState: `secret-${id}`,
  expiresAt: 0,
});

/** A store lookup over `known` that counts its reads, each answered after a turn of the event loop. */
function store(known: Set<string>): { find: (id: string) => Promise<GraphSubscriptionRecord | undefined>; reads: string[]; fail?: boolean } {
  const s = {
    reads: [] as string[],
    fail: false,
    async find(id: string): Promise<GraphSubscriptionRecord | undefined> {
      s.reads.push(id);
      await new Promise((r) => setImmediate(r));
      if (s.fail) throw new Error('database is locked');
      return known.has(id) ? record(id) : undefined;
    },
  };
  return s;
}

describe('SubscriptionCache', () => {
  it('reads a known subscription once, however many requests name it, until its record is SUBSCRIPTION_TTL_MS old', async () => {
    let t = 1_000;
    const s = store(new Set(['sub-1']));
    const cache = new SubscriptionCache((id) => s.find(id), () => t);
    const burst = await Promise.all(Array.from({ length: 5 }, () => cache.get('sub-1')));
    assert.deepEqual(new Set(burst.map((r) => r?.clientState)), new Set(['secret-sub-1']));
    t += SUBSCRIPTION_TTL_MS - 1;
    await cache.get('sub-1');
    assert.deepEqual(s.reads, ['sub-1']);
    t += 1;
    assert.equal((await cache.get('sub-1'))?.clientState, 'secret-sub-1');
    assert.deepEqual(s.reads, ['sub-1', 'sub-1']);
  });

  it('keeps nothing of an id the store does not know: each later lookup reads it again, and finds it once it exists', async () => {
    const known = new Set<string>();
    const s = store(known);
    const cache = new SubscriptionCache((id) => s.find(id));
    // Lookups that overlap share one read; none outlives it.
    const overlapping = await Promise.all([cache.get('forged'), cache.get('forged')]);
    assert.deepEqual(overlapping, [undefined, undefined]);
    assert.equal(await cache.get('forged'), undefined);
    assert.deepEqual(s.reads, ['forged', 'forged']);
    known.add('forged');
    assert.equal((await cache.get('forged'))?.id, 'forged');
  });

  it('passes a failed read to its caller and keeps nothing of it', async () => {
    const s = store(new Set(['sub-1']));
    const cache = new SubscriptionCache((id) => s.find(id));
    s.fail = true;
    await assert.rejects(cache.get('sub-1'), /database is locked/u);
    s.fail = false;
    assert.equal((await cache.get('sub-1'))?.id, 'sub-1');
    assert.equal(s.reads.length, 2);
  });
});
