/**
 * SQL Server failures as an operator reads them: error numbers the store acts on (duplicate key, deadlock victim),
 * a one-line cause, and messages scrubbed of secrets.
 */
import type { MssqlOptions } from './options.js';

/** SQL Server error numbers: duplicate key in a unique index / constraint; chosen as deadlock victim. */
export const DUPLICATE_KEY = new Set([2601, 2627]);
export const DEADLOCK_VICTIM = new Set([1205]);

interface DriverError {
  readonly name?: string;
  readonly code?: string;
  readonly number?: number;
  readonly message?: string;
  readonly originalError?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
  readonly precedingErrors?: unknown;
}

function asDriverError(err: unknown): DriverError {
  return typeof err === 'object' && err !== null ? (err as DriverError) : { message: String(err) };
}

function sqlErrorNumber(err: unknown): number | undefined {
  const n = asDriverError(err).number;
  return typeof n === 'number' ? n : undefined;
}

/** The error numbers of a failed request: mssql throws the last and keeps the others in precedingErrors. */
export function hasSqlError(err: unknown, numbers: ReadonlySet<number>): boolean {
  const preceding = asDriverError(err).precedingErrors;
  return [err, ...(Array.isArray(preceding) ? preceding : [])].some((e) => numbers.has(sqlErrorNumber(e) ?? 0));
}

/** A one-line cause for an operator: what failed (login, network, timeout, SQL error n) and the driver's words. */
export function describeMssqlError(err: unknown, o: Pick<MssqlOptions, 'connectionTimeoutMs' | 'requestTimeoutMs'>): string {
  const e = asDriverError(err);
  const inner = asDriverError(e.originalError);
  let message = [e.message, inner.message].find((m) => typeof m === 'string' && m !== '') ?? String(err);
  // tedious puts the socket errors of each address tried (e.g. ECONNREFUSED) in an AggregateError cause.
  const causes = [e.cause, inner.cause].filter((c) => c !== undefined && c !== null).map(asDriverError);
  const details = causes.flatMap((c) => (Array.isArray(c.errors) ? c.errors.map((x) => asDriverError(x).message) : [c.message]));
  const extra = [...new Set(details.filter((d): d is string => typeof d === 'string' && d !== '' && !message.includes(d)))];
  if (extra.length > 0) message = `${message} (${extra.join('; ')})`;
  const code = e.code ?? inner.code;
  const number = sqlErrorNumber(err) ?? sqlErrorNumber(e.originalError);
  if (code === 'ELOGIN') return `login failed: ${message}`;
  if (code === 'ESOCKET') return `cannot connect: ${message}${/certificate/iu.test(message) ? ' (check the server certificate; trustServerCertificate=true skips the check, for test servers only)' : ''}`;
  if (code === 'ETIMEOUT' && e.name === 'ConnectionError') return `cannot connect within ${o.connectionTimeoutMs} ms: ${message}`;
  if (code === 'ETIMEOUT') return `request timed out after ${o.requestTimeoutMs} ms: ${message}`;
  if (code === 'EINSTLOOKUP') return `cannot find the instance: ${message}`;
  if (number !== undefined) return `SQL Server error ${number}: ${message}`;
  return message;
}

/** Removes secrets from a message that might quote configuration (defence in depth: drivers do not, today). */
export function scrub(message: string, o: MssqlOptions): string {
  const a = o.authentication;
  const secrets = a.type === 'sql' ? [a.password] : a.type === 'azure-active-directory-service-principal-secret' ? [a.clientSecret] : [];
  return secrets.filter((s) => s.length >= 3).reduce((m, s) => m.split(s).join('***'), message);
}
