/**
 * SfB's diagnostic headers on failure responses, as [MS-OCER] defines them: `ms-diagnostics` (§2.2.1.1, internal:
 * it may name servers, so it is logged, never shown to the XMPP user) and `ms-diagnostics-public` (§2.2.1.2, meant
 * for users across the enterprise boundary, so its reason may be shown). Both read
 * `ErrorId[.SubCode];reason="...";source="..."[;name="value"]*`. A few documented ErrorIds say more than the SIP
 * status does, and the gateway acts on them (DIAGNOSTIC_EFFECTS). Pure functions.
 */

export interface Diagnostics {
  readonly code: number;
  readonly subCode: number | undefined;
  readonly reason: string | undefined;
  readonly source: string | undefined;
}

/** Longest header value read (a header is bounded by the SIP codec; this bounds what is parsed and logged). */
const MAX_DIAGNOSTICS_CHARS = 1024;

/** The header's error id and parameters; undefined when it does not start with an ErrorId. */
export function parseDiagnostics(value: string | undefined): Diagnostics | undefined {
  if (!value) return undefined;
  const v = value.slice(0, MAX_DIAGNOSTICS_CHARS);
  const m = /^\s*(\d{1,9})(?:\.(\d{1,9}))?\s*(?:;|$)/u.exec(v);
  if (!m?.[1]) return undefined;
  const params = new Map<string, string>();
  for (const p of v.slice(m[0].length).matchAll(/\s*([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?/gu)) {
    const name = p[1]?.toLowerCase();
    const raw = p[2] ?? '';
    if (name && !params.has(name)) params.set(name, raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/gu, '$1') : raw.trim());
  }
  return { code: Number(m[1]), subCode: m[2] ? Number(m[2]) : undefined, reason: params.get('reason'), source: params.get('source') };
}

/** What a documented ErrorId means for the gateway, beyond the SIP status. */
export type DiagnosticEffect =
  /** The sender may not talk to this user across the enterprise boundary: a policy refusal, final. */
  | 'policy'
  /** No such SfB user (or not enabled for SIP): final. */
  | 'no-such-user'
  /** The dialog's route set no longer holds (e.g. after a Front End failover): start a new session. */
  | 'session-lost'
  /** A routing failure the pool says is temporary: try again later. */
  | 'retry';

/**
 * [MS-OCER] §7.2 (SipStack, 1000-1999) and §7.5 (front-end server, 4000-4999), current release. Only ids whose
 * documented reason decides what the gateway does are here; every other id is logged and the SIP status decides.
 */
export const DIAGNOSTIC_EFFECTS: ReadonlyMap<number, { readonly effect: DiagnosticEffect; readonly documented: string }> = new Map([
  [1001, { effect: 'policy', documented: 'From URI not authorized to communicate with public IM providers.' }],
  [1002, { effect: 'policy', documented: 'From URI not authorized to communicate with federated partners.' }],
  [1012, { effect: 'policy', documented: 'From URI is not authorized to communicate with users outside the enterprise.' }],
  [1003, { effect: 'no-such-user', documented: 'User does not exist.' }],
  [4005, { effect: 'no-such-user', documented: 'Destination URI either not enabled for SIP or does not exist.' }],
  [4006, { effect: 'no-such-user', documented: 'User not found in pool.' }],
  [4007, { effect: 'no-such-user', documented: 'Resource is unknown in this deployment.' }],
  [1004, { effect: 'session-lost', documented: 'Route set is no longer valid.' }],
  [1007, { effect: 'retry', documented: 'Temporarily cannot route.' }],
]);

export function diagnosticEffect(diagnostics: string | undefined): DiagnosticEffect | undefined {
  const d = parseDiagnostics(diagnostics);
  return d ? DIAGNOSTIC_EFFECTS.get(d.code)?.effect : undefined;
}

/** The ms-diagnostics fields for a log line (code and reason; the raw header is not logged twice). */
export function diagnosticsLogFields(diagnostics: string | undefined): { diagnosticsCode?: number; diagnosticsReason?: string } {
  const d = parseDiagnostics(diagnostics);
  return d ? { diagnosticsCode: d.code, ...(d.reason ? { diagnosticsReason: d.reason } : {}) } : {};
}
