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

export type NotificationKind = 'chatMessage' | 'presence' | 'user' | 'lifecycle';

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
  /** Pending rows of one pair, oldest first. */
  pendingOutbound(key: PairKey): Promise<OutboxRow[]>;
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
  dueNotifications(now: number, limit: number): Promise<InboxRow[]>;
  markNotificationDone(id: number, now: number): Promise<void>;
  markNotificationRetry(id: number, error: string, nextAttemptAt: number): Promise<void>;
  markNotificationDead(id: number, error: string, now: number): Promise<void>;

  recordRelayed(m: RelayedMessage, now: number): Promise<boolean>;
  findRelayed(chatId: string, teamsMessageId: string): Promise<RelayedMessage | undefined>;
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
