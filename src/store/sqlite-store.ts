/**
 * The embedded store: one SQLite file in WAL mode (better-sqlite3). Statements are synchronous and short; the
 * async interface is what the SQL Server store shares.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
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
  type RelayedMessage,
  type Store,
} from './store.js';

type Row = Record<string, unknown>;

const str = (v: unknown): string => String(v);
const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));

function toPair(r: Row): PairRecord {
  return {
    teamsUserId: str(r.teams_user_id),
    remoteJid: str(r.remote_jid),
    chatId: optStr(r.chat_id),
    subFrom: r.sub_from === 1,
    subTo: r.sub_to === 1,
    subToPending: r.sub_to_pending === 1,
  };
}

function toOutbox(r: Row): OutboxRow {
  return {
    id: Number(r.id),
    teamsUserId: str(r.teams_user_id),
    remoteJid: str(r.remote_jid),
    dedupKey: optStr(r.dedup_key),
    sender: str(r.sender),
    stanzaId: optStr(r.stanza_id),
    receiptRequested: r.receipt_requested === 1,
    body: r.body === null ? '' : str(r.body),
    state: str(r.state) as OutboxRow['state'],
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    lastError: optStr(r.last_error),
    teamsMessageId: optStr(r.teams_message_id),
  };
}

function toInbox(r: Row): InboxRow {
  return {
    id: Number(r.id),
    dedupKey: str(r.dedup_key),
    kind: str(r.kind) as InboxRow['kind'],
    subscriptionId: str(r.subscription_id),
    resource: str(r.resource),
    changeType: str(r.change_type),
    detail: optStr(r.detail),
    state: str(r.state) as InboxRow['state'],
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
  };
}

function toSubscription(r: Row): GraphSubscriptionRecord {
  return {
    id: str(r.id),
    purpose: str(r.purpose),
    resource: str(r.resource),
    changeType: str(r.change_type),
    ownerUserId: optStr(r.owner_user_id),
    clientState: str(r.client_state),
    expiresAt: Number(r.expires_at),
  };
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  /**
   * Opens (creating if needed) and migrates the database. A file that is not a database, or is locked beyond the
   * busy timeout, fails here with a {@link StoreError} that names the file and the cause.
   */
  static open(path: string, options: { busyTimeoutMs?: number } = {}): SqliteStore {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      const db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      const store = new SqliteStore(db);
      store.migrate();
      return store;
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot open SQLite store ${path}: ${(err as Error).message}`, err);
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

  schemaVersion(): number {
    const r = this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as Row;
    return Number(r.v ?? 0);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async getPuppet(remoteJid: string): Promise<PuppetRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM puppets WHERE remote_jid = ?').get(remoteJid) as Row | undefined;
    return r && { remoteJid: str(r.remote_jid), userId: str(r.user_id), upn: str(r.upn) };
  }

  async getPuppetByUserId(userId: string): Promise<PuppetRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM puppets WHERE user_id = ?').get(userId) as Row | undefined;
    return r && { remoteJid: str(r.remote_jid), userId: str(r.user_id), upn: str(r.upn) };
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
    return (this.db.prepare('SELECT * FROM puppets ORDER BY remote_jid').all() as Row[]).map((r) => ({
      remoteJid: str(r.remote_jid),
      userId: str(r.user_id),
      upn: str(r.upn),
    }));
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
    })();
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

  async enqueueOutbound(m: OutboundMessage, now: number): Promise<EnqueueResult> {
    return this.db.transaction((): EnqueueResult => {
      if (m.dedupKey !== undefined) {
        const existing = this.db.prepare('SELECT * FROM outbox WHERE dedup_key = ?').get(m.dedupKey) as Row | undefined;
        if (existing) return { row: toOutbox(existing), inserted: false };
      }
      const info = this.db
        .prepare(
          `INSERT INTO outbox (teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, state,
                               attempts, next_attempt_at, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
        )
        .run(m.teamsUserId, m.remoteJid, m.dedupKey ?? null, m.sender, m.stanzaId ?? null, m.receiptRequested ? 1 : 0, m.body, now, now);
      return { row: toOutbox(this.db.prepare('SELECT * FROM outbox WHERE id = ?').get(info.lastInsertRowid) as Row), inserted: true };
    })();
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

  /** Delivered rows keep their ids (for dedup of retransmissions) but not their body (data minimisation). */
  async markOutboundDelivered(id: number, teamsMessageId: string, now: number): Promise<void> {
    this.db
      .prepare("UPDATE outbox SET state = 'delivered', teams_message_id = ?, body = NULL, attempts = attempts + 1, done_at = ?, last_error = NULL WHERE id = ?")
      .run(teamsMessageId, now, id);
  }

  async markOutboundRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    this.db.prepare('UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?').run(error, nextAttemptAt, id);
  }

  async markOutboundDead(id: number, error: string, now: number): Promise<void> {
    this.db
      .prepare("UPDATE outbox SET state = 'dead', body = NULL, attempts = attempts + 1, last_error = ?, done_at = ? WHERE id = ?")
      .run(error, now, id);
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
    return (
      r && {
        chatId: str(r.chat_id),
        teamsMessageId: str(r.teams_message_id),
        direction: str(r.direction) as RelayedMessage['direction'],
        xmppId: optStr(r.xmpp_id),
      }
    );
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
    })();
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
}
