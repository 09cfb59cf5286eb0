/**
 * What every console response carries, and the checks every request passes: a Content-Security-Policy that allows
 * only the console's own scripts and styles (no inline script, no eval, no framing), cookies parsed strictly, and
 * the same-origin check (Origin, else Sec-Fetch-Site) that refuses cross-origin changes
 * (https://owasp.org/www-community/attacks/csrf, "Verifying origin with standard headers").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Not no-referrer: with it, Chrome sends "Origin: null" on the console's own form posts (Fetch, "serializing a
  // request origin"), and the same-origin check could not tell them from another site's.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

export interface CookieOptions {
  readonly secure: boolean;
  readonly sameSite: 'Strict' | 'Lax';
  readonly maxAgeSeconds: number;
  readonly path?: string;
}

export function cookieName(base: string, secure: boolean): string {
  // The __Host- prefix makes the browser refuse the cookie unless Secure, Path=/ and without Domain.
  return secure ? `__Host-${base}` : base;
}

export function setCookie(name: string, value: string, o: CookieOptions): string {
  return [`${name}=${value}`, `Path=${o.path ?? '/'}`, 'HttpOnly', `SameSite=${o.sameSite}`, `Max-Age=${o.maxAgeSeconds}`, ...(o.secure ? ['Secure'] : [])].join('; ');
}

export function clearCookie(name: string, secure: boolean): string {
  return setCookie(name, '', { secure, sameSite: 'Strict', maxAgeSeconds: 0 });
}

export type OriginVerdict = { readonly ok: true } | { readonly ok: false; readonly why: string };

/**
 * A change must come from a page of the console itself. `expected` is the console's origin (console.publicUrl, or
 * what the Host header names). Browsers send Origin on every cross-origin request and on same-origin POSTs; where
 * it is absent, Sec-Fetch-Site (sent by current browsers) must say same-origin. A client sending neither is not a
 * browser, so no other site can have made it send the request; the CSRF token still has to match.
 */
export function checkSameOrigin(req: IncomingMessage, expected: string): OriginVerdict {
  const origin = req.headers.origin;
  if (origin !== undefined) return origin === expected ? { ok: true } : { ok: false, why: `cross-origin request from ${origin.slice(0, 100)}` };
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return { ok: false, why: `cross-site request (Sec-Fetch-Site: ${String(site).slice(0, 30)})` };
  return { ok: true };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/**
 * Failed sign-ins (wrong tokens, failed Entra ID returns) per client address in the current minute. Past the limit a sign-in is refused without the token
 * being compared, so guessing costs the guesser a minute per few tries. The map is bounded: when full, the
 * oldest minute's entries go first.
 */
export class SignInThrottle {
  private failures = new Map<string, { minute: number; count: number }>();
  private static readonly MAX_ADDRESSES = 10_000;

  constructor(private readonly perMinute: number) {}

  allowed(address: string, now: number): boolean {
    const e = this.failures.get(address);
    return !e || e.minute !== Math.floor(now / 60_000) || e.count < this.perMinute;
  }

  failed(address: string, now: number): void {
    const minute = Math.floor(now / 60_000);
    const e = this.failures.get(address);
    if (e && e.minute === minute) {
      e.count++;
      return;
    }
    if (this.failures.size >= SignInThrottle.MAX_ADDRESSES) {
      for (const [a, x] of this.failures) if (x.minute !== minute) this.failures.delete(a);
      if (this.failures.size >= SignInThrottle.MAX_ADDRESSES) this.failures.clear();
    }
    this.failures.set(address, { minute, count: 1 });
  }
}
