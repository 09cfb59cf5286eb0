/**
 * The embedded store: one SQLite file in WAL mode (better-sqlite3). Statements are synchronous and short; the
 * async interface is what the SQL Server store shares.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { str, toAuditEntry, toInbox, toOutbox, toPair, toPuppet, toRelayed, toSeatEvent, toSubscription, toWhitelistEntry, type Row } from './rows.js';
import {
  StoreError,
  type EnqueueResult,
  type GraphSubscriptionRecord,
  type InboundNotification,
  type InboxRow,
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
   * Group commit: outbox enqueues issued in the same event-loop turn share one transaction (one WAL sync), which
   * multiplies the accept rate under load at the cost of at most one turn of latency (bench/outbox-commit).
   */
  readonly groupCommit?: boolean;
}

interface PendingEnqueue {
  readonly message: OutboundMessage;
  readonly now: number;
  readonly resolve: (r: EnqueueResult) => void;
  readonly reject: (err: unknown) => void;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private pendingEnqueues: PendingEnqueue[] = [];

  private constructor(
    db: Database.Database,
    private readonly options: SqliteOptions,
  ) {
    this.db = db;
  }

  /**
   * Opens (creating if needed) and migrates the database. A file that is not a database, or is locked beyond the
   * busy timeout, fails here with a {@link StoreError} that names the file and the cause.
   */
  static open(path: string, options: SqliteOptions = {}): SqliteStore {
    const timeout = options.busyTimeoutMs ?? 5000;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      const db = new Database(path, { timeout });
      // WAL lets several node processes on one host share the file: readers never block the writer.
      // Switching a new file to WAL needs an exclusive lock and does not always wait on the busy handler: when
      // several nodes create the file at once, the losers retry until the winner is done.
      for (const deadline = Date.now() + timeout; ; ) {
        try {
          db.pragma('journal_mode = WAL');
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      }
      db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      db.pragma('foreign_keys = ON');
      // Reading the schema (below, in migrate) is what finds a damaged file at start; a full integrity check would
      // scan the whole database and delay every start of a large one.
      const store = new SqliteStore(db, options);
      store.migrate();
      return store;
    } catch (err) {
      if (err instanceof StoreError) throw err;
      const e = err as { code?: string; message: string };
      if (e.code === 'SQLITE_BUSY') {
        throw new StoreError(`cannot open SQLite store ${path}: the database is locked by another process for more than ${timeout} ms`, err);
      }
      if (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT') {
        throw new StoreError(`cannot open SQLite store ${path}: ${e.message} (the file is damaged or not a gateway database)`, err);
      }
      throw new StoreError(`cannot open SQLite store ${path}: ${e.message}`, err);
    }
  }

