/**
 * Per-node licences: JSON terms signed with Ed25519 by the vendor, checked offline against the build's public keys
 * (licence-keys.ts).
 * Everything here is pure except readTrustedKeys and loadLicence, which read files at the edge. The signature
 * covers the canonical JSON of the terms, so reformatting the file (indentation, key order) does not break it.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const LICENCE_FORMAT = 'xtg-licence/1';

export interface LicenceTerms {
  readonly id: string;
  readonly licensee: string;
  /** Seats: how many nodes may run at once. */
  readonly maxNodes: number;
  readonly issuedAt: string;
  /** Absent: valid from issue. Not defaulted to issuedAt so that a node whose clock lags the signer's still starts. */
  readonly notBefore?: string;
  readonly expiresAt: string;
  readonly limits?: {
    /** Entra tenant ids the gateway may serve; absent = any. */
    readonly tenants?: readonly string[];
    readonly maxRemoteDomains?: number;
  };
}

export interface LicenceFile {
  readonly format: typeof LICENCE_FORMAT;
  readonly terms: LicenceTerms;
  /** keyIdOf the signing key's public half: picks the trusted key to verify with. Not signed, so only a hint. */
  readonly keyId: string;
  /** Base64 Ed25519 signature over canonicalJson(terms). */
  readonly signature: string;
}

export type LicenceProblem = 'missing' | 'malformed' | 'untrusted-key' | 'bad-signature' | 'not-yet-valid' | 'expired' | 'tenant-not-licensed';

export type LicenceVerdict = { readonly ok: true; readonly terms: LicenceTerms } | { readonly ok: false; readonly problem: LicenceProblem; readonly detail: string };

/** A signing or trusted key that cannot be used: a configuration mistake, not a property of a licence. */
export class LicenceKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LicenceKeyError';
  }
}

