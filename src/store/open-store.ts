/**
 * Opens the store the configuration names. SQL Server support is loaded only when configured, so an embedded
 * node never loads the mssql driver.
 */
import type { RuntimeConfig } from '../config/load.js';
import { SqliteStore } from './sqlite-store.js';
import { StoreError, type PruneCutoffs, type Store } from './store.js';
import { DEFAULT_TENANT } from '../config/tenants-schema.js';
import { basename, dirname, extname, join } from 'node:path';

/**
 * Where a tenant's rows live (issue 16): each tenant of a cluster has a store of its own, so no query can mix two
 * tenants' rows. The tenant "default" (the single-tenant layout) keeps the configured store, rows unchanged; another
 * tenant's SQLite file sits next to it (gateway.sqlite -> gateway.northwind.sqlite), its SQL Server database is the
 * configured one's name with the tenant's id (xtg -> xtg_northwind; created by the operator, like the first).
 */
export function tenantStoreConfig(c: RuntimeConfig['store'], tenant: string): RuntimeConfig['store'] {
  if (tenant === DEFAULT_TENANT) return c;
  const path = c.sqlite.path;
  const ext = extname(path);
  const sqlitePath = path === ':memory:' ? path : join(dirname(path), `${basename(path, ext)}.${tenant}${ext}`);
  return { ...c, sqlite: { ...c.sqlite, path: sqlitePath }, ...(c.mssql ? { mssql: { ...c.mssql, database: `${c.mssql.database}_${tenant.replace(/-/gu, '_')}` } } : {}) };
}

/** Opens a tenant's store and claims it; a store that is another tenant's is refused, naming both. */
export async function openTenantStore(c: RuntimeConfig['store'], tenant: string): Promise<Store> {
  const tc = tenantStoreConfig(c, tenant);
  const store = await openStore(tc);
  const owner = await store.claimTenant(tenant).catch(async (err: unknown) => {
    await store.close().catch(() => undefined);
    throw err;
  });
  if (owner !== tenant) {
    await store.close().catch(() => undefined);
    const where = tc.driver === 'mssql' ? `SQL Server database ${tc.mssql?.database ?? ''}` : `SQLite store ${tc.sqlite.path}`;
    throw new StoreError(`the ${where} holds tenant ${owner}'s rows, not tenant ${tenant}'s: each tenant has a store of its own`);
  }
  return store;
}

export async function openStore(c: RuntimeConfig['store']): Promise<Store> {
  const keepBodies = c.retention.keepBodies;
  if (c.driver === 'mssql' && c.mssql) {
    const m = c.mssql;
    const { MssqlStore } = await import('./mssql-store.js');
    const password = m.password?.reveal() ?? '';
    return MssqlStore.open(
      {
        server: m.server,
        port: m.port,
        database: m.database,
        authentication:
          m.authentication === 'sql'
            ? { type: 'sql', user: m.user ?? '', password }
            : m.authentication === 'azure-active-directory-default'
              ? { type: 'azure-active-directory-default' }
              : { type: 'azure-active-directory-service-principal-secret', clientId: m.user ?? '', clientSecret: password, tenantId: m.tenantId ?? '' },
        encrypt: m.encrypt,
        trustServerCertificate: m.trustServerCertificate,
        multiSubnetFailover: m.multiSubnetFailover,
        pool: { max: m.poolMax, min: 0, idleTimeoutMs: 30_000 },
        connectionTimeoutMs: m.connectionTimeoutMs,
        requestTimeoutMs: m.requestTimeoutMs,
      },
      { keepBodies },
    );
  }
  const store = SqliteStore.open(c.sqlite.path, { keepBodies, synchronous: c.sqlite.synchronous, busyTimeoutMs: c.sqlite.busyTimeoutMs, groupCommit: c.sqlite.groupCommit });
  try {
    await store.ready();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

const DAY = 86_400_000;

export function pruneCutoffs(r: RuntimeConfig['store']['retention'], now: number): PruneCutoffs {
  return { delivered: now - r.deliveredDays * DAY, dead: now - r.deadDays * DAY, relayed: now - r.relayedDays * DAY };
}
