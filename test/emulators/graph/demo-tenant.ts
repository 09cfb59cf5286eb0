/**
 * The Graph emulator set up as the sandbox's demo tenant (src/sandbox/demo-tenant.ts): its users, its liaison
 * group and the gateway's app registration with the permissions docs/teams-identity.md asks for. The sandbox and
 * the end-to-end tests start the emulator from this, changing only what they test.
 */
import { DEMO } from '../../../src/sandbox/demo-tenant.js';
import type { DeliveryTimings, GraphEmulatorOptions, LifecycleTimings } from './types.js';

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

export function demoTenantEmulatorOptions(o: DemoTenantOptions): GraphEmulatorOptions {
  return {
    tls: { key: o.tls.key, cert: o.tls.cert },
    port: o.port ?? 0,
    tenantId: DEMO.tenantId,
    verifiedDomains: [DEMO.teamsDomain, 'fabrikam.example', DEMO.puppetDomain],
    apps: [
      {
        clientId: DEMO.clientId,
        clientSecret: DEMO.clientSecret,
        allowPublicClient: true,
        applicationPermissions: [...(o.applicationPermissions ?? DEMO.applicationPermissions)],
        delegatedPermissions: [...(o.delegatedPermissions ?? DEMO.delegatedPermissions)],
        ...(o.redirectUris ? { redirectUris: [...o.redirectUris] } : {}),
        ...(o.groupMembershipClaims ? { groupMembershipClaims: o.groupMembershipClaims } : {}),
      },
    ],
    users: DEMO.teamsUsers.map((u) => ({ ...u })),
    groups: [
      { ...DEMO.liaisonGroup, members: [...DEMO.liaisonGroup.members] },
      { ...DEMO.consoleAdminGroup, members: [...DEMO.consoleAdminGroup.members] },
      { ...DEMO.puppetGroup, members: [] },
    ],
    ...(o.notificationRetryDelaysMs ? { notificationRetryDelaysMs: o.notificationRetryDelaysMs } : {}),
    ...(o.delivery ? { delivery: o.delivery } : {}),
    ...(o.lifecycle ? { lifecycle: o.lifecycle } : {}),
    ...(o.tokenLifetimeSeconds ? { tokenLifetimeSeconds: o.tokenLifetimeSeconds } : {}),
  };
}
