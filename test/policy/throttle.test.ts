import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Metrics } from '../../src/observability/metrics.js';
import { RedisServer } from '../../src/sandbox/redis.js';
import { Throttler, type ThrottleConfig } from '../../src/policy/throttle.js';
import { LocalRateBuckets, RedisRateBuckets } from '../../src/policy/rate-buckets.js';
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

describe('token buckets (rate-buckets.ts)', () => {
  it('forget a bucket once it would be full again: a flood of distinct senders leaves nothing behind', async () => {
    let now = 0;
    const b = new LocalRateBuckets(() => now);
    for (let i = 0; i < 1000; i++) assert.deepEqual(await b.take([{ key: `sender-${i}`, rate: 10, burst: 2, units: 1 }]), { ok: true });
    assert.equal(b.size, 1000);
    now = 2_000; // refilled (100 ms) plus the second of grace
    await b.take([{ key: 'another', rate: 10, burst: 2, units: 1 }]);
    assert.equal(b.size, 1);
  });

  it('take from every bucket or from none, and say when the one that lacked tokens has them', async () => {
    let now = 0;
    const b = new LocalRateBuckets(() => now);
    const draws = (units: number) => [{ key: 'domain', rate: 1, burst: 5, units: 1 }, { key: 'pair', rate: 2, burst: 1, units }];
    assert.deepEqual(await b.take(draws(1)), { ok: true });
    assert.deepEqual(await b.take(draws(1)), { ok: false, index: 1, retryMs: 500 });
    now = 500;
    assert.deepEqual(await b.take(draws(1)), { ok: true }, 'the refused take left the domain its token');
    now = 1000;
    assert.deepEqual(await b.take([{ key: 'domain', rate: 1, burst: 5, units: 4 }]), { ok: true }, '5 - 2 taken + 1 refilled = 4');
  });
});

describe('token buckets in Redis', () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start(await freePort());
  });
  after(async () => server?.stop());

  it('cost one round trip per take and nothing while idle; keys expire once full again', async () => {
    const c = new Redis(server.url);
    const probe = new Redis(server.url);
    const b = new RedisRateBuckets(c, `idle${Date.now()}`);
    for (let i = 0; i < 50; i++) assert.deepEqual(await b.take([{ key: `s${i}`, rate: 100, burst: 2, units: 1 }, { key: 'domain', rate: 100, burst: 100, units: 1 }]), { ok: true });
    // Every command Redis ran so far (INFO commandstats), so that any call while idle shows.
    const calls = async () => [...(await probe.info('commandstats')).matchAll(/^cmdstat_(?!info)\w+:calls=(\d+)/gmu)].reduce((n, m) => n + Number(m[1]), 0);
    const before = await calls();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await calls(), before, 'no call to Redis while nobody takes');
    assert.ok((await probe.dbsize()) >= 51);
    await new Promise((r) => setTimeout(r, 1_500)); // the domain refilled in 0.5 s, plus the second of grace
    assert.equal(await probe.dbsize(), 0, 'every bucket forgotten');
    await b.stop();
    probe.disconnect();
  });
});
