/**
 * Actor identities in one place (Orleans' GrainId): how a pair key is written and read, and how a kind and a key
 * make the address the router, the directory and the supervisors share.
 */
import type { ActorKind } from './actor.js';
import type { PairKey } from '../store/store.js';
import { DEFAULT_TENANT } from '../config/tenants-schema.js';

/**
 * "<Teams user id>|<XMPP bare JID>": a bare JID has no "|" and a Graph user id has none either. A tenant other than
 * "default" comes first (issue 16): "<tenant>/<Teams user id>|<bare JID>"; the default tenant's keys stay as they
 * were, so a single-tenant cluster's placement entries survive the upgrade.
 */
export function pairKey(key: PairKey): string {
  return tenantActorKey(key.tenant, `${key.teamsUserId}|${key.remoteJid}`);
}

export function parsePairKey(key: string): PairKey {
  const { tenant, key: inner } = splitTenantKey(key);
  const bar = inner.indexOf('|');
  return { ...(tenant === DEFAULT_TENANT ? {} : { tenant }), teamsUserId: inner.slice(0, bar), remoteJid: inner.slice(bar + 1) };
}

/** An actor key within its tenant: "<tenant>/<key>" ("/" is in no tenant id, Graph id, bare JID or domain). */
export function tenantActorKey(tenant: string | undefined, key: string): string {
  return tenant === undefined || tenant === DEFAULT_TENANT ? key : `${tenant}/${key}`;
}

export function splitTenantKey(key: string): { tenant: string; key: string } {
  const slash = key.indexOf('/');
  return slash === -1 ? { tenant: DEFAULT_TENANT, key } : { tenant: key.slice(0, slash), key: key.slice(slash + 1) };
}

/** "<kind>:<key>", unique across kinds (the router's queues and handoff sets, the placement directory). */
export function actorAddress(kind: ActorKind, key: string): string {
  return `${kind}:${key}`;
}

export function parseActorAddress(address: string): { kind: ActorKind; key: string } {
  const colon = address.indexOf(':');
  return { kind: address.slice(0, colon) as ActorKind, key: address.slice(colon + 1) };
}
