/**
 * What a UserPairActor is told, what it answers, and what it is given (its settings and ports). Messages from
 * outside are named for what happened; the actor's own timer messages are kept apart (Akka's private `Retry`).
 */
import type { HostedContentRef } from '../../protocol/hosted-content.js';
import type { InboundMessage, InboundPresence } from '../../protocol/stanza.js';
import type { TeamsPresence, TeamsPresenceIntent } from '../../protocol/presence-map.js';
import type { LogBudget } from '../../observability/log-budget.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Admission, AdmissionResult, Direction } from '../../policy/throttle.js';
import type { OutboxRow, Store } from '../../store/store.js';
import type { Directory } from '../../teams/directory.js';
import type { Puppet, TeamsChatMessage, TeamsPort, TeamsUser } from '../../teams/teams-port.js';
import type { XmppPort } from '../../xmpp/component-link.js';

/** Sent by the stanza router and the notification processor. */
export type PairEvent =
  /**
   * The XMPP user sent something that is not new content: a correction, retraction, reaction or displayed marker
   * (new messages are committed on arrival and arrive as 'xmpp-accepted'). Reply: Outcome.
   */
  | { readonly type: 'xmpp-chat'; readonly message: InboundMessage }
  /** Messages from the XMPP user were committed to the outbox on arrival (src/xmpp/accept.ts): deliver them. */
  | { readonly type: 'xmpp-accepted'; readonly rows: readonly OutboxRow[] }
  /** The XMPP user sent again a message accepted earlier, not known to be delivered: answer it once it is. */
  | {
      readonly type: 'xmpp-retransmitted';
      readonly dedupKey: string;
      readonly sender: string;
      readonly stanzaId: string | undefined;
      readonly receiptRequested: boolean;
    }
  /** One of the XMPP user's resources became available or unavailable (RFC 6121 §4). */
  | { readonly type: 'xmpp-presence'; readonly presence: InboundPresence }
  /** subscribe / subscribed / unsubscribe / unsubscribed / probe from the XMPP user (RFC 6121 §3, §4.3). */
  | { readonly type: 'xmpp-subscription'; readonly presence: InboundPresence }
  /**
   * Graph notified a new message in the pair's chat; `message` is the message itself when the notification
   * carried it (rich notification), otherwise the actor reads it from Graph.
   */
  | { readonly type: 'teams-message'; readonly chatId: string; readonly messageId: string; readonly message?: TeamsChatMessage | undefined }
  /**
   * Several new messages of the pair's chat, in order (the notifications of one chat that came together): relayed
   * one after another, their relayed ids committed together. The outcome's `finished` says how many were.
   */
  | { readonly type: 'teams-messages'; readonly chatId: string; readonly messages: readonly { readonly messageId: string; readonly message?: TeamsChatMessage | undefined }[] }
  /** Graph notified an edit, delete or reaction on a message of the pair's chat (`message` as above). */
  | { readonly type: 'teams-message-changed'; readonly chatId: string; readonly messageId: string; readonly message?: TeamsChatMessage | undefined }
  /**
   * Notifications about the pair's chat may have been lost since `since` (a paused or removed Graph subscription):
   * her messages created since then that were not relayed are relayed now.
   */
  | { readonly type: 'teams-catch-up'; readonly chatId: string; readonly since: number }
  /**
   * The XMPP user's server (or the front server on its behalf) returned a message the gateway relayed from Teams
   * with a transient error (its server unreachable over S2S): the message is sent again later.
   */
  | { readonly type: 'xmpp-bounced'; readonly id: string; readonly condition: string }
  /** A Teams message the XMPP side returned ('xmpp-bounced') is due to be sent again (the inbox kept it meanwhile). */
  | { readonly type: 'resend-to-xmpp'; readonly chatId: string; readonly messageId: string; readonly bounces: number }
  /** Graph notified the Teams user's presence. */
  | { readonly type: 'teams-presence'; readonly presence: TeamsPresence }
  /** The XMPP link came back, or the XMPP user's account was re-subscribed: send presence both ways again. */
  | { readonly type: 'resync' }
  /** Nobody used the pair for store.retention.unusedPairDays: end its subscriptions and delete it. */
  | { readonly type: 'forget' };

