/**
 * The embedded store: one SQLite file in WAL mode (better-sqlite3). Reads run on the event loop (short indexed
 * lookups on their own connection: WAL readers never wait for the writer); every write goes through group commit
 * to a writer thread (sqlite/group-commit.ts, sqlite/write-worker.ts), so no fsync ever blocks the event loop.
 * Statements are prepared once per connection. The async interface is what the SQL Server store shares.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { likeContaining, num, str, toAuditEntry, toAuditRecord, toDeadLetter, toRefusalTotal, toRemoteUserActivity, toDueInbox, toInbox, toOutbox, toPair, toPuppet, toRelayed, toSeatEvent, toSubscription, toWhitelistEntry, type Row } from './rows.js';
import { openConnection, Prepared } from './sqlite/connection.js';
import { GroupCommit, InlineBatches, WorkerBatches, type BatchRunner } from './sqlite/group-commit.js';
import {
  StoreError,
  type EnqueueResult,
  type GraphSubscriptionRecord,
  type InboundNotification,
  type InboxRow,
  type DueInboxRow,
  type OutboundMessage,
  type OutboxRow,
  type PairKey,
  type PairRecord,
  type PairUpdate,
  type PuppetRecord,
  type AuditEntry,
  type PruneCutoffs,
  type PruneResult,
  type RelayedMessage,
  type SeatEvent,
  type Store,
  type StoreOptions,
  type WhitelistEntry,
  type WhitelistKind,
  type PresenceWatch,
  type DomainAccounts,
  type AuditQuery,
  type AuditRecord,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterRef,
  type RefusalCount,
  type RefusalTotal,
  type RemoteUserActivity,
  type RetryResult,
  type SfbPairKey,
} from './store.js';

export interface SqliteOptions extends StoreOptions {
  /** How long a statement waits for another process's write lock before failing. */
  readonly busyTimeoutMs?: number;
  /**
   * FULL (default) syncs the WAL at every commit, so an accepted message survives a power loss, not only a
   * process crash; NORMAL syncs at checkpoints only (https://www.sqlite.org/pragma.html#pragma_synchronous).
   */
  readonly synchronous?: 'full' | 'normal';
  /**
   * Group commit (default on): writes issued while the previous commit runs share the next transaction (one WAL
   * sync), which multiplies the write rate under load (bench/outbox-commit). Off: one transaction per write.
   */
  readonly groupCommit?: boolean;
}

export class SqliteStore implements Store {
  private constructor(
    private readonly db: Database.Database,
    private readonly sql: Prepared,
    private readonly writes: GroupCommit,
    private readonly runner: BatchRunner,
  ) {}

