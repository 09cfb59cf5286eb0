/**
 * The emulator's one origin, as Microsoft's hosts are one for every tenant (login.microsoftonline.com,
 * graph.microsoft.com): which tenant answers a request.
 * - Identity platform: the tenant named in the path (/{tenant}/oauth2/v2.0/token, /{tenant}/v2.0/.well-known/...);
 *   another name is AADSTS90002 (oidc.ts); /common/discovery/instance serves any tenant.
 * - Graph (/v1.0): the tenant of the bearer token (its tid claim); that tenant's rules then verify the token
 *   (tokens.ts: signature, lifetime, audience, issuer) and serve the request from its own directory and stores, so an
 *   object of another tenant is simply not found there. A request naming such an object is recorded with
 *   `foreignTenantId` (types.ts RequestRecord), for tests that prove no request crossed.
 * - The emulator's control API (/_emulator/...): the tenant named by ?tenant= (id or verified domain), by default
 *   the first; GET /_emulator/tenants lists them.
 */
import { randomUUID } from 'node:crypto';
import { handleControl } from './control.js';
import { faults, graphErrorBody } from './errors.js';
import { header, jsonReply, type Call, type Reply } from './http.js';
import { unverifiedClaims } from './jwt.js';
import type { Tenant } from './tenant.js';
import type { EmulatedTenant } from './types.js';

const GUIDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/giu;
const CHAT_IDS = /19:[A-Za-z0-9_.@:-]+?@(?:unq\.gbl\.spaces|thread\.v2)/gu;
/** Bodies larger than this are not searched for another tenant's ids (the emulator's own bound). */
const MAX_SCANNED_BODY = 64 * 1024;

export interface Routed {
  readonly reply: Reply;
  /** The tenant that answered, when one did. */
  readonly tenant: Tenant | undefined;
  /** Another tenant whose object the request named. */
  readonly foreign: Tenant | undefined;
  /** Control API requests are not recorded. */
  readonly control: boolean;
}

export class Front {
  constructor(
    private readonly tenants: readonly [Tenant, ...Tenant[]],
    private readonly apis: ReadonlyMap<Tenant, EmulatedTenant>,
  ) {}

  /** A tenant by id or by one of its verified domains. */
  find(idOrDomain: string): Tenant | undefined {
    const key = idOrDomain.toLowerCase();
    return this.tenants.find((t) => t.id.toLowerCase() === key) ?? this.tenants.find((t) => t.hasDomain(key));
  }

  async route(call: Call): Promise<Routed> {
    const path = call.url.pathname;
    if (path === '/_emulator' || path.startsWith('/_emulator/')) return { reply: await this.control(call), tenant: undefined, foreign: undefined, control: true };
    if (path === '/v1.0' || path.startsWith('/v1.0/')) {
      const token = /^Bearer\s+(\S+)\s*$/iu.exec(header(call.headers, 'authorization') ?? '')?.[1];
      const tid = token === undefined ? undefined : unverifiedClaims(token)?.tid;
      const tenant = typeof tid === 'string' ? this.tenants.find((t) => t.id.toLowerCase() === tid.toLowerCase()) : undefined;
      // Without a tenant the first one answers: it refuses the token (missing, malformed, or another tenant's).
      const reply = await (tenant ?? this.tenants[0]).graph.handle(call);
      return { reply, tenant, foreign: tenant ? this.foreignTo(tenant, call) : undefined, control: false };
    }
    const first = decodeSegment(path.split('/')[1] ?? '');
    const tenant = this.tenants.find((t) => t.id.toLowerCase() === first.toLowerCase());
    // An unknown tenant goes to the first, which answers AADSTS90002 (or serves /common/discovery/instance).
    const reply = (tenant ?? this.tenants[0]).identity.handle(call) ?? notGraph(call);
    return { reply, tenant, foreign: undefined, control: false };
  }

  private async control(call: Call): Promise<Reply> {
    if (call.url.pathname.replace(/\/+$/u, '') === '/_emulator/tenants') {
      if (call.method !== 'GET') return jsonReply(405, { error: { code: 'BadRequest', message: 'GET only' } });
      return jsonReply(200, { value: this.tenants.map((t) => ({ tenantId: t.id, displayName: t.displayName, verifiedDomains: t.verifiedDomains })) });
    }
    const named = call.url.searchParams.get('tenant');
    const tenant = named === null || named === '' ? this.tenants[0] : this.find(named);
    if (!tenant) return jsonReply(404, { error: { code: 'NotFound', message: `no tenant '${named ?? ''}': GET /_emulator/tenants lists them` } });
    return handleControl(call, this.apis.get(tenant) as EmulatedTenant);
  }

  /**
   * Another tenant one of whose objects the request names (path segments, and ids in a JSON body such as a
   * subscription's resource or a chat's members), none of them this tenant's.
   */
  private foreignTo(tenant: Tenant, call: Call): Tenant | undefined {
    if (this.tenants.length === 1) return undefined;
    const keys = new Set(call.url.pathname.split('/').slice(2).filter(Boolean).map(decodeSegment));
    if (call.body.length > 0 && call.body.length <= MAX_SCANNED_BODY) {
      const text = call.body.toString('utf8');
      for (const m of text.matchAll(GUIDS)) keys.add(m[0]);
      for (const m of text.matchAll(CHAT_IDS)) keys.add(m[0]);
    }
    for (const k of call.url.searchParams.values()) for (const m of k.matchAll(GUIDS)) keys.add(m[0]);
    for (const key of keys) {
      if (tenant.owns(key)) continue;
      const other = this.tenants.find((t) => t !== tenant && t.owns(key));
      if (other) return other;
    }
    return undefined;
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Outside /v1.0 and the identity endpoints: /beta is not emulated; anything else is an unknown segment. */
function notGraph(call: Call): Reply {
  const first = call.url.pathname.split('/')[1] ?? '';
  const f = first.toLowerCase() === 'beta' ? faults.badRequest('The Graph emulator serves only the v1.0 endpoint.') : faults.segmentNotFound(decodeSegment(first));
  const id = randomUUID();
  return jsonReply(f.status, graphErrorBody(f.code, f.message, id, id), { 'request-id': id, 'client-request-id': id });
}