  /** Applies pending migrations in one immediate transaction, so concurrent starters serialise on the lock. */
  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const apply = this.db.transaction(() => {
      const done = new Set(this.db.prepare('SELECT version FROM schema_migrations').all().map((r) => Number((r as Row).version)));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        this.db.exec(m.sqlite);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      }
    });
    apply.immediate();
  }

  async schemaVersion(): Promise<number> {
    const r = this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as Row;
    return Number(r.v ?? 0);
  }

  async close(): Promise<void> {
    if (this.pendingEnqueues.length > 0 && this.db.open) this.flushEnqueues();
    if (this.db.open) this.db.close();
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async getPuppet(remoteJid: string): Promise<PuppetRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM puppets WHERE remote_jid = ?').get(remoteJid) as Row | undefined;
    return r && toPuppet(r);
  }

  async getPuppetByUserId(userId: string): Promise<PuppetRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM puppets WHERE user_id = ?').get(userId) as Row | undefined;
    return r && toPuppet(r);
  }

  async putPuppet(p: PuppetRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO puppets (remote_jid, user_id, upn, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (remote_jid) DO UPDATE SET user_id = excluded.user_id, upn = excluded.upn`,
      )
      .run(p.remoteJid, p.userId, p.upn, Date.now());
  }

  async puppets(): Promise<PuppetRecord[]> {
    return (this.db.prepare('SELECT * FROM puppets ORDER BY remote_jid').all() as Row[]).map(toPuppet);
  }

  async getPair(key: PairKey): Promise<PairRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM pairs WHERE teams_user_id = ? AND remote_jid = ?').get(key.teamsUserId, key.remoteJid) as
      | Row
      | undefined;
    return r && toPair(r);
  }

  async updatePair(key: PairKey, u: PairUpdate): Promise<PairRecord> {
    const bit = (v: boolean | undefined) => (v === undefined ? null : v ? 1 : 0);
    return this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO pairs (teams_user_id, remote_jid, chat_id, sub_from, sub_to, sub_to_pending, updated_at)
           VALUES (@t, @r, @chat, COALESCE(@from, 0), COALESCE(@to, 0), COALESCE(@pending, 0), @now)
           ON CONFLICT (teams_user_id, remote_jid) DO UPDATE SET
             chat_id = COALESCE(@chat, chat_id),
             sub_from = COALESCE(@from, sub_from),
             sub_to = COALESCE(@to, sub_to),
             sub_to_pending = COALESCE(@pending, sub_to_pending),
             updated_at = @now`,
        )
        .run({
          t: key.teamsUserId,
          r: key.remoteJid,
          chat: u.chatId ?? null,
          from: bit(u.subFrom),
          to: bit(u.subTo),
          pending: bit(u.subToPending),
          now: Date.now(),
        });
      return toPair(this.db.prepare('SELECT * FROM pairs WHERE teams_user_id = ? AND remote_jid = ?').get(key.teamsUserId, key.remoteJid) as Row);
    }).immediate();
  }

  async findPairByChat(chatId: string): Promise<PairRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM pairs WHERE chat_id = ?').get(chatId) as Row | undefined;
    return r && toPair(r);
  }

  async pairsOfTeamsUser(teamsUserId: string): Promise<PairRecord[]> {
    return (this.db.prepare('SELECT * FROM pairs WHERE teams_user_id = ?').all(teamsUserId) as Row[]).map(toPair);
  }

  async pairsOfRemote(remoteJid: string): Promise<PairRecord[]> {
    return (this.db.prepare('SELECT * FROM pairs WHERE remote_jid = ?').all(remoteJid) as Row[]).map(toPair);
  }

  async watchedTeamsUsers(): Promise<string[]> {
    return (this.db.prepare('SELECT DISTINCT teams_user_id FROM pairs WHERE sub_from = 1').all() as Row[]).map((r) => str(r.teams_user_id));
  }

  async pairsWithSubTo(): Promise<PairRecord[]> {
    return (this.db.prepare('SELECT * FROM pairs WHERE sub_to = 1').all() as Row[]).map(toPair);
  }

  // Write transactions begin IMMEDIATE: a deferred one that reads and then writes cannot wait for another process's
  // write lock (SQLite answers SQLITE_BUSY at once to avoid a deadlock), which several nodes sharing a file hit.
  async enqueueOutbound(m: OutboundMessage, now: number): Promise<EnqueueResult> {
    if (!this.options.groupCommit) return this.db.transaction(() => this.enqueueOne(m, now)).immediate();
    return new Promise((resolve, reject) => {
      this.pendingEnqueues.push({ message: m, now, resolve, reject });
      if (this.pendingEnqueues.length === 1) setImmediate(() => this.flushEnqueues());
    });
  }

  private flushEnqueues(): void {
    const batch = this.pendingEnqueues;
    this.pendingEnqueues = [];
    let results: EnqueueResult[];
    try {
      results = this.db.transaction(() => batch.map((b) => this.enqueueOne(b.message, b.now))).immediate();
    } catch {
      // One failing row must not fail the others: fall back to a transaction each.
      for (const b of batch) {
        try {
          b.resolve(this.db.transaction(() => this.enqueueOne(b.message, b.now)).immediate());
        } catch (err) {
          b.reject(err);
        }
      }
      return;
    }
    batch.forEach((b, i) => b.resolve(results[i] as EnqueueResult));
  }

  /** Inside a transaction: the existing row for the dedup key, or a new pending row. */
  private enqueueOne(m: OutboundMessage, now: number): EnqueueResult {
    if (m.dedupKey !== undefined) {
      const existing = this.db.prepare('SELECT * FROM outbox WHERE dedup_key = ?').get(m.dedupKey) as Row | undefined;
      if (existing) return { row: toOutbox(existing), inserted: false };
    }
    const info = this.db
      .prepare(
        `INSERT INTO outbox (teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, state,
                             attempts, next_attempt_at, created_at, reply_to_teams_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
      )
      .run(m.teamsUserId, m.remoteJid, m.dedupKey ?? null, m.sender, m.stanzaId ?? null, m.receiptRequested ? 1 : 0, m.body, now, now, m.replyToTeamsId ?? null);
    return { row: toOutbox(this.db.prepare('SELECT * FROM outbox WHERE id = ?').get(info.lastInsertRowid) as Row), inserted: true };
  }

  async findOutbound(dedupKey: string): Promise<OutboxRow | undefined> {
    const r = this.db.prepare('SELECT * FROM outbox WHERE dedup_key = ?').get(dedupKey) as Row | undefined;
    return r && toOutbox(r);
  }

  async pendingOutbound(key: PairKey): Promise<OutboxRow[]> {
    return (
      this.db
        .prepare("SELECT * FROM outbox WHERE teams_user_id = ? AND remote_jid = ? AND state = 'pending' ORDER BY id")
        .all(key.teamsUserId, key.remoteJid) as Row[]
    ).map(toOutbox);
  }

  async pairsWithDueOutbound(now: number, limit: number): Promise<PairKey[]> {
    return (
      this.db
        .prepare(
          "SELECT DISTINCT teams_user_id, remote_jid FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? LIMIT ?",
        )
        .all(now, limit) as Row[]
    ).map((r) => ({ teamsUserId: str(r.teams_user_id), remoteJid: str(r.remote_jid) }));
  }

  async markOutboundSending(key: PairKey, now: number): Promise<number> {
    return this.db.transaction(() => {
      this.db
        .prepare("UPDATE outbox SET sending_since = ? WHERE teams_user_id = ? AND remote_jid = ? AND state = 'pending' AND sending_since IS NULL")
        .run(now, key.teamsUserId, key.remoteJid);
      const r = this.db.prepare("SELECT MAX(id) AS id FROM outbox WHERE teams_user_id = ? AND remote_jid = ? AND state = 'pending'").get(key.teamsUserId, key.remoteJid) as Row;
      return Number(r.id ?? 0);
    }).immediate();
  }

  /** Delivered rows keep their ids (for dedup of retransmissions) but not their body (data minimisation). */
  async markOutboundDelivered(id: number, teamsMessageId: string, now: number): Promise<void> {
    this.db
      .prepare(
        `UPDATE outbox SET state = 'delivered', teams_message_id = ?, body = CASE WHEN ? THEN body END, attempts = attempts + 1,
                done_at = ?, last_error = NULL, sending_since = NULL WHERE id = ?`,
      )
      .run(teamsMessageId, this.options.keepBodies ? 1 : 0, now, id);
  }

  async markOutboundRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    this.db.prepare('UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?').run(error, nextAttemptAt, id);
  }

  async markOutboundDead(id: number, error: string, now: number): Promise<void> {
    this.db
      .prepare(
        `UPDATE outbox SET state = 'dead', body = CASE WHEN ? THEN body END, attempts = attempts + 1, last_error = ?, done_at = ?,
                sending_since = NULL WHERE id = ?`,
      )
      .run(this.options.keepBodies ? 1 : 0, error, now, id);
  }

  async recordNotification(n: InboundNotification, now: number): Promise<boolean> {
    const info = this.db
      .prepare(
        `INSERT INTO inbox (dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at, received_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
         ON CONFLICT (dedup_key) DO NOTHING`,
      )
      .run(n.dedupKey, n.kind, n.subscriptionId, n.resource, n.changeType, n.detail ?? null, now, now);
    return info.changes === 1;
  }

  async dueNotifications(now: number, limit: number): Promise<InboxRow[]> {
    return (
      this.db.prepare("SELECT * FROM inbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?").all(now, limit) as Row[]
    ).map(toInbox);
  }

  async markNotificationDone(id: number, now: number): Promise<void> {
    this.db.prepare("UPDATE inbox SET state = 'delivered', attempts = attempts + 1, done_at = ?, last_error = NULL WHERE id = ?").run(now, id);
  }

  async markNotificationRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    this.db.prepare('UPDATE inbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?').run(error, nextAttemptAt, id);
  }

  async markNotificationDead(id: number, error: string, now: number): Promise<void> {
    this.db.prepare("UPDATE inbox SET state = 'dead', attempts = attempts + 1, last_error = ?, done_at = ? WHERE id = ?").run(error, now, id);
  }

  async recordRelayed(m: RelayedMessage, now: number): Promise<boolean> {
    const info = this.db
      .prepare(
        `INSERT INTO relayed (chat_id, teams_message_id, direction, xmpp_id, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (chat_id, teams_message_id) DO NOTHING`,
      )
      .run(m.chatId, m.teamsMessageId, m.direction, m.xmppId ?? null, now);
    return info.changes === 1;
  }

  async findRelayed(chatId: string, teamsMessageId: string): Promise<RelayedMessage | undefined> {
    const r = this.db.prepare('SELECT * FROM relayed WHERE chat_id = ? AND teams_message_id = ?').get(chatId, teamsMessageId) as Row | undefined;
    return r && toRelayed(r);
  }

  async findRelayedByXmppId(chatId: string, xmppId: string): Promise<RelayedMessage | undefined> {
    const r = this.db.prepare('SELECT * FROM relayed WHERE chat_id = ? AND xmpp_id = ? ORDER BY created_at DESC LIMIT 1').get(chatId, xmppId) as Row | undefined;
    return r && toRelayed(r);
  }

  async saveSubscription(s: GraphSubscriptionRecord): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM graph_subscriptions WHERE purpose = ? AND id <> ?').run(s.purpose, s.id);
      this.db
        .prepare(
          `INSERT INTO graph_subscriptions (id, purpose, resource, change_type, owner_user_id, client_state, expires_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, client_state = excluded.client_state`,
        )
        .run(s.id, s.purpose, s.resource, s.changeType, s.ownerUserId ?? null, s.clientState, s.expiresAt);
    }).immediate();
  }

  async subscriptions(): Promise<GraphSubscriptionRecord[]> {
    return (this.db.prepare('SELECT * FROM graph_subscriptions ORDER BY expires_at').all() as Row[]).map(toSubscription);
  }

  async findSubscription(id: string): Promise<GraphSubscriptionRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM graph_subscriptions WHERE id = ?').get(id) as Row | undefined;
    return r && toSubscription(r);
  }

  async deleteSubscription(id: string): Promise<void> {
    this.db.prepare('DELETE FROM graph_subscriptions WHERE id = ?').run(id);
  }

  async prune(c: PruneCutoffs): Promise<PruneResult> {
    return this.db.transaction((): PruneResult => {
      const done = (table: string) =>
        this.db
          .prepare(`DELETE FROM ${table} WHERE (state = 'delivered' AND done_at < ?) OR (state = 'dead' AND done_at < ?)`)
          .run(c.delivered, c.dead).changes;
      return {
        outbox: done('outbox'),
        inbox: done('inbox'),
        relayed: this.db.prepare('DELETE FROM relayed WHERE created_at < ?').run(c.relayed).changes,
      };
    }).immediate();
  }

  async whitelist(): Promise<WhitelistEntry[]> {
    return (this.db.prepare('SELECT * FROM whitelist ORDER BY kind, value').all() as Row[]).map(toWhitelistEntry);
  }

  async putWhitelistEntry(e: WhitelistEntry): Promise<void> {
    this.db
      .prepare('INSERT INTO whitelist (kind, value, added_at, added_by) VALUES (?, ?, ?, ?) ON CONFLICT (kind, value) DO NOTHING')
      .run(e.kind, e.value, e.addedAt, e.addedBy);
  }

  async deleteWhitelistEntry(kind: WhitelistKind, value: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM whitelist WHERE kind = ? AND value = ?').run(kind, value).changes === 1;
  }

  async appendAudit(e: AuditEntry): Promise<void> {
    this.db.prepare('INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)').run(e.at, e.actor, e.action, e.subject, e.detail ?? null);
  }

  async auditLog(limit: number): Promise<AuditEntry[]> {
    return (this.db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(toAuditEntry);
  }

  async recordSeatEvent(e: SeatEvent): Promise<void> {
    this.db.prepare('INSERT INTO licence_seats (at, node_id, licence_id, event) VALUES (?, ?, ?, ?)').run(e.at, e.nodeId, e.licenceId, e.event);
  }

  async seatHistory(limit: number): Promise<SeatEvent[]> {
    return (this.db.prepare('SELECT * FROM licence_seats ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(toSeatEvent);
  }
}
