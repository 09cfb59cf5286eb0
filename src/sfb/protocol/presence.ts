/**
 * Presence between XMPP (RFC 6121 §4.7 <show/>, <status/>) and SfB enhanced presence ([MS-PRES]: the state
 * category's availability number and activity, and the note category). Pure tables; the README shows them
 * (sfbPresenceTablesMarkdown) and a test keeps README and code in step.
 *
 * Availability ranges as Lync/SfB document them (https://learn.microsoft.com/en-us/lync/schema/state-availability-element,
 * and the OCS 2007 userStateAvailability element): 3000-4499 Available, 4500-5999 Available-Idle, 6000-7499 Busy,
 * 7500-8999 Busy-Idle, 9000-11999 Do Not Disturb, 12000-14999 Be Right Back, 15000-17999 Away, 18000 and above
 * Offline. Below 3000 nothing is published ("None"): the contact reads as unavailable.
 */
import type { XmppPresence, XmppShow } from '../../protocol/presence-map.js';

export interface SfbState {
  /** The aggregate availability number. */
  readonly availability: number;
  /** The activity token (e.g. "in-a-meeting", "out-of-office") or custom text, when published. */
  readonly activity?: string | undefined;
  /** The note category's text (the personal note or the out-of-office note). */
  readonly note?: string | undefined;
}

interface Range {
  readonly from: number;
  readonly to: number;
  readonly name: string;
  /** null: unavailable. */
  readonly show: XmppShow | undefined | null;
}

export const AVAILABILITY_RANGES: readonly Range[] = [
  { from: 0, to: 2999, name: 'None (nothing published)', show: null },
  { from: 3000, to: 4499, name: 'Available', show: undefined },
  { from: 4500, to: 5999, name: 'Available - Idle', show: 'away' },
  { from: 6000, to: 7499, name: 'Busy', show: 'dnd' },
  { from: 7500, to: 8999, name: 'Busy - Idle', show: 'dnd' },
  { from: 9000, to: 11999, name: 'Do Not Disturb', show: 'dnd' },
  { from: 12000, to: 14999, name: 'Be Right Back', show: 'away' },
  { from: 15000, to: 17999, name: 'Away', show: 'away' },
  { from: 18000, to: Number.MAX_SAFE_INTEGER, name: 'Offline', show: null },
];

/** Activity tokens SfB clients publish, with the words its clients show ([MS-PRES] state category, activity token). */
const ACTIVITY_LABELS: Readonly<Record<string, string>> = {
  available: 'Available',
  busy: 'Busy',
  'in-a-call': 'In a call',
  'in-a-conference': 'In a conference call',
  'in-a-meeting': 'In a meeting',
  'in-presentation': 'Presenting',
  'urgent-interruptions-only': 'Urgent interruptions only',
  'do-not-disturb': 'Do not disturb',
  'be-right-back': 'Be right back',
  away: 'Away',
  'out-of-office': 'Out of office',
  'off-work': 'Off work',
  inactive: 'Inactive',
  offline: 'Offline',
};

function rangeOf(availability: number): Range {
  return AVAILABILITY_RANGES.find((r) => availability >= r.from && availability <= r.to) ?? (AVAILABILITY_RANGES[0] as Range);
}

/**
 * SfB -> XMPP. The status is the activity's label (or the range's name when no activity was published),
 * followed by the note: "In a meeting: back at 3". Out of office and off work on an online contact read as
 * extended away (xa).
 */
export function sfbToXmpp(s: SfbState): XmppPresence {
  const range = rangeOf(s.availability);
  const label = s.activity ? (ACTIVITY_LABELS[s.activity] ?? s.activity) : range.name.replace(' (nothing published)', '');
  const note = s.note?.trim();
  const status = note ? `${label}: ${note}` : label;
  if (range.show === null) return { available: false, status };
  const extended = s.activity === 'out-of-office' || s.activity === 'off-work';
  return { available: true, show: extended ? 'xa' : range.show, status };
}

/** XMPP -> the state and note the gateway publishes for an XMPP user (the middle of each range, as SfB clients do). */
export function xmppToSfb(p: XmppPresence): SfbState {
  const note = p.status?.trim() || undefined;
  if (!p.available) return { availability: 18500, activity: undefined, note };
  switch (p.show) {
    case 'away':
      return { availability: 15500, activity: 'away', note };
    case 'xa':
      return { availability: 15500, activity: 'off-work', note };
    case 'dnd':
      return { availability: 9500, activity: 'do-not-disturb', note };
    default:
      return { availability: 3500, activity: 'available', note };
  }
}

/** The two tables for the README. */
export function sfbPresenceTablesMarkdown(): string {
  const a = ['| SfB availability | Range | XMPP `<show/>` |', '|---|---|---|'];
  for (const r of AVAILABILITY_RANGES) {
    const to = r.to === Number.MAX_SAFE_INTEGER ? 'and above' : `–${r.to}`;
    a.push(`| ${r.name} | ${r.from}${to === 'and above' ? ' and above' : to} | ${r.show === null ? 'unavailable' : r.show === undefined ? '(none: available)' : `\`${r.show}\``} |`);
  }
  a.push('', 'Activity `out-of-office` or `off-work` on an online contact gives `xa`. The status is the activity label, then the note.', '');
  a.push('| XMPP presence | SfB availability / activity published for the XMPP user |', '|---|---|');
  const shows: [string, XmppPresence][] = [
    ['none or `chat`', { available: true }],
    ['`away`', { available: true, show: 'away' }],
    ['`xa`', { available: true, show: 'xa' }],
    ['`dnd`', { available: true, show: 'dnd' }],
    ['unavailable', { available: false }],
  ];
  for (const [label, p] of shows) {
    const s = xmppToSfb(p);
    a.push(`| ${label} | ${s.availability}${s.activity ? ` / \`${s.activity}\`` : ''} |`);
  }
  a.push('', 'The XMPP `<status/>` text becomes the note category.');
  return a.join('\n');
}
