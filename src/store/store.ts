/**
 * The gateway's durable state behind one interface (DESIGN.md "store"): identity mappings, presence
 * subscriptions between pairs, the outbox of XMPP messages on their way to Teams, the inbox of Graph change
 * notifications, the ids of relayed messages, and Graph subscriptions. Presence itself is not stored.
 */

export interface PuppetRecord {
  /** Bare JID of the XMPP user the account represents. */
  readonly remoteJid: string;
  /** Entra object id of the account. */
  readonly userId: string;
  readonly upn: string;
}

export interface PairKey {
  /**
   * The tenant, for the router's actor keys (issue 16); absent or "default": the single-tenant layout's. Each tenant
   * has a store of its own, so the store's own rows need not name it.
   */
  readonly tenant?: string;
  readonly teamsUserId: string;
  readonly remoteJid: string;
}

export interface PairRecord extends PairKey {
  readonly chatId: string | undefined;
  /** RFC 6121 'from' from the Teams user's side: the XMPP user receives her presence. */
  readonly subFrom: boolean;
  /** RFC 6121 'to': the gateway, for her, receives the XMPP user's presence. */
  readonly subTo: boolean;
  /** A subscribe from her to the XMPP user is awaiting an answer (RFC 6121 §3.1.2 "pending out"). */
  readonly subToPending: boolean;
}

export type PairUpdate = Partial<Pick<PairRecord, 'chatId' | 'subFrom' | 'subTo' | 'subToPending'>>;

export interface OutboundMessage extends PairKey {
  /** Unique per accepted message; a second enqueue with the same key is a retransmission. */
  readonly dedupKey: string | undefined;
  /** Full JID of the XMPP sender, to whom receipts and errors go. */
  readonly sender: string;
  readonly stanzaId: string | undefined;
  readonly receiptRequested: boolean;
  readonly body: string;
  /** XEP-0461: the Teams id of the message this one replies to (posted as a Teams quote). */
  readonly replyToTeamsId?: string | undefined;
  /**
   * Where the message entered the gateway: its correlation id and W3C traceparent, so that its delivery (by whichever
   * node and actor, however late) logs and traces under the stanza that brought it.
   */
  readonly origin?: MessageOrigin | undefined;
}

/** The correlation id and (when tracing is on) the W3C traceparent a message was accepted under. */
export interface MessageOrigin {
  readonly correlationId: string;
  readonly traceparent?: string | undefined;
}

export type DeliveryState = 'pending' | 'delivered' | 'dead';

export interface OutboxRow extends OutboundMessage {
  readonly id: number;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastError: string | undefined;
  readonly teamsMessageId: string | undefined;
  /**
   * Set when a post to Graph started and its outcome is not known (the node crashed, or the connection failed
   * without an answer): before posting again, the actor looks for the message in the chat, so it is never
   * posted twice.
   */
  readonly sendingSince: number | undefined;
  /** When the row was accepted (committed). */
  readonly createdAt: number;
}

export interface EnqueueResult {
  readonly row: OutboxRow;
  /** False when the dedup key was already present (the sender retransmitted). */
  readonly inserted: boolean;
}

/** 'resend': not from Graph, a Teams message to send to XMPP again later (actors/user-pair/resend-schedule.ts). */
export type NotificationKind = 'chatMessage' | 'presence' | 'user' | 'lifecycle' | 'resend';

export interface InboundNotification {
  readonly dedupKey: string;
  readonly kind: NotificationKind;
  readonly subscriptionId: string;
  readonly resource: string;
  readonly changeType: string;
  /** Only what processing needs (e.g. the lifecycle event); never a message body. */
  readonly detail: string | undefined;
}

export interface InboxRow extends InboundNotification {
  readonly id: number;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: number;
}

/**
 * A due inbox row as the inbox processor reads it (notification-processor.ts): without the encrypted resource data
 * it may hold, about 1.5 KB a notification. A round reads many more rows than it processes (those of chats it leaves
 * for a later round) and most of the rest started decrypting when they were recorded (decrypt-ahead.ts); it reads
 * the encrypted content of the few that need it with notificationDetails.
 */
export interface DueInboxRow extends Omit<InboxRow, 'detail'> {
  /** The row's detail (a lifecycle event, a resend's schedule); undefined when it is encrypted resource data. */
  readonly detail: string | undefined;
  /** Whether the row holds encrypted resource data (a notification about a resource whose detail is JSON), not read. */
  readonly encrypted: boolean;
}

export interface GraphSubscriptionRecord {
  readonly id: string;
  /** What the subscription is for, unique: e.g. "messages:<puppet user id>", "presence:<user id>". */
  readonly purpose: string;
  readonly resource: string;
  readonly changeType: string;
  /** Puppet user id whose delegated token created it; undefined for the application token. */
  readonly ownerUserId: string | undefined;
  readonly clientState: string;
  readonly expiresAt: number;
}

