/**
 * Sign-in with Entra ID for the console: OpenID Connect with the authorization code flow and PKCE, against the
 * tenant's own directory (never /common), as https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
 * describes it, and the ID token validated as https://learn.microsoft.com/en-us/entra/identity-platform/id-tokens#validate-tokens
 * asks: RS256 signature by a key of the tenant's JWKS, issuer of the tenant's discovery document, audience = our
 * client id, tid = the tenant, lifetime (5 minutes of clock skew), and our nonce.
 *
 * Admins are members of console.oidc.adminGroups: read from the token's groups claim when the app registration
 * emits it (groupMembershipClaims), else (no claim, or the overage marker of a user in too many groups,
 * https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference#groups-overage-claim) from
 * Graph with the gateway's own application token (transitive members of each admin group).
 */
import { createHash, createPublicKey, createVerify, randomBytes, type JsonWebKey } from 'node:crypto';

export interface OidcSettings {
  readonly authorityHost: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly adminGroups: readonly string[];
  /** Transitive members (object ids) of a group, from Graph. */
  readonly groupMemberIds: (groupId: string) => Promise<string[]>;
  readonly now?: () => number;
}

export class OidcError extends Error {
  constructor(
    message: string,
    /** What the sign-in page says, from a fixed set (no text from the identity provider is reflected). */
    readonly code: 'oidc-failed' | 'oidc-denied' | 'oidc-not-admin',
  ) {
    super(message);
    this.name = 'OidcError';
  }
}

/** The state kept between the redirect to Entra and its answer (in a signed, short-lived cookie). */
export interface OidcTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly at: number;
}

export interface OidcUser {
  readonly oid: string;
  readonly username: string;
  readonly name: string;
}

interface Discovery {
  readonly issuer: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
  readonly jwks_uri: string;
}

const HTTP_TIMEOUT_MS = 10_000;
const CLOCK_SKEW_S = 300;
const DISCOVERY_TTL_MS = 60 * 60_000;

