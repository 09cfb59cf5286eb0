import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedQueue } from '../../src/supervisors/keyed-queue.js';
import { ArrivalOrder } from '../../src/xmpp/arrival-order.js';

const later = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms));

describe('KeyedQueue', () => {
  it('runs one key in order, other keys alongside, and a failure fails only its own caller', async () => {
    const q = new KeyedQueue();
    const done: string[] = [];
    const a1 = q.run('a', async () => done.push(await later(30, 'a1')));
    const b1 = q.run('b', async () => done.push(await later(5, 'b1')));
    const a2 = q.run('a', () => Promise.reject(new Error('a2 failed')));
    const a3 = q.run('a', async () => (done.push(await later(1, 'a3')), 'third'));
    await assert.rejects(a2, /a2 failed/u);
    assert.equal(await a3, 'third');
    await Promise.all([a1, b1]);
    assert.deepEqual(done, ['b1', 'a1', 'a3']);
    assert.equal(q.size, 0, 'finished keys are forgotten');
  });
});

describe('ArrivalOrder', () => {
  it('lets concurrent work of one key hand over in arrival order, and other keys alongside', async () => {
    const order = new ArrivalOrder();
    const handedOver: string[] = [];
    const work = async (key: string, name: string, ms: number, fails = false) => {
      const ticket = order.ticket(key);
      try {
        await later(ms, undefined); // checks that take their own time
        if (fails) return; // refused: hands over nothing, but the next one must not wait for ever
        await ticket.turn();
        handedOver.push(name);
      } finally {
        ticket.done();
      }
    };
    await Promise.all([work('a', 'a1', 30), work('a', 'a2', 1, true), work('a', 'a3', 1), work('b', 'b1', 5)]);
    assert.deepEqual(handedOver, ['b1', 'a1', 'a3']);
    await later(0, undefined);
    assert.equal(order.size, 0, 'finished keys are forgotten');
  });
});
