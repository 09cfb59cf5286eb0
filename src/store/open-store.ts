/**
 * Opens the store the configuration names. SQL Server support is loaded only when configured, so an embedded
 * node never loads the mssql driver.
 */
import type { RuntimeConfig } from '../config/load.js';
import { SqliteStore } from './sqlite-store.js';
import type { PruneCutoffs, Store } from './store.js';

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
