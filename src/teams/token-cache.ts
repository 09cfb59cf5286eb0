/**
 * Access tokens reused across requests: @azure/identity asks MSAL for every request, and MSAL's cache lookup
 * (accounts, scopes, claims, telemetry) cost about 140 µs of CPU per Graph call here, more than the call's own
 * HTTP work (bench/relay.bench.ts --cpu-prof). A token is reused until shortly before it expires; concurrent
 * requests that find none wait for the same acquisition.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import type { AuthenticationProvider } from '@microsoft/microsoft-graph-client';

/** Refresh this long before expiry (Entra ID tokens live 60-90 minutes), or at half the lifetime of a shorter one. */
const REFRESH_BEFORE_MS = 5 * 60_000;

interface Held {
  readonly token: AccessToken;
  readonly refreshAt: number;
}

export class CachedTokenCredential implements TokenCredential {
  private readonly held = new Map<string, Held>();
  private readonly pending = new Map<string, Promise<AccessToken | null>>();

  constructor(
    private readonly inner: TokenCredential,
    private readonly now: () => number = Date.now,
  ) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    // Claims challenges (CAE) and tenant overrides go to MSAL as they are.
    if (options?.claims || options?.tenantId) return this.inner.getToken(scopes, options);
    const key = Array.isArray(scopes) ? scopes.join(' ') : scopes;
    const hit = this.held.get(key);
    if (hit && this.now() < hit.refreshAt) return hit.token;
    let acquiring = this.pending.get(key);
    if (!acquiring) {
      const started = this.now();
      acquiring = this.inner
        .getToken(scopes, options)
        .then((token) => {
          if (token) {
            const margin = Math.min(REFRESH_BEFORE_MS, (token.expiresOnTimestamp - started) / 2);
            this.held.set(key, { token, refreshAt: token.expiresOnTimestamp - margin });
          }
          return token;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, acquiring);
    }
    return acquiring;
  }
}

/**
 * The Graph client's authentication provider on a credential whose tokens are reused (the client's own
 * TokenCredentialAuthenticationProvider also builds an Error, stack trace included, on every call, in case it
 * needs one).
 */
export function tokenProvider(credential: TokenCredential, scopes: readonly string[]): AuthenticationProvider {
  const cached = new CachedTokenCredential(credential);
  return {
    async getAccessToken(): Promise<string> {
      const token = await cached.getToken([...scopes]);
      if (!token) throw new Error(`no access token for ${scopes.join(' ')}`);
      return token.token;
    },
  };
}
