import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Metrics } from '../../src/observability/metrics.js';
import { RedisServer } from '../../src/sandbox/redis.js';
import { Throttler, type ThrottleConfig } from '../../src/policy/throttle.js';
import { freePort } from '../support/ports.js';

const config = (pair: ThrottleConfig['pair'], user: ThrottleConfig['user'] = {}): ThrottleConfig => ({ pair, user, domain: {}, queueDepth: 5 });
const one = (key = 'p1') => ({ scopes: [{ scope: 'pair' as const, key }], bytes: 10 });

async function burst(t: Throttler, n: number, key = 'p1', mode: 'refuse' | 'queue' = 'refuse'): Promise<number> {
  const results = await Promise.all(Array.from({ length: n }, () => t.admit('xmpp_to_teams', one(key), mode)));
  return results.filter((r) => r.ok).length;
}

describe('rate limits in one process', () => {
  it('admits the burst at once, refuses the rest, then refills at the rate', async () => {
    const t = new Throttler(config({ messagesPerSecond: 4, messageBurst: 3 }), new Metrics({ defaultMetrics: false }));
    assert.equal(await burst(t, 10), 3);
    await new Promise((r) => setTimeout(r, 1100));
    const refilled = await burst(t, 10);
    assert.ok(refilled >= 3 && refilled <= 5, `refilled ${refilled}`);
    await t.stop();
  });

  it('keeps buckets apart per key: one flooding pair does not slow another', async () => {
    const t = new Throttler(config({ messagesPerSecond: 1, messageBurst: 2 }), new Metrics({ defaultMetrics: false }));
    assert.equal(await burst(t, 10, 'flood'), 2);
    assert.equal(await burst(t, 2, 'quiet'), 2);
    await t.stop();
  });

  it("gives back a broader bucket's tokens when a narrower one refuses: one flooder does not starve their domain", async () => {
    const t = new Throttler({ pair: { messagesPerSecond: 0.1, messageBurst: 1 }, user: {}, domain: { messagesPerSecond: 0.1, messageBurst: 3 }, queueDepth: 1 }, new Metrics({ defaultMetrics: false }));
    const a = (pair: string) => ({ scopes: [{ scope: 'domain' as const, key: 'partner.example' }, { scope: 'pair' as const, key: pair }], bytes: 1 });
    const flood = await Promise.all(Array.from({ length: 10 }, () => t.admit('xmpp_to_teams', a('flooder'), 'refuse')));
    assert.equal(flood.filter((r) => r.ok).length, 1);
    assert.deepEqual(
      (await Promise.all([t.admit('xmpp_to_teams', a('quiet-1'), 'refuse'), t.admit('xmpp_to_teams', a('quiet-2'), 'refuse')])).map((r) => r.ok),
      [true, true],
    );
    await t.stop();
  });

  it('limits bytes as well as messages', async () => {
    const t = new Throttler(config({ bytesPerSecond: 100, byteBurst: 100 }), new Metrics({ defaultMetrics: false }));
    const r = await Promise.all(Array.from({ length: 5 }, () => t.admit('xmpp_to_teams', { scopes: [{ scope: 'pair', key: 'b' }], bytes: 40 }, 'refuse')));
    assert.equal(r.filter((x) => x.ok).length, 2);
    await t.stop();
  });

  it('in queue mode delays within the bounded depth and refuses beyond it', async () => {
    const t = new Throttler(config({ messagesPerSecond: 10, messageBurst: 1 }), new Metrics({ defaultMetrics: false }));
    const start = Date.now();
    const admitted = await burst(t, 8, 'q', 'queue'); // 1 at once, 5 queued, 2 over the depth
    assert.equal(admitted, 6);
    assert.ok(Date.now() - start >= 400, 'the queued ones waited for tokens');
    await t.stop();
  });
});

describe('rate limits shared through Redis (two nodes)', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start(await freePort());
  });
  after(async () => redis?.stop());

  it('two throttlers on separate connections draw from one bucket', async () => {
    const prefix = `t${Date.now()}`;
    const c1 = new Redis(redis.url);
    const c2 = new Redis(redis.url);
    const node1 = new Throttler(config({}, { messagesPerSecond: 1, messageBurst: 6 }), new Metrics({ defaultMetrics: false }), c1, prefix);
    const node2 = new Throttler(config({}, { messagesPerSecond: 1, messageBurst: 6 }), new Metrics({ defaultMetrics: false }), c2, prefix);
    const a = { scopes: [{ scope: 'user' as const, key: 'xmpp:juliet@xmpp.example' }], bytes: 1 };
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? node1 : node2).admit('xmpp_to_teams', a, 'refuse')));
    assert.equal(results.filter((r) => r.ok).length, 6);
    await node1.stop();
    await node2.stop();
  });
});
