/**
 * Lifecycle notifications that happen by themselves
 * (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events), per subscription:
 * - reauthorizationRequired, to subscriptions with a lifecycleNotificationUrl ("All resources"), from
 *   reauthorizationLeadMs before the token that authorized the subscription expires ("When the access token is
 *   about to expire"), again every reauthorizationIntervalMs until a reauthorize or a renewal with a valid token;
 * - then "change notification delivery pauses, until you take the required action", and "any notifications about
 *   resource changes that happen when the change notification delivery pauses [...] are lost" (subscriptions.ts
 *   notify());
 * - subscriptionRemoved ("Teams chatMessage" among the resources here): a chat-message subscription left paused
 *   for removeAfterPausedMs is removed ("the conditions of access to the resource data might change [...] an event
 *   in the service might occur that requires the app to reauthenticate the user").
 * "missed" is sent only for Outlook resources, none of which the emulator has.
 */
import type { LifecycleEvent, LifecycleTimings } from './types.js';

/** The emulator's cadence of lifecycle events (types.ts LifecycleTimings). */
export const DEFAULT_LIFECYCLE: LifecycleTimings = {
  reauthorizationLeadMs: 15 * 60_000,
  reauthorizationIntervalMs: 5 * 60_000,
  removeAfterPausedMs: 60 * 60_000,
};

/** What the clock keeps on each subscription. */
export interface AuthorizationState {
  readonly id: string;
  readonly lifecycleNotificationUrl: string | null;
  /** Chat-message subscriptions may be removed (subscriptionRemoved). */
  readonly removable: boolean;
  /** When the token that created, renewed or reauthorized it expires: change notifications pause then. */
  authorizedUntil: number;
  /** When reauthorizationRequired was last sent, while it waits for a reauthorization. */
  challengedAt: number | undefined;
  /** When delivery paused (authorizedUntil passed without a reauthorization). */
  pausedSince: number | undefined;
}

export class LifecycleClock {
  private readonly ticker: NodeJS.Timeout;

  constructor(
    private readonly t: LifecycleTimings,
    private readonly subscriptions: () => AuthorizationState[],
    private readonly fire: (id: string, event: LifecycleEvent) => void,
    private readonly log: (line: string) => void,
  ) {
    const every = Math.min(60_000, Math.max(50, Math.floor(Math.min(t.reauthorizationIntervalMs, t.reauthorizationLeadMs) / 5)));
    this.ticker = setInterval(() => this.tick(), every);
    this.ticker.unref();
  }

  close(): void {
    clearInterval(this.ticker);
  }

  /** Whether change notifications are paused now. */
  static paused(s: AuthorizationState, now = Date.now()): boolean {
    return now >= s.authorizedUntil;
  }

  /** A create, renewal or reauthorization with a token valid until `until`: delivery resumes, challenges stop. */
  authorized(s: AuthorizationState, until: number): void {
    s.authorizedUntil = until;
    s.challengedAt = undefined;
    if (s.pausedSince !== undefined) this.log(`subscription ${s.id}: reauthorized; change notifications resume`);
    s.pausedSince = undefined;
  }

  private tick(): void {
    const now = Date.now();
    for (const s of this.subscriptions()) {
      if (LifecycleClock.paused(s, now) && s.pausedSince === undefined) {
        s.pausedSince = now;
        this.log(`subscription ${s.id}: its token expired without a reauthorization; change notifications pause`);
      }
      if (s.lifecycleNotificationUrl === null) continue;
      if (s.removable && s.pausedSince !== undefined && now - s.pausedSince >= this.t.removeAfterPausedMs) {
        this.fire(s.id, 'subscriptionRemoved');
        continue;
      }
      if (now >= s.authorizedUntil - this.t.reauthorizationLeadMs && (s.challengedAt === undefined || now - s.challengedAt >= this.t.reauthorizationIntervalMs)) {
        s.challengedAt = now;
        this.fire(s.id, 'reauthorizationRequired');
      }
    }
  }
}