/** Sent by the actor to itself (timers) or by a node waking a handed-off actor, always through its mailbox. */
export type PairTimer =
  /**
   * Deliver due outbox rows (a retry is due, a sweep or a wake-up after a move). `requeued`: an operator put dead
   * letters of the pair back in the outbox (console), so rows this activation already finished may be pending again.
   */
  | { readonly type: 'drain'; readonly requeued?: boolean }
  /** Show the XMPP user's presence on their Teams account again (their session may have lapsed). */
  | { readonly type: 'refresh-presence' };

export type PairMessage = PairEvent | PairTimer;

/**
 * What became of a message: done, worth retrying later, or failed for good. Crashes are thrown instead. For
 * 'teams-messages', `finished` counts its messages relayed (or skipped) before the one the status is about.
 */
export type Outcome =
  | { readonly status: 'done'; readonly finished?: number }
  | { readonly status: 'retry'; readonly reason: string; readonly retryAfterMs?: number | undefined; readonly finished?: number }
  | { readonly status: 'failed'; readonly reason: string; readonly finished?: number };

export const DONE: Outcome = { status: 'done' };

export interface PairSettings {
  readonly componentDomain: string;
  /** Largest Teams message body (HTML) Graph accepts. */
  readonly maxTeamsHtmlBytes: number;
  /** Resources of the XMPP user whose presence the pair keeps (xmpp.maxResourcesPerJid). */
  readonly maxResources: number;
  readonly outboxMaxAttempts: number;
  readonly outboxBackoffInitialMs: number;
  readonly outboxBackoffMaxMs: number;
  /** XMPP -> Teams over a rate limit: refuse at once, or wait in a bounded queue. */
  readonly onRateExceeded: 'refuse' | 'queue';
  /** Teams -> XMPP: the longest a message waits for its rate limit before its sender is told. */
  readonly maxThrottleDelayMs: number;
  /** A message too long for one Teams message: refuse it, or post it in parts. */
  readonly longMessages: 'refuse' | 'split';
}

/** The Graph subscriptions a pair needs (owned by the XMPP user's account; see SubscriptionManager). */
export interface PairSubscriptions {
  /** The account exists: its message subscription must too, so that Teams replies arrive. */
  puppetReady(puppet: Puppet): Promise<void>;
  /** The set of Teams users the XMPP user is subscribed to changed: watch their presence. */
  presenceInterestChanged(puppet: Puppet): Promise<void>;
}

export interface PairPolicy {
  verdict(user: TeamsUser, remoteDomain: string): { readonly allowed: true } | { readonly allowed: false; readonly reason: string };
}

export interface PairThrottle {
  admit(direction: Direction, a: Admission, mode: 'refuse' | 'queue', maxWaitMs?: number): Promise<AdmissionResult>;
}

/** Shows an XMPP user's presence on their account and keeps the session alive (teams/presence-keeper.ts). */
export interface PairPresenceKeeper {
  apply(puppet: Puppet, holder: string, intent: TeamsPresenceIntent, force?: boolean): Promise<void>;
  release(userId: string, holder: string): void;
}

export interface PairDeps {
  readonly store: Store;
  readonly teams: TeamsPort;
  readonly presenceKeeper: PairPresenceKeeper;
  readonly directory: Directory;
  readonly xmpp: XmppPort;
  readonly subscriptions: PairSubscriptions;
  readonly policy: PairPolicy;
  /** The XEP-0153 avatar hash of a Teams user, for her presence ('' when she has no photo). */
  readonly avatarHash: (teamsUserId: string) => Promise<string | undefined>;
  readonly throttle: PairThrottle;
  /** Links to Teams inline images that XMPP users can open (the media proxy); without it they show as "[image]". */
  readonly media?: { link(ref: HostedContentRef, puppetUserId: string): string } | undefined;
  readonly metrics: Metrics;
  /** Log lines about what senders cause at will (refused messages), within a node-wide budget. */
  readonly refusalLog: LogBudget;
  readonly settings: PairSettings;
  readonly now: () => number;
}
