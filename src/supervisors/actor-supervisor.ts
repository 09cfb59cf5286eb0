/**
 * Supervises all activations of one actor kind (DESIGN.md decisions 1 and 3): activates an actor on its first
 * message, gives it one message at a time, restarts it from durable state when it crashes (retrying the message
 * that crashed it once, then dead-lettering it), bounds restart storms, and passivates idle actors.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Actor, ActorFactory, ActorKind, Envelope } from '../actors/actor.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ActivationHandle, ActorRuntime } from './actor-runtime.js';
import { decideRestart, type RestartPolicy } from './restart-policy.js';
import { inSpan, TENANT_ATTRIBUTE } from '../observability/tracing.js';

/** The message could not be processed even after a restart; it is logged and counted as a dead letter. */
export class DeadLetterError extends Error {
  constructor(
    readonly kind: ActorKind,
    readonly key: string,
    cause: unknown,
  ) {
    super(`${kind} actor ${key} failed to process a message: ${errorMessage(cause)}`, { cause });
    this.name = 'DeadLetterError';
  }
}

/** The actor crashed too often and is stopped for a while (restart intensity exceeded). */
export class ActorUnavailableError extends Error {
  constructor(
    readonly kind: ActorKind,
    readonly key: string,
    readonly untilMs: number,
  ) {
    super(`${kind} actor ${key} is stopped after repeated crashes until ${new Date(untilMs).toISOString()}`);
    this.name = 'ActorUnavailableError';
  }
}

interface Activation {
  readonly key: string;
  handle: ActivationHandle | undefined;
  actor: Actor<unknown, unknown> | undefined;
  crashed: boolean;
  tail: Promise<unknown>;
  inFlight: number;
  lastUsed: number;
}

export interface SupervisorOptions<M, R> {
  readonly kind: ActorKind;
  readonly runtime: ActorRuntime;
  readonly factory: ActorFactory<M, R>;
  readonly policy: RestartPolicy;
  readonly idleMs: number;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Called when an actor exceeds its restart intensity (the node supervisor decides what else to do). */
  readonly onEscalate: (kind: ActorKind, key: string, error: unknown) => void;
  /** An activation was dropped (idle, handed off, shut down): the cluster releases its directory entry. */
  readonly onStopped?: (key: string) => void;
  /** The tenant an actor key belongs to, for its spans (issue 16); absent: no tenant attribute. */
  readonly tenantOf?: (key: string) => string;
  readonly now?: () => number;
}

export class ActorSupervisor<M, R> {
  private readonly activations = new Map<string, Activation>();
  /** Activations whose actor is running (the gauge), kept as they change: counting them was O(actors) each time. */
  private readonly started = new Set<Activation>();
  private readonly restartHistory = new Map<string, number[]>();
  private readonly quarantine = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;
  private stopping = false;

  constructor(private readonly o: SupervisorOptions<M, R>) {
    this.now = o.now ?? Date.now;
    this.sweeper = setInterval(() => void this.passivateIdle(), Math.min(30_000, Math.max(250, o.idleMs / 2)));
    this.sweeper.unref();
  }

  get kind(): ActorKind {
    return this.o.kind;
  }

  /** Keys of the live activations. */
  keys(): string[] {
    return [...this.activations.keys()];
  }

  /** Delivers a message to the actor `key`, activating it if needed; resolves with its reply. */
  async ask(key: string, message: M, envelope: Envelope): Promise<R> {
    if (this.stopping) throw new ActorUnavailableError(this.o.kind, key, this.now());
    const until = this.quarantine.get(key);
    if (until !== undefined) {
      if (until > this.now()) throw new ActorUnavailableError(this.o.kind, key, until);
      this.quarantine.delete(key);
    }
    let act = this.activations.get(key);
    if (!act) {
      act = { key, handle: undefined, actor: undefined, crashed: false, tail: Promise.resolve(), inFlight: 0, lastUsed: this.now() };
      this.activations.set(key, act);
    }
    const current = act;
    current.inFlight++;
    const result = current.tail.then(() =>
      inSpan(
        'actor',
        { 'actor.kind': this.o.kind, 'actor.message': (message as { type?: string }).type ?? 'message', ...(this.o.tenantOf ? { [TENANT_ATTRIBUTE]: this.o.tenantOf(key) } : {}) },
        () => this.process(current, message, envelope),
      ),
    );
    current.tail = result.catch(() => undefined);
    try {
      return (await result) as R;
    } finally {
      current.inFlight--;
      current.lastUsed = this.now();
    }
  }

