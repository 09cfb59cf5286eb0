/**
 * The OData query options the emulated endpoints honour: $select, $filter (eq / startswith on string properties),
 * $top, and server-driven paging with an absolute @odata.nextLink carrying $skiptoken
 * (https://learn.microsoft.com/en-us/graph/query-parameters, https://learn.microsoft.com/en-us/graph/paging).
 */
import { faults } from './errors.js';

export function parseSelect(query: URLSearchParams, allowed: ReadonlySet<string>, type: string): string[] | undefined {
  const raw = query.get('$select');
  if (raw === null || raw.trim() === '') return undefined;
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!allowed.has(n)) throw faults.directoryBadRequest(`Could not find a property named '${n}' on type '${type}'.`);
  }
  return names;
}

export function parseTop(query: URLSearchParams, def: number, max: number): number {
  const raw = query.get('$top');
  if (raw === null) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw faults.badRequest(`Invalid page size specified: '${raw}'. Must be between 1 and ${max} inclusive.`);
  }
  return n;
}

/** $skiptoken is opaque to clients; here it is the offset of the next page. */
export function skipOf(query: URLSearchParams): number {
  const raw = query.get('$skiptoken');
  if (raw === null) return 0;
  const n = Number(Buffer.from(raw, 'base64url').toString('utf8').replace(/^skip:/u, ''));
  if (!Number.isInteger(n) || n < 0) throw faults.badRequest('The specified page token value has expired or is invalid.', 'Request_BadRequest');
  return n;
}

export function nextLink(base: string, path: string, query: URLSearchParams, offset: number): string {
  const q = new URLSearchParams(query);
  q.set('$skiptoken', Buffer.from(`skip:${offset}`, 'utf8').toString('base64url'));
  // Graph writes $-options unencoded; keep that shape (URLSearchParams would write %24).
  const parts = [...q.entries()].map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  return `${base}${path}?${parts.join('&')}`;
}

export type FilterClause = { op: 'eq' | 'startswith'; property: string; value: string };

/**
 * Parses "prop eq 'value'" and "startswith(prop,'value')" clauses joined by "and". OData string literals
 * escape a quote by doubling it ('O''Brien').
 */
export function parseFilter(raw: string): FilterClause[] {
  const clauses: FilterClause[] = [];
  let rest = raw.trim();
  const literal = "'((?:[^']|'')*)'";
  const eq = new RegExp(`^([A-Za-z][A-Za-z0-9]*)\\s+eq\\s+${literal}`, 'u');
  const sw = new RegExp(`^startswith\\(\\s*([A-Za-z][A-Za-z0-9]*)\\s*,\\s*${literal}\\s*\\)`, 'iu');
  for (;;) {
    const m = eq.exec(rest) ?? sw.exec(rest);
    if (!m) throw faults.badRequest(`Invalid filter clause: ${raw}`, 'Request_UnsupportedQuery');
    clauses.push({ op: m[0].toLowerCase().startsWith('startswith') ? 'startswith' : 'eq', property: m[1] as string, value: (m[2] as string).replace(/''/gu, "'") });
    rest = rest.slice(m[0].length).trim();
    if (rest === '') return clauses;
    const and = /^and\s+/iu.exec(rest);
    if (!and) throw faults.badRequest(`Invalid filter clause: ${raw}`, 'Request_UnsupportedQuery');
    rest = rest.slice(and[0].length);
  }
}
