/** `migrate`: applies pending store migrations (also done at start) and prints the schema version. */
import { loadConfigFile } from '../config/load.js';
import { openStore } from '../store/open-store.js';

export async function runMigrate(configPath: string, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const config = loadConfigFile(configPath);
  const store = await openStore(config.store);
  try {
    out.write(`${config.store.driver} store migrated to schema version ${await store.schemaVersion()}\n`);
  } finally {
    await store.close();
  }
}
