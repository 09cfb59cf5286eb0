/**
 * Graph's service limits, on by default (https://learn.microsoft.com/en-us/graph/throttling-limits), as token
 * buckets. "Any request can be evaluated against multiple limits, depending on the scope of the limit (per app
 * across all tenants, per tenant for all apps, per app per tenant, and so on) [...] The first limit to be reached
 * triggers throttling behavior." The emulator has the three scopes:
 * - per app per tenant (each tenant's own ServiceLimits, `documentedServiceLimits`):
 *   - "Microsoft Teams service limits": GET 1:1/group chat message 20 rps, POST 1:1/group chat message 20 rps,
 *     other GET API calls for Microsoft Teams 30 rps, other API calls for Microsoft Teams 30 rps;
 *   - "Cloud communication service limits": presence, 1,500 requests in a 30 second period per application per
 *     tenant (reads and writes alike: the page names the resource, not a method);
 *   - "Identity and access service limits": resource units per application+tenant pair (S: 3,500 per 10 seconds
 *     under 50 users, M: 5,000 for 50-500, L: 8,000 above), with the page's base costs ($select -1, $expand +1,
 *     $top under 20 -1, never below 1), and a write quota of 3,000 requests per 2 minutes 30 seconds;
 * - per app across all tenants (one ServiceLimits of the whole emulator, `documentedAcrossTenantLimits`): the
 *   Teams table's second column (chat message GET and POST 200 rps, other Teams GETs 1,500 rps, other Teams calls
 *   300 rps), the identity "application" row (150,000 resource units per 20 seconds, writes 70,000 per 5 minutes)
 *   and the global limit (130,000 requests per 10 seconds, any request);
 * - per tenant for all apps (each tenant's, `documentedTenantLimits`): the identity "tenant" row (writes 18,000 per
 *   5 minutes; the resource-unit quota is "Not Applicable").
 * Presence has no limit across tenants on the page. A request over a limit is answered 429 TooManyRequests with
 * Retry-After (seconds until the bucket holds enough again), as https://learn.microsoft.com/en-us/graph/throttling
 * describes, and takes nothing from any bucket. A bucket holds one window's worth, so a burst up to the limit passes
 * and a sustained rate above it does not. Tests that need more lift a limit (the `serviceLimits`,
 * `serviceLimitsForAllApps` and `serviceLimitsAcrossTenants` options) and say why.
 */
import { GraphFault } from './errors.js';

export type LimitName = 'chatMessagePost' | 'chatMessageGet' | 'teamsGet' | 'teamsOther' | 'presence' | 'identity' | 'identityWrite' | 'any';

/** Whose requests share a bucket: one app in one tenant, one app in every tenant, or every app in one tenant. */
export type LimitScope = 'appTenant' | 'app' | 'tenant';

export interface LimitRule {
  /** Units per window. */
  readonly amount: number;
  readonly windowMs: number;
}

/** The rules of one scope; a name left out (or null) has no limit in that scope. */
export type ServiceLimitRules = Readonly<Partial<Record<LimitName, LimitRule | null>>>;

/** The documented limits per app per tenant, for a tenant of `users` users. */
export function documentedServiceLimits(users: number): ServiceLimitRules {
  return {
    chatMessagePost: { amount: 20, windowMs: 1000 },
    chatMessageGet: { amount: 20, windowMs: 1000 },
    teamsGet: { amount: 30, windowMs: 1000 },
    teamsOther: { amount: 30, windowMs: 1000 },
    presence: { amount: 1500, windowMs: 30_000 },
    identity: { amount: users < 50 ? 3500 : users <= 500 ? 5000 : 8000, windowMs: 10_000 },
    identityWrite: { amount: 3000, windowMs: 150_000 },
  };
}

/** The documented limits per app across all tenants. */
export function documentedAcrossTenantLimits(): ServiceLimitRules {
  return {
    chatMessagePost: { amount: 200, windowMs: 1000 },
    chatMessageGet: { amount: 200, windowMs: 1000 },
    teamsGet: { amount: 1500, windowMs: 1000 },
    teamsOther: { amount: 300, windowMs: 1000 },
    identity: { amount: 150_000, windowMs: 20_000 },
    identityWrite: { amount: 70_000, windowMs: 300_000 },
    any: { amount: 130_000, windowMs: 10_000 },
  };
}

/** The documented limits per tenant for all apps. */
export function documentedTenantLimits(): ServiceLimitRules {
  return { identityWrite: { amount: 18_000, windowMs: 300_000 } };
}

const SCOPE_TEXT: Readonly<Record<LimitScope, string>> = {
  appTenant: 'per app per tenant',
  app: 'per app across all tenants',
  tenant: 'per tenant for all apps',
};

const IDENTITY_ROOTS = new Set(['users', 'groups', 'directoryobjects', 'organization', 'domains', 'serviceprincipals', 'applications', 'subscribedskus', 'oauth2permissiongrants', 'me']);

/** "The following table lists base request costs. Any requests not listed have a base cost of 1." */
function identityBaseCost(method: string, s: readonly string[]): number {
  if (method === 'GET' && s[0] === 'users' && s.length === 1) return 2;
  if (method === 'GET' && s[0] === 'groups' && s[2] === 'members' && s.length === 3) return 3;
  if (method === 'GET' && s[0] === 'groups' && s[2] === 'transitivemembers') return 5;
  if (method === 'GET' && s[0] === 'subscribedskus') return 3;
  if (method === 'GET' && s[0] === 'oauth2permissiongrants') return 2;
  if (method === 'GET' && (s[0] === 'me' || s[0] === 'users') && s.includes('licensedetails')) return 2;
  if (method === 'GET' && s[0] === 'serviceprincipals' && s.includes('approleassignments')) return 2;
  return 1;
}

