/**
 * Every write of the SQLite store, as plain functions of a connection: the writer thread runs them in batches
 * (group commit: one transaction, one WAL sync, for every write issued in the same instant). Arguments and
 * results are plain data, so they cross the thread boundary by structured clone. Statements are prepared once.
 */
import { formatOrigin, str, toOutbox, toPair, type Row } from '../rows.js';
import type {
  AuditEntry,
  EnqueueResult,
  GraphSubscriptionRecord,
  InboundNotification,
  OutboundMessage,
  PairKey,
  PairRecord,
  PairUpdate,
  PruneCutoffs,
  PruneResult,
  PuppetRecord,
  RelayedMessage,
  SeatEvent,
  WhitelistEntry,
  WhitelistKind,
  DeadLetterRef,
  RefusalCount,
  RetryResult,
  SfbPairKey,
} from '../store.js';
import type { Prepared } from './connection.js';

export interface WriteContext {
  readonly sql: Prepared;
  /** Keep message bodies of delivered and dead-lettered outbox rows (default: data minimisation). */
  readonly keepBodies: boolean;
}

const bit = (v: boolean | undefined) => (v === undefined ? null : v ? 1 : 0);

export const WRITES = {
  putPuppet(w: WriteContext, p: PuppetRecord, now: number): void {
    w.sql
      .get(
        `INSERT INTO puppets (remote_jid, user_id, upn, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (remote_jid) DO UPDATE SET user_id = excluded.user_id, upn = excluded.upn`,
      )
      .run(p.remoteJid, p.userId, p.upn, now);
  },

  updatePair(w: WriteContext, key: PairKey, u: PairUpdate, now: number): PairRecord {
    w.sql
      .get(
        `INSERT INTO pairs (teams_user_id, remote_jid, chat_id, sub_from, sub_to, sub_to_pending, updated_at)
         VALUES (@t, @r, @chat, COALESCE(@from, 0), COALESCE(@to, 0), COALESCE(@pending, 0), @now)
         ON CONFLICT (teams_user_id, remote_jid) DO UPDATE SET
           chat_id = COALESCE(@chat, chat_id),
           sub_from = COALESCE(@from, sub_from),
           sub_to = COALESCE(@to, sub_to),
           sub_to_pending = COALESCE(@pending, sub_to_pending),
           updated_at = @now`,
      )
      .run({ t: key.teamsUserId, r: key.remoteJid, chat: u.chatId ?? null, from: bit(u.subFrom), to: bit(u.subTo), pending: bit(u.subToPending), now });
    return toPair(w.sql.get('SELECT * FROM pairs WHERE teams_user_id = ? AND remote_jid = ?').get(key.teamsUserId, key.remoteJid) as Row);
  },

  /** The existing row for the dedup key, or a new pending row. */
  enqueueOutbound(w: WriteContext, m: OutboundMessage, now: number): EnqueueResult {
    if (m.dedupKey !== undefined) {
      const existing = w.sql.get('SELECT * FROM outbox WHERE dedup_key = ?').get(m.dedupKey) as Row | undefined;
      if (existing) return { row: toOutbox(existing), inserted: false };
    }
    const info = w.sql
      .get(
        `INSERT INTO outbox (teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, state,
                             attempts, next_attempt_at, created_at, reply_to_teams_id, origin)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
      )
      .run(m.teamsUserId, m.remoteJid, m.dedupKey ?? null, m.sender, m.stanzaId ?? null, m.receiptRequested ? 1 : 0, m.body, now, now, m.replyToTeamsId ?? null, formatOrigin(m.origin));
    return { row: toOutbox(w.sql.get('SELECT * FROM outbox WHERE id = ?').get(info.lastInsertRowid) as Row), inserted: true };
  },

  markOutboundSending(w: WriteContext, key: PairKey, now: number): number {
    w.sql
      .get("UPDATE outbox SET sending_since = ? WHERE teams_user_id = ? AND remote_jid = ? AND state = 'pending' AND sending_since IS NULL")
      .run(now, key.teamsUserId, key.remoteJid);
    const r = w.sql.get("SELECT MAX(id) AS id FROM outbox WHERE teams_user_id = ? AND remote_jid = ? AND state = 'pending'").get(key.teamsUserId, key.remoteJid) as Row;
    return Number(r.id ?? 0);
  },

  /** Delivered rows keep their ids (for dedup of retransmissions) but not their body (data minimisation). */
  markOutboundDelivered(w: WriteContext, id: number, teamsMessageId: string, now: number): void {
    w.sql
      .get(
        `UPDATE outbox SET state = 'delivered', teams_message_id = ?, body = CASE WHEN ? THEN body END, attempts = attempts + 1,
                done_at = ?, last_error = NULL, sending_since = NULL WHERE id = ?`,
      )
      .run(teamsMessageId, w.keepBodies ? 1 : 0, now, id);
  },

  markOutboundRetry(w: WriteContext, id: number, error: string, nextAttemptAt: number): void {
    w.sql.get('UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?').run(error, nextAttemptAt, id);
  },

  markOutboundDead(w: WriteContext, id: number, error: string, now: number): void {
    w.sql
      .get(
        `UPDATE outbox SET state = 'dead', body = CASE WHEN ? THEN body END, attempts = attempts + 1, last_error = ?, done_at = ?,
                sending_since = NULL WHERE id = ?`,
      )
      .run(w.keepBodies ? 1 : 0, error, now, id);
  },

  recordNotification(w: WriteContext, n: InboundNotification, now: number): boolean {
    return WRITES.scheduleNotification(w, n, now, now);
  },

  scheduleNotification(w: WriteContext, n: InboundNotification, dueAt: number, now: number): boolean {
    const info = w.sql
      .get(
        `INSERT INTO inbox (dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at, received_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
         ON CONFLICT (dedup_key) DO NOTHING`,
      )
      .run(n.dedupKey, n.kind, n.subscriptionId, n.resource, n.changeType, n.detail ?? null, dueAt, now);
    return info.changes === 1;
  },

  /** A processed notification keeps its dedup key, not its detail: rich notifications carry the message, encrypted. */
  markNotificationDone(w: WriteContext, id: number, now: number): void {
    w.sql.get("UPDATE inbox SET state = 'delivered', attempts = attempts + 1, done_at = ?, last_error = NULL, detail = NULL WHERE id = ?").run(now, id);
  },

  markNotificationRetry(w: WriteContext, id: number, error: string, nextAttemptAt: number): void {
    w.sql.get('UPDATE inbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?').run(error, nextAttemptAt, id);
  },

  markNotificationDead(w: WriteContext, id: number, error: string, now: number): void {
    w.sql.get("UPDATE inbox SET state = 'dead', attempts = attempts + 1, last_error = ?, done_at = ? WHERE id = ?").run(error, now, id);
  },

  recordRelayed(w: WriteContext, m: RelayedMessage, now: number): boolean {
    const info = w.sql
      .get(
        `INSERT INTO relayed (chat_id, teams_message_id, direction, xmpp_id, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (chat_id, teams_message_id) DO NOTHING`,
      )
      .run(m.chatId, m.teamsMessageId, m.direction, m.xmppId ?? null, now);
    return info.changes === 1;
  },

  saveSubscription(w: WriteContext, s: GraphSubscriptionRecord): void {
    w.sql.get('DELETE FROM graph_subscriptions WHERE purpose = ? AND id <> ?').run(s.purpose, s.id);
    w.sql
      .get(
        `INSERT INTO graph_subscriptions (id, purpose, resource, change_type, owner_user_id, client_state, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, client_state = excluded.client_state`,
      )
      .run(s.id, s.purpose, s.resource, s.changeType, s.ownerUserId ?? null, s.clientState, s.expiresAt);
  },

  deleteSubscription(w: WriteContext, id: string): void {
    w.sql.get('DELETE FROM graph_subscriptions WHERE id = ?').run(id);
  },

  prune(w: WriteContext, c: PruneCutoffs): PruneResult {
    // One statement a state, each naming it literally: that is what lets it use the state's partial index
    // (migration 10); an OR of both would read the whole table.
    const finished = (table: 'outbox' | 'inbox') =>
      w.sql.get(`DELETE FROM ${table} WHERE state = 'delivered' AND done_at < ?`).run(c.delivered).changes +
      w.sql.get(`DELETE FROM ${table} WHERE state = 'dead' AND done_at < ?`).run(c.dead).changes;
    return { outbox: finished('outbox'), inbox: finished('inbox'), relayed: w.sql.get('DELETE FROM relayed WHERE created_at < ?').run(c.relayed).changes };
  },

  putWhitelistEntry(w: WriteContext, e: WhitelistEntry): void {
    w.sql.get('INSERT INTO whitelist (kind, value, added_at, added_by) VALUES (?, ?, ?, ?) ON CONFLICT (kind, value) DO NOTHING').run(e.kind, e.value, e.addedAt, e.addedBy);
  },

  deleteWhitelistEntry(w: WriteContext, kind: WhitelistKind, value: string): boolean {
    return w.sql.get('DELETE FROM whitelist WHERE kind = ? AND value = ?').run(kind, value).changes === 1;
  },

  appendAudit(w: WriteContext, e: AuditEntry): void {
    w.sql.get('INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)').run(e.at, e.actor, e.action, e.subject, e.detail ?? null);
  },

  recordSeatEvent(w: WriteContext, e: SeatEvent): void {
    w.sql.get('INSERT INTO licence_seats (at, node_id, licence_id, event) VALUES (?, ?, ?, ?)').run(e.at, e.nodeId, e.licenceId, e.event);
  },

  // ---- Operator console (issue 18) ----

  /** A dead letter back in its queue as a fresh pending row; an outbox row whose body was erased cannot be. */
  retryDeadLetter(w: WriteContext, ref: DeadLetterRef, now: number): RetryResult {
    const r = w.sql.get(`SELECT * FROM ${ref.queue === 'outbox' ? 'outbox' : 'inbox'} WHERE id = ?`).get(ref.id) as Row | undefined;
    if (!r) return { retried: false, reason: 'not-found' };
    if (str(r.state) !== 'dead') return { retried: false, reason: 'not-dead' };
    if (ref.queue === 'outbox') {
      if (r.body === null || r.body === undefined) return { retried: false, reason: 'no-body' };
      w.sql.get("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, done_at = NULL, sending_since = NULL WHERE id = ?").run(now, ref.id);
      return { retried: true, pair: { teamsUserId: str(r.teams_user_id), remoteJid: str(r.remote_jid) } };
    }
    w.sql.get("UPDATE inbox SET state = 'pending', attempts = 0, next_attempt_at = ?, done_at = NULL WHERE id = ?").run(now, ref.id);
    return { retried: true, pair: undefined };
  },

  discardDeadLetter(w: WriteContext, ref: DeadLetterRef): boolean {
    return w.sql.get(`DELETE FROM ${ref.queue === 'outbox' ? 'outbox' : 'inbox'} WHERE id = ? AND state = 'dead'`).run(ref.id).changes === 1;
  },

  addRefusalCounts(w: WriteContext, counts: readonly RefusalCount[], keepSince: number): void {
    const add = w.sql.get(
      `INSERT INTO refusal_counts (minute, domain, direction, reason, count) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (minute, domain, direction, reason) DO UPDATE SET count = count + excluded.count`,
    );
    for (const c of counts) add.run(c.minute, c.domain, c.direction, c.reason, c.count);
    w.sql.get('DELETE FROM refusal_counts WHERE minute < ?').run(keepSince);
  },

  // ---- Skype for Business pairs (issue 17) ----

  putSfbPairState(w: WriteContext, key: SfbPairKey, state: string, now: number): void {
    w.sql
      .get('INSERT INTO sfb_pairs (sfb_uri, remote_jid, state, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (sfb_uri, remote_jid) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at')
      .run(key.sfbUri, key.remoteJid, state, now);
  },

  // ---- hostile input (issue 12): pairs nobody uses ----

  touchPair(w: WriteContext, key: PairKey, now: number): void {
    w.sql.get('UPDATE pairs SET updated_at = ? WHERE teams_user_id = ? AND remote_jid = ?').run(now, key.teamsUserId, key.remoteJid);
  },

  deletePair(w: WriteContext, key: PairKey): void {
    w.sql.get('DELETE FROM pairs WHERE teams_user_id = ? AND remote_jid = ?').run(key.teamsUserId, key.remoteJid);
  },
};

type Writes = typeof WRITES;
export type WriteName = keyof Writes;
export type WriteArgs<N extends WriteName> = Writes[N] extends (w: WriteContext, ...args: infer A) => unknown ? A : never;
export type WriteResult<N extends WriteName> = ReturnType<Writes[N]>;

/** One write as it crosses to the writer thread. */
export interface WriteRequest {
  readonly name: WriteName;
  readonly args: readonly unknown[];
}

/** What became of one write of a batch: its result, or why it failed (plain data, for the thread boundary). */
export type WriteOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly code: string | undefined; readonly message: string };

function call(w: WriteContext, r: WriteRequest): unknown {
  const fn = WRITES[r.name] as (w: WriteContext, ...args: readonly unknown[]) => unknown;
  return fn(w, ...r.args);
}

function failure(err: unknown): WriteOutcome {
  const e = err as { code?: unknown; message?: unknown };
  return { ok: false, code: typeof e.code === 'string' ? e.code : undefined, message: typeof e.message === 'string' ? e.message : String(err) };
}

/**
 * Runs a batch in one IMMEDIATE transaction (a deferred one that reads and then writes cannot wait for another
 * process's write lock: SQLite answers SQLITE_BUSY at once to avoid a deadlock, which nodes sharing a file hit).
 * When one write fails, the batch is run again with each write in its own transaction, so that one bad write
 * does not fail the others.
 */
export function runBatch(w: WriteContext, batch: readonly WriteRequest[]): WriteOutcome[] {
  try {
    return w.sql.db.transaction(() => batch.map((r): WriteOutcome => ({ ok: true, value: call(w, r) }))).immediate();
  } catch {
    return batch.map((r) => {
      try {
        return { ok: true, value: w.sql.db.transaction(() => call(w, r)).immediate() };
      } catch (err) {
        return failure(err);
      }
    });
  }
}
