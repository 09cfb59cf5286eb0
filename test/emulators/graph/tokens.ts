/**
 * Access, ID and refresh tokens as the Microsoft identity platform issues them, and the bearer-token check that
 * Microsoft Graph applies to every request.
 * - Access token claims (v1.0 format, which Graph's own tokens use: iss https://sts.windows.net/{tid}/, appid,
 *   idtyp, roles for app-only, scp for delegated): https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
 * - ID token claims (v2.0: aud = client id, preferred_username, oid, tid): https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference
 * - client_info (base64url JSON {uid, utid}), which MSAL turns into the account's home id.
 */
import { randomBytes } from 'node:crypto';
import { faults } from './errors.js';
import { guidFrom } from './ids.js';
import type { JwtClaims, JwtSigner } from './jwt.js';

export interface AuthContext {
  readonly kind: 'app' | 'delegated';
  /** The client (application) id. */
  readonly appId: string;
  /** oid: the service principal (app-only) or the signed-in user (delegated). */
  readonly principalId: string;
  /** The signed-in user, delegated tokens only. */
  readonly userId: string | undefined;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** When the token expires (epoch ms): a subscription it authorized pauses then (subscriptions.ts). */
  readonly expiresAt: number;
}

export interface TokenUser {
  readonly id: string;
  readonly userPrincipalName: string;
  readonly displayName: string;
  readonly givenName?: string | null | undefined;
  readonly surname?: string | null | undefined;
}

export interface TokenApp {
  readonly clientId: string;
  readonly applicationPermissions: readonly string[];
  readonly delegatedPermissions: readonly string[];
}

/** The token endpoint's success body: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth-ropc#successful-authentication-response */
export interface TokenResponse {
  token_type: 'Bearer';
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
  client_info?: string;
}

interface RefreshGrant {
  readonly clientId: string;
  readonly userId: string;
  readonly resource: string;
  readonly requestedScopes: readonly string[];
}

const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

export interface TokenServiceOptions {
  readonly signer: JwtSigner;
  readonly tenantId: string;
  /** The emulator's origin: authority host and Graph resource alike. */
  readonly url: string;
  readonly lifetimeSeconds: number;
  readonly now?: () => number;
}

export class TokenService {
  private readonly refreshTokens = new Map<string, RefreshGrant>();
  private readonly now: () => number;

