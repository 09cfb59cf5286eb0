/** Limits of a node that are not (yet) configuration, named here so that none hides as a literal. */
export const SETTINGS = {
  /** Graph rejects chat messages whose body is larger than about 28 KB. */
  maxTeamsHtmlBytes: 28_000,
  outboxMaxAttempts: 10,
  outboxBackoffInitialMs: 1_000,
  outboxBackoffMaxMs: 5 * 60_000,
  inboxMaxAttempts: 10,
  inboxBackoffInitialMs: 1_000,
  inboxBackoffMaxMs: 5 * 60_000,
  outboxSweepMs: 5_000,
  inboxPollMs: 2_000,
  subscriptionCheckMs: 60_000,
  /** How long a forwarded XMPP send or iq waits for the node holding the link. */
  linkCallTimeoutMs: 10_000,
  /** How often a node logs, at info, the counts of what it relayed (per-message lines are debug). */
  activitySummaryMs: 60_000,
  /** How long a node waits for another node to run an actor message. */
  actorCallTimeoutMs: 60_000,
  /** Unused pairs forgotten per retention pass (the next pass takes the rest). */
  forgetPairsPerPass: 500,
} as const;
