/**
 * The clustered store: SQL Server 2022+ or Azure SQL through the mssql package (tedious driver). Same interface
 * and semantics as the SQLite store; the shared contract suite (test/store/store-contract.ts) runs against both.
 *
 * Every statement is below in MSSQL_STATEMENTS (parsed by test/store/tsql-parse.test.ts) and every value is a
 * typed parameter. Each operation is one round trip (except enqueue's re-read of a duplicate and prune's batches):
 * where SQLite needs a transaction, the batch holds BEGIN/COMMIT TRANSACTION itself with SET XACT_ABORT ON, so an
 * error or a client timeout rolls it back instead of leaving it open on a pooled connection
 * (https://learn.microsoft.com/sql/t-sql/statements/set-xact-abort-transact-sql). Prune is the deliberate exception:
 * it deletes in small batches, not in one transaction, so it never holds a table lock.
 *
 * Upserts use UPDATE WITH (UPDLOCK, SERIALIZABLE) then INSERT when nothing was updated, and insert-if-absent uses
 * INSERT ... WHERE NOT EXISTS (... WITH (UPDLOCK, HOLDLOCK)): the key-range lock makes the check and the write
 * atomic, so two nodes doing the same thing at once serialise instead of racing
 * (https://learn.microsoft.com/sql/t-sql/queries/hints-transact-sql-table). MERGE is not used: it needs the
 * same hints and has a record of bugs with filtered indexes, which the outbox has. The unique indexes stay the
 * final arbiter: a duplicate-key error (2601/2627) that slips past the locks is read as "already present".
 *
 * Table names are unqualified, so they resolve in the login's default schema (dbo unless configured otherwise).
 */
import sql from 'mssql';
import type { config as MssqlConfig, ConnectionPool, IResult, ISqlType, Transaction } from 'mssql';
import { MIGRATIONS } from './migrations.js';
import { num, str, toAuditEntry, toInbox, toOutbox, toPair, toPuppet, toRelayed, toSeatEvent, toSubscription, toWhitelistEntry, type Row } from './rows.js';
import {
  StoreError,
  type AuditEntry,
  type EnqueueResult,
  type GraphSubscriptionRecord,
  type InboundNotification,
  type InboxRow,
  type OutboundMessage,
  type OutboxRow,
  type PairKey,
  type PairRecord,
  type PairUpdate,
  type PruneCutoffs,
  type PruneResult,
  type PuppetRecord,
  type RelayedMessage,
  type SeatEvent,
  type Store,
  type StoreOptions,
  type WhitelistEntry,
  type WhitelistKind,
} from './store.js';

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

