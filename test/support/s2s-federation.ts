/**
 * A federation over S2S for end-to-end tests: the gateway's front server (its component attached) and a partner
 * organisation's server, each a real Prosody or ejabberd, federated with STARTTLS and certificates
 * (src/sandbox/s2s-pair.ts); the Graph emulator; one gateway node started by its CLI. The XMPP users live on the
 * partner server, so everything they send crosses S2S both ways.
 *
 * The partner server also hosts the domains the whitelist tests need, each with one user `mallory`:
 * - `stranger.example`: a valid certificate, in no whitelist;
 * - `lapsed.example`: let through by the front server's S2S whitelist but not by the gateway's (the front's
 *   configuration went stale after a `whitelist remove`);
 * - `legacy.example`: whitelisted, an untrusted certificate, dialback allowed for it at the front;
 * - `untrusted.example`: whitelisted, an untrusted certificate, no dialback.
 * `rogue.example` is whitelisted but has no server: the attacker tool (./s2s-attacker.ts) holds its certificate.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGraphEmulator, type GraphEmulator } from '../emulators/graph/index.js';
import { demoTenantEmulatorOptions } from '../emulators/graph/demo-tenant.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { writeLoopbackConfig } from '../../src/sandbox/gateway-config.js';
import { writeTestLicence } from './test-licence.js';
import { S2sPair, type PairHost } from '../../src/sandbox/s2s-pair.js';
import { ensureTlsMaterial, type TlsMaterial } from '../../src/sandbox/tls.js';
import type { ServerKind } from '../../src/sandbox/xmpp-server.js';
import { testTlsDir } from './federation.js';
import { GatewayProcess } from './gateway-process.js';
import { freePorts } from './ports.js';
import type { ScenarioFederation } from './scenarios/common.js';
import { TestXmppClient } from './xmpp-client.js';

export const PARTNER = DEMO.partnerDomain;
export const MALLORY = { user: 'mallory', password: 'mallory-pass' } as const;
export const WHITELIST_DOMAINS = {
  stranger: 'stranger.example',
  lapsed: 'lapsed.example',
  legacy: 'legacy.example',
  untrusted: 'untrusted.example',
  rogue: 'rogue.example',
} as const;

/** policy.domains of the gateway. */
export const GATEWAY_DOMAINS = [DEMO.xmppDomain, PARTNER, WHITELIST_DOMAINS.legacy, WHITELIST_DOMAINS.untrusted, WHITELIST_DOMAINS.rogue];

export interface S2sFederationOptions {
  readonly front: ServerKind;
  readonly partner: ServerKind;
  readonly longMessages?: 'refuse' | 'split';
  /** Also the whitelist test domains on the partner server (see the file comment). */
  readonly whitelistHosts?: boolean;
}

export class S2sFederation implements ScenarioFederation {
  private clients: TestXmppClient[] = [];
  gateway!: GatewayProcess;

  private constructor(
    readonly dir: string,
    readonly tls: TlsMaterial,
    readonly emulator: GraphEmulator,
    readonly pair: S2sPair,
    readonly configPath: string,
    readonly ports: { frontC2s: number; partnerC2s: number; component: number; admin: number },
  ) {}

  static async start(o: S2sFederationOptions): Promise<S2sFederation> {
    const tls = await ensureTlsMaterial(testTlsDir());
    const dir = await mkdtemp(join(tmpdir(), 'xtg-s2s-'));
    const [frontC2s, partnerC2s, component, webhook, admin] = (await freePorts(5)) as [number, number, number, number, number];
    const emulator = await startGraphEmulator(demoTenantEmulatorOptions({ tls, notificationRetryDelaysMs: [300, 600, 1200, 2400] }));
    const partnerHosts: PairHost[] = [{ domain: PARTNER, users: DEMO.partnerUsers }];
    if (o.whitelistHosts) {
      partnerHosts.push(
        { domain: WHITELIST_DOMAINS.stranger, users: [MALLORY] },
        { domain: WHITELIST_DOMAINS.lapsed, users: [MALLORY] },
        { domain: WHITELIST_DOMAINS.legacy, users: [MALLORY], certificate: 'untrusted' },
        { domain: WHITELIST_DOMAINS.untrusted, users: [MALLORY], certificate: 'untrusted' },
      );
    }
    let pair: S2sPair | undefined;
    try {
      pair = await S2sPair.start({
        dir,
        tls,
        front: {
          kind: o.front,
          c2sPort: frontC2s,
          componentPort: component,
          hosts: [{ domain: DEMO.xmppDomain, users: DEMO.xmppUsers }],
          component: { domain: DEMO.componentDomain, secret: DEMO.componentSecret },
          // The front's S2S whitelist is generated from the gateway's policy.domains, plus lapsed.example (stale).
          policy: { domains: [...GATEWAY_DOMAINS, WHITELIST_DOMAINS.lapsed], dialbackDomains: [WHITELIST_DOMAINS.legacy] },
        },
        partner: { kind: o.partner, c2sPort: partnerC2s, hosts: partnerHosts },
      });
      const configPath = join(dir, 'gateway.yaml');
      await writeLoopbackConfig(configPath, {
        componentPort: component,
        emulatorUrl: emulator.url,
        webhookPort: webhook,
        adminPort: admin,
        sqlitePath: join(dir, 'gateway.sqlite'),
        logLevel: 'debug',
        policy: { domains: GATEWAY_DOMAINS, users: ['*'], reloadSeconds: 1 },
        ...(o.longMessages ? { longMessages: o.longMessages } : {}),
        // A licensed node: evaluation mode would cap the remote domains at two.
        licenceFile: (await writeTestLicence(dir, { maxNodes: 1 })).file,
      });
      const f = new S2sFederation(dir, tls, emulator, pair, configPath, { frontC2s, partnerC2s, component, admin });
      f.gateway = await GatewayProcess.start(configPath, admin);
      return f;
    } catch (err) {
      await pair?.stop();
      await emulator.close();
      throw err;
    }
  }

  async restartGateway(how: 'stop' | 'kill' = 'stop'): Promise<void> {
    if (how === 'kill') await this.gateway.kill();
    else await this.gateway.stop();
    this.gateway = await GatewayProcess.start(this.configPath, this.ports.admin);
  }

  /** Logs in a user of the partner server (any of its domains), or of the front server's own domain. */
  async client(user: string, domain: string = PARTNER, resource = 'test'): Promise<TestXmppClient> {
    const front = domain === DEMO.xmppDomain;
    const accounts = front ? DEMO.xmppUsers : domain === PARTNER ? DEMO.partnerUsers : [MALLORY];
    const account = accounts.find((a) => a.user === user);
    if (!account) throw new Error(`no XMPP user ${user}@${domain}`);
    const c = await TestXmppClient.connect({ port: front ? this.ports.frontC2s : this.ports.partnerC2s, domain, user, password: account.password, resource });
    this.clients.push(c);
    return c;
  }

  /** Forgets clients whose server went away (their sessions are gone). */
  dropClients(): void {
    this.clients = [];
  }

  async stop(): Promise<void> {
    for (const c of this.clients) await c.stop();
    await this.gateway?.stop().catch(() => undefined);
    await this.pair.stop();
    await this.emulator.close();
    // XTG_KEEP_DIRS=1 keeps both servers' configurations and logs for a look after a failure.
    if (process.env.XTG_KEEP_DIRS) process.stderr.write(`kept ${this.dir}\n`);
    else await rm(this.dir, { recursive: true, force: true });
  }
}
