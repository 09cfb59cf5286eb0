import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Actor, ActorContext } from '../../src/actors/actor.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { ActorRuntime } from '../../src/supervisors/actor-runtime.js';
import { ActorSupervisor, ActorUnavailableError, DeadLetterError } from '../../src/supervisors/actor-supervisor.js';
import { decideRestart } from '../../src/supervisors/restart-policy.js';

type Msg = { op: 'add'; n: number } | { op: 'crash' } | { op: 'crash-once' } | { op: 'get' } | { op: 'slow'; ms: number; tag: string };

/** A counter whose durable state lives in `durable` (the stand-in for the store), like a real actor. */
const durable = new Map<string, number>();
const order: string[] = [];
let activations = 0;
let crashOnceArmed = true;

class CounterActor implements Actor<Msg, number> {
  private value = 0;
  constructor(private readonly ctx: ActorContext) {}
  async activate(): Promise<void> {
    activations++;
    this.value = durable.get(this.ctx.key) ?? 0;
  }
  async passivate(): Promise<void> {}
  async receive(m: Msg): Promise<number> {
    switch (m.op) {
      case 'add':
        this.value += m.n;
        durable.set(this.ctx.key, this.value);
        return this.value;
      case 'crash':
        this.value = -999; // corrupt in-memory state; must not survive the restart
        throw new Error('boom');
      case 'crash-once':
        if (crashOnceArmed) {
          crashOnceArmed = false;
          throw new Error('transient boom');
        }
        return this.value;
      case 'get':
        return this.value;
      case 'slow':
        await new Promise((r) => setTimeout(r, m.ms));
        order.push(m.tag);
        return this.value;
    }
  }
}

describe('actor supervision', () => {
  let runtime: ActorRuntime;
  let sup: ActorSupervisor<Msg, number>;
  const metrics = new Metrics({ defaultMetrics: false });
  const escalated: string[] = [];
  const log = createLogger({ level: 'error', nodeId: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
  const env = { correlationId: 'c' };

  before(async () => {
    runtime = await ActorRuntime.start(log);
    sup = new ActorSupervisor<Msg, number>({
      kind: 'user-pair',
      runtime,
      factory: (ctx) => new CounterActor(ctx),
      policy: { maxRestarts: 3, windowMs: 60_000, backoffInitialMs: 1, backoffMaxMs: 5 },
      idleMs: 60_000,
      metrics,
      log,
      onEscalate: (_kind, key) => escalated.push(key),
    });
  });
  after(async () => {
    await sup.stop();
    await runtime.stop();
  });

  it('restarts a crashed actor from its durable state; the next message works', async () => {
    assert.equal(await sup.ask('a', { op: 'add', n: 2 }, env), 2);
    await assert.rejects(sup.ask('a', { op: 'crash' }, env), DeadLetterError);
    assert.equal(await sup.ask('a', { op: 'get' }, env), 2);
    assert.equal(await sup.ask('a', { op: 'add', n: 1 }, env), 3);
    const restarts = (await metrics.registry.getSingleMetric('xtg_actor_restarts_total')?.get())?.values[0]?.value;
    assert.ok((restarts ?? 0) >= 1);
  });

  it('retries the message that crashed the actor once, after the restart', async () => {
    const before = activations;
    assert.equal(await sup.ask('b', { op: 'crash-once' }, env), 0);
    assert.equal(activations - before, 2, 'activated, crashed, re-activated');
  });

  it('processes one message at a time per actor, in arrival order', async () => {
    order.length = 0;
    await Promise.all([sup.ask('c', { op: 'slow', ms: 30, tag: 'first' }, env), sup.ask('c', { op: 'slow', ms: 1, tag: 'second' }, env)]);
    assert.deepEqual(order, ['first', 'second']);
  });

  it('stops an actor that crashes too often and escalates', async () => {
    for (let i = 0; i < 2; i++) await assert.rejects(sup.ask('d', { op: 'crash' }, env));
    await assert.rejects(sup.ask('d', { op: 'get' }, env), ActorUnavailableError);
    assert.deepEqual(escalated, ['d']);
    // Other actors are unaffected (one-for-one).
    assert.equal(await sup.ask('a', { op: 'get' }, env), 3);
  });
});

describe('restart policy', () => {
  const policy = { maxRestarts: 3, windowMs: 1000, backoffInitialMs: 10, backoffMaxMs: 25 };
  const table: [number[], number, string, number | undefined][] = [
    [[], 0, 'restart', 0],
    [[0], 10, 'restart', 10],
    [[0, 10], 20, 'restart', 20],
    [[0, 10, 20], 30, 'escalate', undefined],
    [[0, 10, 20], 1015, 'restart', 10], // two of the three left the window
    [[0, 1, 2, 3, 4], 5000, 'restart', 0],
  ];
  for (const [history, now, action, delay] of table) {
    it(`history ${JSON.stringify(history)} at ${now} -> ${action}`, () => {
      const d = decideRestart(policy, history, now);
      assert.equal(d.action, action);
      if (d.action === 'restart') assert.equal(d.delayMs, delay);
    });
  }
  it('caps the backoff', () => {
    const d = decideRestart({ ...policy, maxRestarts: 10 }, [1, 2, 3, 4, 5], 6);
    assert.equal(d.action === 'restart' && d.delayMs, 25);
  });
});