const DEFAULTS = {
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

/** Splits a script into batches at lines holding only GO, as sqlcmd does (no `GO n`; GO inside a comment counts). */
export function splitBatches(script: string): string[] {
  return script
    .split(/^[ \t]*GO[ \t]*$/imu)
    .filter((b) => b.replace(/--.*$/gmu, '').trim() !== '');
}

const OUTBOX_COLUMNS = `id, teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, state, attempts,
       next_attempt_at, last_error, teams_message_id, sending_since, reply_to_teams_id, created_at`;
const PAIR_COLUMNS = 'teams_user_id, remote_jid, chat_id, sub_from, sub_to, sub_to_pending';
const INBOX_COLUMNS = 'id, dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at';
const SUBSCRIPTION_COLUMNS = 'id, purpose, resource, change_type, owner_user_id, client_state, expires_at';
const FINISHED = `(state = N'delivered' AND done_at < @delivered) OR (state = N'dead' AND done_at < @dead)`;

/** Prune deletes in batches below the 5,000 locks at which SQL Server escalates to a table lock. */
const PRUNE_BATCH = 1000;

/** The migration lock's name: sp_getapplock resources are compared in binary, so the case matters. */
export const MIGRATION_LOCK = 'xmpp-teams-gateway-migrations';

/** Every statement the store sends, apart from the migrations' own scripts. Parameters are @snake_case. */
export const MSSQL_STATEMENTS = {
  ping: 'SELECT 1 AS ok',

  // Taken inside the migration transaction; released at commit or rollback. Several nodes starting at once wait
  // here in turn, and the later ones find nothing left to apply
  // (https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-getapplock-transact-sql).
  acquireMigrationLock: `DECLARE @result INT;
EXEC @result = sp_getapplock @Resource = N'${MIGRATION_LOCK}', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @lock_timeout_ms;
SELECT @result AS result;`,
  createMigrationsTable: `IF OBJECT_ID(N'schema_migrations', N'U') IS NULL
  CREATE TABLE schema_migrations (
    version     INT NOT NULL CONSTRAINT schema_migrations_pk PRIMARY KEY,
    name        NVARCHAR(256) NOT NULL,
    applied_at  BIGINT NOT NULL
  );`,
  appliedMigrations: 'SELECT version FROM schema_migrations',
  recordMigration: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @applied_at)',
  schemaVersion: 'SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations',

  getPuppet: 'SELECT remote_jid, user_id, upn FROM puppets WHERE remote_jid = @remote_jid',
  getPuppetByUserId: 'SELECT remote_jid, user_id, upn FROM puppets WHERE user_id = @user_id',
  putPuppet: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE puppets WITH (UPDLOCK, SERIALIZABLE) SET user_id = @user_id, upn = @upn WHERE remote_jid = @remote_jid;
IF @@ROWCOUNT = 0
  INSERT INTO puppets (remote_jid, user_id, upn, created_at) VALUES (@remote_jid, @user_id, @upn, @now);
COMMIT TRANSACTION;`,
  puppets: 'SELECT remote_jid, user_id, upn FROM puppets ORDER BY remote_jid',

  getPair: `SELECT ${PAIR_COLUMNS} FROM pairs WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid`,
  // A NULL parameter leaves the column as it is (as COALESCE does in the SQLite store).
  updatePair: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE pairs WITH (UPDLOCK, SERIALIZABLE)
   SET chat_id = COALESCE(@chat_id, chat_id),
       sub_from = COALESCE(@sub_from, sub_from),
       sub_to = COALESCE(@sub_to, sub_to),
       sub_to_pending = COALESCE(@sub_to_pending, sub_to_pending),
       updated_at = @now
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid;
IF @@ROWCOUNT = 0
  INSERT INTO pairs (teams_user_id, remote_jid, chat_id, sub_from, sub_to, sub_to_pending, updated_at)
  VALUES (@teams_user_id, @remote_jid, @chat_id, COALESCE(@sub_from, CAST(0 AS BIT)), COALESCE(@sub_to, CAST(0 AS BIT)),
          COALESCE(@sub_to_pending, CAST(0 AS BIT)), @now);
SELECT ${PAIR_COLUMNS} FROM pairs WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid;
COMMIT TRANSACTION;`,
  findPairByChat: `SELECT TOP (1) ${PAIR_COLUMNS} FROM pairs WHERE chat_id = @chat_id`,
  pairsOfTeamsUser: `SELECT ${PAIR_COLUMNS} FROM pairs WHERE teams_user_id = @teams_user_id`,
  pairsOfRemote: `SELECT ${PAIR_COLUMNS} FROM pairs WHERE remote_jid = @remote_jid`,
  watchedTeamsUsers: 'SELECT DISTINCT teams_user_id FROM pairs WHERE sub_from = 1',
  pairsWithSubTo: `SELECT ${PAIR_COLUMNS} FROM pairs WHERE sub_to = 1`,

  // Race-free across nodes: the key-range lock taken by NOT EXISTS on the filtered unique index is held until the
  // statement ends, so a second node with the same dedup key waits, then finds the row. OUTPUT returns the new row
  // in the same round trip (the outbox has no triggers, which OUTPUT without INTO would forbid).
  enqueueOutbound: `INSERT INTO outbox (teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, state,
                    attempts, next_attempt_at, created_at, reply_to_teams_id)
OUTPUT INSERTED.*
SELECT @teams_user_id, @remote_jid, @dedup_key, @sender, @stanza_id, @receipt_requested, @body, N'pending', 0, @now, @now, @reply_to_teams_id
 WHERE @dedup_key IS NULL
    OR NOT EXISTS (SELECT 1 FROM outbox WITH (UPDLOCK, HOLDLOCK) WHERE dedup_key = @dedup_key)`,
  outboxByDedupKey: `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE dedup_key = @dedup_key`,
  pendingOutbound: `SELECT ${OUTBOX_COLUMNS} FROM outbox
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid AND state = N'pending' ORDER BY id`,
  pairsWithDueOutbound: `SELECT DISTINCT TOP (@limit) teams_user_id, remote_jid FROM outbox WHERE state = N'pending' AND next_attempt_at <= @now`,
  // Every pending row of the pair not marked yet, up to the highest one now (the key-range lock keeps a row of the
  // pair from being inserted below it meanwhile); the first mark's time is kept: a post is in doubt from then on.
  markOutboundSending: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @max BIGINT;
SELECT @max = MAX(id) FROM outbox WITH (UPDLOCK, HOLDLOCK)
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid AND state = N'pending';
UPDATE outbox SET sending_since = @now
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid AND state = N'pending' AND sending_since IS NULL AND id <= @max;
COMMIT TRANSACTION;
SELECT COALESCE(@max, 0) AS id;`,
  markOutboundDelivered: `UPDATE outbox
   SET state = N'delivered', teams_message_id = @teams_message_id, body = CASE WHEN @keep_bodies = 1 THEN body END,
       attempts = attempts + 1, done_at = @now, last_error = NULL, sending_since = NULL
 WHERE id = @id`,
  // sending_since stays: a retry after a post whose outcome is unknown must look for it first.
  markOutboundRetry: 'UPDATE outbox SET attempts = attempts + 1, last_error = @error, next_attempt_at = @next_attempt_at WHERE id = @id',
  markOutboundDead: `UPDATE outbox
   SET state = N'dead', body = CASE WHEN @keep_bodies = 1 THEN body END, attempts = attempts + 1, last_error = @error,
       done_at = @now, sending_since = NULL
 WHERE id = @id`,

  recordNotification: `INSERT INTO inbox (dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at, received_at)
SELECT @dedup_key, @kind, @subscription_id, @resource, @change_type, @detail, N'pending', 0, @now, @now
 WHERE NOT EXISTS (SELECT 1 FROM inbox WITH (UPDLOCK, HOLDLOCK) WHERE dedup_key = @dedup_key)`,
  dueNotifications: `SELECT TOP (@limit) ${INBOX_COLUMNS} FROM inbox WHERE state = N'pending' AND next_attempt_at <= @now ORDER BY id`,
  markNotificationDone: `UPDATE inbox SET state = N'delivered', attempts = attempts + 1, done_at = @now, last_error = NULL WHERE id = @id`,
  markNotificationRetry: 'UPDATE inbox SET attempts = attempts + 1, last_error = @error, next_attempt_at = @next_attempt_at WHERE id = @id',
  markNotificationDead: `UPDATE inbox SET state = N'dead', attempts = attempts + 1, last_error = @error, done_at = @now WHERE id = @id`,

  recordRelayed: `INSERT INTO relayed (chat_id, teams_message_id, direction, xmpp_id, created_at)
SELECT @chat_id, @teams_message_id, @direction, @xmpp_id, @now
 WHERE NOT EXISTS (SELECT 1 FROM relayed WITH (UPDLOCK, HOLDLOCK) WHERE chat_id = @chat_id AND teams_message_id = @teams_message_id)`,
  findRelayed: 'SELECT chat_id, teams_message_id, direction, xmpp_id FROM relayed WHERE chat_id = @chat_id AND teams_message_id = @teams_message_id',
  findRelayedByXmppId:
    'SELECT TOP (1) chat_id, teams_message_id, direction, xmpp_id FROM relayed WHERE chat_id = @chat_id AND xmpp_id = @xmpp_id ORDER BY created_at DESC',

  // One subscription per purpose: another id with the same purpose is replaced; the same id only gets its new
  // expiry and client state.
  saveSubscription: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DELETE FROM graph_subscriptions WHERE purpose = @purpose AND id <> @id;
UPDATE graph_subscriptions WITH (UPDLOCK, SERIALIZABLE) SET expires_at = @expires_at, client_state = @client_state WHERE id = @id;
IF @@ROWCOUNT = 0
  INSERT INTO graph_subscriptions (id, purpose, resource, change_type, owner_user_id, client_state, expires_at)
  VALUES (@id, @purpose, @resource, @change_type, @owner_user_id, @client_state, @expires_at);
COMMIT TRANSACTION;`,
  subscriptions: `SELECT ${SUBSCRIPTION_COLUMNS} FROM graph_subscriptions ORDER BY expires_at, id`,
  findSubscription: `SELECT ${SUBSCRIPTION_COLUMNS} FROM graph_subscriptions WHERE id = @id`,
  deleteSubscription: 'DELETE FROM graph_subscriptions WHERE id = @id',

  pruneOutbox: `DELETE TOP (@batch) FROM outbox WHERE ${FINISHED}`,
  pruneInbox: `DELETE TOP (@batch) FROM inbox WHERE ${FINISHED}`,
  pruneRelayed: 'DELETE TOP (@batch) FROM relayed WHERE created_at < @relayed',

  whitelist: 'SELECT kind, value, added_at, added_by FROM whitelist ORDER BY kind, value',
  // An entry already present keeps its first added_at/added_by (ON CONFLICT DO NOTHING in SQLite).
  putWhitelistEntry: `INSERT INTO whitelist (kind, value, added_at, added_by)
SELECT @kind, @value, @added_at, @added_by
 WHERE NOT EXISTS (SELECT 1 FROM whitelist WITH (UPDLOCK, HOLDLOCK) WHERE kind = @kind AND value = @value)`,
  deleteWhitelistEntry: 'DELETE FROM whitelist WHERE kind = @kind AND value = @value',

  appendAudit: 'INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (@at, @actor, @action, @subject, @detail)',
  auditLog: 'SELECT TOP (@limit) at, actor, action, subject, detail FROM audit_log ORDER BY id DESC',
  recordSeatEvent: 'INSERT INTO licence_seats (at, node_id, licence_id, event) VALUES (@at, @node_id, @licence_id, @event)',
  seatHistory: 'SELECT TOP (@limit) at, node_id, licence_id, event FROM licence_seats ORDER BY id DESC',
} as const;

