/**
 * This node's membership of the cluster: its lease, its licence and seat, and the leases of the roles one node
 * holds at a time. A node serves actors only while it holds a seat of a valid licence and its lease is valid; an
 * unlicensed, expired or over-count node still starts, says why (log, /healthz, `cluster status`) and serves
 * nothing.
 */
import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import { loadLicence, type LicenceTerms, type LicenceVerdict } from './licence.js';
import { trustedLicenceKeys } from './licence-keys.js';
import { LicenceSeats } from './licence-seats.js';
import { LeaderLease } from './leader-lease.js';
import { Membership, type NodeRole } from './membership.js';
import { PlacementDirectory } from './placement-directory.js';
import { ClusterKeys } from './redis-keys.js';

export interface ClusterNodeOptions {
  readonly redis: Redis;
  readonly name: string;
  readonly nodeId: string;
  readonly rpcUrl: string;
  readonly version: string;
  readonly leaseMs: number;
  readonly licenceFile: string | undefined;
  readonly publicKeys: readonly string[];
  /** The Entra tenant of each tenant the node serves now (tenants change at run time): the licence must cover them all. */
  readonly tenantIds: () => readonly string[];
  readonly store: Store;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Live activations on this node (for the status view). */
  readonly actorCount: () => number;
  readonly roles: () => NodeRole[];
}

export interface ClusterNodeEvents {
  /** serving() changed. */
  serving: [boolean];
  /** The set of serving nodes changed. */
  membership: [];
  /** This node's lease lapsed (it stalled or lost Redis): others may own its keys; its activations must stop. */
  lapsed: [];
}

export interface LicenceState {
  /** A cluster node is licensed or serves nothing: evaluation mode is for a node alone (lone-node-licence.ts). */
  readonly mode: 'licensed';
  readonly ok: boolean;
  readonly licenceId: string | undefined;
  readonly licensee: string | undefined;
  readonly expiresAt: string | undefined;
  readonly maxNodes: number | undefined;
  readonly maxRemoteDomains: number | undefined;
  /** Why the node serves nothing, when it does not. */
  readonly problem: string | undefined;
}

export class ClusterNode extends EventEmitter<ClusterNodeEvents> {
  readonly keys: ClusterKeys;
  readonly membership: Membership;
  readonly directory: PlacementDirectory;
  private readonly seats: LicenceSeats;
  private verdict: LicenceVerdict = { ok: false, problem: 'missing', detail: 'not checked yet' };
  private seatHeld = false;
  private seatLicenceId: string | undefined;
  private seatProblem: string | undefined;
  private leaving = false;
  /** Who drained the node from the console (issue 18); undefined when it is not drained. */
  private drainedBy: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastServing = false;
  private readonly startedAt = Date.now();

  constructor(private readonly o: ClusterNodeOptions) {
    super();
    this.keys = new ClusterKeys(o.name);
    this.seats = new LicenceSeats(o.redis, this.keys);
    this.directory = new PlacementDirectory(o.redis, this.keys);
    this.membership = new Membership({
      redis: o.redis,
      keys: this.keys,
      leaseMs: o.leaseMs,
      log: o.log,
      observe: (op, seconds) => o.metrics.redisLatency.observe({ op }, seconds),
      self: () => ({
        id: o.nodeId,
        rpcUrl: o.rpcUrl,
        version: o.version,
        startedAt: this.startedAt,
        licensed: this.seatHeld && this.verdict.ok,
        licenceId: this.verdict.ok ? this.verdict.terms.id : undefined,
        problem: this.problem(),
        roles: o.roles(),
        actors: o.actorCount(),
        leaving: this.leaving,
      }),
    });
    this.membership.on('change', (nodes) => {
      o.metrics.clusterNodes.set({ serving: 'true' }, nodes.filter((n) => n.licensed && !n.leaving).length);
      o.metrics.clusterNodes.set({ serving: 'false' }, nodes.filter((n) => !n.licensed || n.leaving).length);
      this.emit('membership');
    });
    this.membership.on('lapsed', () => {
      this.emit('lapsed');
      this.update();
    });
  }

