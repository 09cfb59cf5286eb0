/**
 * How the SQL Server store is reached: its options, read from MSSQL_URL or from the configuration, and turned into
 * the mssql/tedious driver's configuration.
 */
import type { config as MssqlConfig } from 'mssql';
import { StoreError } from '../store.js';

export interface MssqlOptions {
  /** Host, or availability-group listener name. */
  readonly server: string;
  /** Default 1433. */
  readonly port: number;
  readonly database: string;
  readonly authentication:
    | { readonly type: 'sql'; readonly user: string; readonly password: string }
    | { readonly type: 'azure-active-directory-default' }
    | {
        readonly type: 'azure-active-directory-service-principal-secret';
        readonly clientId: string;
        readonly clientSecret: string;
        readonly tenantId: string;
      };
  /** True for Azure SQL. */
  readonly encrypt: boolean;
  readonly trustServerCertificate: boolean;
  /**
   * Try every address of an availability-group listener in parallel, for fast reconnection after a failover
   * across subnets (https://learn.microsoft.com/sql/database-engine/availability-groups/windows/listeners-client-connectivity-application-failover).
   */
  readonly multiSubnetFailover: boolean;
  /** The store writes, so only ReadWrite (the default) is accepted: ReadOnly routing would reach a secondary. */
  readonly applicationIntent?: 'ReadWrite';
  readonly pool: { readonly max: number; readonly min: number; readonly idleTimeoutMs: number };
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export const DEFAULTS = {
  port: 1433,
  pool: { max: 10, min: 0, idleTimeoutMs: 30_000 },
  connectionTimeoutMs: 15_000,
  requestTimeoutMs: 15_000,
} as const;

const BOOLEAN_PARAMS = ['encrypt', 'trustServerCertificate', 'multiSubnetFailover'] as const;
const NUMBER_PARAMS = ['poolMax', 'poolMin', 'poolIdleTimeoutMs', 'connectionTimeoutMs', 'requestTimeoutMs'] as const;
const URL_PARAMS = [...BOOLEAN_PARAMS, ...NUMBER_PARAMS, 'applicationIntent', 'authentication', 'tenantId'] as const;

/**
 * Parses MSSQL_URL: `mssql://user:password@host:port/database?encrypt=true&trustServerCertificate=true`.
 * User and password are percent-decoded. Other parameters: multiSubnetFailover, applicationIntent=ReadWrite,
 * poolMax, poolMin, poolIdleTimeoutMs, connectionTimeoutMs, requestTimeoutMs, and authentication=sql (default) |
 * azure-active-directory-default (no user or password) | azure-active-directory-service-principal-secret (user =
 * client id, password = client secret, tenantId=...). Defaults: encrypt=true, trustServerCertificate=false.
 * Errors never repeat the password.
 */
export function mssqlOptionsFromUrl(url: string): MssqlOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StoreError('MSSQL_URL is not a URL (expected mssql://user:password@host:port/database)');
  }
  const fail = (what: string): never => {
    throw new StoreError(`MSSQL_URL ${redactUrl(u)}: ${what}`);
  };
  if (u.protocol !== 'mssql:' && u.protocol !== 'sqlserver:') fail(`scheme must be mssql: (or sqlserver:), not ${u.protocol}`);
  const server = u.hostname.replace(/^\[(.*)\]$/u, '$1');
  if (server === '') fail('no host');
  const port = u.port === '' ? DEFAULTS.port : Number(u.port);
  const database = decode(u.pathname.replace(/^\//u, ''), fail);
  if (database === '' || database.includes('/')) fail('the path must be one database name');

  const params = new Map<string, string>();
  for (const [k, v] of u.searchParams) {
    if (!(URL_PARAMS as readonly string[]).includes(k)) fail(`unknown parameter ${k} (known: ${URL_PARAMS.join(', ')})`);
    if (params.has(k)) fail(`parameter ${k} given twice`);
    params.set(k, v);
  }
  const bool = (k: (typeof BOOLEAN_PARAMS)[number], dflt: boolean): boolean => {
    const v = params.get(k);
    if (v === undefined) return dflt;
    if (/^(true|yes|1)$/iu.test(v)) return true;
    if (/^(false|no|0)$/iu.test(v)) return false;
    return fail(`${k} must be true or false, not ${JSON.stringify(v)}`);
  };
  const int = (k: (typeof NUMBER_PARAMS)[number], dflt: number): number => {
    const v = params.get(k);
    if (v === undefined) return dflt;
    if (!/^\d+$/u.test(v)) fail(`${k} must be a whole number, not ${JSON.stringify(v)}`);
    return Number(v);
  };
  const intent = params.get('applicationIntent');
  if (intent !== undefined && intent.toLowerCase() !== 'readwrite') fail('applicationIntent must be ReadWrite (the store writes)');

  const user = decode(u.username, fail);
  const password = decode(u.password, fail);
  const authType = params.get('authentication') ?? 'sql';
  let authentication: MssqlOptions['authentication'];
  if (authType === 'sql') {
    if (user === '') fail('no user (authentication=sql needs user:password@)');
    authentication = { type: 'sql', user, password };
  } else if (authType === 'azure-active-directory-default') {
    if (user !== '' || password !== '') fail('authentication=azure-active-directory-default takes no user or password');
    authentication = { type: 'azure-active-directory-default' };
  } else if (authType === 'azure-active-directory-service-principal-secret') {
    const tenantId = params.get('tenantId') ?? '';
    if (user === '' || password === '' || tenantId === '') fail(`authentication=${authType} needs clientId:clientSecret@ and tenantId=`);
    authentication = { type: authType, clientId: user, clientSecret: password, tenantId };
  } else {
    return fail(`authentication must be sql, azure-active-directory-default or azure-active-directory-service-principal-secret, not ${JSON.stringify(authType)}`);
  }
  if (authType !== 'azure-active-directory-service-principal-secret' && params.has('tenantId')) fail('tenantId is only for the service-principal authentication');

  return {
    server,
    port,
    database,
    authentication,
    encrypt: bool('encrypt', true),
    trustServerCertificate: bool('trustServerCertificate', false),
    multiSubnetFailover: bool('multiSubnetFailover', false),
    ...(intent !== undefined ? { applicationIntent: 'ReadWrite' as const } : {}),
    pool: { max: int('poolMax', DEFAULTS.pool.max), min: int('poolMin', DEFAULTS.pool.min), idleTimeoutMs: int('poolIdleTimeoutMs', DEFAULTS.pool.idleTimeoutMs) },
    connectionTimeoutMs: int('connectionTimeoutMs', DEFAULTS.connectionTimeoutMs),
    requestTimeoutMs: int('requestTimeoutMs', DEFAULTS.requestTimeoutMs),
  };
}

function decode(s: string, fail: (what: string) => never): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return fail('bad percent-encoding');
  }
}