export type MssqlStatementName = keyof typeof MSSQL_STATEMENTS;

// ---- parameters: explicit types, so that plans are reused and nothing is inferred from a JS value ----

interface Param {
  readonly type: ISqlType;
  readonly value: string | number | boolean | null;
}
type Params = Readonly<Record<string, Param>>;

/**
 * A key or short text. Declared NVARCHAR(4000) whatever the value's length (one cached plan per statement, not one
 * per length); a longer value becomes NVARCHAR(MAX), which then fails to insert into a bounded column, loudly.
 */
const nvarchar = (v: string | undefined): Param => ({ type: sql.NVarChar(v !== undefined && v.length > 4000 ? sql.MAX : 4000), value: v ?? null });
/** Bodies, errors and details: NVARCHAR(MAX) columns. */
const nvarcharMax = (v: string | undefined): Param => ({ type: sql.NVarChar(sql.MAX), value: v ?? null });
const bigint = (v: number | undefined): Param => ({ type: sql.BigInt(), value: v ?? null });
const int = (v: number): Param => ({ type: sql.Int(), value: v });
const bit = (v: boolean | undefined): Param => ({ type: sql.Bit(), value: v ?? null });
const limit = (n: number): Param => int(Math.max(0, Math.min(2 ** 31 - 1, Math.floor(n))));

