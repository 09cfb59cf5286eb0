/**
 * Presence between XMPP (RFC 6121 §4.7: <show/> and <status/>) and Teams (the presence resource's availability
 * and activity, https://learn.microsoft.com/en-us/graph/api/resources/presence). Pure tables; the README
 * documents them with presenceTableMarkdown(), and a test keeps the two in step.
 */

/** https://learn.microsoft.com/en-us/graph/api/resources/presence — "availability" values. */
export const TEAMS_AVAILABILITY = [
  'Available',
  'AvailableIdle',
  'Away',
  'BeRightBack',
  'Busy',
  'BusyIdle',
  'DoNotDisturb',
  'Offline',
  'PresenceUnknown',
] as const;
export type TeamsAvailability = (typeof TEAMS_AVAILABILITY)[number];

/** https://learn.microsoft.com/en-us/graph/api/resources/presence — "activity" values. */
export const TEAMS_ACTIVITY = [
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
] as const;
export type TeamsActivity = (typeof TEAMS_ACTIVITY)[number];

export type XmppShow = 'chat' | 'away' | 'xa' | 'dnd';

/** What an XMPP contact sees: RFC 6121 §4.7.2.1 show (undefined = plain available) and status text. */
export interface XmppPresence {
  readonly available: boolean;
  readonly show?: XmppShow | undefined;
  readonly status?: string | undefined;
}

export interface TeamsPresence {
  readonly availability: string;
  readonly activity: string;
  /** The user's Teams status message (presence.statusMessage.message.content), as plain text. */
  readonly statusMessage?: string | undefined;
}

/** Availability -> XMPP show; `null` means the contact is unavailable (RFC 6121 §4.5). */
const SHOW_OF_AVAILABILITY: Readonly<Record<TeamsAvailability, XmppShow | undefined | null>> = {
  Available: undefined,
  AvailableIdle: 'away',
  Away: 'away',
  BeRightBack: 'away',
  Busy: 'dnd',
  BusyIdle: 'dnd',
  DoNotDisturb: 'dnd',
  Offline: null,
  PresenceUnknown: null,
};

/** Activity -> the words an XMPP user reads as status, as Teams itself labels them. */
const ACTIVITY_TEXT: Readonly<Record<TeamsActivity, string>> = {
  Available: 'Available',
  Away: 'Away',
  BeRightBack: 'Be right back',
  Busy: 'Busy',
  DoNotDisturb: 'Do not disturb',
  InACall: 'In a call',
  InAConferenceCall: 'In a conference call',
  Inactive: 'Inactive',
  InAMeeting: 'In a meeting',
  Offline: 'Offline',
  OffWork: 'Off work',
  OutOfOffice: 'Out of office',
  PresenceUnknown: 'Presence unknown',
  Presenting: 'Presenting',
  UrgentInterruptionsOnly: 'Urgent interruptions only',
};

function isAvailability(v: string): v is TeamsAvailability {
  return (TEAMS_AVAILABILITY as readonly string[]).includes(v);
}
function isActivity(v: string): v is TeamsActivity {
  return (TEAMS_ACTIVITY as readonly string[]).includes(v);
}

/**
 * Teams presence -> XMPP presence. Availability decides show; an online user who is out of office or off work is
 * "xa" (extended away, RFC 6121 §4.7.2.1). The status is Teams' own label for the activity, followed by the
 * user's status message when there is one. Unknown values (Graph may add some) read as unavailable with the raw
 * value as status, so nothing is invented.
 */
export function teamsToXmpp(p: TeamsPresence): XmppPresence {
  const known = isAvailability(p.availability);
  const show = known ? SHOW_OF_AVAILABILITY[p.availability as TeamsAvailability] : null;
  const label = isActivity(p.activity) ? ACTIVITY_TEXT[p.activity] : p.activity;
  const message = p.statusMessage?.trim();
  const status = message ? `${label}: ${message}` : label;
  if (show === null) return { available: false, status };
  const extended = p.activity === 'OutOfOffice' || p.activity === 'OffWork';
  return { available: true, show: extended ? 'xa' : show, status };
}

/**
 * What the gateway asks Graph to show for the XMPP user's account in Teams.
 * - session: the gateway's presence session (POST /users/{id}/presence/setPresence), or null to clear it. Only the
 *   combinations Graph documents for setPresence are used.
 * - preferred: the user's preferred presence (setUserPreferredPresence), or null to clear it; used for "dnd",
 *   which has no faithful session combination.
 */
export interface TeamsPresenceIntent {
  readonly session: { availability: 'Available' | 'Away'; activity: 'Available' | 'Away' } | null;
  readonly preferred: { availability: 'DoNotDisturb'; activity: 'DoNotDisturb' } | null;
  readonly statusMessage: string | undefined;
}

export function xmppToTeams(p: XmppPresence): TeamsPresenceIntent {
  const statusMessage = p.status?.trim() || undefined;
  if (!p.available) return { session: null, preferred: null, statusMessage };
  switch (p.show) {
    case 'away':
    case 'xa':
      return { session: { availability: 'Away', activity: 'Away' }, preferred: null, statusMessage };
    case 'dnd':
      return {
        session: { availability: 'Available', activity: 'Available' },
        preferred: { availability: 'DoNotDisturb', activity: 'DoNotDisturb' },
        statusMessage,
      };
    default:
      return { session: { availability: 'Available', activity: 'Available' }, preferred: null, statusMessage };
  }
}

/** One XMPP resource's presence, for aggregation across a contact's resources. */
export interface ResourcePresence extends XmppPresence {
  readonly resource: string;
  readonly priority: number;
}

const SHOW_RANK: Readonly<Record<string, number>> = { chat: 5, none: 4, dnd: 3, away: 2, xa: 1 };

/**
 * The presence a multi-resource XMPP user shows as one Teams account: the available resource with the highest
 * priority (RFC 6121 §4.7.2.3), ties broken by the most available show; unavailable when no resource is.
 */
export function aggregateResources(resources: Iterable<ResourcePresence>): XmppPresence {
  let best: ResourcePresence | undefined;
  for (const r of resources) {
    if (!r.available) continue;
    if (
      !best ||
      r.priority > best.priority ||
      (r.priority === best.priority && (SHOW_RANK[r.show ?? 'none'] ?? 0) > (SHOW_RANK[best.show ?? 'none'] ?? 0))
    ) {
      best = r;
    }
  }
  return best ? { available: true, show: best.show, status: best.status } : { available: false };
}

/** The mapping tables as Markdown, for the README (a test keeps the README in step with the code). */
export function presenceTableMarkdown(): string {
  const rows = ['| Teams availability | XMPP `<show/>` | | Teams activity | XMPP `<status/>` |', '|---|---|---|---|---|'];
  const shows = TEAMS_AVAILABILITY.map((a) => {
    const s = SHOW_OF_AVAILABILITY[a];
    return [a, s === null ? 'unavailable' : s === undefined ? '(none: available)' : `\`${s}\``];
  });
  const activities = TEAMS_ACTIVITY.map((a) => [a, `"${ACTIVITY_TEXT[a]}"${a === 'OutOfOffice' || a === 'OffWork' ? ' (and `xa` when online)' : ''}`]);
  for (let i = 0; i < Math.max(shows.length, activities.length); i++) {
    const [av, sh] = shows[i] ?? ['', ''];
    const [ac, st] = activities[i] ?? ['', ''];
    rows.push(`| ${av} | ${sh} | | ${ac} | ${st} |`);
  }
  return rows.join('\n');
}