  /**
   * Opens (creating if needed) and migrates the database, then starts its writer thread. A file that is not a
   * database, or is locked beyond the busy timeout, fails here with a {@link StoreError} that names the file and
   * the cause.
   */
  static open(path: string, options: SqliteOptions = {}): SqliteStore {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    const synchronous = options.synchronous ?? 'full';
    let db: Database.Database | undefined;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = openConnection(path, { busyTimeoutMs, synchronous });
      // Reading the schema (below, in migrate) is what finds a damaged file at start; a full integrity check would
      // scan the whole database and delay every start of a large one.
      migrate(db);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      const e = err as { code?: string; message: string };
      if (e.code === 'SQLITE_BUSY') {
        throw new StoreError(`cannot open SQLite store ${path}: the database is locked by another process for more than ${busyTimeoutMs} ms`, err);
      }
      if (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT') {
        throw new StoreError(`cannot open SQLite store ${path}: ${e.message} (the file is damaged or not a gateway database)`, err);
      }
      throw new StoreError(`cannot open SQLite store ${path}: ${e.message}`, err);
    }
    const sql = new Prepared(db);
    const keepBodies = options.keepBodies ?? false;
    // An in-memory database exists only in this connection: its writes run here (tests).
    const runner = path === ':memory:' ? new InlineBatches({ sql, keepBodies }) : new WorkerBatches({ path, busyTimeoutMs, synchronous, keepBodies });
    return new SqliteStore(db, sql, new GroupCommit(runner, options.groupCommit ?? true, path), runner);
  }

  /** Resolves once the writer thread has the database open; a StoreError naming the file otherwise. */
  async ready(): Promise<void> {
    try {
      await this.runner.ready();
    } catch (err) {
      throw err instanceof StoreError ? err : new StoreError(err instanceof Error ? err.message : String(err), err);
    }
  }

  async schemaVersion(): Promise<number> {
    const r = this.sql.get('SELECT MAX(version) AS v FROM schema_migrations').get() as Row;
    return Number(r.v ?? 0);
  }

  async claimTenant(tenant: string): Promise<string> {
    // One row; the first claim wins (INSERT OR IGNORE under SQLite's write lock).
    this.db.prepare('INSERT OR IGNORE INTO store_tenant (id, tenant) VALUES (1, ?)').run(tenant);
    return String((this.db.prepare('SELECT tenant FROM store_tenant WHERE id = 1').get() as Row).tenant);
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    await this.writes.settled();
    await this.runner.close();
    this.db.close();
  }

  async ping(): Promise<void> {
    this.sql.get('SELECT 1').get();
  }

  async getPuppet(remoteJid: string): Promise<PuppetRecord | undefined> {
    const r = this.sql.get('SELECT * FROM puppets WHERE remote_jid = ?').get(remoteJid) as Row | undefined;
    return r && toPuppet(r);
  }

  async getPuppetByUserId(userId: string): Promise<PuppetRecord | undefined> {
    const r = this.sql.get('SELECT * FROM puppets WHERE user_id = ?').get(userId) as Row | undefined;
    return r && toPuppet(r);
  }

  putPuppet(p: PuppetRecord): Promise<void> {
    return this.writes.submit('putPuppet', p, Date.now());
  }

  async puppets(): Promise<PuppetRecord[]> {
    return (this.sql.get('SELECT * FROM puppets ORDER BY remote_jid').all() as Row[]).map(toPuppet);
  }

  async getPair(key: PairKey): Promise<PairRecord | undefined> {
    const r = this.sql.get('SELECT * FROM pairs WHERE teams_user_id = ? AND remote_jid = ?').get(key.teamsUserId, key.remoteJid) as Row | undefined;
    return r && toPair(r);
  }

  updatePair(key: PairKey, u: PairUpdate): Promise<PairRecord> {
    return this.writes.submit('updatePair', key, u, Date.now());
  }

  async findPairByChat(chatId: string): Promise<PairRecord | undefined> {
    const r = this.sql.get('SELECT * FROM pairs WHERE chat_id = ?').get(chatId) as Row | undefined;
    return r && toPair(r);
  }

  async pairsOfTeamsUser(teamsUserId: string): Promise<PairRecord[]> {
    return (this.sql.get('SELECT * FROM pairs WHERE teams_user_id = ?').all(teamsUserId) as Row[]).map(toPair);
  }

  async pairsOfRemote(remoteJid: string): Promise<PairRecord[]> {
    return (this.sql.get('SELECT * FROM pairs WHERE remote_jid = ?').all(remoteJid) as Row[]).map(toPair);
  }

  async watchedTeamsUsers(): Promise<string[]> {
    return (this.sql.get('SELECT DISTINCT teams_user_id FROM pairs WHERE sub_from = 1').all() as Row[]).map((r) => str(r.teams_user_id));
  }

  async pairsWithSubTo(): Promise<PairRecord[]> {
    return (this.sql.get('SELECT * FROM pairs WHERE sub_to = 1').all() as Row[]).map(toPair);
  }

  enqueueOutbound(m: OutboundMessage, now: number): Promise<EnqueueResult> {
    return this.writes.submit('enqueueOutbound', m, now);
  }

  async findOutbound(dedupKey: string): Promise<OutboxRow | undefined> {
    const r = this.sql.get('SELECT * FROM outbox WHERE dedup_key = ?').get(dedupKey) as Row | undefined;
    return r && toOutbox(r);
  }

  async pendingOutbound(key: PairKey, after?: { readonly afterId: number; readonly limit: number }): Promise<OutboxRow[]> {
    const rows = after
      ? this.sql.get("SELECT * FROM outbox WHERE teams_user_id = ? AND remote_jid = ? AND state = 'pending' AND id > ? ORDER BY id LIMIT ?").all(key.teamsUserId, key.remoteJid, after.afterId, after.limit)
      : this.sql.get("SELECT * FROM outbox WHERE teams_user_id = ? AND remote_jid = ? AND state = 'pending' ORDER BY id").all(key.teamsUserId, key.remoteJid);
    return (rows as Row[]).map(toOutbox);
  }

  async pairsWithDueOutbound(now: number, limit: number): Promise<PairKey[]> {
    return (
      this.sql.get("SELECT DISTINCT teams_user_id, remote_jid FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? LIMIT ?").all(now, limit) as Row[]
    ).map((r) => ({ teamsUserId: str(r.teams_user_id), remoteJid: str(r.remote_jid) }));
  }

  markOutboundSending(key: PairKey, now: number): Promise<number> {
    return this.writes.submit('markOutboundSending', key, now);
  }

  markOutboundDelivered(id: number, teamsMessageId: string, now: number): Promise<void> {
    return this.writes.submit('markOutboundDelivered', id, teamsMessageId, now);
  }

  markOutboundRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    return this.writes.submit('markOutboundRetry', id, error, nextAttemptAt);
  }

  markOutboundDead(id: number, error: string, now: number): Promise<void> {
    return this.writes.submit('markOutboundDead', id, error, now);
  }

  recordNotification(n: InboundNotification, now: number): Promise<boolean> {
    return this.writes.submit('recordNotification', n, now);
  }

  scheduleNotification(n: InboundNotification, dueAt: number, now: number): Promise<boolean> {
    return this.writes.submit('scheduleNotification', n, dueAt, now);
  }

  async dueNotifications(now: number, limit: number, afterId = 0): Promise<InboxRow[]> {
    // The columns of an InboxRow only. The inbox processor reads dueInboxRows instead (without encrypted content).
    return (this.sql.get("SELECT id, dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at FROM inbox WHERE state = 'pending' AND next_attempt_at <= ? AND id > ? ORDER BY id LIMIT ?").all(now, afterId, limit) as Row[]).map(toInbox);
  }

  async dueInboxRows(now: number, limit: number, afterId = 0): Promise<DueInboxRow[]> {
    return (
      this.sql
        .get(
          `SELECT id, dedup_key, kind, subscription_id, resource, change_type, state, attempts, next_attempt_at,
                  ${ENCRYPTED} AS encrypted, CASE WHEN ${ENCRYPTED} THEN NULL ELSE detail END AS detail
             FROM inbox WHERE state = 'pending' AND next_attempt_at <= ? AND id > ? ORDER BY id LIMIT ?`,
        )
        .all(now, afterId, limit) as Row[]
    ).map(toDueInbox);
  }

  async notificationDetails(ids: readonly number[]): Promise<Map<number, string>> {
    if (ids.length === 0) return new Map();
    const rows = this.sql.get('SELECT id, detail FROM inbox WHERE id IN (SELECT value FROM json_each(?)) AND detail IS NOT NULL').all(JSON.stringify(ids)) as Row[];
    return new Map(rows.map((r) => [num(r.id), str(r.detail)]));
  }

  markNotificationDone(id: number, now: number): Promise<void> {
    return this.writes.submit('markNotificationDone', id, now);
  }

  markNotificationRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    return this.writes.submit('markNotificationRetry', id, error, nextAttemptAt);
  }

  markNotificationDead(id: number, error: string, now: number): Promise<void> {
    return this.writes.submit('markNotificationDead', id, error, now);
  }

  recordRelayed(m: RelayedMessage, now: number): Promise<boolean> {
    return this.writes.submit('recordRelayed', m, now);
  }

  async findRelayed(chatId: string, teamsMessageId: string): Promise<RelayedMessage | undefined> {
    const r = this.sql.get('SELECT * FROM relayed WHERE chat_id = ? AND teams_message_id = ?').get(chatId, teamsMessageId) as Row | undefined;
    return r && toRelayed(r);
  }

  async relayedAmong(chatId: string, teamsMessageIds: readonly string[]): Promise<Set<string>> {
    if (teamsMessageIds.length === 0) return new Set();
    const rows = this.sql.get('SELECT teams_message_id FROM relayed WHERE chat_id = ? AND teams_message_id IN (SELECT value FROM json_each(?))').all(chatId, JSON.stringify(teamsMessageIds)) as Row[];
    return new Set(rows.map((r) => str(r.teams_message_id)));
  }

  async findRelayedByXmppId(chatId: string, xmppId: string): Promise<RelayedMessage | undefined> {
    // Rows whose XMPP id is their Teams id are not in relayed_by_xmpp_id (migration 9): they are found by the key.
    const r = this.sql
      .get(
        `SELECT * FROM relayed WHERE chat_id = @chat AND xmpp_id = @id AND xmpp_id <> teams_message_id
         UNION ALL
         SELECT * FROM relayed WHERE chat_id = @chat AND teams_message_id = @id AND xmpp_id = teams_message_id
         ORDER BY created_at DESC LIMIT 1`,
      )
      .get({ chat: chatId, id: xmppId }) as Row | undefined;
    return r && toRelayed(r);
  }

  saveSubscription(s: GraphSubscriptionRecord): Promise<void> {
    return this.writes.submit('saveSubscription', s);
  }

  async subscriptions(): Promise<GraphSubscriptionRecord[]> {
    return (this.sql.get('SELECT * FROM graph_subscriptions ORDER BY expires_at').all() as Row[]).map(toSubscription);
  }

  async findSubscription(id: string): Promise<GraphSubscriptionRecord | undefined> {
    const r = this.sql.get('SELECT * FROM graph_subscriptions WHERE id = ?').get(id) as Row | undefined;
    return r && toSubscription(r);
  }

  deleteSubscription(id: string): Promise<void> {
    return this.writes.submit('deleteSubscription', id);
  }

  prune(c: PruneCutoffs): Promise<PruneResult> {
    return this.writes.submit('prune', c);
  }

  async whitelist(): Promise<WhitelistEntry[]> {
    return (this.sql.get('SELECT * FROM whitelist ORDER BY kind, value').all() as Row[]).map(toWhitelistEntry);
  }

  putWhitelistEntry(e: WhitelistEntry): Promise<void> {
    return this.writes.submit('putWhitelistEntry', e);
  }

  deleteWhitelistEntry(kind: WhitelistKind, value: string): Promise<boolean> {
    return this.writes.submit('deleteWhitelistEntry', kind, value);
  }

  appendAudit(e: AuditEntry): Promise<void> {
    return this.writes.submit('appendAudit', e);
  }

  async auditLog(limit: number): Promise<AuditEntry[]> {
    return (this.sql.get('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(toAuditEntry);
  }

  recordSeatEvent(e: SeatEvent): Promise<void> {
    return this.writes.submit('recordSeatEvent', e);
  }

  async seatHistory(limit: number): Promise<SeatEvent[]> {
    return (this.sql.get('SELECT * FROM licence_seats ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(toSeatEvent);
  }

  // ---- Operator console (issue 18) ----

  async deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]> {
    const before = q.beforeId ?? Number.MAX_SAFE_INTEGER;
    const of = (queue: 'outbox' | 'inbox') =>
      (this.sql.get(`SELECT * FROM ${queue} WHERE state = 'dead' AND id < ? ORDER BY id DESC LIMIT ?`).all(before, q.limit) as Row[]).map((r) => toDeadLetter(queue, r));
    const rows = q.queue ? of(q.queue) : [...of('outbox'), ...of('inbox')];
    return rows.sort((a, b) => b.at - a.at || b.id - a.id).slice(0, q.limit);
  }

  retryDeadLetter(ref: DeadLetterRef, now: number): Promise<RetryResult> {
    return this.writes.submit('retryDeadLetter', ref, now);
  }

  discardDeadLetter(ref: DeadLetterRef): Promise<boolean> {
    return this.writes.submit('discardDeadLetter', ref);
  }

  async searchAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.text) {
      where.push("(LOWER(actor) LIKE ? ESCAPE '\\' OR LOWER(action) LIKE ? ESCAPE '\\' OR LOWER(subject) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(detail, '')) LIKE ? ESCAPE '\\')");
      const p = likeContaining(q.text);
      args.push(p, p, p, p);
    }
    if (q.actor) (where.push('actor = ?'), args.push(q.actor));
    if (q.action) {
      if (q.action.endsWith('.')) (where.push('substr(action, 1, ?) = ?'), args.push(q.action.length, q.action));
      else (where.push('action = ?'), args.push(q.action));
    }
    if (q.from !== undefined) (where.push('at >= ?'), args.push(q.from));
    if (q.to !== undefined) (where.push('at < ?'), args.push(q.to));
    if (q.beforeId !== undefined) (where.push('id < ?'), args.push(q.beforeId));
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.sql.get(sql).all(...args, q.limit) as Row[]).map(toAuditRecord);
  }

  addRefusalCounts(counts: readonly RefusalCount[], keepSince: number): Promise<void> {
    return this.writes.submit('addRefusalCounts', counts, keepSince);
  }

  async refusalTotals(since: number, limit: number): Promise<RefusalTotal[]> {
    return (
      this.sql
        .get(
          `SELECT domain, direction, reason, SUM(count) AS count, MAX(minute) AS last_minute FROM refusal_counts
           WHERE minute >= ? GROUP BY domain, direction, reason ORDER BY SUM(count) DESC, domain LIMIT ?`,
        )
        .all(since, limit) as Row[]
    ).map(toRefusalTotal);
  }

  async remoteUsersOfDomain(domain: string, limit: number): Promise<RemoteUserActivity[]> {
    return (
      this.sql
        .get(
          `SELECT p.remote_jid, COUNT(*) AS partners, SUM(CASE WHEN p.sub_from = 1 OR p.sub_to = 1 THEN 1 ELSE 0 END) AS subscribed,
                  MAX(MAX(p.updated_at), COALESCE((SELECT MAX(o.created_at) FROM outbox o WHERE o.remote_jid = p.remote_jid), 0)) AS last_activity_at
             FROM pairs p WHERE substr(p.remote_jid, -?) = ?
            GROUP BY p.remote_jid ORDER BY last_activity_at DESC, p.remote_jid LIMIT ?`,
        )
        .all(domain.length + 1, `@${domain}`, limit) as Row[]
    ).map(toRemoteUserActivity);
  }

  // ---- Skype for Business pairs (issue 17) ----

  async getSfbPairState(key: SfbPairKey): Promise<string | undefined> {
    const r = this.sql.get('SELECT state FROM sfb_pairs WHERE sfb_uri = ? AND remote_jid = ?').get(key.sfbUri, key.remoteJid) as Row | undefined;
    return r ? String(r.state) : undefined;
  }

  putSfbPairState(key: SfbPairKey, state: string, now: number): Promise<void> {
    return this.writes.submit('putSfbPairState', key, state, now);
  }

  async sfbPairKeys(after: SfbPairKey | undefined, limit: number): Promise<SfbPairKey[]> {
    const rows = (
      after
        ? this.sql.get('SELECT sfb_uri, remote_jid FROM sfb_pairs WHERE sfb_uri > ? OR (sfb_uri = ? AND remote_jid > ?) ORDER BY sfb_uri, remote_jid LIMIT ?').all(after.sfbUri, after.sfbUri, after.remoteJid, limit)
        : this.sql.get('SELECT sfb_uri, remote_jid FROM sfb_pairs ORDER BY sfb_uri, remote_jid LIMIT ?').all(limit)
    ) as Row[];
    return rows.map((r) => ({ sfbUri: String(r.sfb_uri), remoteJid: String(r.remote_jid) }));
  }

  // ---- Webhook intake and presence watching (issue 13: webhook) ----

  /** A webhook batch: its notifications join one group commit, in order. */
  recordNotifications(batch: readonly InboundNotification[], now: number): Promise<boolean[]> {
    return Promise.all(batch.map((n) => this.writes.submit('recordNotification', n, now)));
  }

  async presenceWatchers(): Promise<PresenceWatch[]> {
    const rows = this.sql
      .get(
        `SELECT p.teams_user_id, u.user_id AS puppet_user_id FROM pairs p JOIN puppets u ON u.remote_jid = p.remote_jid
          WHERE p.sub_from = 1 ORDER BY p.teams_user_id, u.user_id`,
      )
      .all() as Row[];
    return rows.map((r) => ({ teamsUserId: str(r.teams_user_id), puppetUserId: str(r.puppet_user_id) }));
  }

  // ---- hostile input (issue 12): accounts per remote domain, pairs nobody uses ----

  async countPuppets(domain?: string): Promise<number> {
    const row = (
      domain === undefined ? this.sql.get('SELECT COUNT(*) AS n FROM puppets').get() : this.sql.get(`SELECT COUNT(*) AS n FROM puppets WHERE ${JID_DOMAIN} = ?`).get(domain)
    ) as Row;
    return Number(row.n);
  }

  async puppetsPerDomain(): Promise<DomainAccounts[]> {
    return (this.sql.get(`SELECT ${JID_DOMAIN} AS domain, COUNT(*) AS n FROM puppets GROUP BY 1 ORDER BY 1`).all() as Row[]).map((r) => ({
      domain: str(r.domain),
      accounts: Number(r.n),
    }));
  }

  touchPair(key: PairKey, now: number): Promise<void> {
    return this.writes.submit('touchPair', key, now);
  }

  async unusedPairs(before: number, limit: number): Promise<PairRecord[]> {
    return (
      this.sql
        .get(
          `SELECT * FROM pairs p WHERE updated_at < ?
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.teams_user_id = p.teams_user_id AND o.remote_jid = p.remote_jid AND o.state = 'pending')
           ORDER BY updated_at LIMIT ?`,
        )
        .all(before, limit) as Row[]
    ).map(toPair);
  }

  deletePair(key: PairKey): Promise<void> {
    return this.writes.submit('deletePair', key);
  }
}

/**
 * An inbox row whose detail is encrypted resource data: a notification about a resource whose detail is a JSON object
 * (notification-intake.ts commits the encrypted content so). A lifecycle event or a resend's schedule is not.
 */
const ENCRYPTED = "(kind IN ('chatMessage', 'presence', 'user') AND substr(detail, 1, 1) = '{')";

/** The domain of a bare JID column (everything after the '@'). */
const JID_DOMAIN = "substr(remote_jid, instr(remote_jid, '@') + 1)";

/** Applies pending migrations in one immediate transaction, so concurrent starters serialise on the lock. */
function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const apply = db.transaction(() => {
    const done = new Set(db.prepare('SELECT version FROM schema_migrations').all().map((r) => Number((r as Row).version)));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      db.exec(m.sqlite);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }
  });
  apply.immediate();
}
