/**
 * The bridge to comedy (the actor library chosen in DESIGN.md): one actor system per node; each activation of
 * one of the project's actors runs inside a comedy in-memory actor. Comedy delivers messages; the project's
 * supervisors add what comedy does not give in-memory actors: one message at a time, restart from durable
 * state, passivation.
 */
import createSystem, { type ComedyActor, type ComedyActorRef, type ComedySystem } from 'comedy';
import type { Actor, Envelope } from '../actors/actor.js';
import type { Logger } from '../observability/logger.js';

interface ShellParams {
  readonly build: () => Actor<unknown, unknown>;
  /** True once the supervisor declared the activation crashed: its state is not trusted, so no passivate(). */
  readonly crashed: () => boolean;
}

interface Delivery {
  readonly message: unknown;
  readonly envelope: Envelope;
}

/** The comedy actor definition wrapping one activation. Comedy calls initialize/destroy and the topic methods. */
class Shell {
  private actor: Actor<unknown, unknown> | undefined;
  private params: ShellParams | undefined;

  async initialize(self: ComedyActorRef): Promise<void> {
    this.params = self.getCustomParameters() as ShellParams;
    this.actor = this.params.build();
    await this.actor.activate();
  }

  receive(delivery: Delivery): Promise<unknown> {
    if (!this.actor) throw new Error('actor used before activation');
    return this.actor.receive(delivery.message, delivery.envelope);
  }

  async destroy(): Promise<void> {
    if (this.actor && this.params && !this.params.crashed()) await this.actor.passivate();
  }
}

/**
 * A comedy actor that only holds a share of the activations (see ActorRuntime.spawn). Comedy hands a child's
 * creator a reference without createChild; the actor itself (given to initialize) can have children.
 */
class Bucket {
  initialize(self: ComedyActor): void {
    (self.getCustomParameters() as { ready: (self: ComedyActor) => void }).ready(self);
  }
}

/**
 * Activations are spread over this many parent actors: comedy keeps a parent's children in an array and removes a
 * stopped child with a linear scan, so with every activation under the root, passivating 100,000 actors cost
 * 100,000 scans of 100,000 (bench/actors.bench.ts).
 */
const BUCKETS = 256;

/** FNV-1a: a cheap, stable spread of activation names over the buckets. */
function bucketOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BUCKETS;
}

export interface ActivationHandle {
  deliver(message: unknown, envelope: Envelope): Promise<unknown>;
  stop(): Promise<void>;
}

export class ActorRuntime {
  private readonly buckets = new Map<number, Promise<ComedyActor>>();

  private constructor(
    private readonly system: ComedySystem,
    private readonly root: ComedyActor,
  ) {}

  static async start(log: Logger): Promise<ActorRuntime> {
    const system = createSystem({
      config: {}, // programmatic configuration: comedy must not look for an actors.json
      logger: {
        error: (...m) => log.error('comedy', { detail: m.map(String).join(' ') }),
        warn: (...m) => log.warn('comedy', { detail: m.map(String).join(' ') }),
        info: (...m) => log.debug('comedy', { detail: m.map(String).join(' ') }),
        debug: () => undefined,
      },
    });
    // Comedy installs SIGINT/SIGTERM handlers that exit the process at once; the node drains and hands off
    // its actors on SIGTERM itself, so those handlers must go.
    process.removeListener('SIGINT', system.sigintHandler);
    process.removeListener('SIGTERM', system.sigtermHandler);
    return new ActorRuntime(system, await system.rootActor());
  }

  /** Creates a comedy actor for one activation; `build` makes the project's actor and activate() runs in it. */
  async spawn(name: string, build: () => Actor<unknown, unknown>, crashed: () => boolean): Promise<ActivationHandle> {
    const params: ShellParams = { build, crashed };
    const ref = await (await this.bucket(name)).createChild(Shell, { mode: 'in-memory', name, customParameters: params });
    return {
      deliver: (message, envelope) => ref.sendAndReceive('receive', { message, envelope } satisfies Delivery),
      stop: () => ref.destroy(),
    };
  }

  private bucket(name: string): Promise<ComedyActor> {
    const i = bucketOf(name);
    let b = this.buckets.get(i);
    if (!b) {
      let ready: (self: ComedyActor) => void = () => undefined;
      const self = new Promise<ComedyActor>((resolve) => {
        ready = resolve;
      });
      b = this.root.createChild(Bucket, { mode: 'in-memory', name: `bucket-${i}`, customParameters: { ready } }).then(() => self);
      this.buckets.set(i, b);
      b.catch(() => this.buckets.delete(i));
    }
    return b;
  }

  async stop(): Promise<void> {
    await this.system.destroy();
  }
}
