/**
 * The writes on every message's path (enqueue, delivered, relayed, notification recorded and done), group-committed
 * (write-batches.ts): those of one kind issued together go as one statement over a JSON array (OPENJSON), one round
 * trip and one transaction; a lone one as its single-row statement.
 */
import { bigint, bit, json, notificationParams, nvarchar, nvarcharMax, pairParams, type Params } from './statements.js';
import { WriteBatches } from './write-batches.js';
import type { MssqlConnection } from './connection.js';
import { DUPLICATE_KEY, hasSqlError } from './errors.js';
import { bool, formatOrigin, num, toOutbox } from '../rows.js';
import { StoreError, type EnqueueResult, type InboundNotification, type OutboundMessage, type RelayedMessage } from '../store.js';

export class MssqlMessageWrites {
  private readonly enqueues = new WriteBatches<{ m: OutboundMessage; now: number }, EnqueueResult>({
    many: (items) => this.enqueueMany(items),
    one: ({ m, now }) => this.enqueueOne(m, now),
  });
  private readonly delivered = new WriteBatches<{ id: number; teamsMessageId: string; now: number }, void>({
    many: async (items) => {
      await this.db.run('markOutboundDeliveredBatch', { rows: json(items.map((x) => ({ id: x.id, teams_message_id: x.teamsMessageId, ts: x.now }))), keep_bodies: bit(this.keepBodies) });
      return items.map(() => undefined);
    },
    one: async (x) => {
      await this.db.run('markOutboundDelivered', { id: bigint(x.id), teams_message_id: nvarchar(x.teamsMessageId), keep_bodies: bit(this.keepBodies), now: bigint(x.now) });
    },
  });
  private readonly relayed = new WriteBatches<{ m: RelayedMessage; now: number }, boolean>({
    many: async (items) =>
      this.db.insertedFlags(
        'recordRelayedBatch',
        items.map(({ m, now }) => ({ chat_id: m.chatId, teams_message_id: m.teamsMessageId, direction: m.direction, xmpp_id: m.xmppId ?? null, ts: now })),
      ),
    one: ({ m, now }) =>
      this.db.insertIfAbsent('recordRelayed', { chat_id: nvarchar(m.chatId), teams_message_id: nvarchar(m.teamsMessageId), direction: nvarchar(m.direction), xmpp_id: nvarchar(m.xmppId), now: bigint(now) }),
  });
  private readonly notifications = new WriteBatches<{ n: InboundNotification; now: number }, boolean>({
    many: async (items) =>
      this.db.insertedFlags(
        'recordNotificationBatch',
        items.map(({ n, now }) => ({ dedup_key: n.dedupKey, kind: n.kind, subscription_id: n.subscriptionId, resource: n.resource, change_type: n.changeType, detail: n.detail ?? null, ts: now })),
      ),
    one: ({ n, now }) =>
      this.db.insertIfAbsent('recordNotification', { ...notificationParams(n), now: bigint(now) }),
  });
  private readonly done = new WriteBatches<{ id: number; now: number }, void>({
    many: async (items) => {
      await this.db.run('markNotificationDoneBatch', { rows: json(items.map((x) => ({ id: x.id, ts: x.now }))) });
      return items.map(() => undefined);
    },
    one: async (x) => {
      await this.db.run('markNotificationDone', { id: bigint(x.id), now: bigint(x.now) });
    },
  });

  constructor(
    private readonly db: MssqlConnection,
    private readonly keepBodies: boolean,
  ) {}

  enqueue(m: OutboundMessage, now: number): Promise<EnqueueResult> {
    return this.enqueues.submit({ m, now });
  }

  markDelivered(id: number, teamsMessageId: string, now: number): Promise<void> {
    return this.delivered.submit({ id, teamsMessageId, now });
  }

  recordRelayed(m: RelayedMessage, now: number): Promise<boolean> {
    return this.relayed.submit({ m, now });
  }

  recordNotification(n: InboundNotification, now: number): Promise<boolean> {
    return this.notifications.submit({ n, now });
  }

  markNotificationDone(id: number, now: number): Promise<void> {
    return this.done.submit({ id, now });
  }

  /** Lets every batch in flight land. */
  async settled(): Promise<void> {
    await Promise.all([this.enqueues, this.delivered, this.relayed, this.notifications, this.done].map((b) => b.settled()));
  }

  /** One batch of enqueues: each item's row (new or the one its dedup key names) and whether it was inserted. */
  private async enqueueMany(items: readonly { m: OutboundMessage; now: number }[]): Promise<EnqueueResult[]> {
    const rows = items.map(({ m, now }, i) => ({
      i,
      teams_user_id: m.teamsUserId,
      remote_jid: m.remoteJid,
      dedup_key: m.dedupKey ?? null,
      sender: m.sender,
      stanza_id: m.stanzaId ?? null,
      receipt_requested: m.receiptRequested,
      body: m.body,
      ts: now,
      reply_to_teams_id: m.replyToTeamsId ?? null,
      origin: formatOrigin(m.origin),
    }));
    const out: EnqueueResult[] = [];
    for (const r of (await this.db.run('enqueueOutboundBatch', { rows: json(rows) })).recordset) out[num(r.i)] = { row: toOutbox(r), inserted: bool(r.inserted) };
    if (out.length !== items.length || out.some((x) => x === undefined)) throw new StoreError('SQL Server store: enqueueOutboundBatch did not answer every item');
    return out;
  }

  private async enqueueOne(m: OutboundMessage, now: number): Promise<EnqueueResult> {
    const params: Params = {
      ...pairParams(m),
      dedup_key: nvarchar(m.dedupKey),
      sender: nvarchar(m.sender),
      stanza_id: nvarchar(m.stanzaId),
      receipt_requested: bit(m.receiptRequested),
      body: nvarcharMax(m.body),
      now: bigint(now),
      reply_to_teams_id: nvarchar(m.replyToTeamsId),
      origin: nvarchar(formatOrigin(m.origin) ?? undefined),
    };
    try {
      const inserted = (await this.db.query('enqueueOutbound', params)).recordset[0];
      if (inserted) return { row: toOutbox(inserted), inserted: true };
    } catch (err) {
      if (!hasSqlError(err, DUPLICATE_KEY)) throw this.db.wrap('enqueueOutbound', err);
    }
    // Nothing inserted: only a dedup key already present does that.
    const existing = (await this.db.run('outboxByDedupKey', { dedup_key: nvarchar(m.dedupKey) })).recordset[0];
    if (!existing) throw new StoreError(`SQL Server store: enqueueOutbound inserted nothing, yet no row has dedup key ${m.dedupKey ?? '(none)'}`);
    return { row: toOutbox(existing), inserted: false };
  }
}
