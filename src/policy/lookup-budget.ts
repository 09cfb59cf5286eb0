/**
 * The directory lookup budget (issue 12 finding 6): a lookup of an address the gateway has not seen costs a Graph
 * GET /users, and Graph throttles per application and tenant, so one partner user writing to random addresses
 * could starve the whole gateway. Each lookup that reaches Graph takes a token from its sender's bucket and from
 * its domain's, in the same token buckets as the rate limits (cluster-wide with Redis).
 */
import type { Redis } from 'ioredis';
import type { Metrics } from '../observability/metrics.js';
import type { LookupBudget, LookupPayer } from '../teams/directory.js';
import { Throttler } from './throttle.js';

export interface LookupLimits {
  readonly sender: { readonly perMinute: number; readonly burst: number };
  readonly domain: { readonly perMinute: number; readonly burst: number };
}

export class ThrottledLookups implements LookupBudget {
  private readonly throttler: Throttler;

  constructor(
    limits: LookupLimits,
    private readonly metrics: Metrics,
    redis?: Redis,
    /** Key prefix in Redis (a tenant's own, issue 16). */
    prefix = 'xtg',
  ) {
    const limit = (l: { perMinute: number; burst: number }) => ({ messagesPerSecond: l.perMinute / 60, messageBurst: l.burst });
    this.throttler = new Throttler({ pair: {}, user: limit(limits.sender), domain: limit(limits.domain), queueDepth: 1 }, metrics, redis, `${prefix}:lookups`);
  }

  /** `asks`: whom an admitted lookup asks (the metric's outcome): Graph's directory, or the SfB pool (issue 17). */
  async admit(payer: LookupPayer, asks: 'graph' | 'sfb-pool' = 'graph'): Promise<boolean> {
    const r = await this.throttler.admit(
      'directory_lookup',
      { scopes: [{ scope: 'domain', key: payer.domain }, { scope: 'user', key: payer.sender }], bytes: 0 },
      'refuse',
    );
    this.metrics.directoryLookups.inc({ outcome: r.ok ? asks : 'refused' });
    return r.ok;
  }

  stop(): Promise<void> {
    return this.throttler.stop();
  }
}
