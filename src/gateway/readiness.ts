/**
 * The readiness checks of a node (/readyz, docs/operations.md): each answers true, or the reason the node is not
 * ready, so an operator reads what is wrong rather than a bare 503.
 */
import type { Redis } from 'ioredis';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { HealthCheck } from '../observability/admin-server.js';
import type { Store } from '../store/store.js';

export interface ReadinessSources {
  readonly linkOnline: () => boolean;
  readonly store: Store;
  readonly appTokenOk: () => Promise<boolean>;
  readonly redis: Redis | undefined;
  readonly cluster: ClusterNode | undefined;
}

export function readinessChecks(s: ReadinessSources): Record<string, HealthCheck> {
  const { redis, cluster } = s;
  return {
    xmpp: () => s.linkOnline() || (cluster ? 'no node of the cluster holds an online XMPP component link' : 'the XMPP component link is down'),
    store: async () => {
      await s.store.ping();
      return true;
    },
    graph: async () => (await s.appTokenOk()) || 'cannot get a Graph token for the application (check teams.clientSecret/certificate and the authority)',
    ...(redis
      ? {
          redis: async () => {
            await redis.ping();
            return true;
          },
        }
      : {}),
    ...(cluster ? { licence: () => cluster.serving() || (cluster.problem() ?? 'not serving') } : {}),
  };
}
