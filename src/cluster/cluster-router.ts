/**
 * The router of a cluster node (DESIGN.md decisions 1 and 2): delivers a message to an actor wherever it lives.
 * The directory names the live owner; without one, rendezvous hashing over the serving nodes proposes a home,
 * and that node claims the key (atomically, with a new epoch) and activates the actor. Any node can receive any
 * stanza or notification and route it.
 *
 * Moving: when the set of serving nodes changes, each node hands off the keys whose home is now elsewhere, in
 * order: new messages for the key wait, the messages already given to the actor finish, the actor passivates,
 * the directory entry is released, and the waiting messages go to the new home (Akka Cluster Sharding's handoff,
 * without a coordinator: rendezvous hashing gives every node the same answer). A dead node's keys are claimed
 * by their next message once its lease has lapsed (Orleans/Dapr: virtual actors re-activate on demand).
 *
 * Fencing: messages carry the epoch the sender saw; an owner that sees a newer epoch, or finds on its periodic
 * check that the directory names someone else, stops its activation at once.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ActorKind, Envelope } from '../actors/actor.js';
import type { DomainMessage, DomainReply } from '../actors/remote-domain-actor.js';
import { actorAddress, pairKey, parseActorAddress, splitTenantKey } from '../actors/actor-keys.js';
import type { Outcome, PairMessage } from '../actors/user-pair-actor.js';
import { StanzaError, type Condition, type ErrorType } from '../protocol/stanza-error.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PairKey } from '../store/store.js';
import type { ActorSupervisor } from '../supervisors/actor-supervisor.js';
import { KeyedQueue } from '../supervisors/keyed-queue.js';
import type { ActorRouter } from './actor-router.js';
import type { Membership } from './membership.js';
import { NodeUnreachableError, RemoteCallError, type NodeTransport } from './node-transport.js';
import type { Placement, PlacementDirectory } from './placement-directory.js';
import { rendezvousHome } from './rendezvous.js';
import { inSpan, TENANT_ATTRIBUTE, traceCarrier, withTraceCarrier, type TraceCarrier } from '../observability/tracing.js';

/** This node does not serve actors now (unlicensed, leaving, or its lease lapsed); the sender re-routes. */
export class NodeNotServingError extends Error {
  constructor(readonly nodeId: string) {
    super(`node ${nodeId} does not serve actors now`);
    this.name = 'NodeNotServingError';
  }
}

