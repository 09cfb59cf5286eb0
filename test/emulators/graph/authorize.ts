/**
 * The authorization code flow of the Microsoft identity platform, for web apps that sign users in with OpenID
 * Connect (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow):
 * - GET /{tenant}/oauth2/v2.0/authorize: client_id, response_type=code, redirect_uri (exactly one of the app's web
 *   redirect URIs, else an error page and no redirect: AADSTS50011), scope, response_mode=query, state, nonce,
 *   code_challenge and code_challenge_method (S256 or plain). Entra's sign-in page becomes a plain form here
 *   (user name, password); a wrong password is AADSTS50126 on the page.
 * - Then a 302 to redirect_uri?code=...&state=...; the code lives 10 minutes ("Authorization codes are short
 *   lived, typically they expire after about 10 minutes") and is redeemed once (AADSTS54005 the second time).
 * - POST /token grant_type=authorization_code: the confidential client's secret (AADSTS7000218 without it), the
 *   same client and redirect_uri as the authorization, and the PKCE code_verifier (RFC 7636 §4.6; AADSTS501481
 *   when it does not match). The ID token carries the nonce, and the groups claim only when the app's manifest asks
 *   for it (groupMembershipClaims), with the overage marker past 200 groups
 *   (https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference#groups-overage-claim).
 * Error codes: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Directory } from './directory.js';
import type { AadError } from './errors.js';
import type { Call, Reply } from './http.js';
import type { JwtClaims } from './jwt.js';
import type { TokenResponse, TokenService } from './tokens.js';
import type { EmulatedApp } from './types.js';

const CODE_LIFETIME_MS = 10 * 60_000;
/** JWTs carry at most this many groups; past it, the overage claim (Learn, groups overage claim). */
const GROUPS_IN_JWT = 200;

interface PendingCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly userId: string;
  readonly scopes: readonly string[];
  readonly nonce: string | undefined;
  readonly challenge: string | undefined;
  readonly method: 'S256' | 'plain';
  readonly expiresAt: number;
  redeemed: boolean;
}

