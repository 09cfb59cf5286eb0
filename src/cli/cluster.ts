/** `cluster status`: the live nodes, their seats, roles and actors, read from the cluster's Redis. */
import { Redis } from 'ioredis';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { clusterStatus, formatClusterStatus } from '../cluster/cluster-status.js';
import { ClusterKeys } from '../cluster/redis-keys.js';
import { UsageError } from './args.js';

export async function runCluster(configPath: string, rest: readonly string[], json: boolean, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  if (rest[0] !== 'status' || rest.length > 1) throw new UsageError('expected: cluster status [--json]');
  const config = loadConfigFile(configPath);
  if (!config.cluster.redis) throw new ConfigError(configPath, [{ key: 'cluster.redis', problem: 'not set: this node runs alone, there is no cluster to show' }]);
  const redis = new Redis(config.cluster.redis.url, { maxRetriesPerRequest: 1, connectTimeout: 5_000, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const status = await clusterStatus(redis, new ClusterKeys(config.cluster.name));
    out.write(json ? `${JSON.stringify(status, null, 2)}\n` : formatClusterStatus(status));
  } finally {
    redis.disconnect();
  }
}
