/**
 * Policy refusals and throttling counted by remote domain, for the operator console (issue 18). Prometheus labels
 * stay bounded (no domain label, see metrics.ts); this tally holds the domain instead, bounded too: at most
 * MAX_DOMAINS distinct domains between two drains, the rest counted under OTHER_DOMAINS. A stranger's flood so
 * costs one map update per stanza and nothing more (DESIGN.md decision 9); the console writes the drained counts
 * to the store once per flush.
 */
import type { RefusalDirection } from '../store/store.js';

/** Distinct domains kept between two drains. */
export const MAX_DOMAINS = 200;
/** Where the domains beyond MAX_DOMAINS are counted. */
export const OTHER_DOMAINS = '(other domains)';
const MAX_REASON_LENGTH = 64;

export interface TallyEntry {
  readonly domain: string;
  readonly direction: RefusalDirection;
  readonly reason: string;
  readonly count: number;
}

export class DomainTally {
  private counts = new Map<string, number>();
  private domains = new Set<string>();

  /** One refusal (a policy reason: domain, user, pairing) or throttling ("throttle:<scope>:<outcome>"). */
  add(domain: string, direction: RefusalDirection, reason: string): void {
    let d = domain.toLowerCase().slice(0, 253);
    if (!this.domains.has(d)) {
      if (this.domains.size >= MAX_DOMAINS) d = OTHER_DOMAINS;
      else this.domains.add(d);
    }
    const key = `${d}\u0000${direction}\u0000${reason.slice(0, MAX_REASON_LENGTH)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** What was counted since the last drain; the tally starts again empty. */
  drain(): TallyEntry[] {
    const out: TallyEntry[] = [];
    for (const [key, count] of this.counts) {
      const [domain, direction, reason] = key.split('\u0000') as [string, RefusalDirection, string];
      out.push({ domain, direction, reason, count });
    }
    this.counts = new Map();
    this.domains = new Set();
    return out;
  }
}