function html(status: number, title: string, body: string): Reply {
  const esc = (s: string) => s.replace(/[&<>"']/gu, (c) => `&#${c.charCodeAt(0)};`);
  return {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><main><h1>${esc(title)}</h1>${body}</main></body></html>`,
  };
}

const escAttr = (s: string) => s.replace(/[&<>"']/gu, (c) => `&#${c.charCodeAt(0)};`);

export class AuthorizationCodes {
  private readonly codes = new Map<string, PendingCode>();

  constructor(
    private readonly o: { readonly tenantId: string; readonly apps: readonly EmulatedApp[]; readonly directory: Directory; readonly tokens: TokenService; readonly now?: () => number },
  ) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** GET shows the sign-in form; POST (the form) signs the user in and redirects with a code. */
  authorize(call: Call): Reply {
    const params = call.method === 'POST' ? new URLSearchParams(call.body.toString('utf8')) : call.url.searchParams;
    const errorPage = (code: number, text: string) => html(400, 'Sign in', `<p role="alert">AADSTS${code}: ${escAttr(text)}</p>`);
    const clientId = params.get('client_id') ?? '';
    const app = this.o.apps.find((a) => a.clientId.toLowerCase() === clientId.toLowerCase());
    if (!app) return errorPage(700016, `Application with identifier '${clientId}' was not found in the directory '${this.o.tenantId}'.`);
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!(app.redirectUris ?? []).includes(redirectUri)) {
      return errorPage(50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${app.clientId}'.`);
    }
    const state = params.get('state');
    const back = (q: Record<string, string>): Reply => {
      const u = new URL(redirectUri);
      for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
      if (state !== null) u.searchParams.set('state', state);
      return { status: 302, headers: { Location: u.toString(), 'Cache-Control': 'no-store' }, body: '' };
    };
    const fail = (error: string, code: number, text: string) => back({ error, error_description: `AADSTS${code}: ${text}` });
    if (params.get('response_type') !== 'code') return fail('unsupported_response_type', 700054, "The emulator's authorization endpoint supports response_type=code only.");
    const mode = params.get('response_mode') ?? 'query';
    if (mode !== 'query') return fail('invalid_request', 900144, "The emulator answers with response_mode=query only.");
    const scopes = (params.get('scope') ?? '').split(' ').filter(Boolean);
    if (scopes.length === 0) return fail('invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    const challenge = params.get('code_challenge') ?? undefined;
    const method = params.get('code_challenge_method') ?? 'plain';
    if (method !== 'S256' && method !== 'plain') return fail('invalid_request', 50148, "The code_challenge_method is not valid: it must be 'S256' or 'plain'.");

    const hidden = ['client_id', 'response_type', 'redirect_uri', 'response_mode', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method']
      .flatMap((k) => (params.get(k) === null ? [] : [`<input type="hidden" name="${k}" value="${escAttr(params.get(k) ?? '')}">`]))
      .join('');
    const form = (notice: string) =>
      html(
        200,
        'Sign in',
        `${notice}<form method="post"><label for="login">Email, phone, or Skype</label><input id="login" name="login" autocomplete="username"><label for="passwd">Password</label><input id="passwd" name="passwd" type="password" autocomplete="current-password">${hidden}<button type="submit">Sign in</button></form>`,
      );
    if (call.method !== 'POST') return form('');
    const found = this.o.directory.byUpn(params.get('login') ?? '');
    // Not replicated yet: not there for sign-in (oidc.ts, ROPC).
    const user = found && this.o.directory.isVisible(found) ? found : undefined;
    if (!user || user.password === undefined || user.password !== params.get('passwd')) {
      return form('<p role="alert">AADSTS50126: Error validating credentials due to invalid username or password.</p>');
    }
    if (!user.accountEnabled) return form('<p role="alert">AADSTS50057: The user account is disabled.</p>');
    const code = randomBytes(32).toString('base64url');
    this.codes.set(code, {
      clientId: app.clientId,
      redirectUri,
      userId: user.id,
      scopes,
      nonce: params.get('nonce') ?? undefined,
      challenge,
      method,
      expiresAt: this.now() + CODE_LIFETIME_MS,
      redeemed: false,
    });
    return back({ code, session_state: randomBytes(16).toString('hex') });
  }

  /** grant_type=authorization_code at the token endpoint (the client is already authenticated by the caller). */
  redeem(app: EmulatedApp, form: URLSearchParams, err: (status: number, error: string, code: number, text: string) => AadError): TokenResponse | AadError {
    const code = form.get('code');
    if (!code) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'code'.");
    const redirectUri = form.get('redirect_uri');
    if (!redirectUri) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'redirect_uri'.");
    const pending = this.codes.get(code);
    if (!pending || pending.clientId.toLowerCase() !== app.clientId.toLowerCase()) return err(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
    if (pending.redeemed) return err(400, 'invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.');
    if (pending.expiresAt <= this.now()) return err(400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.');
    if (redirectUri !== pending.redirectUri) return err(400, 'invalid_grant', 50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URI used to obtain the authorization code.`);
    // Any redemption by its client spends the code, a failed one too (RFC 6749 §4.1.2: used once; the stricter
    // reading, so that the emulator is never kinder than Entra ID).
    pending.redeemed = true;
    if (pending.challenge !== undefined) {
      const verifier = form.get('code_verifier') ?? '';
      const computed = pending.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
      if (computed !== pending.challenge) return err(400, 'invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.');
    }
    const user = this.o.directory.byId(pending.userId);
    if (!user || !user.accountEnabled) return err(400, 'invalid_grant', 50057, 'The user account is disabled.');
    const extra: JwtClaims = { ...(pending.nonce !== undefined ? { nonce: pending.nonce } : {}) };
    if (app.groupMembershipClaims === 'SecurityGroup') {
      const groups = this.o.directory.groupIdsOf(user.id);
      if (groups.length > GROUPS_IN_JWT) Object.assign(extra, { _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: `https://graph.microsoft.com/v1.0/users/${user.id}/getMemberObjects` } } });
      else extra.groups = groups;
    }
    return this.o.tokens.issueDelegated(app, user, 'https://graph.microsoft.com', pending.scopes, extra);
  }
}
