/**
 * Every Redis key the cluster uses, under one prefix (`cluster.name`), so that several clusters can share a Redis
 * and an operator can find them. Hash tags are not used: the cluster needs a standalone Redis (or a primary with
 * replicas and Sentinel), because the placement scripts read keys they compute at run time.
 */
import { DEFAULT_TENANT } from '../config/tenants-schema.js';

/**
 * A name of a tenant's own in node-wide namespaces (leases, channels: `xmpp-link:northwind`), issue 16; the default
 * tenant's names are unchanged, so a single-tenant cluster keeps its keys.
 */
export function tenantName(tenant: string, name: string): string {
  return tenant === DEFAULT_TENANT ? name : `${name}:${tenant}`;
}

export class ClusterKeys {
  constructor(readonly prefix: string) {}

  /** node id -> lease expiry (epoch ms): the membership view. */
  get nodes(): string {
    return `${this.prefix}:nodes`;
  }
  /** The node's description (JSON), expiring with its lease. */
  node(id: string): string {
    return `${this.prefix}:node:${id}`;
  }
  /** Exists while the node serves (licensed, not leaving), expiring with its lease. */
  serving(id: string): string {
    return `${this.prefix}:serving:${id}`;
  }
  /**
   * Exists for a grace period after the node stopped serving (leaving, or its licence seat lost) while it is alive:
   * it is handing its keys off, and the others wait for each key's release instead of claiming it (membership.ts).
   */
  handingOff(id: string): string {
    return `${this.prefix}:handoff:${id}`;
  }
  /** node id -> seat expiry (epoch ms), for one licence. */
  seats(licenceId: string): string {
    return `${this.prefix}:seats:${licenceId}`;
  }
  /** The directory entry of one actor: hash {node, epoch}. */
  actor(actorKey: string): string {
    return `${this.prefix}:actor:${actorKey}`;
  }
  /** The actor keys a node owns (for status and for taking over a dead node's keys). */
  owned(nodeId: string): string {
    return `${this.prefix}:owned:${nodeId}`;
  }
  /** The directory's epoch counter: every claim gets a higher epoch than any before it. */
  get epoch(): string {
    return `${this.prefix}:epoch`;
  }
  lease(name: string): string {
    return `${this.prefix}:lease:${name}`;
  }
  /** Pub/sub: membership changes (join, leave), so that nodes rebalance at once rather than at the next poll. */
  get events(): string {
    return `${this.prefix}:events`;
  }
  channel(name: string): string {
    return `${this.prefix}:chan:${name}`;
  }
}
