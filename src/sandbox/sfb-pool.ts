/**
 * Issue 17: the SfB emulator's Front End pool for a loopback federation (sandbox and tests), with certificates from
 * the loopback CA, and the gateway's matching `sfb` configuration.
 */
import { dirname } from 'node:path';
import { DEMO } from './demo-tenant.js';
import { DEMO_SFB } from './demo-sfb.js';
import { freePort } from './port-open.js';
import { issueCertificate, type TlsMaterial } from './tls.js';
import type { LoopbackConfig } from './gateway-config.js';
import { startSfbEmulator, type SfbEmulator } from '../../test/emulators/sfb/index.js';

/** The host names of an SfB deployment on loopback: its Front End, its pool and the gateway's trusted application. */
export interface SfbPoolNames {
  readonly frontEnd: string;
  readonly pool: string;
  readonly gateway: string;
}

export async function startSfbPool(
  tls: TlsMaterial,
  o: {
    readonly idleByeMs?: number;
    readonly sessionIdleSeconds?: number;
    readonly subscriptionSeconds?: number;
    readonly sipPort?: number;
    readonly controlPort?: number;
    /** Where the node serves photos to SfB clients; default: a free port, except for fixed node ports (a cluster). */
    readonly photosPort?: number;
    /** Another deployment's names (a second tenant's own pool); default DEMO_SFB's. */
    readonly names?: SfbPoolNames;
  },
  /** The SIP ports of the gateway's nodes (a cluster): the pool FQDN leads to all of them. */
  nodePorts?: readonly number[],
): Promise<{ emulator: SfbEmulator; gatewayConfig: NonNullable<LoopbackConfig['sfb']> }> {
  const dir = dirname(tls.caCertPath);
  const gatewayPort = nodePorts?.[0] ?? (await freePort());
  // Where the pool picks the gateway's port (the test federation), the node also serves XMPP users' photos to SfB
  // clients on a free port; callers that fix the nodes' ports (the sandbox, a cluster) have no photo port yet.
  const photosPort = o.photosPort ?? (nodePorts ? undefined : await freePort());
  const names = o.names ?? DEMO_SFB;
  const fe = await issueCertificate(tls, dir, [names.frontEnd, names.pool]);
  const gw = await issueCertificate(tls, dir, [names.gateway]);
  const emulator = await startSfbEmulator({
    fqdn: names.frontEnd,
    identity: { key: fe.key, cert: fe.cert, ca: tls.caCert },
    trustedApplications: [names.gateway],
    routes: [{ domain: DEMO.xmppDomain, host: names.gateway, port: gatewayPort, alternates: nodePorts?.slice(1) ?? [] }],
    hosts: new Map([[names.gateway, '127.0.0.1']]),
    // Hybrid: the Teams users of the shared SIP domain were moved online; the pool routes their requests on.
    homedOnline: DEMO.teamsUsers.map((u) => `sip:${u.userPrincipalName}`),
    ...(o.idleByeMs ? { idleByeMs: o.idleByeMs } : {}),
    ...(o.sipPort ? { sipPort: o.sipPort } : {}),
    ...(o.controlPort ? { controlPort: o.controlPort } : {}),
  });
  return {
    emulator,
    gatewayConfig: {
      port: gatewayPort,
      poolPort: emulator.sipPort,
      certFile: gw.file,
      keyFile: gw.file,
      caFile: tls.caCertPath,
      ...(photosPort ? { photosPort } : {}),
      ...(o.sessionIdleSeconds ? { sessionIdleSeconds: o.sessionIdleSeconds } : {}),
      ...(o.subscriptionSeconds ? { subscriptionSeconds: o.subscriptionSeconds } : {}),
    },
  };
}