  private async process(act: Activation, message: M, envelope: Envelope): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        const handle = await this.ensureStarted(act);
        return await handle.deliver(message, envelope);
      } catch (err) {
        // Made here, not for every message: only a crash logs (a winston child per message was 2% of what a node
        // allocates relaying XMPP -> Teams, bench/relay.bench.ts).
        const log = this.o.log.child({ actorKind: this.o.kind, actorKey: act.key, correlationId: envelope.correlationId });
        const restarted = await this.crash(act, err, log);
        if (!restarted || attempt >= 2) {
          this.o.metrics.deadLetters.inc({ kind: this.o.kind, reason: restarted ? 'crashed_twice' : 'escalated' });
          log.error('message dead-lettered', { error: errorMessage(err) });
          throw new DeadLetterError(this.o.kind, act.key, err);
        }
        log.warn('retrying the message after a restart', { attempt: attempt + 1 });
      }
    }
  }

  private async ensureStarted(act: Activation): Promise<ActivationHandle> {
    if (act.handle) return act.handle;
    act.crashed = false;
    act.handle = await this.o.runtime.spawn(
      `${this.o.kind}:${act.key}`,
      () => {
        const actor = this.o.factory({
          kind: this.o.kind,
          key: act.key,
          log: this.o.log.child({ actorKind: this.o.kind, actorKey: act.key }),
        }) as Actor<unknown, unknown>;
        act.actor = actor;
        return actor;
      },
      () => act.crashed,
    ).catch((err: unknown) => {
      act.handle = undefined;
      throw err;
    });
    this.o.metrics.activations.inc({ kind: this.o.kind });
    this.started.add(act);
    this.updateGauge();
    return act.handle;
  }

  /** Drops the crashed activation; returns true when it may restart (after the policy's backoff). */
  private async crash(act: Activation, err: unknown, log: Logger): Promise<boolean> {
    act.crashed = true;
    const handle = act.handle;
    act.handle = undefined;
    act.actor = undefined;
    this.started.delete(act);
    this.updateGauge();
    await handle?.stop().catch(() => undefined);
    const decision = decideRestart(this.o.policy, this.restartHistory.get(act.key) ?? [], this.now());
    this.restartHistory.set(act.key, [...decision.history]);
    if (decision.action === 'escalate') {
      const until = this.now() + this.o.policy.windowMs;
      this.quarantine.set(act.key, until);
      log.error('actor crashed too often; stopped and escalated', { error: errorMessage(err), restarts: decision.history.length });
      this.o.onEscalate(this.o.kind, act.key, err);
      return false;
    }
    this.o.metrics.actorRestarts.inc({ kind: this.o.kind });
    log.warn('actor crashed; restarting from its durable state', { error: errorMessage(err), delayMs: decision.delayMs });
    if (decision.delayMs > 0) await sleep(decision.delayMs);
    return true;
  }

  /** Stops activations idle for longer than idleMs, unless the actor says it is busy. */
  async passivateIdle(): Promise<number> {
    const now = this.now();
    let stopped = 0;
    for (const act of [...this.activations.values()]) {
      if (act.inFlight > 0 || now - act.lastUsed < this.o.idleMs || act.actor?.isBusy?.()) continue;
      this.activations.delete(act.key);
      this.started.delete(act);
      stopped++;
      await act.handle?.stop().catch((err: unknown) => this.o.log.warn('passivation failed', { actorKey: act.key, error: errorMessage(err) }));
      this.o.metrics.passivations.inc({ kind: this.o.kind, reason: 'idle' });
      this.o.onStopped?.(act.key);
    }
    for (const [key, times] of this.restartHistory) {
      if (times.every((t) => now - t >= this.o.policy.windowMs)) this.restartHistory.delete(key);
    }
    if (stopped) this.updateGauge();
    return stopped;
  }

  /** Whether `key` has an activation here. */
  has(key: string): boolean {
    return this.activations.has(key);
  }

  /**
   * Lets the messages already given to `key` finish, then stops it (handoff to another node, or a stale
   * activation fenced off). Messages asked after this call start a new activation, so the caller holds them back.
   */
  async passivate(key: string, reason: 'handoff' | 'stale' | 'shutdown'): Promise<void> {
    const act = this.activations.get(key);
    if (!act) return;
    this.activations.delete(key);
    this.started.delete(act);
    await act.tail;
    await act.handle?.stop().catch((err: unknown) => this.o.log.warn('passivation failed', { actorKey: key, error: errorMessage(err) }));
    this.o.metrics.passivations.inc({ kind: this.o.kind, reason });
    this.updateGauge();
  }

  /** Lets in-flight messages finish, then passivates every activation. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    const all = [...this.activations.values()];
    this.activations.clear();
    this.started.clear();
    await Promise.all(
      all.map(async (act) => {
        await act.tail;
        await act.handle?.stop().catch(() => undefined);
        this.o.metrics.passivations.inc({ kind: this.o.kind, reason: 'shutdown' });
      }),
    );
    this.updateGauge();
  }

  private updateGauge(): void {
    this.o.metrics.actorsLive.set({ kind: this.o.kind }, this.started.size);
  }
}
