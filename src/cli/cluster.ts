/**
 * `cluster status [--tenant ID]`: the live nodes, their seats, roles and actors, read from the cluster's Redis, and
 * each tenant's XMPP link holder and actors per node (issue 16), or one tenant's with --tenant.
 */
import { Redis } from 'ioredis';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { clusterStatus, formatClusterStatus } from '../cluster/cluster-status.js';
import { ClusterKeys } from '../cluster/redis-keys.js';
import { UsageError } from './args.js';
import { pickTenant } from './tenant-option.js';

export async function runCluster(configPath: string, rest: readonly string[], json: boolean, tenantId?: string, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  if (rest[0] !== 'status' || rest.length > 1) throw new UsageError('expected: cluster status [--json] [--tenant ID]');
  const config = loadConfigFile(configPath);
  const tenants = tenantId === undefined ? config.tenants.map((t) => t.id) : [pickTenant(config, tenantId).id];
  if (!config.cluster.redis) throw new ConfigError(configPath, [{ key: 'cluster.redis', problem: 'not set: this node runs alone, there is no cluster to show' }]);
  const redis = new Redis(config.cluster.redis.url, { maxRetriesPerRequest: 1, connectTimeout: 5_000, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const status = await clusterStatus(redis, new ClusterKeys(config.cluster.name), tenants);
    out.write(json ? `${JSON.stringify(status, null, 2)}\n` : formatClusterStatus(status));
  } finally {
    redis.disconnect();
  }
}
