/**
 * The Graph emulator set up as the sandbox's demo tenants (src/sandbox/demo-tenant.ts): each with its users, its
 * liaison group, its puppet group and the gateway's app registration with the permissions docs/teams-identity.md
 * asks for. The sandbox and the end-to-end tests start the emulator from this, changing only what they test:
 * demoTenantEmulatorOptions for the first tenant alone (Contoso, DEMO), demoTenantsEmulatorOptions for it and a
 * second organisation (Northwind, DEMO_NORTHWIND) in one emulator.
 */
import { DEMO, DEMO_NORTHWIND, type DemoTenant } from '../../../src/sandbox/demo-tenant.js';
import type { DeliveryTimings, EmulatedGroup, EmulatedTenantOptions, GraphEmulatorOptions, LifecycleTimings, MultiTenantEmulatorOptions } from './types.js';

export interface DemoTenantOptions {
  readonly tls: { key: string; cert: string };
  readonly port?: number;
  readonly applicationPermissions?: readonly string[];
  readonly delegatedPermissions?: readonly string[];
  readonly notificationRetryDelaysMs?: number[];
  /** Web redirect URIs of the gateway's app registration (the console's Entra ID sign-in). */
  readonly redirectUris?: readonly string[];
  readonly groupMembershipClaims?: 'None' | 'SecurityGroup';
  /** Shortened notification delivery and lifecycle timings, and token lifetime (tests that say why). */
  readonly delivery?: Partial<DeliveryTimings>;
  readonly lifecycle?: Partial<LifecycleTimings>;
  readonly tokenLifetimeSeconds?: number;
}

/** One demo tenant as the emulator holds it, with what only that tenant has (more domains and groups, its name). */
function tenantOptions(t: DemoTenant, o: DemoTenantOptions, extra: { displayName?: string; domains?: readonly string[]; groups?: readonly EmulatedGroup[] }): EmulatedTenantOptions {
  return {
    tenantId: t.tenantId,
    ...(extra.displayName ? { displayName: extra.displayName } : {}),
    verifiedDomains: [t.teamsDomain, ...(extra.domains ?? []), t.puppetDomain],
    apps: [
      {
        clientId: t.clientId,
        clientSecret: t.clientSecret,
        allowPublicClient: true,
        applicationPermissions: [...(o.applicationPermissions ?? t.applicationPermissions)],
        delegatedPermissions: [...(o.delegatedPermissions ?? t.delegatedPermissions)],
        ...(o.redirectUris ? { redirectUris: [...o.redirectUris] } : {}),
        ...(o.groupMembershipClaims ? { groupMembershipClaims: o.groupMembershipClaims } : {}),
      },
    ],
    users: t.teamsUsers.map((u) => ({ ...u, ...('businessPhones' in u ? { businessPhones: [...(u.businessPhones as readonly string[])] } : {}) })),
    groups: [{ ...t.liaisonGroup, members: [...t.liaisonGroup.members] }, ...(extra.groups ?? []), { ...t.puppetGroup, members: [] }],
    ...(o.lifecycle ? { lifecycle: o.lifecycle } : {}),
    ...(o.tokenLifetimeSeconds ? { tokenLifetimeSeconds: o.tokenLifetimeSeconds } : {}),
  };
}

const contoso = (o: DemoTenantOptions): EmulatedTenantOptions =>
  tenantOptions(DEMO, o, { domains: ['fabrikam.example'], groups: [{ ...DEMO.consoleAdminGroup, members: [...DEMO.consoleAdminGroup.members] }] });

function serverOptions(o: DemoTenantOptions): Omit<MultiTenantEmulatorOptions, 'tenants'> {
  return {
    tls: { key: o.tls.key, cert: o.tls.cert },
    port: o.port ?? 0,
    ...(o.notificationRetryDelaysMs ? { notificationRetryDelaysMs: o.notificationRetryDelaysMs } : {}),
    ...(o.delivery ? { delivery: o.delivery } : {}),
  };
}

/** The first demo tenant alone (the single-tenant sandbox and tests). */
export function demoTenantEmulatorOptions(o: DemoTenantOptions): GraphEmulatorOptions {
  return { ...serverOptions(o), ...contoso(o) };
}

/**
 * Both demo tenants in one emulator, Contoso first (the default of the emulator's own API). The app options
 * (permissions, redirect URIs, group claims) apply to each tenant's own app registration.
 */
export function demoTenantsEmulatorOptions(o: DemoTenantOptions): MultiTenantEmulatorOptions {
  return { ...serverOptions(o), tenants: [contoso(o), tenantOptions(DEMO_NORTHWIND, o, { displayName: DEMO_NORTHWIND.displayName })] };
}
