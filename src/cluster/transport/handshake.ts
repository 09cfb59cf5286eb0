/**
 * How two nodes prove to each other that they hold the cluster's shared secret, without sending it: each sends a
 * fresh random nonce, and each answers with an HMAC-SHA256 over both nonces, its role and its node id. The secret
 * never travels, and a recorded handshake is useless later (the other side's nonce is new every time). Over TLS
 * (cluster.tls) the channel then protects every message (confidentiality, integrity, no replay); over plain TCP
 * only the handshake is protected.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const PROTOCOL = 'xtg-cluster/1';

export function nonce(): string {
  return randomBytes(32).toString('base64url');
}

/** `mine` is the prover's own nonce, `theirs` the other side's. */
export function proof(secret: string, role: 'client' | 'server', nodeId: string, theirs: string, mine: string): string {
  return createHmac('sha256', secret).update(`${PROTOCOL}|${role}|${nodeId}|${theirs}|${mine}`).digest('base64url');
}

export function sameProof(a: unknown, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The handshake's messages, in order. */
export type Hello = { readonly t: 'hello'; readonly v: string; readonly node: string; readonly nonce: string };
export type Challenge = { readonly t: 'challenge'; readonly node: string; readonly nonce: string; readonly proof: string };
export type Auth = { readonly t: 'auth'; readonly proof: string };
export type Ready = { readonly t: 'ready' };
export type Refused = { readonly t: 'refused'; readonly reason: string };