/** JSON with object keys sorted recursively and no whitespace: the byte string that is signed. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
  return text;
}

/** First 16 hex digits of SHA-256 over the DER SubjectPublicKeyInfo: short enough to read in a log, long enough not to collide. */
export function keyIdOf(publicKey: string | KeyObject): string {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/**
 * The terms as a plain JSON object holding exactly what is signed (undefined fields dropped, keys in reading order),
 * for the vendor's signing tool (tools/licence-signing.ts). Nodes only verify: nothing here signs.
 */
export function plainTerms(terms: LicenceTerms): LicenceTerms {
  return JSON.parse(JSON.stringify(terms, [...TERMS_KEYS, ...LIMITS_KEYS])) as LicenceTerms;
}

/** The file's structure and terms, without any signature or date check: for display, and the first step of verifyLicence. */
export function parseLicenceFile(fileText: string): { ok: true; file: LicenceFile } | { ok: false; problem: 'malformed'; detail: string } {
  const bad = (detail: string) => ({ ok: false as const, problem: 'malformed' as const, detail });
  let data: unknown;
  try {
    data = JSON.parse(fileText);
  } catch (err) {
    return bad(`licence file is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(data)) return bad('licence file is not a JSON object');
  const unknown = Object.keys(data).filter((k) => !['format', 'terms', 'keyId', 'signature'].includes(k));
  if (unknown.length > 0) return bad(`licence file has unknown field ${unknown.map((k) => `'${k}'`).join(', ')}`);
  if (data.format !== LICENCE_FORMAT) return bad(`licence format is ${JSON.stringify(data.format) ?? 'missing'}, expected "${LICENCE_FORMAT}"`);
  if (typeof data.keyId !== 'string' || !/^[0-9a-f]{16}$/u.test(data.keyId)) return bad('keyId must be 16 lower-case hex digits');
  if (typeof data.signature !== 'string') return bad('signature is missing');
  // Strict base64 of exactly 64 bytes: Buffer.from(…, 'base64') silently skips junk, which would hide a damaged file.
  if (Buffer.from(data.signature, 'base64').length !== 64 || Buffer.from(data.signature, 'base64').toString('base64') !== data.signature) {
    return bad('signature must be the base64 of a 64-byte Ed25519 signature');
  }
  const terms = checkTerms(data.terms);
  if (!terms.ok) return bad(terms.detail);
  return { ok: true, file: { format: LICENCE_FORMAT, terms: terms.terms, keyId: data.keyId, signature: data.signature } };
}

/**
 * The verdict on a licence file's text. Checks run in a fixed order (shape, key, signature, dates, tenant) so that
 * the reported problem is the most fundamental one. tenantIds are the Entra tenants this node serves (issue 16: each
 * tenant of the configuration; the licence must cover every one); without them the tenant limit is not checked.
 * Throws LicenceKeyError if a trusted key is unusable (readTrustedKeys catches that earlier).
 */
export function verifyLicence(fileText: string, trustedPublicKeys: readonly string[], now: number, tenantIds?: string | readonly string[]): LicenceVerdict {
  const parsed = parseLicenceFile(fileText);
  if (!parsed.ok) return parsed;
  const { terms, keyId, signature } = parsed.file;
  const fail = (problem: LicenceProblem, detail: string): LicenceVerdict => ({ ok: false, problem, detail });

  if (trustedPublicKeys.length === 0) return fail('untrusted-key', `licence ${terms.id} cannot be verified: no licence public keys are trusted (cluster.licence.publicKeys is empty)`);
  const keys = trustedPublicKeys.map((pem, i) => publicKey(pem, `trusted key #${i + 1}`));
  const key = keys.find((k) => keyIdOf(k) === keyId);
  if (key === undefined) {
    return fail('untrusted-key', `licence ${terms.id} is signed with key ${keyId}, which is not trusted (trusted: ${keys.map((k) => keyIdOf(k)).join(', ')})`);
  }
  // Verify over the parsed terms: checkTerms rejects unknown fields, so they are exactly what the file holds.
  if (!verify(null, Buffer.from(canonicalJson(terms)), key, Buffer.from(signature, 'base64'))) {
    return fail('bad-signature', `licence ${terms.id} does not match its signature by key ${keyId}: the terms were changed after signing, or the file is damaged`);
  }
  if (terms.notBefore !== undefined && now < Date.parse(terms.notBefore)) {
    return fail('not-yet-valid', `licence ${terms.id} is not valid before ${iso(terms.notBefore)} (now ${new Date(now).toISOString()})`);
  }
  if (now >= Date.parse(terms.expiresAt)) return fail('expired', `licence ${terms.id} expired on ${iso(terms.expiresAt)}`);
  const uncovered = uncoveredTenants(terms, tenantIds === undefined ? [] : typeof tenantIds === 'string' ? [tenantIds] : tenantIds);
  if (uncovered.length > 0) {
    // An Entra tenant id is a GUID; a tenant without Microsoft 365 is named by its SfB SIP domain (has dots).
    const sip = uncovered.every((id) => id.includes('.'));
    const noun = sip ? 'SfB SIP domain' : 'Entra tenant';
    const which = uncovered.length === 1 ? `${noun} ${uncovered[0]}` : `${noun}s ${uncovered.join(', ')}`;
    return fail('tenant-not-licensed', `licence ${terms.id} does not cover ${which} (it covers ${(terms.limits?.tenants ?? []).join(', ')})`);
  }
  return { ok: true, terms };
}

/** The Entra tenants of `tenantIds` a licence's terms.limits.tenants leaves out (none when it names no tenant). */
export function uncoveredTenants(terms: LicenceTerms, tenantIds: readonly string[]): string[] {
  const covered = terms.limits?.tenants;
  if (covered === undefined) return [];
  return tenantIds.filter((id) => !covered.some((t) => t.toLowerCase() === id.toLowerCase()));
}

/**
 * Trusted public keys from configuration: each entry is PEM text or the path of a PEM file. Returns SPKI PEM texts.
 * Throws LicenceKeyError naming the entry, so a typo stops the node at start rather than rejecting every licence.
 */
export function readTrustedKeys(entries: readonly string[]): string[] {
  return entries.map((entry, i) => {
    const inline = entry.trimStart().startsWith('-----BEGIN');
    const label = inline ? `licence public key #${i + 1} (inline PEM)` : `licence public key file ${entry}`;
    let pem = entry;
    if (!inline) {
      try {
        pem = readFileSync(entry, 'utf8');
      } catch (err) {
        throw new LicenceKeyError(`cannot read ${label}: ${(err as Error).message}`);
      }
    }
    return publicKey(pem, label).export({ type: 'spki', format: 'pem' }).toString();
  });
}

/**
 * Reads and verifies the licence at path. 'missing' covers no path configured, no such file and an unreadable file:
 * in each case there is no licence to judge. Malformed details get the path, since they cannot name a licence id.
 */
export function loadLicence(path: string | undefined, trusted: readonly string[], now: number, tenantIds?: string | readonly string[]): LicenceVerdict {
  if (path === undefined) return { ok: false, problem: 'missing', detail: 'no licence file is configured (cluster.licence.file)' };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, problem: 'missing', detail: code === 'ENOENT' ? `licence file ${path} does not exist` : `cannot read licence file ${path}: ${(err as Error).message}` };
  }
  const verdict = verifyLicence(text, trusted, now, tenantIds);
  return !verdict.ok && verdict.problem === 'malformed' ? { ...verdict, detail: `${path}: ${verdict.detail}` } : verdict;
}

// --- validation -------------------------------------------------------------------------------------------

const TERMS_KEYS = ['id', 'licensee', 'maxNodes', 'issuedAt', 'notBefore', 'expiresAt', 'limits'];
const LIMITS_KEYS = ['tenants', 'maxRemoteDomains'];
/** A date, or a date-time with seconds optional and a zone required: without one Date.parse uses the local zone, and nodes disagree. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/u;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** True for the date forms licence terms accept (see ISO_DATE), and only for days that exist. */
export function isIsoDate(text: string): boolean {
  if (!ISO_DATE.test(text) || !Number.isFinite(Date.parse(text))) return false;
  // Date.parse rolls 2026-02-30 over to March; a licence date that does not exist is a typo.
  const [y, mo, d] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, mo - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d;
}

function iso(date: string): string {
  return new Date(Date.parse(date)).toISOString();
}

function publicKey(pem: string, label: string): KeyObject {
  // createPublicKey also accepts a private key (and derives its public half): refuse, so a private key is never spread as "trusted".
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/u.test(pem)) throw new LicenceKeyError(`${label} is a private key; give the public key (licence-signing.pub)`);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new LicenceKeyError(`${label} is not a PEM public key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new LicenceKeyError(`${label} is of type ${key.asymmetricKeyType ?? 'unknown'}; licence keys are Ed25519`);
  return key;
}

/**
 * Strict shape check of the terms. Unknown fields are refused rather than ignored: a newer signer may add a
 * restriction, and a node that skipped it would grant more than was sold.
 */
export function checkTerms(value: unknown): { ok: true; terms: LicenceTerms } | { ok: false; detail: string } {
  const bad = (detail: string) => ({ ok: false as const, detail });
  if (!isRecord(value)) return bad('terms are missing or not an object');
  const extra = Object.keys(value).filter((k) => !TERMS_KEYS.includes(k));
  if (extra.length > 0) return bad(`terms have unknown field ${extra.map((k) => `'${k}'`).join(', ')}`);
  const { id, licensee, maxNodes, issuedAt, notBefore, expiresAt, limits } = value;
  if (typeof id !== 'string' || id.trim() === '') return bad('terms.id must be a non-empty string');
  const which = `licence ${id}`;
  if (typeof licensee !== 'string' || licensee.trim() === '') return bad(`${which}: terms.licensee must be a non-empty string`);
  if (typeof maxNodes !== 'number' || !Number.isSafeInteger(maxNodes) || maxNodes < 1) return bad(`${which}: terms.maxNodes must be a positive whole number, got ${JSON.stringify(maxNodes) ?? 'nothing'}`);
  for (const [name, date, required] of [['issuedAt', issuedAt, true], ['notBefore', notBefore, false], ['expiresAt', expiresAt, true]] as const) {
    if (date === undefined && !required) continue;
    if (typeof date !== 'string' || !isIsoDate(date)) {
      return bad(`${which}: terms.${name} must be an ISO 8601 date or date-time with zone (e.g. 2026-10-01T00:00:00Z), got ${JSON.stringify(date) ?? 'nothing'}`);
    }
  }
  const expires = Date.parse(expiresAt as string);
  if (expires <= Date.parse(issuedAt as string)) return bad(`${which}: terms.expiresAt (${expiresAt as string}) is not after terms.issuedAt (${issuedAt as string})`);
  if (typeof notBefore === 'string' && expires <= Date.parse(notBefore)) return bad(`${which}: terms.expiresAt (${expiresAt as string}) is not after terms.notBefore (${notBefore})`);
  if (limits !== undefined) {
    if (!isRecord(limits)) return bad(`${which}: terms.limits must be an object`);
    const extraLimits = Object.keys(limits).filter((k) => !LIMITS_KEYS.includes(k));
    if (extraLimits.length > 0) return bad(`${which}: terms.limits has unknown field ${extraLimits.map((k) => `'${k}'`).join(', ')}`);
    const { tenants, maxRemoteDomains } = limits;
    if (tenants !== undefined) {
      if (!Array.isArray(tenants) || tenants.some((t) => typeof t !== 'string' || t.trim() === '')) return bad(`${which}: terms.limits.tenants must be a list of Entra tenant ids`);
      // An empty list would license no tenant at all: surely a mistake for "any", which is spelt by leaving it out.
      if (tenants.length === 0) return bad(`${which}: terms.limits.tenants is empty; leave it out to allow any tenant`);
    }
    if (maxRemoteDomains !== undefined && (typeof maxRemoteDomains !== 'number' || !Number.isSafeInteger(maxRemoteDomains) || maxRemoteDomains < 1)) {
      return bad(`${which}: terms.limits.maxRemoteDomains must be a positive whole number, got ${JSON.stringify(maxRemoteDomains)}`);
    }
  }
  return { ok: true, terms: value as unknown as LicenceTerms };
}
