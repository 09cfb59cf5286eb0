/**
 * A complete federation on loopback for end-to-end tests: real Prosody, the Graph emulator (HTTPS, the test
 * CA), and one gateway node as a child process started by the CLI. Each test file gets its own ports and
 * directory, so files can run in parallel.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGraphEmulator, type GraphEmulator, type GraphEmulatorOptions, type LifecycleTimings } from '../emulators/graph/index.js';
import { demoTenantEmulatorOptions, demoTenantsEmulatorOptions } from '../emulators/graph/demo-tenant.js';
import { DEMO, DEMO_NORTHWIND } from '../../src/sandbox/demo-tenant.js';
import { writeLoopbackConfig, type LoopbackConfig, type SecondTenant } from '../../src/sandbox/gateway-config.js';
import { ProsodyServer } from '../../src/sandbox/prosody.js';
import { RedisServer } from '../../src/sandbox/redis.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { ensureNotificationCertificate } from '../../src/sandbox/notification-certificates.js';
import { GatewayProcess } from './gateway-process.js';
import { writeTestLicence } from './test-licence.js';
import { freePort, freePorts } from './ports.js';
import { startSfbPool } from '../../src/sandbox/sfb-pool.js';
import type { SfbEmulator } from '../emulators/sfb/index.js';
import { TestXmppClient } from './xmpp-client.js';

export const COMPONENT = DEMO.componentDomain;
export const XMPP_DOMAIN = DEMO.xmppDomain;

export function testTlsDir(): string {
  const dir = process.env.XTG_TEST_TLS_DIR;
  if (!dir || !process.env.NODE_EXTRA_CA_CERTS) throw new Error('run the tests with `npm test` (it sets XTG_TEST_TLS_DIR and NODE_EXTRA_CA_CERTS)');
  return dir;
}

export interface FederationOptions {
  readonly applicationPermissions?: readonly string[];
  readonly delegatedPermissions?: readonly string[];
  readonly idleSeconds?: number;
  readonly notificationRetryDelaysMs?: number[];
  /** Shortened Graph lifecycle timings and token lifetime (tests of reauthorization). */
  readonly lifecycle?: Partial<LifecycleTimings>;
  readonly tokenLifetimeSeconds?: number;
  /** teams.webhook.lifecycleReplaySeconds of the gateway. */
  readonly lifecycleReplaySeconds?: number;
  readonly policy?: Record<string, unknown>;
  readonly throttle?: Record<string, unknown>;
  readonly longMessages?: 'refuse' | 'split';
  /** Serves the webhook (and media links) over HTTPS with the test CA's certificate. */
  readonly webhookTls?: boolean;
  /**
   * Rich notifications (the default): the ids of the encryption certificates, the current one first; [] for
   * basic notifications (the gateway reads each message from Graph).
   */
  readonly certificates?: readonly string[];
  /** Starts a redis-server and points the node at it (cluster-wide limits). */
  readonly redis?: boolean;
  readonly adminToken?: string;
  readonly keepBodies?: boolean;
  readonly console?: Record<string, unknown>;
  /**
   * Console sign-in with Entra ID against the emulator: the app registration gets the console's redirect URI, and
   * the node console.publicUrl and console.oidc (admins: DEMO.consoleAdminGroup).
   */
  readonly consoleOidc?: { readonly groupClaims: boolean };
  /** Issue 17: an SfB emulator pool, and the gateway as its trusted application (short timers where a test says why). */
  readonly sfb?: { readonly idleByeMs?: number; readonly sessionIdleSeconds?: number; readonly subscriptionSeconds?: number };
  /** Emulator options beyond the demo tenant (e.g. scaled-down presence timeouts); a test that sets one says why. */
  readonly emulator?: Partial<Omit<GraphEmulatorOptions, 'tls' | 'tenantId' | 'apps' | 'users'>>;
  /** Changes the gateway configuration before it is written. */
  readonly transform?: (config: Record<string, unknown>) => void;
  /** More XEP-0114 components on Prosody (e.g. hostile peer servers in test/security). */
  readonly components?: readonly { domain: string; secret: string; validateFrom?: boolean }[];
  /** In a cluster: one node holds the XMPP link, or every node connects. */
  readonly xmppLinks?: 'one' | 'every-node';
  /**
   * Issue 16: two tenants (the emulator's two demo tenants, the gateway's tenants "contoso" and "northwind", each
   * with its component domain on Prosody), with these walls and the second tenant's whitelist.
   */
  readonly secondTenant?: SecondTenant;
  /** More XMPP domains (virtual hosts) on Prosody, each with its users (partner domains). */
  readonly extraHosts?: readonly { vhost: string; users: readonly { user: string; password: string }[] }[];
  /** false: the node runs without a licence (alone: in evaluation mode). Default: a test licence. */
  readonly licensed?: boolean;
  /** The tenants the licence names (terms.limits.tenants); default: the demo Entra tenant(s). */
  readonly licenceTenants?: readonly string[];
}

