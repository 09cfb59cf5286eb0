/**
 * The clustered store: SQL Server 2022+ or Azure SQL through the mssql package (tedious driver). Same interface
 * and semantics as the SQLite store; the shared contract suite (test/store/store-contract.ts) runs against both.
 *
 * Every statement is in mssql/statements.ts (parsed by test/store/tsql-parse.test.ts) and every value is a typed
 * parameter; mssql/connection.ts runs them and applies the migrations. The writes on every message's path (enqueue,
 * delivered, relayed, notification recorded and done) are group-committed (mssql/message-writes.ts): those of one
 * kind issued together go as one statement over a JSON array (OPENJSON), one round trip and one transaction.
 * Other operations are one round trip each (except enqueue's re-read of a duplicate and prune's batches): where SQLite needs a transaction, the batch holds BEGIN/COMMIT TRANSACTION itself with SET XACT_ABORT ON, so an
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
import type { IResult } from 'mssql';
import { MssqlConnection } from './mssql/connection.js';
import { MssqlMessageWrites } from './mssql/message-writes.js';
import type { MssqlOptions } from './mssql/options.js';
import { PRUNE_BATCH, bigint, bit, int, limit, notificationParams, nvarchar, nvarcharMax, pairParams, type MssqlStatementName, type Params } from './mssql/statements.js';
import { likeContaining, num, str, toAuditEntry, toAuditRecord, toDeadLetter, toDueInbox, toInbox, toOutbox, toPair, toPuppet, toRefusalTotal, toRelayed, toRemoteUserActivity, toSeatEvent, toSubscription, toWhitelistEntry, type Row } from './rows.js';
import {
  StoreError,
  type AuditEntry,
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
  type PruneCutoffs,
  type PruneResult,
  type PuppetRecord,
  type RelayedMessage,
  type SeatEvent,
  type Store,
  type StoreOptions,
  type WhitelistEntry,
  type WhitelistKind,
  type AuditQuery,
  type AuditRecord,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterRef,
  type DomainAccounts,
  type PresenceWatch,
  type RefusalCount,
  type RefusalTotal,
  type RemoteUserActivity,
  type RetryResult,
  type SfbPairKey,
} from './store.js';

// What the tests and the CLI import from here.
export { MIGRATION_LOCK, MSSQL_STATEMENTS, splitBatches, type MssqlStatementName } from './mssql/statements.js';
export { describeMssqlError } from './mssql/errors.js';
export { mssqlOptionsFromUrl, toMssqlConfig, type MssqlOptions } from './mssql/options.js';

export class MssqlStore implements Store {
  private closed = false;
  private readonly writes: MssqlMessageWrites;

  private constructor(
    private readonly db: MssqlConnection,
    private readonly keepBodies: boolean,
  ) {
    this.writes = new MssqlMessageWrites(db, keepBodies);
  }

  /**
   * Connects and applies pending migrations. Any failure (login, network, TLS, timeout, a migration) is a
   * {@link StoreError} naming the server and database and the cause, never the password.
   */
  static async open(options: MssqlOptions, storeOptions: StoreOptions = {}): Promise<MssqlStore> {
    return new MssqlStore(await MssqlConnection.open(options), storeOptions.keepBodies ?? false);
  }

  private run(name: MssqlStatementName, params: Params = {}): Promise<IResult<Row>> {
    return this.db.run(name, params);
  }

  async schemaVersion(): Promise<number> {
    return num((await this.run('schemaVersion')).recordset[0]?.version ?? 0);
  }

  async claimTenant(tenant: string): Promise<string> {
    return String((await this.run('claimTenant', { tenant: nvarchar(tenant) })).recordset[0]?.tenant ?? tenant);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes.settled();
    await this.db.close();
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

  enqueueOutbound(m: OutboundMessage, now: number): Promise<EnqueueResult> {
    return this.writes.enqueue(m, now);
  }

  async findOutbound(dedupKey: string): Promise<OutboxRow | undefined> {
    const r = (await this.run('outboxByDedupKey', { dedup_key: nvarchar(dedupKey) })).recordset[0];
    return r ? toOutbox(r) : undefined;
  }

  async pendingOutbound(key: PairKey, after?: { readonly afterId: number; readonly limit: number }): Promise<OutboxRow[]> {
    if (after) return (await this.run('pendingOutboundAfter', { ...pairParams(key), after_id: bigint(after.afterId), limit: limit(after.limit) })).recordset.map(toOutbox);
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

  markOutboundDelivered(id: number, teamsMessageId: string, now: number): Promise<void> {
    return this.writes.markDelivered(id, teamsMessageId, now);
  }

  async markOutboundRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    await this.run('markOutboundRetry', { id: bigint(id), error: nvarcharMax(error), next_attempt_at: bigint(nextAttemptAt) });
  }

  async markOutboundDead(id: number, error: string, now: number): Promise<void> {
    await this.run('markOutboundDead', { id: bigint(id), error: nvarcharMax(error), keep_bodies: bit(this.keepBodies), now: bigint(now) });
  }

  recordNotification(n: InboundNotification, now: number): Promise<boolean> {
    return this.writes.recordNotification(n, now);
  }

  scheduleNotification(n: InboundNotification, dueAt: number, now: number): Promise<boolean> {
    return this.db.insertIfAbsent('scheduleNotification', {
      ...notificationParams(n),
      due_at: bigint(dueAt),
      now: bigint(now),
    });
  }

  async dueNotifications(now: number, max: number, afterId = 0): Promise<InboxRow[]> {
    return (await this.run('dueNotifications', { now: bigint(now), limit: limit(max), after_id: bigint(afterId) })).recordset.map(toInbox);
  }

  async dueInboxRows(now: number, max: number, afterId = 0): Promise<DueInboxRow[]> {
    return (await this.run('dueInboxRows', { now: bigint(now), limit: limit(max), after_id: bigint(afterId) })).recordset.map(toDueInbox);
  }

  async notificationDetails(ids: readonly number[]): Promise<Map<number, string>> {
    if (ids.length === 0) return new Map();
    const rows = (await this.run('notificationDetails', { ids: nvarcharMax(JSON.stringify(ids)) })).recordset;
    return new Map(rows.map((r) => [num(r.id), str(r.detail)]));
  }

  markNotificationDone(id: number, now: number): Promise<void> {
    return this.writes.markNotificationDone(id, now);
  }

  async markNotificationRetry(id: number, error: string, nextAttemptAt: number): Promise<void> {
    await this.run('markNotificationRetry', { id: bigint(id), error: nvarcharMax(error), next_attempt_at: bigint(nextAttemptAt) });
  }

  async markNotificationDead(id: number, error: string, now: number): Promise<void> {
    await this.run('markNotificationDead', { id: bigint(id), error: nvarcharMax(error), now: bigint(now) });
  }

  recordRelayed(m: RelayedMessage, now: number): Promise<boolean> {
    return this.writes.recordRelayed(m, now);
  }

  async findRelayed(chatId: string, teamsMessageId: string): Promise<RelayedMessage | undefined> {
    const r = (await this.run('findRelayed', { chat_id: nvarchar(chatId), teams_message_id: nvarchar(teamsMessageId) })).recordset[0];
    return r && toRelayed(r);
  }

  async relayedAmong(chatId: string, teamsMessageIds: readonly string[]): Promise<Set<string>> {
    if (teamsMessageIds.length === 0) return new Set();
    const rows = (await this.run('relayedAmong', { chat_id: nvarchar(chatId), ids: nvarcharMax(JSON.stringify(teamsMessageIds)) })).recordset;
    return new Set(rows.map((r) => str(r.teams_message_id)));
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
    await this.db.insertIfAbsent('putWhitelistEntry', { kind: nvarchar(e.kind), value: nvarchar(e.value), added_at: bigint(e.addedAt), added_by: nvarchar(e.addedBy) });
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

  // ---- Operator console (issue 18) ----

  async deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]> {
    const params = { before_id: bigint(q.beforeId ?? Number.MAX_SAFE_INTEGER), limit: limit(q.limit) };
    const of = async (queue: 'outbox' | 'inbox') =>
      (await this.run(queue === 'outbox' ? 'deadOutbox' : 'deadInbox', params)).recordset.map((r: Row) => toDeadLetter(queue, r));
    const rows = q.queue ? await of(q.queue) : [...(await of('outbox')), ...(await of('inbox'))];
    return rows.sort((a, b) => b.at - a.at || b.id - a.id).slice(0, q.limit);
  }

  async retryDeadLetter(ref: DeadLetterRef, now: number): Promise<RetryResult> {
    const params = { id: bigint(ref.id), now: bigint(now) };
    const r = await this.run(ref.queue === 'outbox' ? 'retryOutbox' : 'retryInbox', params);
    if ((r.rowsAffected[0] ?? 0) === 1) {
      const row = r.recordset?.[0];
      return { retried: true, pair: row ? { teamsUserId: str(row.teams_user_id), remoteJid: str(row.remote_jid) } : undefined };
    }
    const state = (await this.run(ref.queue === 'outbox' ? 'outboxRowState' : 'inboxRowState', { id: bigint(ref.id) })).recordset[0];
    if (!state) return { retried: false, reason: 'not-found' };
    return { retried: false, reason: str(state.state) !== 'dead' ? 'not-dead' : 'no-body' };
  }

  async discardDeadLetter(ref: DeadLetterRef): Promise<boolean> {
    return ((await this.run(ref.queue === 'outbox' ? 'discardOutbox' : 'discardInbox', { id: bigint(ref.id) })).rowsAffected[0] ?? 0) === 1;
  }

  async searchAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const prefix = q.action?.endsWith('.') ?? false;
    return (
      await this.run('searchAudit', {
        text: nvarchar(q.text ? likeContaining(q.text) : undefined),
        actor: nvarchar(q.actor || undefined),
        action: nvarchar(q.action || undefined),
        action_prefix: bit(prefix),
        from: bigint(q.from),
        to: bigint(q.to),
        before_id: bigint(q.beforeId),
        limit: limit(q.limit),
      })
    ).recordset.map(toAuditRecord);
  }

  async addRefusalCounts(counts: readonly RefusalCount[], keepSince: number): Promise<void> {
    for (const c of counts) {
      await this.run('addRefusalCount', {
        minute: bigint(c.minute),
        domain: nvarchar(c.domain),
        direction: nvarchar(c.direction),
        reason: nvarchar(c.reason),
        count: bigint(c.count),
      });
    }
    await this.run('pruneRefusalCounts', { keep_since: bigint(keepSince) });
  }

  async refusalTotals(since: number, max: number): Promise<RefusalTotal[]> {
    return (await this.run('refusalTotals', { since: bigint(since), limit: limit(max) })).recordset.map(toRefusalTotal);
  }

  async remoteUsersOfDomain(domain: string, max: number): Promise<RemoteUserActivity[]> {
    return (await this.run('remoteUsersOfDomain', { suffix: nvarchar(`@${domain}`), limit: limit(max) })).recordset.map(toRemoteUserActivity);
  }

  // ---- Skype for Business pairs (issue 17) ----

  async getSfbPairState(key: SfbPairKey): Promise<string | undefined> {
    const r = (await this.run('getSfbPairState', { sfb_uri: nvarchar(key.sfbUri), remote_jid: nvarchar(key.remoteJid) })).recordset[0];
    return r ? String(r.state) : undefined;
  }

  async putSfbPairState(key: SfbPairKey, state: string, now: number): Promise<void> {
    await this.run('putSfbPairState', { sfb_uri: nvarchar(key.sfbUri), remote_jid: nvarchar(key.remoteJid), state: nvarcharMax(state), now: bigint(now) });
  }

  async sfbPairKeys(after: SfbPairKey | undefined, max: number): Promise<SfbPairKey[]> {
    const rows = (await this.run('sfbPairKeys', { after_uri: nvarchar(after?.sfbUri), after_jid: nvarchar(after?.remoteJid), limit: limit(max) })).recordset;
    return rows.map((r) => ({ sfbUri: String(r.sfb_uri), remoteJid: String(r.remote_jid) }));
  }

  // ---- Webhook intake and presence watching (issue 13: webhook) ----------------------------------------------
  /** A webhook batch: its notifications join the write batch of recorded notifications (one statement). */
  recordNotifications(batch: readonly InboundNotification[], now: number): Promise<boolean[]> {
    return Promise.all(batch.map((n) => this.recordNotification(n, now)));
  }

  async presenceWatchers(): Promise<PresenceWatch[]> {
    return (await this.run('presenceWatchers')).recordset.map((r) => ({ teamsUserId: str(r.teams_user_id), puppetUserId: str(r.puppet_user_id) }));
  }

  // ---- hostile input (issue 12): accounts per remote domain, pairs nobody uses ----

  async countPuppets(domain?: string): Promise<number> {
    const r = domain === undefined ? await this.run('countPuppets') : await this.run('countPuppetsOfDomain', { domain: nvarchar(domain) });
    return num(r.recordset[0]?.n ?? 0);
  }

  async puppetsPerDomain(): Promise<DomainAccounts[]> {
    return (await this.run('puppetsPerDomain')).recordset.map((r) => ({ domain: str(r.domain), accounts: num(r.n) }));
  }

  async touchPair(key: PairKey, now: number): Promise<void> {
    await this.run('touchPair', { ...pairParams(key), now: bigint(now) });
  }

  async unusedPairs(before: number, max: number): Promise<PairRecord[]> {
    return (await this.run('unusedPairs', { before: bigint(before), limit: limit(max) })).recordset.map(toPair);
  }

  async deletePair(key: PairKey): Promise<void> {
    await this.run('deletePair', pairParams(key));
  }
}
