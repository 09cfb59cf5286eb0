/**
 * Microsoft Graph's documented service limits for what the gateway calls, and which limit a request counts
 * against (pure, table-tested). Source: https://learn.microsoft.com/en-us/graph/throttling-limits
 * - "Microsoft Teams service limits" (per app per tenant): GET 1:1/group chat message 20 rps, POST 1:1/group chat
 *   message 20 rps, other GET API calls for Microsoft Teams 30 rps, other API calls for Microsoft Teams 30 rps.
 * - "Cloud communication service limits": presence, 1,500 requests in a 30 second period per application per tenant.
 * - "Identity and access service limits": a token bucket of resource units per application+tenant pair (S: 3,500,
 *   M: 5,000, L: 8,000 per 10 seconds by tenant size: under 50 users, 50-500, above 500) with a base cost per
 *   request ($select -1, $expand +1, $top under 20 -1, never below 1), and a write quota of 3,000 requests per
 *   2 minutes 30 seconds.
 * Anything else (subscriptions) is subject only to the global limit (130,000 requests per 10 seconds per app).
 */

export type GraphLimitBucket = 'chatMessagePost' | 'chatMessageGet' | 'teamsGet' | 'teamsOther' | 'presence' | 'identity' | 'identityWrite' | 'other';

export const GRAPH_LIMIT_BUCKETS: readonly GraphLimitBucket[] = ['chatMessagePost', 'chatMessageGet', 'teamsGet', 'teamsOther', 'presence', 'identity', 'identityWrite', 'other'];

export type TenantSize = 'small' | 'medium' | 'large';

/** One documented limit: `amount` units per `windowMs`. */
export interface DocumentedLimit {
  readonly amount: number;
  readonly windowMs: number;
}

/** The documented limits per bucket for one application in one tenant ('other' is not limited below the global cap). */
export function documentedLimits(size: TenantSize): Readonly<Record<Exclude<GraphLimitBucket, 'other'>, DocumentedLimit>> {
  return {
    chatMessagePost: { amount: 20, windowMs: 1000 },
    chatMessageGet: { amount: 20, windowMs: 1000 },
    teamsGet: { amount: 30, windowMs: 1000 },
    teamsOther: { amount: 30, windowMs: 1000 },
    presence: { amount: 1500, windowMs: 30_000 },
    identity: { amount: size === 'small' ? 3500 : size === 'medium' ? 5000 : 8000, windowMs: 10_000 },
    identityWrite: { amount: 3000, windowMs: 150_000 },
  };
}

/** What one request costs: the buckets it draws from, and how many units from each. */
export interface RequestCost {
  readonly draws: readonly { readonly bucket: GraphLimitBucket; readonly units: number }[];
}

/** Base resource-unit costs of identity paths the gateway uses ("Any requests not listed have a base cost of 1"). */
function identityBaseCost(method: string, segments: readonly string[]): number {
  const [first, , third] = segments;
  if (method === 'GET' && first === 'users' && segments.length === 1) return 2;
  if (method === 'GET' && first === 'groups' && third === 'members' && segments.length === 3) return 3;
  if (method === 'GET' && first === 'groups' && third === 'transitivemembers') return 5;
  if (method === 'GET' && first === 'subscribedskus') return 3;
  if (method === 'GET' && first === 'oauth2permissiongrants') return 2;
  if (method === 'GET' && first === 'users' && third === 'licensedetails') return 2;
  return 1;
}

const IDENTITY_ROOTS = new Set(['users', 'groups', 'directoryobjects', 'organization', 'domains', 'serviceprincipals', 'applications', 'subscribedskus', 'oauth2permissiongrants', 'me']);

/**
 * The limits a Graph request counts against. `path` is the URL path (with or without /v1.0), `query` its query
 * string. Paths compare case-insensitively, as Graph matches them.
 */
export function costOf(method: string, path: string, query = ''): RequestCost {
  const m = method.toUpperCase();
  const segments = path
    .split('?')[0]!
    .split('/')
    .filter(Boolean)
    .map((s) => s.toLowerCase());
  if (segments[0] === 'v1.0' || segments[0] === 'beta') segments.shift();
  const [first] = segments;
  const one = (bucket: GraphLimitBucket, units = 1): RequestCost => ({ draws: [{ bucket, units }] });
  if (first === undefined) return one('other');
  // Presence: /users/{id}/presence..., /me/presence, /communications/presences..., getPresencesByUserId.
  if ((segments[2] === 'presence' && (first === 'users' || first === 'me')) || (first === 'me' && segments[1] === 'presence')) return one('presence');
  if (first === 'communications' && (segments[1] === 'presences' || segments[1] === 'getpresencesbyuserid')) return one('presence');
  // Chats: /chats/..., /users/{id}/chats/..., /me/chats/...
  const chatAt = first === 'chats' ? 0 : (first === 'users' || first === 'me') && segments.includes('chats') ? segments.indexOf('chats') : -1;
  if (chatAt >= 0 || first === 'teams') {
    const rest = segments.slice(chatAt + 1);
    const messages = rest[1] === 'messages';
    if (messages && m === 'POST' && (rest.length === 2 || rest[2] === 'replywithquote')) return one('chatMessagePost');
    if (messages && m === 'GET') return one('chatMessageGet');
    return one(m === 'GET' ? 'teamsGet' : 'teamsOther');
  }
  if (IDENTITY_ROOTS.has(first)) {
    const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
    let units = identityBaseCost(m, first === 'me' ? ['users', 'me', ...segments.slice(1)] : segments);
    if (params.has('$select')) units -= 1;
    if (params.has('$expand')) units += 1;
    const top = Number(params.get('$top'));
    if (params.has('$top') && Number.isFinite(top) && top < 20) units -= 1;
    const draws: { bucket: GraphLimitBucket; units: number }[] = [{ bucket: 'identity', units: Math.max(1, units) }];
    if (m !== 'GET' && m !== 'HEAD') draws.push({ bucket: 'identityWrite', units: 1 });
    return { draws };
  }
  return one('other');
}

/**
 * What a JSON batch costs: "Requests in a batch are evaluated individually against the applicable throttling
 * limits" (https://learn.microsoft.com/en-us/graph/json-batching), so the sum of its requests' costs. `body` is the
 * batch's JSON; one that cannot be read costs what a request of its own would ('other').
 */
export function costOfBatch(body: unknown): RequestCost {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body) as unknown;
    } catch {
      return { draws: [{ bucket: 'other', units: 1 }] };
    }
  }
  const requests = (parsed as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests)) return { draws: [{ bucket: 'other', units: 1 }] };
  const units = new Map<GraphLimitBucket, number>();
  for (const r of requests as { method?: unknown; url?: unknown }[]) {
    const url = typeof r?.url === 'string' ? r.url : '';
    const q = url.indexOf('?');
    const cost = costOf(typeof r?.method === 'string' ? r.method : 'GET', q < 0 ? url : url.slice(0, q), q < 0 ? '' : url.slice(q));
    for (const d of cost.draws) units.set(d.bucket, (units.get(d.bucket) ?? 0) + d.units);
  }
  return { draws: [...units].map(([bucket, n]) => ({ bucket, units: n })) };
}
