/**
 * The cluster as Redis has it, for `xmpp-teams-gateway cluster status` and GET /cluster on a node's admin
 * endpoint: live nodes with their licence state, roles and actor counts, and seat use per licence; for the CLI,
 * each tenant's XMPP link holder and actors (issue 16).
 */
import type { Redis } from 'ioredis';
import { parseActorAddress, splitTenantKey } from '../actors/actor-keys.js';
import { LicenceSeats } from './licence-seats.js';
import { readLiveNodes } from './membership.js';
import { PlacementDirectory } from './placement-directory.js';
import { tenantName, type ClusterKeys } from './redis-keys.js';

export interface ClusterStatus {
  readonly at: string;
  readonly nodes: readonly {
    readonly id: string;
    readonly rpcUrl: string;
    readonly version: string;
    readonly serving: boolean;
    readonly licenceId: string | undefined;
    readonly problem: string | undefined;
    readonly roles: readonly string[];
    /** Keys the directory gives the node. */
    readonly actors: number;
    /** Activations the node reported at its last heartbeat. */
    readonly activations: number;
    readonly leaseMsLeft: number;
  }[];
  readonly seats: readonly { readonly licenceId: string; readonly held: readonly string[] }[];
  /** Asked for with the configuration's tenants: each one's link holder and actors. */
  readonly tenants?: readonly TenantStatus[];
}

export interface TenantStatus {
  readonly id: string;
  /** The node holding the tenant's XMPP component link lease (xmpp.links: one); undefined: none, or every node connects. */
  readonly linkHolder: string | undefined;
  /** Directory entries of the tenant's actors, per node. */
  readonly actors: Readonly<Record<string, number>>;
}

/** Owned keys read per SSCAN step: the status reads every entry once, in steps, never all at once. */
const SCAN_COUNT = 1000;

/** Each tenant's link holder and actor count per node (reads every directory entry: for the CLI, not for polling). */
async function tenantStatus(redis: Redis, keys: ClusterKeys, nodeIds: readonly string[], tenants: readonly string[]): Promise<TenantStatus[]> {
  const holders = await Promise.all(tenants.map((t) => redis.get(keys.lease(tenantName(t, 'xmpp-link')))));
  const counts = new Map(tenants.map((t) => [t, {} as Record<string, number>]));
  for (const node of nodeIds) {
    let cursor = '0';
    do {
      const [next, members] = await redis.sscan(keys.owned(node), cursor, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const address of members) {
        const { key } = parseActorAddress(address);
        const c = counts.get(splitTenantKey(key).tenant);
        if (c) c[node] = (c[node] ?? 0) + 1;
      }
    } while (cursor !== '0');
  }
  return tenants.map((t, i) => ({ id: t, linkHolder: holders[i] ?? undefined, actors: counts.get(t) ?? {} }));
}

export async function clusterStatus(redis: Redis, keys: ClusterKeys, tenants?: readonly string[]): Promise<ClusterStatus> {
  const [nodes, timeReply] = await Promise.all([readLiveNodes(redis, keys), redis.time()]);
  const now = Number(timeReply[0]) * 1000 + Math.floor(Number(timeReply[1]) / 1000);
  const owned = await new PlacementDirectory(redis, keys).ownedCounts(nodes.map((n) => n.id));
  const seats = new LicenceSeats(redis, keys);
  const licenceIds = [...new Set(nodes.map((n) => n.licenceId).filter((id): id is string => id !== undefined))];
  return {
    at: new Date(now).toISOString(),
    nodes: nodes
      .map((n) => ({
        id: n.id,
        rpcUrl: n.rpcUrl,
        version: n.version,
        serving: n.licensed && !n.leaving,
        licenceId: n.licenceId,
        problem: n.problem,
        roles: n.roles,
        actors: owned.get(n.id) ?? 0,
        activations: n.actors,
        leaseMsLeft: Math.max(0, n.leaseUntil - now),
      }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    seats: await Promise.all(
      licenceIds.map(async (licenceId) => ({ licenceId, held: (await seats.holders(licenceId)).filter((h) => h.until > now).map((h) => h.nodeId) })),
    ),
    ...(tenants ? { tenants: await tenantStatus(redis, keys, nodes.map((n) => n.id), tenants) } : {}),
  };
}

/** The status as a table for a terminal. */
export function formatClusterStatus(s: ClusterStatus): string {
  const rows = [['NODE', 'SERVING', 'ACTORS', 'ROLES', 'LICENCE', 'LEASE', 'PROBLEM']];
  for (const n of s.nodes) {
    rows.push([n.id, n.serving ? 'yes' : 'no', String(n.actors), n.roles.join(',') || '-', n.licenceId ?? '-', `${(n.leaseMsLeft / 1000).toFixed(1)}s`, n.problem ?? '']);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  lines.push('', ...s.seats.map((x) => `licence ${x.licenceId}: ${x.held.length} seat(s) held (${x.held.join(', ')})`));
  for (const t of s.tenants ?? []) {
    const actors = Object.entries(t.actors).sort(([a], [b]) => a.localeCompare(b));
    const total = actors.reduce((n, [, c]) => n + c, 0);
    lines.push(`tenant ${t.id}: XMPP link on ${t.linkHolder ?? '-'}, ${total} actor(s)${actors.length ? ` (${actors.map(([node, c]) => `${node} ${c}`).join(', ')})` : ''}`);
  }
  if (!s.nodes.length) lines.push('no live nodes');
  return `${lines.join('\n')}\n`;
}
