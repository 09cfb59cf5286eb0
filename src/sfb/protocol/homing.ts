/**
 * Homing by lookup (issue 17): what the Front End pool's answer to a one-time presence fetch (SUBSCRIBE with
 * `Expires: 0`, RFC 6665 §4.4.3 / RFC 3265 §3.3.6) says about where a user is homed. Pure; table-tested.
 *
 * - A 2xx answered by the pool itself (its Contact names the pool or one of its Front End servers, the names in
 *   sfb.trustedPeers): she is homed on the pool.
 * - A 2xx whose Contact names another host: the pool did not serve her but routed the fetch on. In a hybrid
 *   deployment (shared SIP address space), a user moved online still exists in the on-premises directory, homed on
 *   the hosting provider, and the pool forwards requests for her through the Edge to Microsoft 365 ("Users from both
 *   environments can communicate with each other", learn.microsoft.com Plan hybrid connectivity, Shared SIP Address
 *   Space): whoever answered, she is not on this pool.
 * - 404 or 604 (RFC 3261 §21.4.5, §21.6.4), or any failure whose ms-diagnostics is a documented "no such user" id
 *   ([MS-OCER] §7.2 1003, §7.5 4005 "Destination URI either not enabled for SIP or does not exist", 4006, 4007; as
 *   protocol/errors.ts reads them for messages): she is not an SfB user of this pool.
 * - Anything else (408, 5xx, 403, a 480 without such a diagnostic, a transport failure): nothing is known. The
 *   caller answers with a temporary error and does not remember it, so a pool hiccup never sends her to Teams.
 */
import { nameMatches } from '../sip/transport.js';
import { parseNameAddr, parseUri } from '../sip/address.js';
import { diagnosticEffect } from './diagnostics.js';

export type Homing =
  /** Homed on the pool: reached through SfB. */
  | { readonly home: 'sfb' }
  /** Not on this pool (no such SfB user, or homed elsewhere, e.g. online): the stanza goes to Teams. */
  | { readonly home: 'elsewhere'; readonly why: 'no-such-user' | 'routed-on' }
  /** The answer says nothing definite: a temporary failure, never remembered. */
  | { readonly home: 'unknown'; readonly why: string };

export interface FetchAnswer {
  readonly status: number;
  /** The Contact of a 2xx (undefined when the answer carried none). */
  readonly contact: string | undefined;
  readonly diagnostics: string | undefined;
}

/** Where the fetch's answer says the user is homed; `poolNames` are sfb.trustedPeers (exact or *.domain). */
export function homingOf(answer: FetchAnswer, poolNames: readonly string[]): Homing {
  const { status } = answer;
  if (status >= 200 && status < 300) {
    const host = contactHost(answer.contact);
    if (host === undefined) return { home: 'unknown', why: 'a 2xx without a readable Contact' };
    return poolNames.some((n) => nameMatches(n, host)) ? { home: 'sfb' } : { home: 'elsewhere', why: 'routed-on' };
  }
  if (status === 404 || status === 604) return { home: 'elsewhere', why: 'no-such-user' };
  if (status >= 300 && diagnosticEffect(answer.diagnostics) === 'no-such-user') return { home: 'elsewhere', why: 'no-such-user' };
  return { home: 'unknown', why: `the pool answered ${status}` };
}

function contactHost(contact: string | undefined): string | undefined {
  if (!contact) return undefined;
  try {
    return parseUri(parseNameAddr(contact).uri).host.toLowerCase();
  } catch {
    return undefined;
  }
}
