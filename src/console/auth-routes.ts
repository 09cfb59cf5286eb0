/**
 * Signing in and out of the console: the sign-in page, the admin token (a form POST, checked in constant time,
 * failures throttled per address), Entra ID (OpenID Connect code flow with PKCE: the state, nonce and verifier wait
 * in a signed cookie for the browser's return), and sign-out (revokes the session on every node).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http/read-body.js';
import { errorMessage } from '../observability/logger.js';
import { signInHtml, type SignInNotice } from './assets.js';
import { clientAddress, OIDC_COOKIE, type ConsoleContext, type ConsoleTenant } from './context.js';
import { clearCookie, cookieName, parseCookies, SECURITY_HEADERS, sendJson, setCookie, SignInThrottle } from './http-security.js';
import { OidcError, type OidcClient, type OidcTransaction } from './oidc-client.js';

const MAX_FORM_BYTES = 8 * 1024;
/** How long a browser may take at Entra ID before its return is refused. */
const OIDC_TRANSACTION_MS = 10 * 60_000;
const NOTICES = new Set<SignInNotice>(['wrong-token', 'too-many', 'signed-out', 'expired', 'oidc-failed', 'oidc-denied', 'oidc-not-admin', 'cross-origin']);

function redirect(res: ServerResponse, location: string, cookies: string[] = []): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location, 'cache-control': 'no-store', ...(cookies.length ? { 'set-cookie': cookies } : {}) }).end();
}