function b64urlJson(part: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class OidcClient {
  private discovery: { doc: Discovery; at: number } | undefined;
  private keys = new Map<string, JsonWebKey>();
  private readonly now: () => number;

  constructor(private readonly o: OidcSettings) {
    this.now = o.now ?? Date.now;
  }

  private async getJson(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    } catch (err) {
      throw new OidcError(`cannot reach ${new URL(url).origin}: ${(err as Error).message}`, 'oidc-failed');
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      const desc = typeof body.error_description === 'string' ? body.error_description.split('\r\n')[0] : `HTTP ${res.status}`;
      throw new OidcError(`${new URL(url).pathname}: ${String(body.error ?? res.status)}: ${desc}`, 'oidc-failed');
    }
    return body;
  }

  private async doc(): Promise<Discovery> {
    if (this.discovery && this.now() - this.discovery.at < DISCOVERY_TTL_MS) return this.discovery.doc;
    const base = this.o.authorityHost.replace(/\/+$/u, '');
    const d = await this.getJson(`${base}/${encodeURIComponent(this.o.tenantId)}/v2.0/.well-known/openid-configuration`);
    for (const k of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      if (typeof d[k] !== 'string') throw new OidcError(`the discovery document has no ${k}`, 'oidc-failed');
    }
    const doc = d as unknown as Discovery;
    this.discovery = { doc, at: this.now() };
    return doc;
  }

  /** Where to send the browser, and what to remember until it comes back. */
  async begin(redirectUri: string): Promise<{ url: string; transaction: OidcTransaction }> {
    const d = await this.doc();
    const transaction: OidcTransaction = {
      state: randomBytes(24).toString('base64url'),
      nonce: randomBytes(24).toString('base64url'),
      // RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~]; 32 random bytes give 43.
      verifier: randomBytes(32).toString('base64url'),
      at: this.now(),
    };
    const url = new URL(d.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: this.o.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      response_mode: 'query',
      scope: 'openid profile',
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: createHash('sha256').update(transaction.verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    return { url: url.toString(), transaction };
  }

  /** Redeems the code, validates the ID token, and checks that the user is an admin. */
  async complete(query: URLSearchParams, t: OidcTransaction, redirectUri: string): Promise<OidcUser> {
    if (query.get('state') !== t.state) throw new OidcError('the answer does not belong to this sign-in (state differs)', 'oidc-failed');
    const error = query.get('error');
    if (error) throw new OidcError(`Entra ID refused the sign-in: ${error}: ${(query.get('error_description') ?? '').slice(0, 300)}`, 'oidc-denied');
    const code = query.get('code');
    if (!code) throw new OidcError('the answer carries no code', 'oidc-failed');
    const d = await this.doc();
    const tokens = await this.getJson(d.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: this.o.clientId,
        client_secret: this.o.clientSecret,
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        code_verifier: t.verifier,
        scope: 'openid profile',
      }).toString(),
    });
    if (typeof tokens.id_token !== 'string') throw new OidcError('the token endpoint returned no id_token', 'oidc-failed');
    const claims = await this.validate(tokens.id_token, t.nonce, d);
    const user: OidcUser = {
      oid: String(claims.oid ?? ''),
      username: String(claims.preferred_username ?? claims.oid ?? ''),
      name: String(claims.name ?? claims.preferred_username ?? ''),
    };
    if (!user.oid) throw new OidcError('the ID token has no oid claim', 'oidc-failed');
    if (!(await this.isAdmin(user.oid, claims))) throw new OidcError(`${user.username} is not a member of an admin group (console.oidc.adminGroups)`, 'oidc-not-admin');
    return user;
  }

  async validate(idToken: string, nonce: string, d: Discovery): Promise<Record<string, unknown>> {
    const parts = idToken.split('.');
    const [h, p, s] = parts;
    const header = h === undefined ? undefined : b64urlJson(h);
    const claims = p === undefined ? undefined : b64urlJson(p);
    if (parts.length !== 3 || !header || !claims || s === undefined) throw new OidcError('the ID token is not a JWT', 'oidc-failed');
    if (header.alg !== 'RS256' || typeof header.kid !== 'string') throw new OidcError(`the ID token is signed with ${String(header.alg)}, not RS256`, 'oidc-failed');
    const jwk = await this.key(header.kid, d);
    const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
    if (!ok) throw new OidcError('the ID token signature is not valid', 'oidc-failed');
    const nowS = Math.floor(this.now() / 1000);
    const fail = (what: string) => new OidcError(`the ID token ${what}`, 'oidc-failed');
    if (claims.iss !== d.issuer) throw fail(`issuer ${String(claims.iss)} is not ${d.issuer}`);
    if (claims.aud !== this.o.clientId) throw fail('is for another application (aud)');
    if (typeof claims.tid !== 'string' || claims.tid.toLowerCase() !== this.o.tenantId.toLowerCase()) throw fail('is from another tenant (tid)');
    if (typeof claims.exp !== 'number' || claims.exp + CLOCK_SKEW_S < nowS) throw fail('has expired');
    if (typeof claims.nbf === 'number' && claims.nbf - CLOCK_SKEW_S > nowS) throw fail('is not valid yet');
    if (claims.nonce !== nonce) throw fail('was not issued for this sign-in (nonce)');
    return claims;
  }

  private async key(kid: string, d: Discovery): Promise<JsonWebKey> {
    const known = this.keys.get(kid);
    if (known) return known;
    // Keys roll over: an unknown kid makes us read the JWKS again (once per sign-in).
    const jwks = await this.getJson(d.jwks_uri);
    const keys = Array.isArray(jwks.keys) ? (jwks.keys as Record<string, unknown>[]) : [];
    this.keys = new Map(keys.filter((k) => k.kty === 'RSA' && typeof k.kid === 'string').map((k) => [k.kid as string, { kty: 'RSA', n: k.n, e: k.e } as JsonWebKey]));
    const key = this.keys.get(kid);
    if (!key) throw new OidcError(`the ID token was signed with an unknown key (${kid.slice(0, 40)})`, 'oidc-failed');
    return key;
  }

  private async isAdmin(oid: string, claims: Record<string, unknown>): Promise<boolean> {
    const overage = claims.hasgroups === true || (typeof claims._claim_names === 'object' && claims._claim_names !== null && 'groups' in claims._claim_names);
    if (Array.isArray(claims.groups) && !overage) {
      const groups = new Set(claims.groups.map((g) => String(g).toLowerCase()));
      return this.o.adminGroups.some((g) => groups.has(g.toLowerCase()));
    }
    for (const g of this.o.adminGroups) {
      try {
        if ((await this.o.groupMemberIds(g)).some((id) => id.toLowerCase() === oid.toLowerCase())) return true;
      } catch (err) {
        throw new OidcError(`cannot read the members of admin group ${g} from Graph: ${(err as Error).message}`, 'oidc-failed');
      }
    }
    return false;
  }
}
