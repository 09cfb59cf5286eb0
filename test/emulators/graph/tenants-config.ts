/**
 * The emulator's tenants as its options give them (one, or a list), checked as Entra keeps tenants apart, so that a
 * test cannot build a world Microsoft would not allow:
 * - tenant ids are distinct;
 * - a domain is verified in one tenant at a time (verifying it elsewhere takes it over, "external admin takeover":
 *   https://learn.microsoft.com/en-us/graph/api/domain-verify), and a seeded user's UPN may not be in a domain
 *   another tenant verified;
 * - object ids (users, groups) are unique across tenants (they are GUIDs Entra assigns);
 * - an app registered in several tenants is one multi-tenant app: its credentials and its "Allow public client
 *   flows" switch belong to the application object in its home tenant, the same wherever it is consented
 *   (https://learn.microsoft.com/en-us/entra/identity-platform/app-objects-and-service-principals); only the
 *   permissions granted differ per tenant.
 */
import type { EmulatedApp, EmulatedTenantOptions, GraphEmulatorOptions, MultiTenantEmulatorOptions } from './types.js';

function domainOf(upn: string): string {
  return upn.slice(upn.lastIndexOf('@') + 1).toLowerCase();
}

function sameCredentials(a: EmulatedApp, b: EmulatedApp): boolean {
  const certs = (x: EmulatedApp) => [...(x.certificates ?? [])].map((c) => c.trim()).sort().join('\n');
  return a.clientSecret === b.clientSecret && a.allowPublicClient === b.allowPublicClient && certs(a) === certs(b);
}

/** The tenants of the options, checked; throws an Error naming what Entra would not allow. */
export function tenantsOf(o: GraphEmulatorOptions | MultiTenantEmulatorOptions): [EmulatedTenantOptions, ...EmulatedTenantOptions[]] {
  const list = 'tenants' in o ? o.tenants : [o];
  const [first, ...rest] = list;
  if (!first) throw new Error('the emulator needs at least one tenant');
  const tenantIds = new Set<string>();
  const domains = new Map<string, string>();
  const objects = new Map<string, string>();
  const apps = new Map<string, { tenant: string; app: EmulatedApp }>();
  for (const t of list) {
    const tid = t.tenantId.toLowerCase();
    if (tenantIds.has(tid)) throw new Error(`duplicate tenant ${t.tenantId}`);
    tenantIds.add(tid);
    for (const d of t.verifiedDomains) {
      const owner = domains.get(d.toLowerCase());
      if (owner !== undefined) throw new Error(`domain ${d} is verified in tenant ${owner} and in tenant ${t.tenantId}: a domain is verified in one tenant only`);
      domains.set(d.toLowerCase(), t.tenantId);
    }
    const own = new Set<string>();
    for (const a of t.apps) {
      const key = a.clientId.toLowerCase();
      if (own.has(key)) throw new Error(`duplicate app ${a.clientId}`);
      own.add(key);
      const elsewhere = apps.get(key);
      if (elsewhere && !sameCredentials(elsewhere.app, a)) {
        throw new Error(`app ${a.clientId} has other credentials or public-client setting in tenant ${t.tenantId} than in tenant ${elsewhere.tenant}: they are the app registration's, the same in every tenant`);
      }
      if (!elsewhere) apps.set(key, { tenant: t.tenantId, app: a });
    }
    for (const id of [...t.users.flatMap((u) => (u.id ? [u.id] : [])), ...(t.groups ?? []).map((g) => g.id)]) {
      const owner = objects.get(id.toLowerCase());
      if (owner !== undefined && owner !== t.tenantId) throw new Error(`object id ${id} is in tenant ${owner} and in tenant ${t.tenantId}`);
      objects.set(id.toLowerCase(), t.tenantId);
    }
  }
  for (const t of list) {
    for (const u of t.users) {
      const owner = domains.get(domainOf(u.userPrincipalName));
      if (owner !== undefined && owner !== t.tenantId) throw new Error(`user ${u.userPrincipalName} of tenant ${t.tenantId} is in a domain tenant ${owner} verified`);
    }
  }
  return [first, ...rest];
}
