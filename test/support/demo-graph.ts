/**
 * The Graph emulator's demo tenant with the gateway's real Graph adapter on it (real Graph client, real
 * @azure/identity), for tests of what the gateway asks Graph without a whole federation.
 */
import { Writable } from 'node:stream';
import { Secret } from '../../src/config/secret.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { CredentialGraphClients } from '../../src/teams/graph-clients.js';
import { GraphTeamsAdapter } from '../../src/teams/graph-teams-adapter.js';
import { demoTenantEmulatorOptions } from '../emulators/graph/demo-tenant.js';
import { startGraphEmulator, type GraphEmulator } from '../emulators/graph/index.js';
import { testTlsDir } from './federation.js';

export interface DemoGraph {
  readonly emulator: GraphEmulator;
  readonly teams: GraphTeamsAdapter;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

export async function startDemoGraph(): Promise<DemoGraph> {
  const tls = await ensureTlsMaterial(testTlsDir());
  const emulator = await startGraphEmulator(demoTenantEmulatorOptions({ tls }));
  const metrics = new Metrics({ defaultMetrics: false });
  const log = createLogger({ level: 'error', nodeId: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
  const clients = new CredentialGraphClients(
    {
      tenantId: DEMO.tenantId,
      clientId: DEMO.clientId,
      clientSecret: new Secret(DEMO.clientSecret),
      clientCertificatePath: undefined,
      authorityHost: emulator.url,
      graphBaseUrl: emulator.url,
      disableInstanceDiscovery: true,
      puppetPasswordSecret: new Secret(DEMO.puppetPasswordSecret),
    },
    metrics,
  );
  const teams = new GraphTeamsAdapter({
    clients,
    clientId: DEMO.clientId,
    tenantId: DEMO.tenantId,
    graphBaseUrl: emulator.url,
    puppets: {
      upnDomain: DEMO.puppetDomain,
      passwordSecret: () => DEMO.puppetPasswordSecret,
      displayNameSuffix: ' (XMPP)',
      // The licensed group (group-based licensing): its new members get Teams a moment after joining.
      groupId: DEMO.puppetGroup.id,
      usageLocation: undefined,
      provisioningMs: 15 * 60_000,
    },
    log,
  });
  return {
    emulator,
    teams,
    metrics,
    close: async () => {
      await emulator.close();
    },
  };
}