/** The limits a request counts against, with its cost in each. */
export function limitsOf(method: string, pathname: string, query: URLSearchParams): { name: LimitName; units: number }[] {
  const m = method.toUpperCase();
  const s = pathname
    .split('/')
    .filter(Boolean)
    .map((x) => x.toLowerCase());
  if (s[0] === 'v1.0') s.shift();
  const first = s[0];
  if (first === undefined) return [];
  if (((first === 'users' || first === 'me') && s.includes('presence')) || (first === 'communications' && (s[1] === 'presences' || s[1] === 'getpresencesbyuserid'))) {
    return [{ name: 'presence', units: 1 }];
  }
  const chatAt = first === 'chats' ? 0 : (first === 'users' || first === 'me') && s.includes('chats') ? s.indexOf('chats') : -1;
  if (chatAt >= 0 || first === 'teams') {
    const rest = s.slice(chatAt + 1);
    if (rest[1] === 'messages' && m === 'POST' && (rest.length === 2 || rest[2] === 'replywithquote')) return [{ name: 'chatMessagePost', units: 1 }];
    if (rest[1] === 'messages' && m === 'GET') return [{ name: 'chatMessageGet', units: 1 }];
    return [{ name: m === 'GET' ? 'teamsGet' : 'teamsOther', units: 1 }];
  }
  if (IDENTITY_ROOTS.has(first)) {
    let units = identityBaseCost(m, s);
    if (query.has('$select')) units -= 1;
    if (query.has('$expand')) units += 1;
    const top = Number(query.get('$top'));
    if (query.has('$top') && Number.isFinite(top) && top < 20) units -= 1;
    const out: { name: LimitName; units: number }[] = [{ name: 'identity', units: Math.max(1, units) }];
    if (m !== 'GET') out.push({ name: 'identityWrite', units: 1 });
    return out;
  }
  return [];
}

interface Bucket {
  level: number;
  at: number;
}

interface Draw {
  readonly scope: ServiceLimits;
  readonly name: LimitName;
  readonly units: number;
  readonly rule: LimitRule;
  readonly bucket: Bucket;
}

/** A request refused by a service limit: `key` names it ("chatMessagePost", "app:chatMessagePost", "tenant:identityWrite"). */
export class LimitFault extends GraphFault {
  constructor(
    readonly key: string,
    message: string,
    retryAfterSeconds: number,
  ) {
    super(429, 'TooManyRequests', message, { 'Retry-After': String(retryAfterSeconds) });
  }
}

/** The buckets of one scope (see the header). */
export class ServiceLimits {
  private readonly buckets = new Map<string, Bucket>();
  /** Requests refused, by limit (for tests: a paced client draws none). */
  readonly refused = new Map<LimitName, number>();

  constructor(
    private readonly rules: ServiceLimitRules,
    private readonly now: () => number = Date.now,
    readonly scope: LimitScope = 'appTenant',
  ) {}

  /** Takes the request's units from each bucket, or throws Graph's 429 (taking nothing) when one lacks them. */
  check(appId: string, method: string, pathname: string, query: URLSearchParams): void {
    ServiceLimits.checkAll([this], appId, method, pathname, query);
  }

  /** The same over several scopes at once: every bucket of every scope must hold the units, or none is taken. */
  static checkAll(scopes: readonly ServiceLimits[], appId: string, method: string, pathname: string, query: URLSearchParams): void {
    const requested = [...limitsOf(method, pathname, query), { name: 'any' as const, units: 1 }];
    const draws = scopes.flatMap((scope) =>
      requested.flatMap((d): Draw[] => {
        const rule = scope.rules[d.name];
        return rule ? [{ scope, ...d, rule, bucket: scope.bucket(appId, d.name, rule) }] : [];
      }),
    );
    for (const d of draws) {
      if (d.bucket.level < d.units) {
        d.scope.refused.set(d.name, (d.scope.refused.get(d.name) ?? 0) + 1);
        const perMs = d.rule.amount / d.rule.windowMs;
        const seconds = Math.max(1, Math.ceil((d.units - d.bucket.level) / perMs / 1000));
        throw new LimitFault(
          d.scope.scope === 'appTenant' ? d.name : `${d.scope.scope}:${d.name}`,
          `Too many requests (${d.name} limit ${SCOPE_TEXT[d.scope.scope]}: ${d.rule.amount} per ${d.rule.windowMs / 1000} s). Please retry after ${seconds} seconds.`,
          seconds,
        );
      }
    }
    for (const d of draws) d.bucket.level -= d.units;
  }

  private bucket(appId: string, name: LimitName, rule: LimitRule): Bucket {
    const key = `${this.scope === 'tenant' ? '*' : appId.toLowerCase()}|${name}`;
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      b = { level: rule.amount, at: now };
      this.buckets.set(key, b);
    }
    b.level = Math.min(rule.amount, b.level + ((now - b.at) * rule.amount) / rule.windowMs);
    b.at = now;
    return b;
  }
}

/** The limits one tenant's requests count against (its own scopes and the emulator's), and what each refused. */
export class LimitChain {
  /** Requests of this tenant refused, by LimitFault key. */
  readonly refused = new Map<string, number>();

  constructor(private readonly scopes: readonly ServiceLimits[]) {}

  check(appId: string, method: string, pathname: string, query: URLSearchParams): void {
    try {
      ServiceLimits.checkAll(this.scopes, appId, method, pathname, query);
    } catch (err) {
      if (err instanceof LimitFault) this.refused.set(err.key, (this.refused.get(err.key) ?? 0) + 1);
      throw err;
    }
  }
}