/** Redis did not answer a directory lookup or claim (down, or failing over): the sender retries until its deadline. */
export class DirectoryUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the placement directory (Redis) is unavailable: ${errorMessage(cause)}`, { cause });
    this.name = 'DirectoryUnavailableError';
  }
}

/** No serving node could take the message before the deadline (no licensed node alive, or Redis down). */
export class NoServingNodeError extends Error {
  constructor(readonly actorKey: string, cause?: unknown) {
    super(`no cluster node could serve ${actorKey}${cause ? `: ${errorMessage(cause)}` : ''}`, { cause });
    this.name = 'NoServingNodeError';
  }
}

interface ActorCall {
  readonly kind: ActorKind;
  readonly key: string;
  readonly message: unknown;
  readonly envelope: Envelope;
  /** The owner's epoch as the sender saw it in the directory (0: the sender proposed a home). */
  readonly epoch: number;
  readonly hops: number;
  /** W3C trace context of the sender's span, so the trace continues on this node. */
  readonly trace?: TraceCarrier;
}

/** How long a leaving node waits for its handed-off actors to start elsewhere. */
const SHUTDOWN_WAKE_WAIT_MS = 5_000;

/** Owners remembered at most (a node's active remote keys); past it the memory starts afresh. */
const MAX_PLACEMENTS = 100_000;
/** How long a remembered owner is used before the directory is read again. */
const PLACEMENT_TTL_MS = 5_000;

/** How many times a message may be forwarded between nodes while their views of the cluster disagree. */
const MAX_HOPS = 3;

export interface ClusterRouterOptions {
  readonly nodeId: string;
  readonly pairs: ActorSupervisor<PairMessage, Outcome>;
  readonly domains: ActorSupervisor<DomainMessage, DomainReply>;
  /** Issue 17: SfB pair actors, when the node has an SfB side. */
  readonly sfbPairs?: ActorSupervisor<never, unknown> | undefined;
  readonly membership: Membership;
  readonly directory: PlacementDirectory;
  readonly transport: NodeTransport;
  /** Whether this node may own actors now (licensed, lease valid, not leaving). */
  readonly serving: () => boolean;
  /** How long a message may wait for an owner (a dead node's lease must lapse first). */
  readonly deliveryDeadlineMs: number;
  readonly callTimeoutMs: number;
  /** A harmless message that re-activates a handed-off actor at its new home (virtual actors keep running). */
  readonly wakeMessage: (kind: ActorKind) => unknown;
  readonly metrics: Metrics;
  readonly log: Logger;
}

export class ClusterRouter implements ActorRouter {
  private readonly owned = new Map<string, number>();
  private readonly handoffs = new Map<string, Promise<void>>();
  private readonly claims = new Map<string, Promise<void>>();
  private readonly outgoing = new KeyedQueue();
  /**
   * Owners read from the directory, reused for the next messages to the key for a few seconds, until a call to
   * it fails or the membership changes: a Redis round trip per message otherwise. A stale entry costs a forward,
   * not a wrong delivery: a node that no longer owns a key claims it, or forwards the message to the key's home.
   */
  private readonly placements = new Map<string, { readonly owner: Placement; readonly until: number }>();

  constructor(private readonly o: ClusterRouterOptions) {
    o.transport.handle('/actor', (body) => {
      const call = body as ActorCall;
      // Every kind carries its tenant in the key (issue 16).
      const tenant = typeof call.key !== 'string' ? {} : { [TENANT_ATTRIBUTE]: splitTenantKey(call.key).tenant };
      return withTraceCarrier(call.trace, () => inSpan('actor call', { 'actor.kind': call.kind, 'xtg.hops': call.hops, ...tenant }, () => this.onCall(call)));
    });
  }

  pair(key: PairKey, message: PairMessage, envelope: Envelope): Promise<Outcome> {
    return this.send('user-pair', pairKey(key), message, envelope) as Promise<Outcome>;
  }

  async domain(domain: string, message: DomainMessage, envelope: Envelope): Promise<DomainReply> {
    const reply = (await this.send('remote-domain', domain, message, envelope)) as DomainReply;
    // A refusal crossed the network as JSON: it becomes a StanzaError again.
    if ('allowed' in reply && !reply.allowed && !(reply.error instanceof StanzaError)) {
      const e = reply.error as unknown as { condition: Condition; text?: string; type?: ErrorType };
      return { allowed: false, error: new StanzaError(e.condition, e.text, e.type) };
    }
    return reply;
  }

  /** Issue 17: a message to an actor of another kind (SfB pairs), placed like any other. */
  actor(kind: 'sfb-pair', key: string, message: unknown, envelope: Envelope): Promise<unknown> {
    return this.send(kind, key, message, envelope);
  }

  /** Actor keys owned here, with their epochs. */
  ownedKeys(): ReadonlyMap<string, number> {
    return this.owned;
  }

  /** Messages from this node to one actor go one at a time, so they arrive in the order they were sent. */
  private send(kind: ActorKind, key: string, message: unknown, envelope: Envelope): Promise<unknown> {
    const full = actorAddress(kind, key);
    return this.outgoing.run(full, () => this.route(kind, key, full, message, envelope));
  }


  private async route(kind: ActorKind, key: string, full: string, message: unknown, envelope: Envelope): Promise<unknown> {
    const deadline = Date.now() + this.o.deliveryDeadlineMs;
    let lastError: unknown;
    for (;;) {
      try {
        await this.handoffs.get(full);
        if (this.owned.has(full) && this.o.serving()) return await this.local(kind, key, message, envelope);
        const cached = this.placements.get(full);
        const owner = cached && cached.until > Date.now() ? cached.owner : await this.resolve(full);
        const target = owner?.node ?? rendezvousHome(full, this.o.membership.servingIds());
        if (target === this.o.nodeId) return await this.here({ kind, key, message, envelope, epoch: owner?.epoch ?? 0, hops: 0 });
        if (target !== undefined) return await this.remote(target, { kind, key, message, envelope, epoch: owner?.epoch ?? 0, hops: 0 });
        lastError = new Error('no licensed node is serving');
      } catch (err) {
        this.placements.delete(full);
        // A dead or leaving node, seen here or by the node that forwarded the message: re-resolve and retry.
        // Actors are idempotent (dedup keys both ways), so a call whose outcome is unknown (the owner died while it
        // ran) is safely sent again to the next owner.
        const retryable =
          err instanceof NodeUnreachableError ||
          err instanceof NodeNotServingError ||
          err instanceof DirectoryUnavailableError ||
          isRemote(err, 'NodeNotServingError') ||
          isRemote(err, 'NodeUnreachableError') ||
          isRemote(err, 'DirectoryUnavailableError');
        if (!retryable) throw err;
        lastError = err;
      }
      if (Date.now() >= deadline) throw new NoServingNodeError(full, lastError);
      await sleep(250);
      await this.o.membership.refresh();
    }
  }

  private async resolve(full: string): Promise<Placement | undefined> {
    const started = performance.now();
    const owner = await this.o.directory.resolve(full).catch((err: unknown) => {
      throw new DirectoryUnavailableError(err);
    });
    this.o.metrics.redisLatency.observe({ op: 'resolve' }, (performance.now() - started) / 1000);
    if (owner && owner.node !== this.o.nodeId) {
      if (this.placements.size >= MAX_PLACEMENTS) this.placements.clear();
      this.placements.set(full, { owner, until: Date.now() + PLACEMENT_TTL_MS });
    }
    return owner;
  }

  private async remote(nodeId: string, call: ActorCall): Promise<unknown> {
    const node = this.o.membership.node(nodeId);
    if (!node) throw new NodeUnreachableError(nodeId, new Error('not a live member'));
    const started = performance.now();
    try {
      const reply = await this.o.transport.call(nodeId, node.rpcUrl, '/actor', { ...call, trace: traceCarrier() }, this.o.callTimeoutMs);
      this.o.metrics.remoteCalls.observe({ path: '/actor', outcome: 'ok' }, (performance.now() - started) / 1000);
      return reply;
    } catch (err) {
      this.o.metrics.remoteCalls.observe({ path: '/actor', outcome: err instanceof NodeUnreachableError ? 'unreachable' : 'error' }, (performance.now() - started) / 1000);
      if (isRemote(err, 'StanzaError')) {
        const d = (err as RemoteCallError).detail as { condition: Condition; text?: string; type?: ErrorType };
        throw new StanzaError(d.condition, d.text, d.type);
      }
      throw err;
    }
  }

  /** A message another node sent here. */
  private async onCall(call: ActorCall): Promise<unknown> {
    const full = actorAddress(call.kind, call.key);
    const mine = this.owned.get(full);
    if (mine !== undefined && call.epoch > mine) {
      // Someone claimed the key after this activation did: this one is stale and stops (fencing).
      await this.fence(full, 'a message carried a newer epoch');
    }
    await this.handoffs.get(full);
    return this.here(call);
  }

  /** The sender thinks this node is (or should be) the owner. */
  private async here(call: ActorCall): Promise<unknown> {
    const full = actorAddress(call.kind, call.key);
    if (!this.o.serving()) throw new NodeNotServingError(this.o.nodeId);
    if (!this.owned.has(full)) {
      // Only the key's home claims it, unless the views of the cluster disagree for too long.
      const home = rendezvousHome(full, this.o.membership.servingIds());
      if (home !== undefined && home !== this.o.nodeId && call.hops < MAX_HOPS - 1) {
        return this.remote(home, { ...call, hops: call.hops + 1 });
      }
      const other = await this.claim(full);
      if (other !== undefined) {
        if (call.hops >= MAX_HOPS) throw new NodeNotServingError(this.o.nodeId);
        return this.remote(other.node, { ...call, epoch: other.epoch, hops: call.hops + 1 });
      }
      if (!this.o.serving()) {
        // Stopped serving while the claim ran: give the key back rather than keep it where nothing serves it.
        this.released(call.kind, call.key);
        throw new NodeNotServingError(this.o.nodeId);
      }
    }
    return this.local(call.kind, call.key, call.message, call.envelope);
  }

  /** Claims `full` for this node; returns the other owner when someone else holds it. */
  private async claim(full: string): Promise<{ node: string; epoch: number } | undefined> {
    let pending = this.claims.get(full);
    let other: { node: string; epoch: number } | undefined;
    if (!pending) {
      pending = (async () => {
        const started = performance.now();
        const r = await this.o.directory.claim(full, this.o.nodeId).catch((err: unknown) => {
          throw new DirectoryUnavailableError(err);
        });
        this.o.metrics.redisLatency.observe({ op: 'claim' }, (performance.now() - started) / 1000);
        if (r.claimed) {
          this.owned.set(full, r.epoch);
          this.o.metrics.placementMoves.inc({ reason: 'claim' });
        } else if (r.owner) other = r.owner;
        else throw new NodeNotServingError(this.o.nodeId);
      })().finally(() => this.claims.delete(full));
      this.claims.set(full, pending);
      await pending;
      return other;
    }
    await pending;
    if (this.owned.has(full)) return undefined;
    // The first claim lost, and its winner may be gone already: the sender routes the message afresh.
    const owner = await this.o.directory.resolve(full).catch(() => undefined);
    if (!owner) throw new NodeNotServingError(this.o.nodeId);
    return owner;
  }

  private local(kind: ActorKind, key: string, message: unknown, envelope: Envelope): Promise<unknown> {
    // A handoff began after the caller checked: the message waits for it and goes to the new home.
    if (this.handoffs.has(actorAddress(kind, key))) return Promise.reject(new NodeNotServingError(this.o.nodeId));
    if (kind === 'sfb-pair') return this.sfbSupervisor().ask(key, message as never, envelope); // issue 17
    return kind === 'user-pair' ? this.o.pairs.ask(key, message as PairMessage, envelope) : this.o.domains.ask(key, message as DomainMessage, envelope);
  }

  /** The supervisor passivated an idle actor: its directory entry goes, so the next message places it afresh. */
  released(kind: ActorKind, key: string): void {
    const full = actorAddress(kind, key);
    const epoch = this.owned.get(full);
    // A message may have re-activated the key between the passivation and this call: then it stays owned.
    if (epoch === undefined || this.handoffs.has(full) || this.supervisorOf(full).sup.has(key)) return;
    this.owned.delete(full);
    this.o.directory.release(full, this.o.nodeId, epoch).catch((err: unknown) => this.o.log.debug('directory release failed; the entry lapses with the lease', { actorKey: full, error: errorMessage(err) }));
  }

  private supervisorOf(full: string): { sup: ActorSupervisor<never, unknown>; key: string } {
    const { kind, key } = parseActorAddress(full);
    if (kind === 'sfb-pair') return { sup: this.sfbSupervisor(), key }; // issue 17
    return { sup: (kind === 'user-pair' ? this.o.pairs : this.o.domains) as unknown as ActorSupervisor<never, unknown>, key };
  }

  private sfbSupervisor(): ActorSupervisor<never, unknown> {
    if (!this.o.sfbPairs) throw new Error('this node has no SfB side (sfb is not configured)');
    return this.o.sfbPairs;
  }

  /** Orderly handoff of one key: later messages wait, earlier ones finish, the actor stops, the entry goes. */
  private handOff(full: string, reason: 'handoff' | 'shutdown'): Promise<void> {
    const existing = this.handoffs.get(full);
    if (existing) return existing;
    const epoch = this.owned.get(full);
    if (epoch === undefined) return Promise.resolve();
    const p = (async () => {
      const { sup, key } = this.supervisorOf(full);
      await sup.passivate(key, reason);
      this.owned.delete(full);
      await this.o.directory.release(full, this.o.nodeId, epoch).catch(() => undefined);
      this.o.metrics.placementMoves.inc({ reason });
    })().finally(() => this.handoffs.delete(full));
    this.handoffs.set(full, p);
    return p;
  }

  /** Stops a stale activation without touching the directory (someone else owns the key now). */
  private async fence(full: string, why: string): Promise<void> {
    if (!this.owned.has(full)) return;
    this.owned.delete(full);
    const { sup, key } = this.supervisorOf(full);
    this.o.log.warn('stale activation stopped', { actorKey: full, reason: why });
    this.o.metrics.placementMoves.inc({ reason: 'stale' });
    await sup.passivate(key, 'stale');
  }

  /** After a membership change: hands off every key whose home is now another node. Returns how many moved. */
  async rebalance(): Promise<number> {
    this.placements.clear();
    const serving = this.o.membership.servingIds();
    const moving = [...this.owned.keys()].filter((full) => {
      const home = rendezvousHome(full, serving);
      return home !== undefined && home !== this.o.nodeId;
    });
    if (!moving.length) return 0;
    this.o.log.info('handing off actors to their new home', { count: moving.length, nodes: serving.length });
    await runLimited(moving, 16, async (full) => {
      await (await this.moveAway(full, 'handoff'));
    });
    return moving.length;
  }

  /** Hands `full` off, then resolves with the re-activation at its new home (undefined when there is none). */
  private async moveAway(full: string, reason: 'handoff' | 'shutdown'): Promise<Promise<void> | undefined> {
    await this.handOff(full, reason);
    if (this.o.membership.servingIds().every((id) => id === this.o.nodeId)) return undefined; // nowhere to go: its next message places it
    const { kind, key } = parseActorAddress(full);
    return this.send(kind, key, this.o.wakeMessage(kind), { correlationId: randomUUID() }).then(
      () => undefined,
      (err: unknown) => {
        this.o.log.warn('re-activating a handed-off actor failed; its next message will', { actorKey: full, error: errorMessage(err) });
      },
    );
  }

  /** Graceful leave (the node is already marked leaving): every owned key moves to its new home. */
  handOffAll(): Promise<void> {
    // One pass at a time: the 'not serving' event and the shutdown sequence both ask for it.
    this.handingOffAll ??= (async () => {
      const wakes: Promise<void>[] = [];
      await runLimited([...this.owned.keys()], 16, async (full) => {
        const wake = await this.moveAway(full, 'shutdown');
        if (wake) wakes.push(wake);
      });
      // The actors start at their new homes (presence sessions resume there), but a leaving node waits for that
      // a bounded time only: an orchestrator's grace period is short.
      await Promise.race([Promise.all(wakes), sleep(SHUTDOWN_WAKE_WAIT_MS)]);
    })().finally(() => {
      this.handingOffAll = undefined;
    });
    return this.handingOffAll;
  }
  private handingOffAll: Promise<void> | undefined;

  /** Periodic fencing check: activations the directory no longer gives this node stop. */
  async verifyOwnership(): Promise<void> {
    const entries = [...this.owned].filter(([full]) => !this.handoffs.has(full)).map(([key, epoch]) => ({ key, epoch }));
    const ok = await this.o.directory.stillOwned(this.o.nodeId, entries);
    await Promise.all(entries.map((e, i) => (ok[i] === false ? this.fence(e.key, 'the directory names another owner') : undefined)));
  }

  /** The node lost its lease or its seat: every activation stops at once (someone else may own them soon). */
  async fenceAll(why: string): Promise<void> {
    await Promise.all([...this.owned.keys()].map((full) => this.fence(full, why)));
  }
}


function isRemote(err: unknown, name: string): boolean {
  return err instanceof RemoteCallError && err.remoteName === name;
}

async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
