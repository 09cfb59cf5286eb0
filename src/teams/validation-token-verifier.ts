/**
 * Verifies the validationTokens of notifications with resource data against the identity platform's signing keys
 * (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#how-to-validate): the keys come
 * from the OpenID metadata's jwks_uri, "cached by your app for some time" as they are "rotated daily". The
 * tenant's metadata document (`<authorityHost>/<tenant>/v2.0/.well-known/openid-configuration`) lists the same
 * keys as Learn's common endpoint, and is the one sovereign clouds and the emulator serve.
 * What a forged token can cost is bounded: tokens are verified only for items whose clientState matched, each
 * distinct token once (verdicts are cached until the token expires), and an unknown key id refreshes the keys at
 * most once per {@link MIN_REFRESH_MS}.
 * Graph sends the same token with every notification for hours, so a token that passed is not verified again (an
 * RSA signature check and a key import on every webhook request) until it expires, or until the keys are loaded
 * again (a key no longer published no longer vouches for it).
 */
import type { Logger } from '../observability/logger.js';
import type { TokenVerdict } from './notification-intake.js';
import { MAX_VALIDATION_TOKENS, tokenKeyId, tokenValidUntilMs, verifyValidationToken, type JwkSet } from './rich-notifications.js';

/** Keys are fetched again after this long. */
export const KEYS_MAX_AGE_MS = 60 * 60_000;
/** An unknown key id fetches the keys again, but not more often than this. */
export const MIN_REFRESH_MS = 5 * 60_000;
/** Verdicts kept for tokens seen (Graph reuses a token for hours; more than this many distinct ones is not Graph). */
const VERDICT_CACHE_SIZE = 256;
const FETCH_TIMEOUT_MS = 10_000;

export interface VerifierOptions {
  readonly authorityHost: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly log: Logger;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}

export class ValidationTokenVerifier {
  private keys: JwkSet | undefined;
  private fetchedAt = 0;
  private loading: Promise<JwkSet> | undefined;
  /** Verdicts by token; a success holds until the token expires (exp plus the tolerated skew). */
  private readonly verdicts = new Map<string, { readonly verdict: TokenVerdict; readonly untilMs: number }>();
  private readonly now: () => number;

  constructor(private readonly o: VerifierOptions) {
    this.now = o.now ?? Date.now;
  }

  get metadataUrl(): string {
    return `${this.o.authorityHost.replace(/\/+$/u, '')}/${encodeURIComponent(this.o.tenantId)}/v2.0/.well-known/openid-configuration`;
  }

  /** All tokens must pass (Learn: "If any tokens fail, consider the change notification suspicious"). */
  async verify(tokens: readonly string[]): Promise<TokenVerdict> {
    if (tokens.length === 0) return { ok: false, reason: 'no validation tokens' };
    if (tokens.length > MAX_VALIDATION_TOKENS) return { ok: false, reason: `${tokens.length} validation tokens` };
    for (const token of new Set(tokens)) {
      const v = await this.verifyOne(token);
      if (!v.ok) return v;
    }
    return { ok: true };
  }

  private async verifyOne(token: string): Promise<TokenVerdict> {
    const cached = this.verdicts.get(token);
    // A cached success expires with the token (past that, verifying again refuses it) and with the keys that
    // vouched for it (loading them again drops it).
    const now = this.now();
    if (cached && (!cached.verdict.ok || (now < cached.untilMs && now - this.fetchedAt <= KEYS_MAX_AGE_MS))) return cached.verdict;
    let keys: JwkSet;
    try {
      keys = await this.keysFor(tokenKeyId(token));
    } catch (err) {
      // Not cached: the keys may be reachable at the next try.
      return { ok: false, reason: `signing keys unavailable (${(err as Error).message})` };
    }
    const verdict = verifyValidationToken(token, keys, { tenantId: this.o.tenantId, clientId: this.o.clientId, nowSeconds: Math.floor(this.now() / 1000) });
    if (this.verdicts.size >= VERDICT_CACHE_SIZE) this.verdicts.clear();
    this.verdicts.set(token, { verdict, untilMs: verdict.ok ? (tokenValidUntilMs(token) ?? 0) : Number.POSITIVE_INFINITY });
    return verdict;
  }

  private async keysFor(kid: string | undefined): Promise<JwkSet> {
    const now = this.now();
    const known = this.keys && kid !== undefined && this.keys.keys.some((k) => k.kid === kid);
    const stale = !this.keys || now - this.fetchedAt > KEYS_MAX_AGE_MS;
    const mayRefresh = !this.keys || now - this.fetchedAt > MIN_REFRESH_MS;
    if (this.keys && !stale && (known || !mayRefresh)) return this.keys;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<JwkSet> {
    const get = this.o.fetch ?? fetch;
    const json = async (url: string): Promise<unknown> => {
      const r = await get(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return r.json();
    };
    const meta = (await json(this.metadataUrl)) as { jwks_uri?: unknown };
    if (typeof meta.jwks_uri !== 'string') throw new Error(`${this.metadataUrl}: no jwks_uri`);
    const set = (await json(meta.jwks_uri)) as { keys?: unknown };
    if (!Array.isArray(set.keys)) throw new Error(`${meta.jwks_uri}: no keys`);
    this.keys = { keys: set.keys as JwkSet['keys'] };
    this.fetchedAt = this.now();
    // Successes were vouched for by the old keys: tokens are verified again against the new ones.
    for (const [token, v] of this.verdicts) if (v.verdict.ok) this.verdicts.delete(token);
    this.o.log.info('identity platform signing keys loaded', { keys: this.keys.keys.length, from: meta.jwks_uri });
    return this.keys;
  }
}