// ---- rows: BIGINT arrives as a string (tedious keeps 64-bit precision), BIT as a boolean ----







// ---- errors ----

/** SQL Server error numbers: duplicate key in a unique index / constraint; chosen as deadlock victim. */
const DUPLICATE_KEY = new Set([2601, 2627]);
const DEADLOCK_VICTIM = new Set([1205]);

interface DriverError {
  readonly name?: string;
  readonly code?: string;
  readonly number?: number;
  readonly message?: string;
  readonly originalError?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
  readonly precedingErrors?: unknown;
}

function asDriverError(err: unknown): DriverError {
  return typeof err === 'object' && err !== null ? (err as DriverError) : { message: String(err) };
}

function sqlErrorNumber(err: unknown): number | undefined {
  const n = asDriverError(err).number;
  return typeof n === 'number' ? n : undefined;
}

/** The error numbers of a failed request: mssql throws the last and keeps the others in precedingErrors. */
function hasSqlError(err: unknown, numbers: ReadonlySet<number>): boolean {
  const preceding = asDriverError(err).precedingErrors;
  return [err, ...(Array.isArray(preceding) ? preceding : [])].some((e) => numbers.has(sqlErrorNumber(e) ?? 0));
}

/** A one-line cause for an operator: what failed (login, network, timeout, SQL error n) and the driver's words. */
export function describeMssqlError(err: unknown, o: Pick<MssqlOptions, 'connectionTimeoutMs' | 'requestTimeoutMs'>): string {
  const e = asDriverError(err);
  const inner = asDriverError(e.originalError);
  let message = [e.message, inner.message].find((m) => typeof m === 'string' && m !== '') ?? String(err);
  // tedious puts the socket errors of each address tried (e.g. ECONNREFUSED) in an AggregateError cause.
  const causes = [e.cause, inner.cause].filter((c) => c !== undefined && c !== null).map(asDriverError);
  const details = causes.flatMap((c) => (Array.isArray(c.errors) ? c.errors.map((x) => asDriverError(x).message) : [c.message]));
  const extra = [...new Set(details.filter((d): d is string => typeof d === 'string' && d !== '' && !message.includes(d)))];
  if (extra.length > 0) message = `${message} (${extra.join('; ')})`;
  const code = e.code ?? inner.code;
  const number = sqlErrorNumber(err) ?? sqlErrorNumber(e.originalError);
  if (code === 'ELOGIN') return `login failed: ${message}`;
  if (code === 'ESOCKET') return `cannot connect: ${message}${/certificate/iu.test(message) ? ' (check the server certificate; trustServerCertificate=true skips the check, for test servers only)' : ''}`;
  if (code === 'ETIMEOUT' && e.name === 'ConnectionError') return `cannot connect within ${o.connectionTimeoutMs} ms: ${message}`;
  if (code === 'ETIMEOUT') return `request timed out after ${o.requestTimeoutMs} ms: ${message}`;
  if (code === 'EINSTLOOKUP') return `cannot find the instance: ${message}`;
  if (number !== undefined) return `SQL Server error ${number}: ${message}`;
  return message;
}