  constructor(private readonly o: TokenServiceOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The v1 issuer Graph access tokens carry. */
  get accessTokenIssuer(): string {
    return `https://sts.windows.net/${this.o.tenantId}/`;
  }

  /** The v2 issuer of the discovery document and of ID tokens. */
  get v2Issuer(): string {
    return `${this.o.url}/${this.o.tenantId}/v2.0`;
  }

  /** Each app has one service principal in the tenant; its id is the oid of the app's app-only tokens. */
  servicePrincipalId(clientId: string): string {
    return guidFrom(`${this.o.tenantId}/servicePrincipal/${clientId}`);
  }

  private times(): { iat: number; nbf: number; exp: number } {
    const iat = Math.floor(this.now() / 1000);
    return { iat, nbf: iat, exp: iat + this.o.lifetimeSeconds };
  }

  private common(): JwtClaims {
    return { aio: randomBytes(24).toString('base64url'), rh: `0.${randomBytes(12).toString('base64url')}.`, uti: randomBytes(16).toString('base64url') };
  }

  /** client_credentials: roles = the app's admin-consented application permissions. */
  issueApp(app: TokenApp, resource: string): TokenResponse {
    const oid = this.servicePrincipalId(app.clientId);
    const claims: JwtClaims = {
      aud: resource,
      iss: this.accessTokenIssuer,
      ...this.times(),
      ...this.common(),
      app_displayname: app.clientId,
      appid: app.clientId,
      appidacr: '1',
      idp: this.accessTokenIssuer,
      idtyp: 'app',
      oid,
      ...(app.applicationPermissions.length > 0 ? { roles: [...app.applicationPermissions] } : {}),
      sub: oid,
      tid: this.o.tenantId,
      ver: '1.0',
    };
    return {
      token_type: 'Bearer',
      expires_in: this.o.lifetimeSeconds,
      ext_expires_in: this.o.lifetimeSeconds,
      access_token: this.o.signer.sign(claims),
    };
  }

  /** ROPC and refresh_token grants: scp = the app's admin-consented delegated permissions. */
  issueDelegated(app: TokenApp, user: TokenUser, resource: string, requestedScopes: readonly string[], idTokenExtra: JwtClaims = {}): TokenResponse {
    const t = this.times();
    const access: JwtClaims = {
      aud: resource,
      iss: this.accessTokenIssuer,
      ...t,
      ...this.common(),
      acct: 0,
      acr: '1',
      amr: ['pwd'],
      app_displayname: app.clientId,
      appid: app.clientId,
      appidacr: '0',
      ...(user.surname ? { family_name: user.surname } : {}),
      ...(user.givenName ? { given_name: user.givenName } : {}),
      idtyp: 'user',
      ipaddr: '127.0.0.1',
      name: user.displayName,
      oid: user.id,
      scp: app.delegatedPermissions.join(' '),
      sub: guidFrom(`${app.clientId}/sub/${user.id}`),
      tid: this.o.tenantId,
      unique_name: user.userPrincipalName,
      upn: user.userPrincipalName,
      ver: '1.0',
    };
    const idToken: JwtClaims = {
      aud: app.clientId,
      iss: this.v2Issuer,
      ...t,
      name: user.displayName,
      oid: user.id,
      preferred_username: user.userPrincipalName,
      rh: `0.${randomBytes(12).toString('base64url')}.`,
      sub: guidFrom(`${app.clientId}/idsub/${user.id}`),
      tid: this.o.tenantId,
      uti: randomBytes(16).toString('base64url'),
      ver: '2.0',
      ...idTokenExtra,
    };
    const refresh = randomBytes(48).toString('base64url');
    this.refreshTokens.set(refresh, { clientId: app.clientId, userId: user.id, resource, requestedScopes });
    // Entra lists the granted permissions as resource-qualified scopes and echoes .default when it was asked for;
    // MSAL caches the token under these scopes and finds it again by the requested ones.
    const granted = app.delegatedPermissions.map((p) => `${resource}/${p}`);
    const echoed = requestedScopes.filter((s) => s.toLowerCase().endsWith('/.default') || OIDC_SCOPES.has(s.toLowerCase()));
    return {
      token_type: 'Bearer',
      scope: [...new Set([...granted, ...echoed])].join(' '),
      expires_in: this.o.lifetimeSeconds,
      ext_expires_in: this.o.lifetimeSeconds,
      access_token: this.o.signer.sign(access),
      refresh_token: refresh,
      id_token: this.o.signer.sign(idToken),
      client_info: Buffer.from(JSON.stringify({ uid: user.id, utid: this.o.tenantId })).toString('base64url'),
    };
  }

  redeemRefreshToken(token: string, clientId: string): RefreshGrant | undefined {
    const grant = this.refreshTokens.get(token);
    return grant && grant.clientId === clientId ? grant : undefined;
  }

  /**
   * Graph's check of `Authorization: Bearer`: signature by the tenant's key, lifetime, audience
   * (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-tokens). Failures are 401
   * InvalidAuthenticationToken, with the messages Graph uses.
   */
  authenticate(authorization: string | undefined): AuthContext {
    const m = /^Bearer\s+(\S+)\s*$/iu.exec(authorization ?? '');
    if (!m) throw faults.invalidToken('Access token is empty.');
    const v = this.o.signer.verify(m[1] as string);
    if (!v.ok) {
      throw faults.invalidToken(v.reason === 'malformed' ? 'IDX14100: JWT is not well formed.' : 'Access token validation failure.');
    }
    const c = v.claims;
    const nowSeconds = Math.floor(this.now() / 1000);
    if (typeof c.exp !== 'number' || c.exp <= nowSeconds) throw faults.invalidToken('Lifetime validation failed, the token is expired.');
    if (typeof c.nbf === 'number' && c.nbf > nowSeconds + 300) throw faults.invalidToken('Lifetime validation failed, the token is not yet valid.');
    const aud = typeof c.aud === 'string' ? c.aud.replace(/\/+$/u, '') : '';
    if (aud !== this.o.url) throw faults.invalidToken('Access token validation failure. Invalid audience.');
    if (c.tid !== this.o.tenantId || c.iss !== this.accessTokenIssuer) throw faults.invalidToken('Access token validation failure. Invalid issuer.');
    const appId = typeof c.appid === 'string' ? c.appid : '';
    const oid = typeof c.oid === 'string' ? c.oid : '';
    if (c.idtyp === 'app') {
      const roles = Array.isArray(c.roles) ? c.roles.filter((r): r is string => typeof r === 'string') : [];
      return { kind: 'app', appId, principalId: oid, userId: undefined, roles, scopes: [], expiresAt: c.exp * 1000 };
    }
    const scopes = typeof c.scp === 'string' ? c.scp.split(' ').filter(Boolean) : [];
    return { kind: 'delegated', appId, principalId: oid, userId: oid, roles: [], scopes, expiresAt: c.exp * 1000 };
  }
}

/** The resource of a scope list: "https://host/.default openid profile" -> "https://host". */
export function resourceOfScopes(scopes: readonly string[]): string | undefined {
  for (const s of scopes) {
    if (OIDC_SCOPES.has(s.toLowerCase())) continue;
    const slash = s.lastIndexOf('/');
    if (slash > 0 && /^https?:\/\//iu.test(s)) return s.slice(0, slash);
    // A bare permission name ("User.Read") means Microsoft Graph itself.
    return 'https://graph.microsoft.com';
  }
  return undefined;
}
