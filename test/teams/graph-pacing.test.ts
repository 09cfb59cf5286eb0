/**
 * The Graph pacer of a cluster (graph-pacing.ts over policy/rate-buckets.ts): two nodes draw from one bucket in
 * Redis, so together they send no faster than Graph's documented limit for the tenant.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Metrics } from '../../src/observability/metrics.js';
import { RedisServer } from '../../src/sandbox/redis.js';
import { costOf } from '../../src/teams/graph-limits.js';
import { GraphPacer } from '../../src/teams/graph-pacing.js';
import { freePort } from '../support/ports.js';

describe('Graph pacing shared by the nodes of a cluster', () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start(await freePort());
  });
  after(async () => server?.stop());

  it("two nodes together post chat messages at the tenant's rate, each in arrival order", async () => {
    const tenantId = `tenant-${Date.now()}`;
    // 20 posts/s documented, at share 0.5: 10/s, burst 10.
    const settings = { share: 0.5, tenantSize: 'small' as const, chatMessagePostsPerSecond: 1000, tenantId };
    const [c1, c2] = [new Redis(server.url), new Redis(server.url)];
    const nodes = [new GraphPacer({ ...settings, redis: c1 }, new Metrics({ defaultMetrics: false })), new GraphPacer({ ...settings, redis: c2 }, new Metrics({ defaultMetrics: false }))];
    const post = costOf('POST', '/v1.0/chats/19:abc@unq.gbl.spaces/messages', '');
    const start = Date.now();
    const done: number[] = [];
    const order: number[][] = [[], []];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const node = i % 2;
        await nodes[node]?.acquire(post);
        done.push(Date.now() - start);
        order[node]?.push(i);
      }),
    );
    done.sort((a, b) => a - b);
    // The burst (10) at once, the other 10 at 10/s: the last about a second later, never sooner than 0.9 s.
    assert.ok((done[9] ?? 0) < 500, `the burst went at once (${done[9]} ms)`);
    assert.ok((done[19] ?? 0) >= 900, `the rest were paced across both nodes (last after ${done[19]} ms)`);
    for (const o of order) assert.deepEqual(o, [...o].sort((a, b) => a - b), 'each node served its requests in arrival order');
    for (const n of nodes) await n.stop();
    c1.disconnect();
    c2.disconnect();
  });
});