/** Removes secrets from a message that might quote configuration (defence in depth: drivers do not, today). */
function scrub(message: string, o: MssqlOptions): string {
  const a = o.authentication;
  const secrets = a.type === 'sql' ? [a.password] : a.type === 'azure-active-directory-service-principal-secret' ? [a.clientSecret] : [];
  return secrets.filter((s) => s.length >= 3).reduce((m, s) => m.split(s).join('***'), message);
}

export class MssqlStore implements Store {
  private closed = false;

  private constructor(
    private readonly pool: ConnectionPool,
    private readonly options: MssqlOptions,
    private readonly keepBodies: boolean,
  ) {}

  /**
   * Connects and applies pending migrations. Any failure (login, network, TLS, timeout, a migration) is a
   * {@link StoreError} naming the server and database and the cause, never the password.
   */
  static async open(options: MssqlOptions, storeOptions: StoreOptions = {}): Promise<MssqlStore> {
    const where = `${options.server}:${options.port}/${options.database}`;
    const pool = new sql.ConnectionPool(toMssqlConfig(options));
    // The pool re-emits driver errors of idle connections; without a listener Node would crash. The next request
    // on a broken connection fails and reports it.
    pool.on('error', () => undefined);
    const store = new MssqlStore(pool, options, storeOptions.keepBodies ?? false);
    try {
      await pool.connect();
      await store.migrate();
      return store;
    } catch (err) {
      await pool.close().catch(() => undefined);
      const cause = err instanceof StoreError ? err.message : describeMssqlError(err, options);
      throw new StoreError(scrub(`cannot open SQL Server store ${where}: ${cause}`, options), err);
    }
  }

