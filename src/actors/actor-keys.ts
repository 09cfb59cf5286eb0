/**
 * Actor identities in one place (Orleans' GrainId): how a pair key is written and read, and how a kind and a key
 * make the address the router, the directory and the supervisors share.
 */
import type { ActorKind } from './actor.js';
import type { PairKey } from '../store/store.js';

/** "<Teams user id>|<XMPP bare JID>": a bare JID has no "|" and a Graph user id has none either. */
export function pairKey(key: PairKey): string {
  return `${key.teamsUserId}|${key.remoteJid}`;
}

export function parsePairKey(key: string): PairKey {
  const bar = key.indexOf('|');
  return { teamsUserId: key.slice(0, bar), remoteJid: key.slice(bar + 1) };
}

/** "<kind>:<key>", unique across kinds (the router's queues and handoff sets, the placement directory). */
export function actorAddress(kind: ActorKind, key: string): string {
  return `${kind}:${key}`;
}

export function parseActorAddress(address: string): { kind: ActorKind; key: string } {
  const colon = address.indexOf(':');
  return { kind: address.slice(0, colon) as ActorKind, key: address.slice(colon + 1) };
}
