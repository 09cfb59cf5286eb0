/** `start`: runs one gateway node until SIGINT/SIGTERM, then stops it gracefully. */
import { loadConfigFile } from '../config/load.js';
import { Gateway } from '../gateway.js';

export async function runStart(configPath: string): Promise<void> {
  const config = loadConfigFile(configPath);
  const gateway = await Gateway.create({ config });
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
  });
  await gateway.stop();
}
