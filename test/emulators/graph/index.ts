/**
 * Microsoft Graph + Entra ID emulator: one HTTPS origin that is both the authority host (identity platform token
 * endpoints, for @azure/identity with disableInstanceDiscovery) and the Graph base URL (v1.0), for one tenant or
 * several, behaving as Learn documents Graph for the calls the gateway makes, permission checks included. See
 * types.ts for the public API, front.ts for which tenant answers a request, tenant.ts for what each tenant holds,
 * and the modules beside them for each behaviour.
 */
import { Front } from './front.js';
import { jsonReply, type Call, type Reply } from './http.js';
import { JwtSigner } from './jwt.js';
import { DEFAULT_DELIVERY, Notifier } from './notifier.js';
import { listen } from './server.js';
import { documentedAcrossTenantLimits, ServiceLimits } from './service-limits.js';
import { Tenant } from './tenant.js';
import { tenantApi } from './tenant-api.js';
import { tenantsOf } from './tenants-config.js';
import type { EmulatedTenant, GraphEmulator, GraphEmulatorOptions, MultiTenantEmulatorOptions, RequestRecord } from './types.js';

export type * from './types.js';

export async function startGraphEmulator(o: GraphEmulatorOptions | MultiTenantEmulatorOptions): Promise<GraphEmulator> {
  const log = o.log ?? (() => undefined);
  const tenantOptions = tenantsOf(o);

  // The URL (ephemeral port) is known only once listening; requests are served once everything is built.
  let handler: (call: Call) => Promise<Reply> = () => Promise.resolve(jsonReply(503, { error: 'starting' }));
  const server = await listen({ tls: o.tls, host: o.host ?? '127.0.0.1', port: o.port ?? 0, clockOffsetMs: o.clockOffsetMs ?? 0 }, (call) => handler(call));
  const url = server.url;

  const tenants: Tenant[] = [];
  const byId = (id: string) => tenants.find((t) => t.id === id);
  const notifier = new Notifier({
    timings: {
      ...DEFAULT_DELIVERY,
      ...(o.notificationRetryDelaysMs ? { retryDelaysMs: o.notificationRetryDelaysMs } : {}),
      ...(o.notificationTimeoutMs ? { timeoutMs: o.notificationTimeoutMs } : {}),
      ...o.delivery,
    },
    log,
    subscriptionExists: (id) => tenants.some((t) => t.subscriptions.exists(id)),
    validationToken: (tenantId, appId) => {
      const t = byId(tenantId);
      if (!t) throw new Error(`no tenant ${tenantId}`);
      return t.validationTokens.for(appId);
    },
  });
  const shared = {
    url,
    signer: new JwtSigner(),
    notifier,
    acrossTenants: new ServiceLimits({ ...documentedAcrossTenantLimits(), ...o.serviceLimitsAcrossTenants }, Date.now, 'app'),
    validationTimeoutMs: o.validationTimeoutMs ?? 10_000,
    allowHttpLoopback: o.allowHttpNotificationUrlOnLoopback ?? true,
    log,
  };
  try {
    for (const t of tenantOptions) tenants.push(new Tenant(t, shared));
  } catch (err) {
    // A tenant the options do not allow (a photo that is no image, a group member that does not exist...).
    for (const t of tenants) t.close();
    notifier.close();
    await server.close();
    throw err;
  }
  const [first, ...rest] = tenants as [Tenant, ...Tenant[]];

  const requests: RequestRecord[] = [];
  const apis = new Map<Tenant, EmulatedTenant>(tenants.map((t) => [t, tenantApi(t, url, notifier, () => requests.filter((r) => r.tenantId === t.id))]));
  const front = new Front([first, ...rest], apis);

  const emulator: GraphEmulator = {
    ...(apis.get(first) as EmulatedTenant),
    url,
    tenants: tenants.map((t) => t.id),
    tenant: (idOrDomain) => {
      const t = front.find(idOrDomain);
      if (!t) throw new Error(`no tenant '${idOrDomain}' (tenants: ${tenants.map((x) => x.id).join(', ')})`);
      return apis.get(t) as EmulatedTenant;
    },
    requests: () => requests.map((r) => ({ ...r })),
    close: async () => {
      handler = () => Promise.resolve(jsonReply(503, { error: 'closed' }));
      for (const t of tenants) t.close();
      notifier.close();
      await server.close();
    },
  };

  handler = async (call) => {
    const at = Date.now();
    const routed = await front.route(call);
    if (routed.control) return routed.reply;
    const { reply, tenant, foreign } = routed;
    const path = `${call.url.pathname}${call.url.search}`;
    requests.push({
      method: call.method,
      path,
      status: reply.status,
      tokenKind: reply.tokenKind ?? 'none',
      at,
      ...(tenant ? { tenantId: tenant.id } : {}),
      ...(foreign ? { foreignTenantId: foreign.id } : {}),
    });
    log(`${call.method} ${call.url.pathname} -> ${reply.status}${tenant ? ` (tenant ${tenant.id})` : ''}${foreign ? ` naming an object of tenant ${foreign.id}` : ''}`);
    return reply;
  };
  log(`Graph emulator listening on ${url} (tenants ${tenants.map((t) => t.id).join(', ')})`);
  return emulator;
}
