/**
 * One SQL Server database for the store: the connection pool, the migrations (applied once, under an application
 * lock, at open), and running the named statements of statements.ts with typed parameters. Failures become a
 * StoreError naming the statement, the server and the database, never the password.
 */
import sql from 'mssql';
import type { ConnectionPool, IResult, Transaction } from 'mssql';
import { MIGRATIONS } from '../migrations.js';
import { bool, num, type Row } from '../rows.js';
import { StoreError } from '../store.js';
import { DEADLOCK_VICTIM, DUPLICATE_KEY, describeMssqlError, hasSqlError, scrub } from './errors.js';
import { toMssqlConfig, type MssqlOptions } from './options.js';
import { MIGRATION_LOCK, MSSQL_STATEMENTS, bigint, int, json, nvarchar, splitBatches, type MssqlStatementName, type Params } from './statements.js';

export class MssqlConnection {
  private constructor(
    readonly pool: ConnectionPool,
    readonly options: MssqlOptions,
  ) {}

  /**
   * Connects and applies pending migrations. Any failure (login, network, TLS, timeout, a migration) is a
   * {@link StoreError} naming the server and database and the cause, never the password.
   */
  static async open(options: MssqlOptions): Promise<MssqlConnection> {
    const where = `${options.server}:${options.port}/${options.database}`;
    const pool = new sql.ConnectionPool(toMssqlConfig(options));
    // The pool re-emits driver errors of idle connections; without a listener Node would crash. The next request
    // on a broken connection fails and reports it.
    pool.on('error', () => undefined);
    const db = new MssqlConnection(pool, options);
    try {
      await pool.connect();
      await db.migrate();
      return db;
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
  async query(name: MssqlStatementName, params: Params, tx?: Transaction): Promise<IResult<Row>> {
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
  async run(name: MssqlStatementName, params: Params = {}): Promise<IResult<Row>> {
    try {
      return await this.query(name, params);
    } catch (err) {
      throw this.wrap(name, err);
    }
  }

  wrap(name: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    return new StoreError(scrub(`SQL Server store ${this.options.server}/${this.options.database}: ${name} failed: ${describeMssqlError(err, this.options)}`, this.options), err);
  }

  /** A batched insert-if-absent: per item, whether it was inserted. */
  async insertedFlags(name: 'recordRelayedBatch' | 'recordNotificationBatch', rows: readonly Record<string, unknown>[]): Promise<boolean[]> {
    const flags: boolean[] = [];
    for (const r of (await this.run(name, { rows: json(rows.map((row, i) => ({ i, ...row }))) })).recordset) flags[num(r.i)] = bool(r.inserted);
    if (flags.length !== rows.length || flags.some((x) => x === undefined)) throw new StoreError(`SQL Server store: ${name} did not answer every item`);
    return flags;
  }

  /** True when the row was inserted; false when its key was present (found under the lock, or by the index). */
  async insertIfAbsent(name: 'recordNotification' | 'scheduleNotification' | 'recordRelayed' | 'putWhitelistEntry', params: Params): Promise<boolean> {
    try {
      return ((await this.query(name, params)).rowsAffected[0] ?? 0) === 1;
    } catch (err) {
      if (hasSqlError(err, DUPLICATE_KEY)) return false;
      throw this.wrap(name, err);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
