import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WriteBatches } from '../../src/store/mssql/write-batches.js';

describe('WriteBatches (SQL Server group commit)', () => {
  it('sends the writes issued together as one batch, one batch at a time, in order', async () => {
    const batches: number[][] = [];
    let inFlight = 0;
    const b = new WriteBatches<number, number>({
      many: async (xs) => {
        inFlight++;
        assert.equal(inFlight, 1, 'one batch at a time');
        batches.push([...xs]);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return xs.map((x) => x * 10);
      },
      one: async (x) => {
        batches.push([x]);
        return x * 10;
      },
    });
    const first = await Promise.all([1, 2, 3].map((x) => b.submit(x)));
    const later = [b.submit(4), b.submit(5)];
    const more = b.submit(6); // issued while 4 and 5 may still be on their way: joins the next batch
    assert.deepEqual([...first, ...(await Promise.all(later)), await more], [10, 20, 30, 40, 50, 60]);
    assert.deepEqual(batches.flat(), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(batches[0], [1, 2, 3]);
  });

  it('after a failed batch, runs its writes one at a time, so one bad write fails alone', async () => {
    const alone: number[] = [];
    const b = new WriteBatches<number, number>({
      many: async () => {
        throw new Error('constraint violated somewhere in the batch');
      },
      one: async (x) => {
        alone.push(x);
        if (x === 2) throw new Error('bad write 2');
        return x;
      },
    });
    const results = await Promise.allSettled([1, 2, 3].map((x) => b.submit(x)));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(alone, [1, 2, 3]);
    await b.settled();
  });
});
