/**
 * The durable state of an SfB pair (issue 17), kept in the store as JSON (Store.getSfbPairState): the RFC 6121
 * subscription states on both sides, the IM session's dialog, the gateway's presence subscription to the SfB user,
 * and the SfB user's subscriptions to the XMPP user. Dialogs are plain data, so another node continues them.
 */
import type { DialogState } from '../../sfb/sip/dialog.js';
import type { SfbPairKey, Store } from '../../store/store.js';

export interface Watcher {
  readonly dialog: DialogState;
  readonly expiresAt: number;
  /** The subscriber takes BENOTIFY ([MS-SIP] ms-benotify). */
  readonly benotify: boolean;
}

export interface SfbPairState {
  /** RFC 6121 'from' seen from the SfB user: the XMPP user receives her presence. */
  readonly subFrom: boolean;
  /** 'to': the gateway, for her, receives the XMPP user's presence. */
  readonly subTo: boolean;
  readonly subToPending: boolean;
  /** The IM session between them, if one is open. */
  readonly im: DialogState | null;
  readonly imLastActivity: number;
  /** The gateway's SUBSCRIBE to the SfB user's presence, for the XMPP user. */
  readonly watch: { readonly dialog: DialogState; readonly expiresAt: number } | null;
  /** The SfB user's subscriptions to the XMPP user (one per device or client), newest last. */
  readonly watchers: readonly Watcher[];
  /** Version of the categories the gateway publishes for the XMPP user. */
  readonly version: number;
}

/** One SfB user has a handful of clients; more subscriptions than this from one pair are refused (hostile input). */
export const MAX_WATCHERS = 8;

export const EMPTY_STATE: SfbPairState = { subFrom: false, subTo: false, subToPending: false, im: null, imLastActivity: 0, watch: null, watchers: [], version: 1 };

export async function loadState(store: Store, key: SfbPairKey): Promise<SfbPairState> {
  const text = await store.getSfbPairState(key);
  if (!text) return EMPTY_STATE;
  try {
    return { ...EMPTY_STATE, ...(JSON.parse(text) as Partial<SfbPairState>) };
  } catch {
    return EMPTY_STATE; // unreadable (never written by this code): start afresh rather than crash-loop
  }
}

export async function saveState(store: Store, key: SfbPairKey, state: SfbPairState, now: number): Promise<void> {
  await store.putSfbPairState(key, JSON.stringify(state), now);
}

export function sfbPairKey(key: SfbPairKey): string {
  return `${key.sfbUri}|${key.remoteJid}`;
}

export function parseSfbPairKey(key: string): SfbPairKey {
  const bar = key.indexOf('|');
  return { sfbUri: key.slice(0, bar), remoteJid: key.slice(bar + 1) };
}

/** The outbox rows of an SfB pair share the Teams outbox table under this internal user id (store.ts OutboundMessage). */
export function outboxUserId(sfbUri: string): string {
  return `sfb:${sfbUri}`;
}