export class Federation {
  private clients: TestXmppClient[] = [];
  gateway!: GatewayProcess;
  /** Issue 17: the SfB emulator, when started with `sfb`. */
  sfb: SfbEmulator | undefined;

  private constructor(
    readonly dir: string,
    readonly emulator: GraphEmulator,
    public prosody: ProsodyServer,
    readonly configPath: string,
    readonly ports: { c2s: number; component: number; webhook: number; admin: number },
    public redis: RedisServer | undefined,
    private readonly prosodyOptions: Parameters<typeof ProsodyServer.start>[0],
    private config: LoopbackConfig,
  ) {}

  /** Rewrites the gateway's configuration with other encryption certificates (takes effect at the next start). */
  async useCertificates(ids: readonly string[]): Promise<void> {
    this.config = { ...this.config, richNotifications: await Promise.all(ids.map((id) => ensureNotificationCertificate(join(this.dir, 'certs'), id))) };
    await writeLoopbackConfig(this.configPath, this.config);
  }

  static async start(o: FederationOptions = {}): Promise<Federation> {
    const tls = await ensureTlsMaterial(testTlsDir());
    const dir = await mkdtemp(join(tmpdir(), 'xtg-e2e-'));
    const [c2s, component, webhook, admin] = (await freePorts(4)) as [number, number, number, number];
    const emulatorOptions = o.secondTenant ? demoTenantsEmulatorOptions : demoTenantEmulatorOptions;
    const emulator = await startGraphEmulator({
      ...emulatorOptions({
        tls,
        ...(o.applicationPermissions ? { applicationPermissions: o.applicationPermissions } : {}),
        ...(o.delegatedPermissions ? { delegatedPermissions: o.delegatedPermissions } : {}),
        notificationRetryDelaysMs: o.notificationRetryDelaysMs ?? [300, 600, 1200, 2400],
        ...(o.consoleOidc
          ? { redirectUris: [`http://127.0.0.1:${admin}/console/auth/callback`], groupMembershipClaims: o.consoleOidc.groupClaims ? ('SecurityGroup' as const) : ('None' as const) }
          : {}),
        ...(o.lifecycle ? { lifecycle: o.lifecycle } : {}),
        ...(o.tokenLifetimeSeconds ? { tokenLifetimeSeconds: o.tokenLifetimeSeconds } : {}),
      }),
      ...o.emulator,
    });
    const prosodyOptions = {
      dir: join(dir, 'prosody'),
      vhost: DEMO.xmppDomain,
      components: [
        { domain: DEMO.componentDomain, secret: DEMO.componentSecret },
        ...(o.secondTenant ? [{ domain: DEMO_NORTHWIND.componentDomain, secret: DEMO_NORTHWIND.componentSecret }] : []),
        ...(o.components ?? []),
      ],
      c2sPort: c2s,
      componentPort: component,
      users: DEMO.xmppUsers,
      extraHosts: [{ vhost: DEMO.strangerDomain, users: DEMO.strangerUsers }, ...(o.extraHosts ?? [])],
    };
    const prosody = await ProsodyServer.start(prosodyOptions);
    const redis = o.redis ? await RedisServer.start(await freePort()) : undefined;
    // With two tenants the licence covers both (a licence must cover every tenant the node serves).
    const licence = o.licensed === false ? undefined : await writeTestLicence(dir, { maxNodes: 1, ...(o.licenceTenants ? { tenants: [...o.licenceTenants] } : o.secondTenant ? { tenants: [DEMO.tenantId, DEMO_NORTHWIND.tenantId] } : {}) });
    const configPath = join(dir, 'gateway.yaml');
    const sfb = o.sfb ? await startSfbPool(tls, o.sfb) : undefined;
    const config: LoopbackConfig = {
      ...(sfb ? { sfb: sfb.gatewayConfig } : {}),
      componentPort: component,
      emulatorUrl: emulator.url,
      webhookPort: webhook,
      adminPort: admin,
      sqlitePath: join(dir, 'gateway.sqlite'),
      logLevel: 'debug',
      ...(o.idleSeconds ? { idleSeconds: o.idleSeconds } : {}),
      ...(o.policy ? { policy: o.policy } : {}),
      ...(o.throttle ? { throttle: o.throttle } : {}),
      ...(redis
        ? { redisUrl: redis.url, cluster: { listenPort: await freePort(), secret: 'test-cluster-secret', ...(licence ? { licenceFile: licence.file, publicKeys: [licence.publicKeyFile] } : {}) } }
        : licence
          ? { licenceFile: licence.file }
          : {}),
      ...(o.adminToken ? { adminToken: o.adminToken } : {}),
      ...(o.keepBodies ? { keepBodies: true } : {}),
      ...(o.console || o.consoleOidc
        ? { console: { ...(o.consoleOidc ? { publicUrl: `http://127.0.0.1:${admin}`, oidc: { adminGroups: [DEMO.consoleAdminGroup.id] } } : {}), ...o.console } }
        : {}),
      ...(o.longMessages ? { longMessages: o.longMessages } : {}),
      ...(o.xmppLinks ? { xmppLinks: o.xmppLinks } : {}),
      ...(o.webhookTls ? { webhookTls: { certFile: join(testTlsDir(), 'server.pem'), keyFile: join(testTlsDir(), 'server-key.pem') } } : {}),
      ...(o.transform ? { transform: o.transform } : {}),
      ...(o.lifecycleReplaySeconds ? { lifecycleReplaySeconds: o.lifecycleReplaySeconds } : {}),
      ...(o.secondTenant ? { secondTenant: o.secondTenant } : {}),
      richNotifications: await Promise.all((o.certificates ?? ['test-1']).map((id) => ensureNotificationCertificate(join(dir, 'certs'), id))),
    };
    await writeLoopbackConfig(configPath, config);
    const f = new Federation(dir, emulator, prosody, configPath, { c2s, component, webhook, admin }, redis, prosodyOptions, config);
    f.sfb = sfb?.emulator;
    f.gateway = await GatewayProcess.start(configPath, admin);
    await f.waitForLink();
    return f;
  }

