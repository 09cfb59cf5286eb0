/**
 * Graph failures as {@link TeamsError}s, classified transient (worth retrying) or permanent
 * (https://learn.microsoft.com/en-us/graph/errors), and the specific refusals the gateway recognises.
 */
import { GraphError } from '@microsoft/microsoft-graph-client';
import { TeamsError } from './teams-port.js';

/** Retry-After is seconds (or an HTTP date) per RFC 9110 §10.2.3. */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const v = headers?.get('retry-after');
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Classifies a Graph client failure (https://learn.microsoft.com/en-us/graph/errors). */
export function toTeamsError(err: unknown, what: string): TeamsError {
  if (err instanceof TeamsError) return err;
  if (err instanceof GraphError) {
    const status = err.statusCode;
    // statusCode -1 is the client's "no response" (network failure, TLS, DNS).
    if (status <= 0) return new TeamsError(`${what}: Graph not reachable (${err.message})`, 0, err.code ?? undefined, true);
    const transient = status === 429 || status >= 500;
    return new TeamsError(`${what}: ${err.code ?? 'error'} ${err.message}`.trim(), status, err.code ?? undefined, transient, retryAfterMs(err.headers));
  }
  const e = err as { name?: string; message?: string; errorResponse?: { errorDescription?: string } };
  // @azure/identity failures: a puppet or the app cannot sign in. Not transient: a retry repeats it.
  if (e.name === 'AuthenticationError' || e.name === 'CredentialUnavailableError' || e.name === 'AuthenticationRequiredError') {
    return new TeamsError(`${what}: sign-in failed (${e.errorResponse?.errorDescription ?? e.message ?? 'unknown'})`, 401, 'SignInFailed', false);
  }
  if (err instanceof Error) return new TeamsError(`${what}: ${err.message}`, 0, undefined, true);
  return new TeamsError(`${what}: ${String(err)}`, 0, undefined, true);
}

/**
 * Teams refuses a user whose licence is not (yet) active with 403 "Failed to get license information for the
 * user" (https://learn.microsoft.com/en-us/graph/api/resources/teams-api-overview, and as Graph answers a Teams
 * call for an account without a Teams licence); a licence assigned through a group takes a while to reach a new
 * member (https://learn.microsoft.com/en-us/entra/identity/users/licensing-groups-assign).
 */
export function isLicenceNotActive(e: TeamsError): boolean {
  return e.status === 403 && /failed to get license information/iu.test(e.message);
}

/** The code given to a TeamsError that says the XMPP user's account is not ready for Teams yet. */
export const PROVISIONING = 'AccountProvisioning';