export interface RelayedMessage {
  readonly chatId: string;
  readonly teamsMessageId: string;
  readonly direction: 'xmpp_to_teams' | 'teams_to_xmpp';
  readonly xmppId: string | undefined;
}

export type WhitelistKind = 'domain' | 'user' | 'group';

export interface WhitelistEntry {
  readonly kind: WhitelistKind;
  /** A domain or `*.suffix` rule, a UPN or Entra user id, or an Entra group id. */
  readonly value: string;
  readonly addedAt: number;
  readonly addedBy: string;
}

export interface AuditEntry {
  readonly at: number;
  /** Who did it: an operator name, a node id, or "gateway". */
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  /** Never a message body or a secret. */
  readonly detail: string | undefined;
}

export interface SeatEvent {
  readonly at: number;
  readonly nodeId: string;
  readonly licenceId: string;
  readonly event: 'claimed' | 'renewed' | 'released' | 'expired';
}

/** Rows finished before these times (epoch ms) are deleted by {@link Store.prune}. */
export interface PruneCutoffs {
  readonly delivered: number;
  readonly dead: number;
  readonly relayed: number;
}

export interface PruneResult {
  readonly outbox: number;
  readonly inbox: number;
  readonly relayed: number;
}

export interface Store {
  close(): Promise<void>;
  /** Throws when the database cannot be used (for /healthz). */
  ping(): Promise<void>;
  /**
   * Issue 16: makes an unclaimed store the tenant's and returns the store's tenant, which is another one when the
   * store already belongs to another tenant (the caller must not use it then).
   */
  claimTenant(tenant: string): Promise<string>;

  getPuppet(remoteJid: string): Promise<PuppetRecord | undefined>;
  getPuppetByUserId(userId: string): Promise<PuppetRecord | undefined>;
  putPuppet(record: PuppetRecord): Promise<void>;
  /** Every puppet, for re-establishing their Graph subscriptions at start. */
  puppets(): Promise<PuppetRecord[]>;

  getPair(key: PairKey): Promise<PairRecord | undefined>;
  /** Creates the pair if missing and applies the update; returns the stored pair. */
  updatePair(key: PairKey, update: PairUpdate): Promise<PairRecord>;
  findPairByChat(chatId: string): Promise<PairRecord | undefined>;
  pairsOfTeamsUser(teamsUserId: string): Promise<PairRecord[]>;
  pairsOfRemote(remoteJid: string): Promise<PairRecord[]>;
  /** Teams users at least one XMPP user is subscribed to (whose presence the gateway must watch). */
  watchedTeamsUsers(): Promise<string[]>;
  /** Pairs where the gateway should hold the XMPP user's presence (subTo), for probes at start. */
  pairsWithSubTo(): Promise<PairRecord[]>;

  enqueueOutbound(message: OutboundMessage, now: number): Promise<EnqueueResult>;
  /** The row a dedup key names (a retransmission is recognised before it costs rate-limit tokens). */
  findOutbound(dedupKey: string): Promise<OutboxRow | undefined>;
  /**
   * Pending rows of one pair, oldest first; with `after`, only those above `afterId`, at most `limit` (what a pair
   * actor has not taken in yet).
   */
  pendingOutbound(key: PairKey, after?: { readonly afterId: number; readonly limit: number }): Promise<OutboxRow[]>;
  /** Pairs that have a pending row due at `now`. */
  pairsWithDueOutbound(now: number, limit: number): Promise<PairKey[]>;
  /**
   * Posts to Graph are about to start for the pair (see {@link OutboxRow.sendingSince}): every pending row of the
   * pair not marked yet is marked, in one write, so that a flood costs one mark, not one per message. Returns the
   * highest pending row id of the pair (every pending row up to it is marked).
   */
  markOutboundSending(key: PairKey, now: number): Promise<number>;
  /** Clears the body unless the store was opened to keep bodies (data minimisation). */
  markOutboundDelivered(id: number, teamsMessageId: string, now: number): Promise<void>;
  markOutboundRetry(id: number, error: string, nextAttemptAt: number): Promise<void>;
  markOutboundDead(id: number, error: string, now: number): Promise<void>;

