/**
 * `--tenant ID` of the commands that act on one tenant (whitelist, audit, doctor): with one tenant it may be left
 * out; with several, a command that changes or reads a tenant's data must be told which (never "all" by default).
 */
import type { RuntimeConfig, TenantConfig } from '../config/load.js';
import { UsageError } from './args.js';

export function pickTenant(config: RuntimeConfig, id: string | undefined): TenantConfig {
  if (id !== undefined) {
    const t = config.tenants.find((x) => x.id === id);
    if (!t) throw new UsageError(`no tenant '${id}' in the configuration (tenants: ${config.tenants.map((x) => x.id).join(', ')})`);
    return t;
  }
  if (config.tenants.length === 1) return config.tenants[0] as TenantConfig;
  throw new UsageError(`this configuration has ${config.tenants.length} tenants (${config.tenants.map((x) => x.id).join(', ')}): name one with --tenant ID`);
}
