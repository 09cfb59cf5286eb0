/**
 * The Graph pacer's bucket for a node alone (src/teams/token-bucket.ts): what Graph's limit allows at once, then
 * its rate, requests served in arrival order. On node:test's mocked clock, so no test waits for real time.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { TokenBucket } from '../../src/teams/token-bucket.js';

describe('token bucket (Graph pacing of a node alone)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('lets a burst through at once, then one request per 1/rate, in arrival order', async () => {
    const bucket = new TokenBucket(4, 2);
    assert.equal(bucket.take(1), undefined);
    assert.equal(bucket.take(1), undefined);
    const served: number[] = [];
    const waits = [1, 2, 3].map((i) => bucket.take(1)?.then(() => served.push(i)));
    assert.ok(waits.every((w) => w !== undefined));
    mock.timers.tick(249);
    await Promise.resolve();
    assert.deepEqual(served, []);
    mock.timers.tick(1);
    await Promise.resolve();
    assert.deepEqual(served, [1]);
    mock.timers.tick(500);
    await Promise.all(waits);
    assert.deepEqual(served, [1, 2, 3]);
  });

  it('never holds more than its burst, however long it was idle; a request larger than the burst takes the burst', async () => {
    const bucket = new TokenBucket(10, 3);
    mock.timers.tick(60_000);
    assert.equal(bucket.take(3), undefined);
    const late = bucket.take(1);
    assert.notEqual(late, undefined);
    mock.timers.tick(100);
    await late;
    mock.timers.tick(300);
    assert.equal(bucket.take(50), undefined);
  });
});
