/** Issue 17: the SfB emulator's pool for a loopback federation, and the gateway's matching `sfb` configuration. */
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { DEMO_SFB } from '../../src/sandbox/demo-sfb.js';
import { issueCertificate, type TlsMaterial } from '../../src/sandbox/tls.js';
import type { LoopbackConfig } from '../../src/sandbox/gateway-config.js';
import { startSfbEmulator, type SfbEmulator } from '../emulators/sfb/index.js';
import { freePort } from './ports.js';
import { dirname } from 'node:path';

export async function startSfbPool(
  tls: TlsMaterial,
  o: { readonly idleByeMs?: number; readonly sessionIdleSeconds?: number; readonly subscriptionSeconds?: number },
  /** The SIP ports of the gateway's nodes (a cluster): the pool FQDN leads to all of them. */
  nodePorts?: readonly number[],
): Promise<{ emulator: SfbEmulator; gatewayConfig: NonNullable<LoopbackConfig['sfb']> }> {
  const dir = dirname(tls.caCertPath);
  const gatewayPort = nodePorts?.[0] ?? (await freePort());
  const fe = await issueCertificate(tls, dir, [DEMO_SFB.frontEnd, DEMO_SFB.pool]);
  const gw = await issueCertificate(tls, dir, [DEMO_SFB.gateway]);
  const emulator = await startSfbEmulator({
    fqdn: DEMO_SFB.frontEnd,
    identity: { key: fe.key, cert: fe.cert, ca: tls.caCert },
    trustedApplications: [DEMO_SFB.gateway],
    routes: [{ domain: DEMO.xmppDomain, host: DEMO_SFB.gateway, port: gatewayPort, alternates: nodePorts?.slice(1) ?? [] }],
    hosts: new Map([[DEMO_SFB.gateway, '127.0.0.1']]),
    ...(o.idleByeMs ? { idleByeMs: o.idleByeMs } : {}),
  });
  return {
    emulator,
    gatewayConfig: {
      port: gatewayPort,
      poolPort: emulator.sipPort,
      certFile: gw.file,
      keyFile: gw.file,
      caFile: tls.caCertPath,
      ...(o.sessionIdleSeconds ? { sessionIdleSeconds: o.sessionIdleSeconds } : {}),
      ...(o.subscriptionSeconds ? { subscriptionSeconds: o.subscriptionSeconds } : {}),
    },
  };
}
