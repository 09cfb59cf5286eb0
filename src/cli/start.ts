/**
 * `start`: runs one gateway node until SIGINT/SIGTERM, then stops it gracefully. SIGHUP reads the configuration
 * file again and applies its tenants and walls without a restart (issue 16, docs/tenants.md).
 */
import { ConfigError, loadConfigFile } from '../config/load.js';
import { Gateway } from '../gateway.js';
import { errorMessage } from '../observability/logger.js';

export async function runStart(configPath: string): Promise<void> {
  const config = loadConfigFile(configPath);
  const gateway = await Gateway.create({ config, reloadConfig: () => loadConfigFile(configPath) });
  // A stray rejection is a bug to log, not a reason to drop every conversation of the node.
  process.on('unhandledRejection', (reason: unknown) => {
    gateway.log.error('unhandled promise rejection', { error: reason instanceof Error ? reason.message : String(reason) });
  });
  try {
    await gateway.start();
  } catch (err) {
    await gateway.stop().catch(() => undefined);
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      gateway.log.info('signal received; stopping', { signal });
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', () => {
      gateway.log.info('signal received; reloading the tenants', { signal: 'SIGHUP', config: configPath });
      void (async () => gateway.reloadTenants(loadConfigFile(configPath)))().catch((err: unknown) =>
        gateway.log.error('the tenants were not reloaded; the node runs on as it was', { error: errorMessage(err), ...(err instanceof ConfigError ? { problems: err.problems } : {}) }),
      );
    });
  });
  await gateway.stop();
}