  get nodeId(): string {
    return this.o.nodeId;
  }

  /** A lease only one node holds at a time, e.g. the XMPP link or the cluster-wide duties. */
  lease(name: string): LeaderLease {
    return new LeaderLease({ redis: this.o.redis, key: this.keys.lease(name), nodeId: this.o.nodeId, leaseMs: this.o.leaseMs, eligible: () => this.serving(), log: this.o.log });
  }

  serving(): boolean {
    return this.verdict.ok && this.seatHeld && !this.leaving && this.membership.leaseValid();
  }

  /**
   * Whether this node may commit Graph notifications: licensed and holding a seat, even while it leaves. The inbox
   * is shared, so what it commits during its handoff is processed by whichever node holds the duties; turning
   * Graph away instead would cost a retry (and count against the webhook, issue 13).
   */
  mayRecordNotifications(): boolean {
    return this.verdict.ok && (this.seatHeld || this.leftWithSeat);
  }

  /** Held a seat when it began leaving (the seat itself is released at the next renewal). */
  private leftWithSeat = false;

  problem(): string | undefined {
    if (this.drainedBy !== undefined) return `drained by ${this.drainedBy}`;
    if (this.leaving) return 'leaving the cluster';
    if (!this.verdict.ok && this.o.licenceFile === undefined) {
      return `licence ${this.verdict.problem}: ${this.verdict.detail}; a cluster needs a licence (evaluation mode is for a node without cluster.redis)`;
    }
    if (!this.verdict.ok) return `licence ${this.verdict.problem}: ${this.verdict.detail}`;
    return this.seatProblem;
  }

  licence(): LicenceState {
    const t: LicenceTerms | undefined = this.verdict.ok ? this.verdict.terms : undefined;
    return { mode: 'licensed', ok: this.serving(), licenceId: t?.id, licensee: t?.licensee, expiresAt: t?.expiresAt, maxNodes: t?.maxNodes, maxRemoteDomains: t?.limits?.maxRemoteDomains, problem: this.problem() };
  }

  async start(): Promise<void> {
    this.checkLicence();
    await this.membership.join();
    await this.renewSeat();
    await this.membership.announce('seat');
    this.timer = setInterval(() => void this.tick(), Math.max(200, Math.floor(this.o.leaseMs / 3)));
    this.update();
  }

  /** The last verdict, and what it was reached on: the file (its size and time), the tenants. */
  private licenceSeen: { readonly stamp: string; readonly verdict: LicenceVerdict } | undefined;

  private checkLicence(): void {
    const before = this.verdict.ok;
    const now = Date.now();
    // Verified again only when the file or the tenants changed, or the licence's dates pass: a verification parses
    // the keys and checks a signature (bench/relay.bench.ts --nodes 3 --cpu-prof: 2% of a node's CPU at every tick).
    const stamp = `${licenceFileStamp(this.o.licenceFile)}|${this.o.tenantIds().join(',')}`;
    const seen = this.licenceSeen;
    if (seen?.stamp === stamp && seen.verdict.ok && now < Date.parse(seen.verdict.terms.expiresAt)) {
      this.verdict = seen.verdict;
    } else {
      try {
        this.verdict = loadLicence(this.o.licenceFile, trustedLicenceKeys(this.o.publicKeys), now, this.o.tenantIds());
      } catch (err) {
        this.verdict = { ok: false, problem: 'untrusted-key', detail: errorMessage(err) };
      }
      this.licenceSeen = { stamp, verdict: this.verdict };
    }
    if (!this.verdict.ok && (before || !this.timer)) {
      this.o.log.error('this node is not licensed and serves nothing', { problem: this.verdict.problem, detail: this.verdict.detail });
    }
  }

  private async tick(): Promise<void> {
    this.checkLicence(); // expiry is checked as time passes, not only at start
    await this.renewSeat();
    this.update();
  }

