/**
 * Keeps each XMPP user's presence on their Teams account alive, once per account on this node whatever the number
 * of pairs (Teams contacts) reporting it.
 *
 * Graph's app presence sessions time out and expire (https://learn.microsoft.com/en-us/graph/api/presence-setpresence,
 * "Timeout, expiration, and keep alive"): "A presence session can time out if the availability is Available and
 * the timeout is 5 minutes": Available/Available becomes Available/AvailableInactive after 5 minutes without a
 * call, then Away/Away 5 minutes later; any session goes Offline when its expirationDuration lapses. So:
 * - an Available session is set again every `keepAliveMs` (default 4 minutes: under the 5-minute timeout with a
 *   minute to spare for pacing and clocks): 15 setPresence calls per hour per online XMPP user;
 * - any other session (Away; dnd, which is an Available session under a DoNotDisturb preferred presence that
 *   overrides its fading) is set again, whole, 5 minutes before it expires: with the default 60-minute session,
 *   about one call of each kind per 55 minutes.
 * The pairs of one account all hold it; it is let go when the last one does.
 */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { TeamsPresenceIntent } from '../protocol/presence-map.js';
import type { Puppet, TeamsPort } from './teams-port.js';

export interface PresenceKeeperSettings {
  /** expirationDuration of the app's presence session, minutes (5..240). */
  readonly sessionMinutes: number;
  /** How often an Available session is set again; under Graph's 5-minute timeout. */
  readonly keepAliveMs: number;
  /** After a failed keep-alive, the next try. */
  readonly retryMs?: number;
}

interface Kept {
  puppet: Puppet;
  intent: TeamsPresenceIntent;
  key: string;
  readonly holders: Set<string>;
  timer: NodeJS.Timeout | undefined;
}

export class PresenceKeeper {
  private readonly accounts = new Map<string, Kept>();

  constructor(
    private readonly teams: Pick<TeamsPort, 'setPuppetPresence' | 'keepPresenceAlive'>,
    private readonly s: PresenceKeeperSettings,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /**
   * Shows `intent` on the account unless this node already shows exactly that (other pairs of the same XMPP user
   * report the same presence), or `force` (a resync after a restart). Throws what Graph threw.
   */
  async apply(puppet: Puppet, holder: string, intent: TeamsPresenceIntent, force = false): Promise<void> {
    const key = JSON.stringify(intent);
    let kept = this.accounts.get(puppet.userId);
    if (kept && kept.key === key && !force) {
      kept.holders.add(holder);
      return;
    }
    await this.teams.setPuppetPresence(puppet, intent, this.s.sessionMinutes);
    kept = this.accounts.get(puppet.userId);
    if (!kept) {
      kept = { puppet, intent, key, holders: new Set(), timer: undefined };
      this.accounts.set(puppet.userId, kept);
    }
    Object.assign(kept, { puppet, intent, key });
    kept.holders.add(holder);
    this.schedule(kept, this.intervalOf(intent));
  }

  /** The pair no longer reports this account's presence (passivated, or it lost its subscription). */
  release(userId: string, holder: string): void {
    const kept = this.accounts.get(userId);
    if (!kept) return;
    kept.holders.delete(holder);
    if (kept.holders.size > 0) return;
    clearTimeout(kept.timer);
    this.accounts.delete(userId);
  }

  /** Whether an account's presence is being kept alive here (for tests and readiness of figures). */
  keeping(userId: string): boolean {
    return this.accounts.get(userId)?.timer !== undefined;
  }

  stop(): void {
    for (const k of this.accounts.values()) clearTimeout(k.timer);
    this.accounts.clear();
  }

  private intervalOf(intent: TeamsPresenceIntent): number | undefined {
    if (!intent.session) return undefined; // cleared: nothing to keep
    if (intent.session.availability === 'Available' && !intent.preferred) return this.s.keepAliveMs;
    return Math.max(60_000, (this.s.sessionMinutes - 5) * 60_000);
  }

  private schedule(kept: Kept, ms: number | undefined): void {
    clearTimeout(kept.timer);
    kept.timer = undefined;
    if (ms === undefined) return;
    kept.timer = setTimeout(() => void this.refresh(kept), ms);
    kept.timer.unref();
  }

  private async refresh(kept: Kept): Promise<void> {
    if (this.accounts.get(kept.puppet.userId) !== kept || !kept.intent.session) return;
    const { intent } = kept;
    try {
      if (intent.session && intent.session.availability === 'Available' && !intent.preferred) {
        await this.teams.keepPresenceAlive(kept.puppet, intent.session, this.s.sessionMinutes);
      } else {
        await this.teams.setPuppetPresence(kept.puppet, intent, this.s.sessionMinutes);
      }
      this.metrics.presenceKeepAlive.inc({ outcome: 'ok' });
      if (kept.intent === intent) this.schedule(kept, this.intervalOf(intent));
    } catch (err) {
      this.metrics.presenceKeepAlive.inc({ outcome: 'failed' });
      this.log.warn('could not keep the XMPP user presence alive in Teams; trying again', { userId: kept.puppet.userId, reason: err instanceof Error ? err.message : String(err) });
      if (kept.intent === intent) this.schedule(kept, Math.min(this.s.retryMs ?? 30_000, this.intervalOf(intent) ?? 30_000));
    }
  }
}
