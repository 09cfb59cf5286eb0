/**
 * Rows of both SQL dialects as the store's records. The column names are the same in SQLite and SQL Server; the
 * value types differ only in ways these converters absorb (SQLite booleans are 0/1 and SQL Server's are BIT
 * true/false; SQL Server BIGINTs arrive as strings).
 */
import type {
  AuditEntry,
  AuditRecord,
  DeadLetter,
  DeadLetterQueue,
  DueInboxRow,
  InboxDeadLetter,
  RefusalTotal,
  RemoteUserActivity,
  GraphSubscriptionRecord,
  InboxRow,
  MessageOrigin,
  OutboxRow,
  PairRecord,
  PuppetRecord,
  RelayedMessage,
  SeatEvent,
  WhitelistEntry,
  WhitelistKind,
} from './store.js';

export type Row = Record<string, unknown>;

export const str = (v: unknown): string => String(v);
export const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
export const num = (v: unknown): number => Number(v);
export const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
export const bool = (v: unknown): boolean => v === true || v === 1;

export function toPuppet(r: Row): PuppetRecord {
  return { remoteJid: str(r.remote_jid), userId: str(r.user_id), upn: str(r.upn) };
}

export function toPair(r: Row): PairRecord {
  return {
    teamsUserId: str(r.teams_user_id),
    remoteJid: str(r.remote_jid),
    chatId: optStr(r.chat_id),
    subFrom: bool(r.sub_from),
    subTo: bool(r.sub_to),
    subToPending: bool(r.sub_to_pending),
  };
}

export function toOutbox(r: Row): OutboxRow {
  return {
    id: num(r.id),
    teamsUserId: str(r.teams_user_id),
    remoteJid: str(r.remote_jid),
    dedupKey: optStr(r.dedup_key),
    sender: str(r.sender),
    stanzaId: optStr(r.stanza_id),
    receiptRequested: bool(r.receipt_requested),
    body: r.body === null || r.body === undefined ? '' : str(r.body),
    state: str(r.state) as OutboxRow['state'],
    attempts: num(r.attempts),
    nextAttemptAt: num(r.next_attempt_at),
    lastError: optStr(r.last_error),
    teamsMessageId: optStr(r.teams_message_id),
    sendingSince: optNum(r.sending_since),
    createdAt: num(r.created_at),
    replyToTeamsId: optStr(r.reply_to_teams_id),
    origin: parseOrigin(optStr(r.origin)),
  };
}

/** A due row as dueInboxRows reads it: `encrypted` is 1 for a row whose detail (not read) is encrypted resource data. */
export function toDueInbox(r: Row): DueInboxRow {
  return {
    id: num(r.id),
    dedupKey: str(r.dedup_key),
    kind: str(r.kind) as InboxRow['kind'],
    subscriptionId: str(r.subscription_id),
    resource: str(r.resource),
    changeType: str(r.change_type),
    detail: optStr(r.detail),
    encrypted: num(r.encrypted) === 1,
    state: str(r.state) as InboxRow['state'],
    attempts: num(r.attempts),
    nextAttemptAt: num(r.next_attempt_at),
  };
}

/** An inbox row read with its detail (dueNotifications). */
export function toInbox(r: Row): InboxRow {
  const { encrypted: _, ...row } = toDueInbox(r);
  return row;
}

export function toSubscription(r: Row): GraphSubscriptionRecord {
  return {
    id: str(r.id),
    purpose: str(r.purpose),
    resource: str(r.resource),
    changeType: str(r.change_type),
    ownerUserId: optStr(r.owner_user_id),
    clientState: str(r.client_state),
    expiresAt: num(r.expires_at),
  };
}

export function toRelayed(r: Row): RelayedMessage {
  return {
    chatId: str(r.chat_id),
    teamsMessageId: str(r.teams_message_id),
    direction: str(r.direction) as RelayedMessage['direction'],
    xmppId: optStr(r.xmpp_id),
  };
}

export function toWhitelistEntry(r: Row): WhitelistEntry {
  return { kind: str(r.kind) as WhitelistKind, value: str(r.value), addedAt: num(r.added_at), addedBy: str(r.added_by) };
}

export function toAuditEntry(r: Row): AuditEntry {
  return { at: num(r.at), actor: str(r.actor), action: str(r.action), subject: str(r.subject), detail: optStr(r.detail) };
}

export function toSeatEvent(r: Row): SeatEvent {
  return { at: num(r.at), nodeId: str(r.node_id), licenceId: str(r.licence_id), event: str(r.event) as SeatEvent['event'] };
}

// ---- Operator console (issue 18) ----

export function toDeadLetter(queue: DeadLetterQueue, r: Row): DeadLetter {
  const common = { id: num(r.id), at: num(r.done_at ?? 0), attempts: num(r.attempts), lastError: optStr(r.last_error) };
  if (queue === 'inbox') {
    return { queue, ...common, kind: str(r.kind) as InboxDeadLetter['kind'], resource: str(r.resource), changeType: str(r.change_type) };
  }
  return {
    queue,
    ...common,
    teamsUserId: str(r.teams_user_id),
    remoteJid: str(r.remote_jid),
    sender: str(r.sender),
    stanzaId: optStr(r.stanza_id),
    body: optStr(r.body),
  };
}

export function toAuditRecord(r: Row): AuditRecord {
  return { id: num(r.id), ...toAuditEntry(r) };
}

export function toRefusalTotal(r: Row): RefusalTotal {
  return { domain: str(r.domain), direction: str(r.direction) as RefusalTotal['direction'], reason: str(r.reason), count: num(r.count), lastMinute: num(r.last_minute) };
}

export function toRemoteUserActivity(r: Row): RemoteUserActivity {
  return { remoteJid: str(r.remote_jid), teamsPartners: num(r.partners), subscribed: num(r.subscribed) > 0, lastActivityAt: num(r.last_activity_at) };
}

/** A LIKE pattern that matches `text` literally anywhere (escape character: backslash). */
export function likeContaining(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_[]/gu, (c) => `\\${c}`)}%`;
}

/** The outbox's `origin` column: "<correlation id>[ <traceparent>]". */
export function formatOrigin(o: MessageOrigin | undefined): string | null {
  if (!o) return null;
  return o.traceparent ? `${o.correlationId} ${o.traceparent}` : o.correlationId;
}

function parseOrigin(v: string | undefined): MessageOrigin | undefined {
  if (!v) return undefined;
  const [correlationId = '', traceparent] = v.split(' ', 2);
  return { correlationId, traceparent };
}
