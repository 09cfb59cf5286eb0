/**
 * A named lease that one node at a time holds (the XMPP component link where the server accepts one connection;
 * the cluster-wide duties: Graph inbox, subscription renewal, outbox sweep, retention). The holder renews it a
 * few times per period; when the holder dies the lease lapses and another eligible node takes it. A holder that
 * cannot renew for most of a period gives it up itself before anyone else can take it (self-fencing).
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { errorMessage, type Logger } from '../observability/logger.js';

// KEYS: lease. ARGV: node id, lease ms. 1 when the caller holds it (taken or renewed).
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface LeaderLeaseOptions {
  readonly redis: Redis;
  readonly key: string;
  readonly nodeId: string;
  readonly leaseMs: number;
  /** Whether this node may hold the lease now (licensed, not leaving). */
  readonly eligible: () => boolean;
  readonly log: Logger;
}

export interface LeaderLeaseEvents {
  acquired: [];
  lost: [];
}

export class LeaderLease extends EventEmitter<LeaderLeaseEvents> {
  private held = false;
  private renewedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();

  constructor(private readonly o: LeaderLeaseOptions) {
    super();
  }

  get isHeld(): boolean {
    return this.held;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), Math.max(200, Math.floor(this.o.leaseMs / 3)));
    void this.tick();
  }

  /**
   * One acquire/renew attempt (also called when the cluster changes, to take over without waiting). Nothing
   * before start(): the node takes no role before it is ready for it (e.g. its webhook listens).
   */
  tick(): Promise<void> {
    if (!this.timer) return this.ticking;
    this.ticking = this.ticking.then(() => this.attempt());
    return this.ticking;
  }

  private async attempt(): Promise<void> {
    if (!this.o.eligible()) {
      if (this.held) await this.releaseNow();
      return;
    }
    try {
      const sentAt = Date.now();
      const ok = (await this.o.redis.eval(ACQUIRE, 1, this.o.key, this.o.nodeId, this.o.leaseMs)) === 1;
      if (ok) {
        this.renewedAt = sentAt;
        if (!this.held) {
          this.held = true;
          this.o.log.info('lease acquired', { lease: this.o.key });
          this.emit('acquired');
        }
      } else if (this.held) {
        this.lose('another node holds the lease');
      }
    } catch (err) {
      // Give the lease up before it can lapse in Redis (2/3 of the period), so two holders never overlap.
      if (this.held && Date.now() - this.renewedAt > (this.o.leaseMs * 2) / 3) this.lose(`cannot renew: ${errorMessage(err)}`);
    }
  }

  private lose(reason: string): void {
    this.held = false;
    this.o.log.warn('lease lost', { lease: this.o.key, reason });
    this.emit('lost');
  }

  /** Who holds the lease now (undefined when nobody does). */
  async holder(): Promise<string | undefined> {
    return (await this.o.redis.get(this.o.key)) ?? undefined;
  }

  /** Gives the lease up (graceful shutdown, or no longer eligible) so that another node takes it at once. */
  release(): Promise<void> {
    // Queued behind a running attempt, never awaited from inside one (that would wait for itself).
    this.ticking = this.ticking.then(() => this.releaseNow());
    return this.ticking;
  }

  private async releaseNow(): Promise<void> {
    const wasHeld = this.held;
    this.held = false;
    await this.o.redis.eval(RELEASE, 1, this.o.key, this.o.nodeId).catch(() => undefined);
    if (wasHeld) {
      this.o.log.info('lease released', { lease: this.o.key });
      this.emit('lost');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.release();
  }
}
