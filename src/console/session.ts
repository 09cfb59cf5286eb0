/**
 * Console sessions: a signed cookie (HMAC-SHA256 over its JSON), so that any node of the cluster accepts a sign-in
 * made on another (they derive the same key), with a server-side revocation list for sign-out (in Redis when the
 * node is in a cluster, so that a sign-out holds on every node). The cookie is HttpOnly, SameSite=Strict, Path=/,
 * and Secure with the __Host- prefix when the console is reached over HTTPS
 * (https://datatracker.ietf.org/doc/html/draft-ietf-httpbis-rfc6265bis#section-4.1.3.2).
 *
 * CSRF: every change carries X-CSRF-Token, an HMAC of the session id under the same key (a synchronizer token that
 * needs no storage); the page reads it from GET /console/api/session, never from the HTML.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface Session {
  /** Random id; what sign-out revokes. */
  readonly sid: string;
  /** Who, for the audit log: "token:<name>" or the Entra user's UPN. */
  readonly actor: string;
  /** What the page shows. */
  readonly name: string;
  readonly via: 'token' | 'oidc';
  /** Issue 16: the one tenant a tenant's own admin token signs in to; absent, every tenant (the operator). */
  readonly tenant?: string;
  /** Issued and expiry, epoch ms. */
  readonly iat: number;
  readonly exp: number;
}

/** Derives the session key from a secret every node shares (HKDF-SHA256, RFC 5869). */
export function deriveSessionKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), Buffer.from('xmpp-teams-gateway console sessions', 'utf8'), 32));
}

function mac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Longest cookie value accepted (a session is about 300 bytes): bounds the work a forged cookie causes. */
const MAX_COOKIE_LENGTH = 2048;

export class SessionCodec {
  constructor(private readonly key: Buffer) {}

  issue(who: Omit<Session, 'sid' | 'iat' | 'exp'>, now: number, lifetimeMs: number): { session: Session; cookie: string } {
    const session: Session = { sid: randomBytes(18).toString('base64url'), ...who, iat: now, exp: now + lifetimeMs };
    const body = Buffer.from(JSON.stringify(session), 'utf8').toString('base64url');
    return { session, cookie: `${body}.${mac(this.key, `session|${body}`).toString('base64url')}` };
  }

  /** The session a cookie value holds, if its signature is ours and it has not expired. */
  read(value: string | undefined, now: number): Session | undefined {
    if (!value || value.length > MAX_COOKIE_LENGTH) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const body = value.slice(0, dot);
    if (!equal(Buffer.from(value.slice(dot + 1), 'base64url'), mac(this.key, `session|${body}`))) return undefined;
    try {
      const s = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Session;
      return typeof s.sid === 'string' && typeof s.exp === 'number' && s.exp > now ? s : undefined;
    } catch {
      return undefined;
    }
  }

  csrfToken(session: Session): string {
    return mac(this.key, `csrf|${session.sid}`).toString('base64url');
  }

  csrfMatches(session: Session, given: string | undefined): boolean {
    return given !== undefined && given.length < 100 && equal(Buffer.from(given, 'utf8'), Buffer.from(this.csrfToken(session), 'utf8'));
  }

  /** A short-lived signed value (the OpenID Connect transaction cookie). */
  seal(purpose: string, payload: unknown): string {
    const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
    return `${body}.${mac(this.key, `${purpose}|${body}`).toString('base64url')}`;
  }

  unseal<T>(purpose: string, value: string | undefined): T | undefined {
    if (!value || value.length > MAX_COOKIE_LENGTH) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const body = value.slice(0, dot);
    if (!equal(Buffer.from(value.slice(dot + 1), 'base64url'), mac(this.key, `${purpose}|${body}`))) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as T;
    } catch {
      return undefined;
    }
  }
}

/** Signed-out session ids, until they would have expired anyway. */
export class Revocations {
  private readonly local = new Map<string, number>();

  constructor(
    private readonly redis: Redis | undefined,
    private readonly keyPrefix: string,
    private readonly timeoutMs = 500,
  ) {}

  async revoke(s: Session, now: number): Promise<void> {
    this.local.set(s.sid, s.exp);
    for (const [sid, exp] of this.local) if (exp <= now) this.local.delete(sid);
    await this.redis?.set(`${this.keyPrefix}${s.sid}`, '1', 'PX', Math.max(1, s.exp - now)).catch(() => undefined);
  }

  /**
   * Revoked here, or on another node (Redis). Without an answer from Redis in time, the session stands: a dead
   * Redis must not lock operators out of the console they need to see it.
   */
  async isRevoked(s: Session): Promise<boolean> {
    if (this.local.has(s.sid)) return true;
    if (!this.redis) return false;
    const answer = await Promise.race([
      this.redis.exists(`${this.keyPrefix}${s.sid}`).then((n) => n === 1, () => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), this.timeoutMs).unref()),
    ]);
    if (answer) this.local.set(s.sid, s.exp);
    return answer;
  }
}