  private async renewSeat(): Promise<void> {
    if (!this.verdict.ok || this.leaving) {
      if (this.seatHeld) await this.releaseSeat();
      return;
    }
    const terms = this.verdict.terms;
    try {
      const started = performance.now();
      const r = await this.seats.claim(terms.id, this.o.nodeId, this.o.leaseMs, terms.maxNodes);
      this.o.metrics.redisLatency.observe({ op: 'seat' }, (performance.now() - started) / 1000);
      for (const from of r.reclaimedFrom) {
        this.o.log.warn('licence seat of a dead node reclaimed', { licenceId: terms.id, deadNode: from });
        await this.o.store.recordSeatEvent({ at: Date.now(), nodeId: from, licenceId: terms.id, event: 'expired' }).catch(() => undefined);
      }
      if (r.status === 'refused') {
        if (this.seatHeld || this.seatProblem === undefined) {
          this.o.log.error('no licence seat free: this node serves nothing', { licenceId: terms.id, maxNodes: terms.maxNodes });
        }
        this.seatHeld = false;
        this.seatProblem = `all ${terms.maxNodes} seats of licence ${terms.id} are held by other live nodes`;
      } else {
        if (r.status === 'claimed') {
          this.o.log.info('licence seat claimed', { licenceId: terms.id, licensee: terms.licensee, maxNodes: terms.maxNodes });
          await this.o.store.recordSeatEvent({ at: Date.now(), nodeId: this.o.nodeId, licenceId: terms.id, event: 'claimed' }).catch(() => undefined);
        }
        this.seatHeld = true;
        this.seatLicenceId = terms.id;
        this.seatProblem = undefined;
      }
    } catch (err) {
      // Redis unreachable: the seat lapses with the lease; serving() follows the membership lease.
      this.seatProblem = `cannot reach Redis to renew the licence seat: ${errorMessage(err)}`;
    }
    this.o.metrics.licenceSeat.set(this.seatHeld ? 1 : 0);
  }

  private async releaseSeat(): Promise<void> {
    const id = this.seatLicenceId; // the licence the seat was claimed under (it may have expired since)
    this.seatLicenceId = undefined;
    this.seatHeld = false;
    this.o.metrics.licenceSeat.set(0);
    if (!id) return;
    await this.seats.release(id, this.o.nodeId).catch(() => undefined);
    await this.o.store.recordSeatEvent({ at: Date.now(), nodeId: this.o.nodeId, licenceId: id, event: 'released' }).catch(() => undefined);
    this.o.log.info('licence seat released', { licenceId: id });
  }

  private update(): void {
    const now = this.serving();
    if (now !== this.lastServing) {
      this.lastServing = now;
      this.o.log.info(now ? 'node serving' : 'node not serving', { problem: this.problem() });
      void this.membership.announce(now ? 'serving' : 'not-serving');
      this.emit('serving', now);
    }
  }

  /** Graceful leave, step 1: the others stop sending new keys here; the caller then hands off its actors. */
  async beginLeaving(): Promise<void> {
    this.leftWithSeat = this.seatHeld;
    this.leaving = true;
    this.update();
    await this.membership.announce('leaving');
  }

  /**
   * An operator's drain: like a graceful leave (the node stops serving, its seat goes, and the caller's 'serving'
   * handler hands its actors off), but the process stays up and {@link resume} brings it back.
   */
  async drain(by: string): Promise<void> {
    this.drainedBy = by;
    this.leaving = true;
    await this.renewSeat(); // releases the seat
    this.update();
    await this.membership.announce('leaving');
  }

  /** Ends a drain: the node claims a seat again and serves (if one is free). */
  async resume(): Promise<void> {
    if (this.drainedBy === undefined) return;
    this.drainedBy = undefined;
    this.leaving = false;
    await this.renewSeat();
    this.update();
  }

  /** Graceful leave, step 2: seat and lease go, so the others take over at once. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    this.leaving = true;
    await this.releaseSeat();
    await this.membership.leave();
  }
}

/** What changes when the licence file is replaced or edited (its size and modification time); '' when absent. */
function licenceFileStamp(path: string | undefined): string {
  if (path === undefined) return '';
  try {
    const st = statSync(path);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return 'unreadable';
  }
}