  /** Records a notification; false when its dedup key was seen before (a redelivery). */
  recordNotification(n: InboundNotification, now: number): Promise<boolean>;
  /** {@link recordNotification}, not due before `dueAt` (work the gateway gives itself for later, e.g. a resend). */
  scheduleNotification(n: InboundNotification, dueAt: number, now: number): Promise<boolean>;
  /** Pending notifications due by `now`, in inbox (id) order, those after `afterId` only when given (paging). */
  dueNotifications(now: number, limit: number, afterId?: number): Promise<InboxRow[]>;
  /** {@link dueNotifications} without their encrypted resource data ({@link DueInboxRow}). */
  dueInboxRows(now: number, limit: number, afterId?: number): Promise<DueInboxRow[]>;
  /** The details of these inbox rows (for a notification with resource data, its encrypted content), by id; rows without one, or gone, are missing. */
  notificationDetails(ids: readonly number[]): Promise<Map<number, string>>;
  markNotificationDone(id: number, now: number): Promise<void>;
  markNotificationRetry(id: number, error: string, nextAttemptAt: number): Promise<void>;
  markNotificationDead(id: number, error: string, now: number): Promise<void>;

  recordRelayed(m: RelayedMessage, now: number): Promise<boolean>;
  findRelayed(chatId: string, teamsMessageId: string): Promise<RelayedMessage | undefined>;
  /** Which of these Teams messages of one chat were relayed, in one query (the inbox's check in a cluster). */
  relayedAmong(chatId: string, teamsMessageIds: readonly string[]): Promise<Set<string>>;
  /** The relayed message an XMPP id names in a chat (what a correction, retraction or reaction refers to). */
  findRelayedByXmppId(chatId: string, xmppId: string): Promise<RelayedMessage | undefined>;

  saveSubscription(s: GraphSubscriptionRecord): Promise<void>;
  subscriptions(): Promise<GraphSubscriptionRecord[]>;
  findSubscription(id: string): Promise<GraphSubscriptionRecord | undefined>;
  deleteSubscription(id: string): Promise<void>;

  /** Deletes delivered/dead inbox and outbox rows and relayed ids older than the cutoffs. */
  prune(cutoffs: PruneCutoffs): Promise<PruneResult>;

  whitelist(): Promise<WhitelistEntry[]>;
  putWhitelistEntry(entry: WhitelistEntry): Promise<void>;
  deleteWhitelistEntry(kind: WhitelistKind, value: string): Promise<boolean>;

  appendAudit(entry: AuditEntry): Promise<void>;
  /** Newest first. */
  auditLog(limit: number): Promise<AuditEntry[]>;

  recordSeatEvent(event: SeatEvent): Promise<void>;
  /** Newest first. */
  seatHistory(limit: number): Promise<SeatEvent[]>;

  /** The highest applied migration version. */
  schemaVersion(): Promise<number>;

  // ---- Operator console (issue 18): dead letters, audit search, refusals by domain, users of a domain ----

  /** Dead-lettered outbox and inbox rows, newest first (metadata; a body only where retention kept it). */
  deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]>;
  /**
   * Puts a dead letter back in its queue as a fresh pending row (attempts 0, due now). An outbox row whose body was
   * erased cannot be sent again: `no-body`.
   */
  retryDeadLetter(ref: DeadLetterRef, now: number): Promise<RetryResult>;
  /** Deletes a dead letter; false when there was none. */
  discardDeadLetter(ref: DeadLetterRef): Promise<boolean>;
  /** Audit records matching every given filter, newest first. */
  searchAudit(q: AuditQuery): Promise<AuditRecord[]>;
  /** Adds counts to the per-minute tallies (refusals and throttling by remote domain); drops minutes before keepSince. */
  addRefusalCounts(counts: readonly RefusalCount[], keepSince: number): Promise<void>;
  /** Tallies since `since` (epoch ms), summed per domain, direction and reason, largest first. */
  refusalTotals(since: number, limit: number): Promise<RefusalTotal[]>;
  /** XMPP users of a remote domain known to the gateway (their pairs), most recently active first. */
  remoteUsersOfDomain(domain: string, limit: number): Promise<RemoteUserActivity[]>;

  // ---- Skype for Business pairs (issue 17; migration 5) -----------------------------------------------------
  /** The durable state of an SfB pair (subscriptions, IM and presence dialogs), as the SfB side serialised it. */
  getSfbPairState(key: SfbPairKey): Promise<string | undefined>;
  /** Creates or replaces the pair's state. */
  putSfbPairState(key: SfbPairKey, state: string, now: number): Promise<void>;
  /** SfB pairs in key order after `after` (paging), to re-establish subscriptions at start. */
  sfbPairKeys(after: SfbPairKey | undefined, limit: number): Promise<SfbPairKey[]>;

  // ---- Webhook intake and presence watching (issue 13: webhook) ----------------------------------------------
  /**
   * Records a webhook batch in one commit, in order (a burst of notifications must be answered within Graph's
   * 3-second deadline); each result is {@link recordNotification}'s: false for a dedup key seen before.
   */
  recordNotifications(batch: readonly InboundNotification[], now: number): Promise<boolean[]>;
  /** Who watches whose presence: each pair with subFrom, as (Teams user, the XMPP user's account). */
  presenceWatchers(): Promise<PresenceWatch[]>;

  // ---- hostile input (issue 12): accounts per remote domain, pairs nobody uses ----
  /** Accounts (puppets) of one remote domain's users, or of all when `domain` is undefined. */
  countPuppets(domain?: string): Promise<number>;
  /** Accounts per remote domain, for the operator (admin view), by domain. */
  puppetsPerDomain(): Promise<DomainAccounts[]>;
  /** Records that the pair was used at `now` (a message or a subscription change), so it is not pruned. */
  touchPair(key: PairKey, now: number): Promise<void>;
  /** Pairs last used before `before` that have nothing pending in the outbox, least recently used first. */
  unusedPairs(before: number, limit: number): Promise<PairRecord[]>;
  deletePair(key: PairKey): Promise<void>;
}

