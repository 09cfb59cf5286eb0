/** Identifiers: Entra object ids are GUIDs; some must be stable for a given input (service principal ids). */
import { createHash } from 'node:crypto';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

export function isGuid(s: string): boolean {
  return GUID.test(s);
}

/** A GUID derived from `seed` (RFC 9562 name-based layout: version 5 bits, variant 10). */
export function guidFrom(seed: string): string {
  const h = createHash('sha256').update(seed, 'utf8').digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
