/**
 * Signed, expiring references to Teams inline images, for the media proxy's links (GET <publicUrl>/media/<token>).
 * A token names the hosted content (chat, message, hosted content id), the XMPP user's account whose delegated Graph
 * token may read that chat, and when the link expires. It is `<payload>.<mac>`: the payload base64url JSON, the mac
 * base64url HMAC-SHA256 of the payload text under a key only the gateway nodes know. Nothing in it is secret from
 * its holder (the ids are the XMPP user's own chat); the mac makes it unforgeable and unalterable.
 *
 * The key: HKDF-SHA256 of the configured secret (teams.webhook.mediaSecret, else the app's client secret, else the
 * puppet password secret), so every node of a cluster derives the same key without extra configuration. Pure.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { HostedContentRef } from '../protocol/hosted-content.js';

export interface MediaRef extends HostedContentRef {
  /** The Entra user id of the XMPP user's account (puppet) whose token reads the chat. */
  readonly puppetUserId: string;
  /** Epoch milliseconds after which the link no longer works. */
  readonly expiresAt: number;
}

export type MediaTokenCheck =
  | { readonly ok: true; readonly ref: MediaRef }
  | { readonly ok: false; readonly reason: 'malformed' | 'bad-signature' | 'expired' };

/** 32 bytes for HMAC-SHA256, derived (RFC 5869) from a configured secret; `purpose` separates key uses. */
export function deriveMediaKey(secret: string, purpose = 'xmpp-teams-gateway media links v1'): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), Buffer.from(purpose, 'utf8'), 32));
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload, 'utf8').digest('base64url');
}

export function encodeMediaToken(ref: MediaRef, key: Buffer): string {
  // Seconds are precise enough for an expiry and keep the token short.
  const body = { c: ref.chatId, m: ref.messageId, h: ref.hostedContentId, u: ref.puppetUserId, e: Math.ceil(ref.expiresAt / 1000) };
  const payload = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  return `${payload}.${mac(key, payload)}`;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/u;

/**
 * Checks a token: the signature first, so a forged or altered token is told apart from an expired one only by the
 * holder of the key; then the payload and the expiry.
 */
export function verifyMediaToken(token: string, key: Buffer, now: number): MediaTokenCheck {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 4096) return { ok: false, reason: 'malformed' };
  const payload = token.slice(0, dot);
  const given = token.slice(dot + 1);
  if (!BASE64URL.test(payload) || !BASE64URL.test(given)) return { ok: false, reason: 'malformed' };
  const expected = Buffer.from(mac(key, payload), 'utf8');
  const actual = Buffer.from(given, 'utf8');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return { ok: false, reason: 'bad-signature' };
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const [chatId, messageId, hostedContentId, puppetUserId] = [str(b.c), str(b.m), str(b.h), str(b.u)];
  if (!chatId || !messageId || !hostedContentId || !puppetUserId || typeof b.e !== 'number' || !Number.isFinite(b.e)) return { ok: false, reason: 'malformed' };
  const expiresAt = b.e * 1000;
  if (now >= expiresAt) return { ok: false, reason: 'expired' };
  return { ok: true, ref: { chatId, messageId, hostedContentId, puppetUserId, expiresAt } };
}