  /** The component is bound once the link is online; /readyz says so. */
  async waitForLink(): Promise<void> {
    await this.gateway.waitHealthy();
  }

  async restartGateway(how: 'stop' | 'kill' = 'stop', downMs = 0): Promise<void> {
    if (how === 'kill') await this.gateway.kill();
    else await this.gateway.stop();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    this.gateway = await GatewayProcess.start(this.configPath, this.ports.admin);
  }

  /** Stops the XMPP server (its users' sessions end); `startProsody` brings it back on the same ports. */
  async stopProsody(): Promise<void> {
    for (const c of this.clients) await c.stop().catch(() => undefined);
    this.clients = [];
    await this.prosody.stop();
  }

  async startProsody(): Promise<void> {
    this.prosody = await ProsodyServer.start(this.prosodyOptions);
  }

  /** Stops redis-server; `startRedis` brings an empty one back on the same port (as after a Redis crash). */
  async stopRedis(): Promise<void> {
    await this.redis?.stop();
  }

  async startRedis(): Promise<void> {
    if (this.redis) this.redis = await RedisServer.start(this.redis.port);
  }

  async client(user: 'juliet' | 'romeo' | 'mallory', resource = 'test'): Promise<TestXmppClient> {
    const stranger = user === 'mallory';
    const u = (stranger ? DEMO.strangerUsers : DEMO.xmppUsers).find((x) => x.user === user);
    if (!u) throw new Error(`no XMPP user ${user}`);
    const domain = stranger ? DEMO.strangerDomain : DEMO.xmppDomain;
    const c = await TestXmppClient.connect({ port: this.ports.c2s, domain, user, password: u.password, resource });
    this.clients.push(c);
    return c;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) await c.stop();
    await this.gateway?.stop().catch(() => undefined);
    await this.prosody.stop();
    await this.emulator.close();
    await this.sfb?.close();
    await this.redis?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