export type DeadLetterQueue = 'outbox' | 'inbox';

export interface DeadLetterRef {
  readonly queue: DeadLetterQueue;
  readonly id: number;
}

export interface DeadLetterQuery {
  readonly queue?: DeadLetterQueue | undefined;
  /** Rows dead-lettered before this row id (paging backwards), per queue. */
  readonly beforeId?: number | undefined;
  readonly limit: number;
}

interface DeadLetterCommon extends DeadLetterRef {
  /** When it was dead-lettered (epoch ms). */
  readonly at: number;
  readonly attempts: number;
  readonly lastError: string | undefined;
}

/** An XMPP -> Teams message that was given up. */
export interface OutboxDeadLetter extends DeadLetterCommon, PairKey {
  readonly queue: 'outbox';
  readonly sender: string;
  readonly stanzaId: string | undefined;
  /** Only when store.retention.keepBodies kept it; retry needs it. */
  readonly body: string | undefined;
}

/** A Graph change notification (Teams -> XMPP) that was given up; it carries no body. */
export interface InboxDeadLetter extends DeadLetterCommon {
  readonly queue: 'inbox';
  readonly kind: NotificationKind;
  readonly resource: string;
  readonly changeType: string;
}

export type DeadLetter = OutboxDeadLetter | InboxDeadLetter;

export type RetryResult =
  | { readonly retried: true; readonly pair: PairKey | undefined }
  | { readonly retried: false; readonly reason: 'not-found' | 'not-dead' | 'no-body' };

export interface AuditQuery {
  /** Case-insensitive substring of actor, action, subject or detail. */
  readonly text?: string | undefined;
  readonly actor?: string | undefined;
  /** Exact action, or a prefix ending in "." (e.g. "whitelist."). */
  readonly action?: string | undefined;
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  readonly beforeId?: number | undefined;
  readonly limit: number;
}

export interface AuditRecord extends AuditEntry {
  readonly id: number;
}

/** Messages either way (Teams or SfB), or a directory lookup refused to an XMPP sender (issue 12). At most 16 characters. */
export type RefusalDirection = 'xmpp_to_teams' | 'teams_to_xmpp' | 'xmpp_to_sfb' | 'sfb_to_xmpp' | 'directory_lookup';

export interface RefusalCount {
  /** Start of the minute (epoch ms). */
  readonly minute: number;
  readonly domain: string;
  readonly direction: RefusalDirection;
  /** A policy reason (domain, user, pairing) or "throttle:<scope>:<outcome>". */
  readonly reason: string;
  readonly count: number;
}

export interface RefusalTotal {
  readonly domain: string;
  readonly direction: RefusalDirection;
  readonly reason: string;
  readonly count: number;
  /** Start of the latest minute counted. */
  readonly lastMinute: number;
}

export interface RemoteUserActivity {
  readonly remoteJid: string;
  /** Teams users the XMPP user has a pair with. */
  readonly teamsPartners: number;
  /** Any presence subscription either way. */
  readonly subscribed: boolean;
  /** The later of the last pair change and the last message accepted from the user (epoch ms). */
  readonly lastActivityAt: number;
}

/** Issue 17: an SfB user (SIP address of record, at most 128 characters) and an XMPP user (bare JID). */
export interface SfbPairKey {
  readonly sfbUri: string;
  readonly remoteJid: string;
}

/** An XMPP user (by the user id of their account) receives a Teams user's presence. */
export interface PresenceWatch {
  readonly teamsUserId: string;
  readonly puppetUserId: string;
}

export interface DomainAccounts {
  readonly domain: string;
  readonly accounts: number;
}

/** What both stores accept when opened. */
export interface StoreOptions {
  /** Keep message bodies of delivered and dead-lettered outbox rows (default false: data minimisation). */
  readonly keepBodies?: boolean;
}

export class StoreError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'StoreError';
  }
}
