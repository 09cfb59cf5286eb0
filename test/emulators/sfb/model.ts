/**
 * The SfB deployment the emulator holds: users homed on its pool, their devices (signed-in endpoints, each with an
 * epid and a GRUU), their presence per container, and what their devices received. Plain data; the Front End
 * (front-end.ts) acts on it.
 */
import { randomBytes } from 'node:crypto';

/** How a device answers an INVITE (tests set these to reproduce SfB's failure codes). */
export type AnswerPolicy = 'auto' | 'busy' | 'decline' | 'ignore';

export interface Device {
  /** [MS-SIPRE] endpoint id, in From/To "epid" parameters. */
  readonly epid: string;
  /** The device's GRUU ([MS-SIPRE] §2.2.x: opaque=user:epid:...;gruu). */
  readonly gruu: string;
  answer: AnswerPolicy;
  /** Delay before this device answers 200 (a user on several devices: the first to answer wins). */
  answerDelayMs: number;
  /** How this device sends typing notices: RFC 3994 MESSAGE or INFO with KeyboardActivity. */
  typingForm: 'iscomposing' | 'info';
}

export interface Received {
  readonly at: number;
  readonly from: string;
  readonly kind: 'message' | 'typing' | 'session-start' | 'session-end';
  readonly text?: string;
  readonly contentType?: string;
  readonly device?: string;
}

export interface SfbPresence {
  availability: number;
  activity: string | undefined;
  /** The personal note and the containers it is published in. */
  note: string | undefined;
  noteContainers: number[];
}

export interface SfbCardData {
  readonly displayName: string;
  readonly title?: string;
  readonly email?: string;
  readonly company?: string;
  readonly office?: string;
  /** Visible to Company and Team containers only, never External. */
  readonly phones?: readonly string[];
}

/** A picture the user chose "from a web address" (the emulator's control server plays that web server). */
export interface SfbPhoto {
  readonly type: string;
  readonly bytes: Buffer;
}

export interface SfbUser {
  readonly uri: string;
  readonly card: SfbCardData;
  photo: SfbPhoto | undefined;
  devices: Device[];
  presence: SfbPresence;
  /** What this user's devices received, newest last (bounded). */
  readonly inbox: Received[];
  /** Presence documents of XMPP users this user watches, by XMPP address (raw categories XML). */
  readonly watching: Map<string, { at: number; body: string; state: string }>;
  /** Version counter of this user's category instances. */
  version: number;
}

export interface UserSpec {
  readonly uri: string;
  readonly card: SfbCardData;
  /** Number of signed-in devices (0: offline). Default 1. */
  readonly devices?: number;
  readonly availability?: number;
  readonly photo?: SfbPhoto;
}

const INBOX_LIMIT = 500;

export function newDevice(user: string): Device {
  const epid = randomBytes(5).toString('hex');
  const opaque = randomBytes(12).toString('base64url');
  return { epid, gruu: `${user};opaque=user:epid:${opaque};gruu`, answer: 'auto', answerDelayMs: 0, typingForm: 'iscomposing' };
}

export function makeUser(spec: UserSpec): SfbUser {
  const devices = Array.from({ length: spec.devices ?? 1 }, () => newDevice(spec.uri));
  return {
    uri: spec.uri,
    card: spec.card,
    photo: spec.photo,
    devices,
    presence: { availability: devices.length ? (spec.availability ?? 3500) : 18500, activity: undefined, note: undefined, noteContainers: [100, 200, 300, 400] },
    inbox: [],
    watching: new Map(),
    version: 1,
  };
}

export function record(user: SfbUser, r: Received): void {
  user.inbox.push(r);
  if (user.inbox.length > INBOX_LIMIT) user.inbox.splice(0, user.inbox.length - INBOX_LIMIT);
}

/** The demo pool's users (the sandbox and the tests). */
export const DEMO_SFB_USERS: readonly UserSpec[] = [
  { uri: 'sip:carol@contoso.example', card: { displayName: 'Carol Baker', title: 'Engineer', email: 'carol@contoso.example', company: 'Contoso', office: 'B1/204', phones: ['+1 555 0100'] } },
  { uri: 'sip:dan@contoso.example', devices: 2, card: { displayName: 'Dan Novak', title: 'Manager', email: 'dan@contoso.example', company: 'Contoso', phones: ['+1 555 0101'] } },
  { uri: 'sip:erin@contoso.example', devices: 0, card: { displayName: 'Erin Walsh', email: 'erin@contoso.example', company: 'Contoso' } },
];