function tokensEqual(given: string, want: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(want, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export class AuthRoutes {
  private readonly throttle: SignInThrottle;

  constructor(
    private readonly c: ConsoleContext,
    private readonly oidc: OidcClient | undefined,
  ) {
    this.throttle = new SignInThrottle(c.deps.config.console.signInAttemptsPerMinute);
  }

  private get token(): string | undefined {
    return this.c.deps.config.admin.token?.reveal();
  }

  /**
   * Whose token this is: the operator's (every tenant) or one tenant's own administrators' (issue 16). Every
   * configured token is compared, in constant time each, so the answer's timing does not tell which one matched.
   */
  private tokenScope(given: string): { tenant: ConsoleTenant | undefined } | undefined {
    let match: { tenant: ConsoleTenant | undefined } | undefined;
    const operator = this.token;
    if (operator !== undefined && tokensEqual(given, operator)) match = { tenant: undefined };
    for (const t of this.c.deps.tenants()) if (t.token !== undefined && tokensEqual(given, t.token) && !match) match = { tenant: t };
    return match;
  }

  private redirectUri(): string {
    return `${new URL(this.c.deps.config.console.publicUrl ?? 'http://localhost').origin}/console/auth/callback`;
  }

  /** Handles /console/sign-in and /console/auth/*; false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<boolean> {
    if (path === '/console/sign-in' && req.method === 'GET') {
      if (await this.c.session(req)) redirect(res, '/console/overview');
      else this.signInPage(res, query.get('notice'));
      return true;
    }
    if (path === '/console/auth/token' && req.method === 'POST') await this.tokenSignIn(req, res);
    else if (path === '/console/auth/oidc' && req.method === 'GET') await this.oidcStart(req, res);
    else if (path === '/console/auth/callback' && req.method === 'GET') await this.oidcCallback(req, res, query);
    else if (path === '/console/auth/sign-out' && req.method === 'POST') await this.signOut(req, res);
    else return false;
    return true;
  }

  private signInPage(res: ServerResponse, notice: string | null): void {
    const html = signInHtml({
      nodeId: this.c.deps.nodeId,
      token: this.token !== undefined || this.c.deps.tenants().some((t) => t.token !== undefined),
      oidc: this.oidc !== undefined,
      notice: notice && NOTICES.has(notice as SignInNotice) ? (notice as SignInNotice) : undefined,
    });
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
  }

  private startSession(req: IncomingMessage, res: ServerResponse, who: { actor: string; name: string; via: 'token' | 'oidc'; tenant?: string }, extraCookies: string[] = []): void {
    const lifetimeMs = this.c.deps.config.console.sessionMinutes * 60_000;
    const { cookie } = this.c.codec.issue(who, this.c.now(), lifetimeMs);
    const secure = this.c.secure(req);
    redirect(res, '/console/overview', [
      setCookie(this.c.sessionCookieName(req), cookie, { secure, sameSite: 'Strict', maxAgeSeconds: Math.floor(lifetimeMs / 1000) }),
      ...extraCookies,
    ]);
  }

  private async tokenSignIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const address = clientAddress(req);
    const origin = this.c.sameOrigin(req);
    if (!origin.ok) {
      this.c.log.warn('console sign-in refused', { reason: origin.why, address });
      req.resume();
      redirect(res, '/console/sign-in?notice=cross-origin');
      return;
    }
    const now = this.c.now();
    if (!this.throttle.allowed(address, now)) {
      req.resume();
      redirect(res, '/console/sign-in?notice=too-many');
      return;
    }
    const body = await readBody(req, MAX_FORM_BYTES);
    const form = new URLSearchParams(body?.toString('utf8') ?? '');
    const name = (form.get('name') ?? '').replace(/\p{C}/gu, '').trim().slice(0, 80) || 'operator';
    const scope = this.tokenScope(form.get('token') ?? '');
    if (!scope) {
      this.throttle.failed(address, now);
      this.c.log.warn('console sign-in with a wrong admin token', { address });
      redirect(res, '/console/sign-in?notice=wrong-token');
      return;
    }
    const actor = `token:${name}`;
    const tenant = scope.tenant;
    await this.c.audit(actor, 'console.sign-in', 'console', `${tenant ? `tenant ${tenant.id}'s admin token` : 'admin token'}, from ${address}`, tenant);
    this.c.log.info('console sign-in', { actor, via: 'token', ...(tenant ? { tenant: tenant.id } : {}) });
    this.startSession(req, res, { actor, name, via: 'token', ...(tenant ? { tenant: tenant.id } : {}) });
  }

  private oidcCookie(req: IncomingMessage): string {
    return cookieName(OIDC_COOKIE, this.c.secure(req));
  }

  private async oidcStart(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.oidc) {
      redirect(res, '/console/sign-in');
      return;
    }
    try {
      const { url, transaction } = await this.oidc.begin(this.redirectUri());
      // Lax: the browser comes back from Entra ID with a cross-site top-level GET, which a Strict cookie would miss.
      const cookie = setCookie(this.oidcCookie(req), this.c.codec.seal('oidc', transaction), {
        secure: this.c.secure(req),
        sameSite: 'Lax',
        maxAgeSeconds: OIDC_TRANSACTION_MS / 1000,
      });
      res.writeHead(302, { ...SECURITY_HEADERS, location: url, 'cache-control': 'no-store', 'set-cookie': cookie }).end();
    } catch (err) {
      this.c.log.warn('console sign-in with Entra ID could not start', { error: errorMessage(err) });
      redirect(res, '/console/sign-in?notice=oidc-failed');
    }
  }

  private async oidcCallback(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const clear = clearCookie(this.oidcCookie(req), this.c.secure(req));
    const address = clientAddress(req);
    // Each return costs a call to Entra ID's token endpoint: failed ones count against the address as wrong tokens do.
    if (!this.throttle.allowed(address, this.c.now())) {
      redirect(res, '/console/sign-in?notice=too-many', [clear]);
      return;
    }
    const t = this.c.codec.unseal<OidcTransaction>('oidc', parseCookies(req.headers.cookie).get(this.oidcCookie(req)));
    if (!this.oidc || !t || this.c.now() - t.at > OIDC_TRANSACTION_MS) {
      this.throttle.failed(address, this.c.now());
      this.c.log.warn('console sign-in with Entra ID: no sign-in in progress in this browser (or it took too long)');
      redirect(res, '/console/sign-in?notice=oidc-failed', [clear]);
      return;
    }
    try {
      const user = await this.oidc.complete(query, t, this.redirectUri());
      await this.c.audit(user.username, 'console.sign-in', 'console', `Entra ID (oid ${user.oid}), from ${address}`);
      this.c.log.info('console sign-in', { actor: user.username, via: 'oidc' });
      this.startSession(req, res, { actor: user.username, name: user.name || user.username, via: 'oidc' }, [clear]);
    } catch (err) {
      const code = err instanceof OidcError ? err.code : 'oidc-failed';
      if (code === 'oidc-failed') this.throttle.failed(address, this.c.now());
      this.c.log.warn('console sign-in with Entra ID failed', { error: errorMessage(err) });
      redirect(res, `/console/sign-in?notice=${code}`, [clear]);
    }
  }

  private async signOut(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const origin = this.c.sameOrigin(req);
    const s = await this.c.session(req);
    if (!origin.ok || !s || !this.c.codec.csrfMatches(s, String(req.headers['x-csrf-token'] ?? ''))) {
      sendJson(res, 403, { error: 'sign-out needs the session and its CSRF token, from the console itself' });
      return;
    }
    await this.c.revocations.revoke(s, this.c.now());
    await this.c.audit(s.actor, 'console.sign-out', 'console');
    sendJson(res, 200, { signedOut: true }, { 'set-cookie': clearCookie(this.c.sessionCookieName(req), this.c.secure(req)) });
  }
}
