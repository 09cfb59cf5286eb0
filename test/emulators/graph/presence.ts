/**
 * Teams presence as Graph exposes it (https://learn.microsoft.com/en-us/graph/api/resources/presence), computed
 * by the aggregation rules of https://learn.microsoft.com/en-us/graph/cloud-communications-manage-presence-state:
 * - a user has presence sessions: one per signed-in Teams client (set through the emulator's own API) and one per
 *   application that called setPresence (sessionId = its client id), each expiring;
 * - the user's preferred presence (setUserPreferredPresence) overrides the session states, but "takes effect only
 *   when at least one presence session exists for the user. Otherwise, the user's presence shows as Offline"
 *   (https://learn.microsoft.com/en-us/graph/api/presence-setuserpreferredpresence);
 * - among sessions: DoNotDisturb > Busy > Available > Away (BeRightBack ranked between Available and Away);
 * - an app's Available session fades when the app stops calling: "A presence session can time out if the
 *   availability is Available and the timeout is 5 minutes. [...] the state would change to
 *   Available/AvailableInactive in 5 minutes with the first timeout, then Away/Away in another 5 minutes with the
 *   second timeout" (https://learn.microsoft.com/en-us/graph/api/presence-setpresence, "Timeout, expiration, and keep
 *   alive"). Only setPresence restarts the timeout. The timeout is an option, so that a test can scale it down.
 * Not modelled: calendar and out-of-office states (Graph derives those from Exchange).
 */
import type { PresenceView } from './types.js';

export const AVAILABILITIES = ['Available', 'AvailableIdle', 'Away', 'BeRightBack', 'Busy', 'BusyIdle', 'DoNotDisturb', 'Offline', 'PresenceUnknown'];
export const ACTIVITIES = [
  'Available',
  'Away',
  'BeRightBack',
  'Busy',
  'DoNotDisturb',
  'InACall',
  'InAConferenceCall',
  'Inactive',
  'InAMeeting',
  'Offline',
  'OffWork',
  'OutOfOffice',
  'PresenceUnknown',
  'Presenting',
  'UrgentInterruptionsOnly',
];

/** setPresence's supported availability/activity combinations (https://learn.microsoft.com/en-us/graph/api/presence-setpresence). */
export const SESSION_COMBINATIONS: readonly (readonly [string, string])[] = [
  ['Available', 'Available'],
  ['Busy', 'InACall'],
  ['Busy', 'InAConferenceCall'],
  ['Away', 'Away'],
  ['DoNotDisturb', 'Presenting'],
];

/** setUserPreferredPresence's combinations (https://learn.microsoft.com/en-us/graph/api/presence-setuserpreferredpresence). */
export const PREFERRED_COMBINATIONS: readonly (readonly [string, string])[] = [
  ['Available', 'Available'],
  ['Busy', 'Busy'],
  ['DoNotDisturb', 'DoNotDisturb'],
  ['BeRightBack', 'BeRightBack'],
  ['Away', 'Away'],
  ['Offline', 'OffWork'],
];

export function findCombination(list: readonly (readonly [string, string])[], availability: unknown, activity: unknown): readonly [string, string] | undefined {
  if (typeof availability !== 'string' || typeof activity !== 'string') return undefined;
  return list.find(([a, b]) => a.toLowerCase() === availability.toLowerCase() && b.toLowerCase() === activity.toLowerCase());
}

/** ISO 8601 duration (PnDTnHnMnS, as .NET TimeSpan serialises) in milliseconds; undefined when not one. */
export function parseIsoDuration(s: string): number | undefined {
  const m = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/u.exec(s);
  if (!m || s === 'P' || s.endsWith('T')) return undefined;
  const [d, h, min, sec] = [m[1], m[2], m[3], m[4]].map((x) => Number(x ?? 0)) as [number, number, number, number];
  return Math.round(((d * 24 + h) * 60 + min) * 60_000 + sec * 1000);
}

const RANK: Readonly<Record<string, number>> = {
  DoNotDisturb: 7,
  Busy: 6,
  BusyIdle: 5,
  Available: 4,
  AvailableIdle: 3,
  BeRightBack: 2,
  Away: 1,
};

interface State {
  readonly availability: string;
  readonly activity: string;
}

interface Expiring extends State {
  readonly expiresAt: number;
}

interface AppSession extends Expiring {
  /** When the app last called setPresence: an Available session times out from there. */
  readonly setAt: number;
}

/** Learn's session timeout: 5 minutes. */
export const PRESENCE_TIMEOUT_MS = 5 * 60_000;

export interface StatusMessage {
  readonly content: string;
  readonly contentType: string;
  readonly publishedDateTime: string;
  readonly expiryDateTime: { dateTime: string; timeZone: string } | undefined;
  readonly expiresAt: number | undefined;
}

interface UserPresence {
  client: State | undefined;
  readonly apps: Map<string, AppSession>;
  preferred: Expiring | undefined;
  statusMessage: StatusMessage | undefined;
  lastShown: string;
}