  /**
   * One transaction: the exclusive application lock, then every pending migration's batches and its version row.
   * DDL is transactional in SQL Server, so a failed migration leaves nothing behind.
   */
  private async migrate(): Promise<void> {
    const tx = new sql.Transaction(this.pool);
    await tx.begin();
    try {
      const timeout = this.options.requestTimeoutMs > 0 ? Math.max(0, this.options.requestTimeoutMs - 500) : -1;
      const lock = await this.query('acquireMigrationLock', { lock_timeout_ms: int(timeout) }, tx);
      const result = num(lock.recordset[0]?.result);
      if (!(result >= 0)) {
        const why = result === -1 ? `another node held it for more than ${timeout} ms` : result === -3 ? 'chosen as deadlock victim' : `sp_getapplock returned ${result}`;
        throw new StoreError(`cannot take the migration lock ${MIGRATION_LOCK}: ${why}`);
      }
      await new sql.Request(tx).batch(MSSQL_STATEMENTS.createMigrationsTable);
      const applied = new Set((await this.query('appliedMigrations', {}, tx)).recordset.map((r) => num(r.version)));
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        const batches = splitBatches(m.mssql);
        if (batches.length === 0) throw new StoreError(`migration ${m.version} (${m.name}) has no T-SQL`);
        for (const [i, batch] of batches.entries()) {
          try {
            await new sql.Request(tx).batch(batch);
          } catch (err) {
            throw new StoreError(`migration ${m.version} (${m.name}), batch ${i + 1} of ${batches.length} failed: ${describeMssqlError(err, this.options)}`, err);
          }
        }
        await this.query('recordMigration', { version: int(m.version), name: nvarchar(m.name), applied_at: bigint(Date.now()) }, tx);
      }
      await tx.commit();
    } catch (err) {
      // With XACT_ABORT the server may have rolled back already; the original error is the one to report.
      await tx.rollback().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Runs one statement (one batch). A deadlock victim's batch was rolled back whole, so it is run again, twice at
   * most. Other failures become a StoreError naming the statement.
   */
  private async query(name: MssqlStatementName, params: Params, tx?: Transaction): Promise<IResult<Row>> {
    for (let attempt = 1; ; attempt++) {
      const request = tx ? new sql.Request(tx) : this.pool.request();
      for (const [k, p] of Object.entries(params)) request.input(k, p.type, p.value);
      try {
        return await request.query<Row>(MSSQL_STATEMENTS[name]);
      } catch (err) {
        if (!tx && attempt < 3 && hasSqlError(err, DEADLOCK_VICTIM)) continue;
        throw err;
      }
    }
  }

  /** {@link query} for the Store methods: failures become a StoreError naming the operation. */
  private async run(name: MssqlStatementName, params: Params = {}): Promise<IResult<Row>> {
    try {
      return await this.query(name, params);
    } catch (err) {
      throw this.wrap(name, err);
    }
  }

  private wrap(name: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    return new StoreError(scrub(`SQL Server store ${this.options.server}/${this.options.database}: ${name} failed: ${describeMssqlError(err, this.options)}`, this.options), err);
  }

  async schemaVersion(): Promise<number> {
    return num((await this.run('schemaVersion')).recordset[0]?.version ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  async ping(): Promise<void> {
    await this.run('ping');
  }

  async getPuppet(remoteJid: string): Promise<PuppetRecord | undefined> {
    const r = (await this.run('getPuppet', { remote_jid: nvarchar(remoteJid) })).recordset[0];
    return r && toPuppet(r);
  }

  async getPuppetByUserId(userId: string): Promise<PuppetRecord | undefined> {
    const r = (await this.run('getPuppetByUserId', { user_id: nvarchar(userId) })).recordset[0];
    return r && toPuppet(r);
  }

  async putPuppet(p: PuppetRecord): Promise<void> {
    await this.run('putPuppet', { remote_jid: nvarchar(p.remoteJid), user_id: nvarchar(p.userId), upn: nvarchar(p.upn), now: bigint(Date.now()) });
  }

  async puppets(): Promise<PuppetRecord[]> {
    return (await this.run('puppets')).recordset.map(toPuppet);
  }

  async getPair(key: PairKey): Promise<PairRecord | undefined> {
    const r = (await this.run('getPair', pairParams(key))).recordset[0];
    return r && toPair(r);
  }

  async updatePair(key: PairKey, u: PairUpdate): Promise<PairRecord> {
    const r = (
      await this.run('updatePair', {
        ...pairParams(key),
        chat_id: nvarchar(u.chatId),
        sub_from: bit(u.subFrom),
        sub_to: bit(u.subTo),
        sub_to_pending: bit(u.subToPending),
        now: bigint(Date.now()),
      })
    ).recordset[0];
    if (!r) throw new StoreError(`SQL Server store: updatePair returned no row for ${key.teamsUserId}|${key.remoteJid}`);
    return toPair(r);
  }

  async findPairByChat(chatId: string): Promise<PairRecord | undefined> {
    const r = (await this.run('findPairByChat', { chat_id: nvarchar(chatId) })).recordset[0];
    return r && toPair(r);
  }

  async pairsOfTeamsUser(teamsUserId: string): Promise<PairRecord[]> {
    return (await this.run('pairsOfTeamsUser', { teams_user_id: nvarchar(teamsUserId) })).recordset.map(toPair);
  }

  async pairsOfRemote(remoteJid: string): Promise<PairRecord[]> {
    return (await this.run('pairsOfRemote', { remote_jid: nvarchar(remoteJid) })).recordset.map(toPair);
  }

  async watchedTeamsUsers(): Promise<string[]> {
    return (await this.run('watchedTeamsUsers')).recordset.map((r) => str(r.teams_user_id));
  }

  async pairsWithSubTo(): Promise<PairRecord[]> {
    return (await this.run('pairsWithSubTo')).recordset.map(toPair);
  }

  async enqueueOutbound(m: OutboundMessage, now: number): Promise<EnqueueResult> {
    const params: Params = {
      ...pairParams(m),
      dedup_key: nvarchar(m.dedupKey),
      sender: nvarchar(m.sender),
      stanza_id: nvarchar(m.stanzaId),
      receipt_requested: bit(m.receiptRequested),
      body: nvarcharMax(m.body),
      now: bigint(now),
      reply_to_teams_id: nvarchar(m.replyToTeamsId),
    };
    try {
      const inserted = (await this.query('enqueueOutbound', params)).recordset[0];
      if (inserted) return { row: toOutbox(inserted), inserted: true };
    } catch (err) {
      if (!hasSqlError(err, DUPLICATE_KEY)) throw this.wrap('enqueueOutbound', err);
    }
    // Nothing inserted: only a dedup key already present does that.
    const existing = (await this.run('outboxByDedupKey', { dedup_key: nvarchar(m.dedupKey) })).recordset[0];
    if (!existing) throw new StoreError(`SQL Server store: enqueueOutbound inserted nothing, yet no row has dedup key ${m.dedupKey ?? '(none)'}`);
    return { row: toOutbox(existing), inserted: false };
  }

  async findOutbound(dedupKey: string): Promise<OutboxRow | undefined> {
    const r = (await this.run('outboxByDedupKey', { dedup_key: nvarchar(dedupKey) })).recordset[0];
    return r ? toOutbox(r) : undefined;
  }

  async pendingOutbound(key: PairKey): Promise<OutboxRow[]> {
    return (await this.run('pendingOutbound', pairParams(key))).recordset.map(toOutbox);
  }

  async pairsWithDueOutbound(now: number, max: number): Promise<PairKey[]> {
    return (await this.run('pairsWithDueOutbound', { now: bigint(now), limit: limit(max) })).recordset.map((r) => ({
      teamsUserId: str(r.teams_user_id),
      remoteJid: str(r.remote_jid),
    }));
  }

  async markOutboundSending(key: PairKey, now: number): Promise<number> {
    return num((await this.run('markOutboundSending', { ...pairParams(key), now: bigint(now) })).recordset[0]?.id ?? 0);
  }

  async markOutboundDelivered(id: number, teamsMessageId: string, now: number): Promise<void> {
    await this.run('markOutboundDelivered', { id: bigint(id), teams_message_id: nvarchar(teamsMessageId), keep_bodies: bit(this.keepBodies), now: bigint(now) });
  }

  async markOutboundRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    await this.run('markOutboundRetry', { id: bigint(id), error: nvarcharMax(error), next_attempt_at: bigint(nextAttemptAt) });
  }

  async markOutboundDead(id: number, error: string, now: number): Promise<void> {
    await this.run('markOutboundDead', { id: bigint(id), error: nvarcharMax(error), keep_bodies: bit(this.keepBodies), now: bigint(now) });
  }

  async recordNotification(n: InboundNotification, now: number): Promise<boolean> {
    const params: Params = {
      dedup_key: nvarchar(n.dedupKey),
      kind: nvarchar(n.kind),
      subscription_id: nvarchar(n.subscriptionId),
      resource: nvarchar(n.resource),
      change_type: nvarchar(n.changeType),
      detail: nvarcharMax(n.detail),
      now: bigint(now),
    };
    return this.insertIfAbsent('recordNotification', params);
  }

  async dueNotifications(now: number, max: number): Promise<InboxRow[]> {
    return (await this.run('dueNotifications', { now: bigint(now), limit: limit(max) })).recordset.map(toInbox);
  }

  async markNotificationDone(id: number, now: number): Promise<void> {
    await this.run('markNotificationDone', { id: bigint(id), now: bigint(now) });
  }

  async markNotificationRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    await this.run('markNotificationRetry', { id: bigint(id), error: nvarcharMax(error), next_attempt_at: bigint(nextAttemptAt) });
  }

  async markNotificationDead(id: number, error: string, now: number): Promise<void> {
    await this.run('markNotificationDead', { id: bigint(id), error: nvarcharMax(error), now: bigint(now) });
  }

  async recordRelayed(m: RelayedMessage, now: number): Promise<boolean> {
    return this.insertIfAbsent('recordRelayed', {
      chat_id: nvarchar(m.chatId),
      teams_message_id: nvarchar(m.teamsMessageId),
      direction: nvarchar(m.direction),
      xmpp_id: nvarchar(m.xmppId),
      now: bigint(now),
    });
  }

  /** True when the row was inserted; false when its key was present (found under the lock, or by the index). */
  private async insertIfAbsent(name: 'recordNotification' | 'recordRelayed' | 'putWhitelistEntry', params: Params): Promise<boolean> {
    try {
      return ((await this.query(name, params)).rowsAffected[0] ?? 0) === 1;
    } catch (err) {
      if (hasSqlError(err, DUPLICATE_KEY)) return false;
      throw this.wrap(name, err);
    }
  }

  async findRelayed(chatId: string, teamsMessageId: string): Promise<RelayedMessage | undefined> {
    const r = (await this.run('findRelayed', { chat_id: nvarchar(chatId), teams_message_id: nvarchar(teamsMessageId) })).recordset[0];
    return r && toRelayed(r);
  }

  async findRelayedByXmppId(chatId: string, xmppId: string): Promise<RelayedMessage | undefined> {
    const r = (await this.run('findRelayedByXmppId', { chat_id: nvarchar(chatId), xmpp_id: nvarchar(xmppId) })).recordset[0];
    return r && toRelayed(r);
  }

  async saveSubscription(s: GraphSubscriptionRecord): Promise<void> {
    await this.run('saveSubscription', {
      id: nvarchar(s.id),
      purpose: nvarchar(s.purpose),
      resource: nvarchar(s.resource),
      change_type: nvarchar(s.changeType),
      owner_user_id: nvarchar(s.ownerUserId),
      client_state: nvarchar(s.clientState),
      expires_at: bigint(s.expiresAt),
    });
  }

  async subscriptions(): Promise<GraphSubscriptionRecord[]> {
    return (await this.run('subscriptions')).recordset.map(toSubscription);
  }

  async findSubscription(id: string): Promise<GraphSubscriptionRecord | undefined> {
    const r = (await this.run('findSubscription', { id: nvarchar(id) })).recordset[0];
    return r && toSubscription(r);
  }

  async deleteSubscription(id: string): Promise<void> {
    await this.run('deleteSubscription', { id: nvarchar(id) });
  }

  /** Batched deletes (see PRUNE_BATCH); unlike SQLite's, not one transaction: a partial prune is still a prune. */
  async prune(c: PruneCutoffs): Promise<PruneResult> {
    const drain = async (name: 'pruneOutbox' | 'pruneInbox' | 'pruneRelayed', params: Params): Promise<number> => {
      let total = 0;
      for (;;) {
        const n = (await this.run(name, { ...params, batch: int(PRUNE_BATCH) })).rowsAffected[0] ?? 0;
        total += n;
        if (n < PRUNE_BATCH) return total;
      }
    };
    const finished = { delivered: bigint(c.delivered), dead: bigint(c.dead) };
    return {
      outbox: await drain('pruneOutbox', finished),
      inbox: await drain('pruneInbox', finished),
      relayed: await drain('pruneRelayed', { relayed: bigint(c.relayed) }),
    };
  }

  async whitelist(): Promise<WhitelistEntry[]> {
    return (await this.run('whitelist')).recordset.map(toWhitelistEntry);
  }

  async putWhitelistEntry(e: WhitelistEntry): Promise<void> {
    await this.insertIfAbsent('putWhitelistEntry', { kind: nvarchar(e.kind), value: nvarchar(e.value), added_at: bigint(e.addedAt), added_by: nvarchar(e.addedBy) });
  }

  async deleteWhitelistEntry(kind: WhitelistKind, value: string): Promise<boolean> {
    return ((await this.run('deleteWhitelistEntry', { kind: nvarchar(kind), value: nvarchar(value) })).rowsAffected[0] ?? 0) === 1;
  }

  async appendAudit(e: AuditEntry): Promise<void> {
    await this.run('appendAudit', { at: bigint(e.at), actor: nvarchar(e.actor), action: nvarchar(e.action), subject: nvarchar(e.subject), detail: nvarcharMax(e.detail) });
  }

  async auditLog(max: number): Promise<AuditEntry[]> {
    return (await this.run('auditLog', { limit: limit(max) })).recordset.map(toAuditEntry);
  }

  async recordSeatEvent(e: SeatEvent): Promise<void> {
    await this.run('recordSeatEvent', { at: bigint(e.at), node_id: nvarchar(e.nodeId), licence_id: nvarchar(e.licenceId), event: nvarchar(e.event) });
  }

  async seatHistory(max: number): Promise<SeatEvent[]> {
    return (await this.run('seatHistory', { limit: limit(max) })).recordset.map(toSeatEvent);
  }
}

function pairParams(key: PairKey): Params {
  return { teams_user_id: nvarchar(key.teamsUserId), remote_jid: nvarchar(key.remoteJid) };
}