function redactUrl(u: URL): string {
  const r = new URL(u.href);
  if (r.password !== '') r.password = '***';
  return r.href;
}

/**
 * The mssql/tedious configuration for the options (names checked against mssql 11 / tedious 18: tedious has no
 * applicationIntent option; ApplicationIntent=ReadWrite is readOnlyIntent: false).
 */
export function toMssqlConfig(o: MssqlOptions): MssqlConfig {
  const a = o.authentication;
  return {
    server: o.server,
    port: o.port,
    database: o.database,
    connectionTimeout: o.connectionTimeoutMs,
    requestTimeout: o.requestTimeoutMs,
    pool: { max: o.pool.max, min: o.pool.min, idleTimeoutMillis: o.pool.idleTimeoutMs },
    authentication:
      a.type === 'sql'
        ? { type: 'default', options: { userName: a.user, password: a.password } }
        : a.type === 'azure-active-directory-default'
          ? { type: 'azure-active-directory-default', options: {} }
          : { type: 'azure-active-directory-service-principal-secret', options: { clientId: a.clientId, clientSecret: a.clientSecret, tenantId: a.tenantId } },
    options: {
      encrypt: o.encrypt,
      trustServerCertificate: o.trustServerCertificate,
      multiSubnetFailover: o.multiSubnetFailover,
      readOnlyIntent: false,
      appName: 'xmpp-teams-gateway',
      // tedious's defaults already set what filtered indexes require of every session that writes to their table
      // (ANSI_NULLS, QUOTED_IDENTIFIER, ANSI_PADDING, ANSI_WARNINGS, ARITHABORT, CONCAT_NULL_YIELDS_NULL on,
      // NUMERIC_ROUNDABORT off: https://learn.microsoft.com/sql/relational-databases/indexes/create-filtered-indexes);
      // they are spelled out so that nobody turns one off.
      enableAnsiNull: true,
      enableQuotedIdentifier: true,
      enableAnsiPadding: true,
      enableAnsiWarnings: true,
      enableArithAbort: true,
      enableConcatNullYieldsNull: true,
      enableNumericRoundabort: false,
    },
  };
}
