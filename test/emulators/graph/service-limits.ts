/**
 * Graph's service limits, on by default (https://learn.microsoft.com/en-us/graph/throttling-limits), as token
 * buckets per application (the emulator holds one tenant, so "per app per tenant"):
 * - "Microsoft Teams service limits": GET 1:1/group chat message 20 rps, POST 1:1/group chat message 20 rps,
 *   other GET API calls for Microsoft Teams 30 rps, other API calls for Microsoft Teams 30 rps;
 * - "Cloud communication service limits": presence, 1,500 requests in a 30 second period per application per
 *   tenant (reads and writes alike: the page names the resource, not a method);
 * - "Identity and access service limits": resource units per application+tenant pair (S: 3,500 per 10 seconds
 *   under 50 users, M: 5,000 for 50-500, L: 8,000 above), with the page's base costs ($select -1, $expand +1, $top
 *   under 20 -1, never below 1), and a write quota of 3,000 requests per 2 minutes 30 seconds.
 * A request over a limit is answered 429 TooManyRequests with Retry-After (seconds until the bucket holds enough
 * again), as https://learn.microsoft.com/en-us/graph/throttling describes. A bucket holds one window's worth, so a
 * burst up to the limit passes and a sustained rate above it does not. Tests that need more lift a limit with the
 * `serviceLimits` option and say why.
 */
import { GraphFault } from './errors.js';

export type LimitName = 'chatMessagePost' | 'chatMessageGet' | 'teamsGet' | 'teamsOther' | 'presence' | 'identity' | 'identityWrite';

export interface LimitRule {
  /** Units per window. */
  readonly amount: number;
  readonly windowMs: number;
}

export type ServiceLimitRules = Readonly<Record<LimitName, LimitRule | null>>;

/** The documented limits for a tenant of `users` users. */
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

export class ServiceLimits {
  private readonly buckets = new Map<string, Bucket>();
  /** Requests refused, by limit (for tests: a paced client draws none). */
  readonly refused = new Map<LimitName, number>();

  constructor(
    private readonly rules: ServiceLimitRules,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes the request's units from each bucket, or throws Graph's 429 (taking nothing) when one lacks them. */
  check(appId: string, method: string, pathname: string, query: URLSearchParams): void {
    const draws = limitsOf(method, pathname, query).flatMap((d) => {
      const rule = this.rules[d.name];
      return rule ? [{ ...d, rule, bucket: this.bucket(appId, d.name, rule) }] : [];
    });
    for (const d of draws) {
      if (d.bucket.level < d.units) {
        this.refused.set(d.name, (this.refused.get(d.name) ?? 0) + 1);
        const perMs = d.rule.amount / d.rule.windowMs;
        const seconds = Math.max(1, Math.ceil((d.units - d.bucket.level) / perMs / 1000));
        throw new GraphFault(429, 'TooManyRequests', `Too many requests (${d.name} limit: ${d.rule.amount} per ${d.rule.windowMs / 1000} s). Please retry after ${seconds} seconds.`, {
          'Retry-After': String(seconds),
        });
      }
    }
    for (const d of draws) d.bucket.level -= d.units;
  }

  private bucket(appId: string, name: LimitName, rule: LimitRule): Bucket {
    const key = `${appId.toLowerCase()}|${name}`;
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
