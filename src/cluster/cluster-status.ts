/**
 * The cluster as Redis has it, for `xmpp-teams-gateway cluster status` and GET /cluster on a node's admin
 * endpoint: live nodes with their licence state, roles and actor counts, and seat use per licence.
 */
import type { Redis } from 'ioredis';
import { LicenceSeats } from './licence-seats.js';
import { readLiveNodes } from './membership.js';
import { PlacementDirectory } from './placement-directory.js';
import type { ClusterKeys } from './redis-keys.js';

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
}

export async function clusterStatus(redis: Redis, keys: ClusterKeys): Promise<ClusterStatus> {
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
  if (!s.nodes.length) lines.push('no live nodes');
  return `${lines.join('\n')}\n`;
}
