/**
 * The node's admin endpoint (metrics, health, /admin API, /cluster) and the operator console it serves, wired to the
 * node's tenants as they are at each request (issue 16: tenants come and go at run time): each tenant's admin
 * resources, token, store and whitelist.
 */
import type { Redis } from 'ioredis';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { RuntimeConfig } from '../config/load.js';
import { ConsoleService } from '../console/console-service.js';
import { AdminServer } from '../observability/admin-server.js';
import { logLevelAdminApi } from '../observability/log-level-api.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { tenantsAdminApi } from '../policy/tenant-admin-api.js';
import type { PairKey, Store } from '../store/store.js';
import { splitHostPort } from '../teams/webhook-server.js';
import { readinessChecks } from './readiness.js';
import type { TenantRuntime } from './tenant-runtime.js';

export interface AdminEdgeOptions {
  readonly config: RuntimeConfig;
  readonly nodeId: string;
  readonly version: string;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The node's own store (its log-level audit, the readiness check). */
  readonly store: Store;
  readonly redis: Redis | undefined;
  readonly cluster: ClusterNode | undefined;
  /** The node's tenants now, in configuration order (the first is the unscoped paths' and the console's default). */
  readonly tenants: () => readonly TenantRuntime[];
  readonly roles: () => readonly string[];
  readonly licence: () => unknown;
  readonly clusterView: (() => Promise<unknown>) | undefined;
  /** Applies the configuration file's tenants again (POST /admin/tenants/reload); absent: not offered. */
  readonly reload: (() => Promise<Record<string, unknown>>) | undefined;
}

export function adminEdge(o: AdminEdgeOptions): { admin: AdminServer; console: ConsoleService | undefined } {
  const c = o.config;
  const tenants = o.tenants;
  const first = tenants()[0] as TenantRuntime;
  let admin: AdminServer | undefined;
  // The operator console (issue 18): each tenant's rows and whitelist (issue 16), the first tenant's store for the
  // node's refusal tallies.
  const console = c.console.enabled
    ? new ConsoleService({
        config: c,
        nodeId: o.nodeId,
        version: o.version,
        store: first.store,
        tenants: () =>
          tenants().map((t) => ({
            id: t.id,
            token: t.t.admin.token?.reveal(),
            store: t.store,
            policy: t.policy,
            wakePair: (pair: PairKey) => t.chores.tell(pair, { type: 'drain', requeued: true }),
            inboxChanged: () => t.inboxChanged(),
          })),
        metrics: o.metrics,
        log: o.log,
        redis: o.redis,
        cluster: o.cluster,
        readiness: () => (admin as AdminServer).readiness(),
        roles: o.roles,
        groupMemberIds: async (groupId) => (await first.teamsSide?.teams.groupMemberIds(groupId)) ?? [],
      })
    : undefined;
  const [host, port] = splitHostPort(c.admin.listen);
  const nodeApi = logLevelAdminApi({ token: undefined, handle: async () => ({ status: 404, body: {} }) }, o.log, o.store, o.nodeId);
  const sfbTenant = tenants().find((t) => t.sfb);
  admin = new AdminServer({
    host,
    port,
    metrics: o.metrics,
    log: o.log,
    api: tenantsAdminApi(c.admin.token?.reveal(), () => tenants().map((t) => ({ id: t.id, token: t.t.admin.token?.reveal(), api: t.adminApi(), store: t.store })), nodeApi, o.reload),
    checks: {
      ...readinessChecks({
        linkOnline: () => tenants().every((t) => t.link.isOnline()),
        store: o.store,
        appTokenOk: async () => (await Promise.all(tenants().map((t) => t.teamsSide?.clients.appTokenOk() ?? true))).every(Boolean),
        redis: o.redis,
        cluster: o.cluster,
      }),
      ...(sfbTenant ? { sfb: () => sfbTenant.sfb?.listening || 'the SfB trusted application is not listening' } : {}), // issue 17
    },
    details: () => ({ node: o.nodeId, tenants: tenants().map((t) => t.id), licence: o.licence() }),
    views: o.clusterView ? { '/cluster': o.clusterView } : {},
    console,
  });
  return { admin, console };
}