export class PresenceService {
  private readonly users = new Map<string, UserPresence>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    /** Called when the availability/activity a user shows changes (what presence change notifications report). */
    private readonly onChange: (userId: string, shown: State) => void,
    private readonly now: () => number = Date.now,
    private readonly timeoutMs: number = PRESENCE_TIMEOUT_MS,
  ) {}

  private of(userId: string): UserPresence {
    const key = userId.toLowerCase();
    let p = this.users.get(key);
    if (!p) {
      p = { client: undefined, apps: new Map(), preferred: undefined, statusMessage: undefined, lastShown: 'Offline/Offline' };
      this.users.set(key, p);
    }
    return p;
  }

  /** Re-evaluates at `at` (an expiry), so that expiring sessions produce their change notification. */
  private wakeAt(userId: string, at: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.changed(userId);
    }, Math.max(0, at - this.now()) + 5);
    t.unref();
    this.timers.add(t);
  }

  private changed(userId: string): void {
    const p = this.of(userId);
    const shown = this.shown(userId);
    const key = `${shown.availability}/${shown.activity}`;
    if (key === p.lastShown) return;
    p.lastShown = key;
    this.onChange(userId, shown);
  }

  /** The aggregated availability/activity. */
  shown(userId: string): State {
    const p = this.of(userId);
    const now = this.now();
    for (const [id, s] of p.apps) if (s.expiresAt <= now) p.apps.delete(id);
    if (p.preferred && p.preferred.expiresAt <= now) p.preferred = undefined;
    const sessions: State[] = [...(p.client ? [p.client] : []), ...[...p.apps.values()].map((a) => this.faded(a, now))];
    if (sessions.length === 0) return { availability: 'Offline', activity: 'Offline' };
    if (p.preferred) return { availability: p.preferred.availability, activity: p.preferred.activity };
    let best = sessions[0] as State;
    for (const s of sessions) if ((RANK[s.availability] ?? 0) > (RANK[best.availability] ?? 0)) best = s;
    return { availability: best.availability, activity: best.activity };
  }

  /** An app session as it shows now: an Available one fades after one timeout, then again after a second. */
  private faded(a: AppSession, now: number): State {
    if (a.availability !== 'Available') return a;
    const idle = now - a.setAt;
    if (idle >= 2 * this.timeoutMs) return { availability: 'Away', activity: 'Away' };
    if (idle >= this.timeoutMs) return { availability: 'Available', activity: 'AvailableInactive' };
    return a;
  }

  statusMessage(userId: string): StatusMessage | undefined {
    const p = this.of(userId);
    if (p.statusMessage?.expiresAt !== undefined && p.statusMessage.expiresAt <= this.now()) p.statusMessage = undefined;
    return p.statusMessage;
  }

  view(userId: string): PresenceView {
    return { ...this.shown(userId), statusMessage: this.statusMessage(userId)?.content };
  }

  /** The user's Teams client session (emulator API); Offline signs the client out. */
  setClient(userId: string, availability: string, activity: string): void {
    const a = AVAILABILITIES.find((x) => x.toLowerCase() === availability.toLowerCase());
    const b = ACTIVITIES.find((x) => x.toLowerCase() === activity.toLowerCase());
    if (!a) throw new Error(`unknown availability '${availability}' (one of ${AVAILABILITIES.join(', ')})`);
    if (!b) throw new Error(`unknown activity '${activity}' (one of ${ACTIVITIES.join(', ')})`);
    this.of(userId).client = a === 'Offline' ? undefined : { availability: a, activity: b };
    this.changed(userId);
  }

  setAppSession(userId: string, appId: string, availability: string, activity: string, durationMs: number): void {
    const now = this.now();
    const expiresAt = now + durationMs;
    this.of(userId).apps.set(appId.toLowerCase(), { availability, activity, expiresAt, setAt: now });
    this.wakeAt(userId, expiresAt);
    if (availability === 'Available') {
      // The two timeouts, so that subscribers hear of the fading as it happens.
      this.wakeAt(userId, now + this.timeoutMs);
      this.wakeAt(userId, now + 2 * this.timeoutMs);
    }
    this.changed(userId);
  }

  /** False when the app has no session for the user (clearPresence answers 404 then). */
  clearAppSession(userId: string, appId: string): boolean {
    const p = this.of(userId);
    const now = this.now();
    const s = p.apps.get(appId.toLowerCase());
    if (!s || s.expiresAt <= now) {
      p.apps.delete(appId.toLowerCase());
      return false;
    }
    p.apps.delete(appId.toLowerCase());
    this.changed(userId);
    return true;
  }

  setPreferred(userId: string, availability: string, activity: string, durationMs: number): void {
    const expiresAt = this.now() + durationMs;
    this.of(userId).preferred = { availability, activity, expiresAt };
    this.wakeAt(userId, expiresAt);
    this.changed(userId);
  }

  clearPreferred(userId: string): void {
    this.of(userId).preferred = undefined;
    this.changed(userId);
  }

  /** An empty message clears the status message, as Teams' "clear status message" does. */
  setStatusMessage(userId: string, m: StatusMessage | undefined): void {
    this.of(userId).statusMessage = m && m.content !== '' ? m : undefined;
  }

  /**
   * The presence resource JSON. expiryDateTime and publishedDateTime "aren't available when you request the
   * presence of another user" (https://learn.microsoft.com/en-us/graph/api/resources/presencestatusmessage).
   */
  json(userId: string, ownPresence: boolean): Record<string, unknown> {
    const shown = this.shown(userId);
    const m = this.statusMessage(userId);
    return {
      id: userId,
      availability: shown.availability,
      activity: shown.activity,
      statusMessage: m
        ? {
            message: { content: m.content, contentType: m.contentType },
            ...(ownPresence ? { publishedDateTime: m.publishedDateTime, expiryDateTime: m.expiryDateTime ?? null } : {}),
          }
        : null,
      outOfOfficeSettings: { message: null, isOutOfOffice: false },
    };
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
