/**
 * The relay benchmark's federation on loopback, as a new user would run it: real Prosody, the Graph emulator (in
 * this process), and gateway nodes as child processes started by the CLI with a config file. One node embedded
 * (SQLite, no Redis), or several in a cluster (Redis, a licence, one XMPP link, a load balancer in front of the
 * webhooks, one shared SQLite file as nodes on one host share it).
 *
 * The tenant's limits are lifted on both sides, explicitly, because this measures the node, not the tenant
 * (DESIGN.md decision 8):
 * - the Graph emulator enforces Graph's documented service limits by default (20 chat posts/s per app and tenant,
 *   and so on); here every one of them is lifted ({@link LIFTED_EMULATOR_LIMITS});
 * - the gateway's pacing under those limits stays on (its cost per call is part of what is measured) but with
 *   every limit multiplied far above the load (teams.pacing.limitScale), and throttle.graphRequestsPerSecond
 *   likewise ({@link LIFTED_THROTTLE}).
 * The per-pair, per-user and per-domain rate limits keep their defaults (none), as a new user's configuration
 * has them. Notifications are rich (the message comes encrypted in its notification, no GET), as the sandbox has
 * them, unless `basicNotifications` is set.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { writeLoopbackConfig } from '../../src/sandbox/gateway-config.js';
import { ProsodyServer } from '../../src/sandbox/prosody.js';
import { RedisServer } from '../../src/sandbox/redis.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { ensureNotificationCertificate } from '../../src/sandbox/notification-certificates.js';
import { demoTenantEmulatorOptions } from '../../test/emulators/graph/demo-tenant.js';
import { startGraphEmulator, type GraphEmulator } from '../../test/emulators/graph/index.js';
import { GatewayProcess } from '../../test/support/gateway-process.js';
import { HttpBalancer } from '../../test/support/http-balancer.js';
import { freePort, freePorts } from '../../test/support/ports.js';
import { writeTestLicence } from '../../test/support/test-licence.js';
import { BenchClient } from './bench-client.js';

/** Far above any load this benchmark makes: the node is measured, not the tenant's limit. */
export const LIFTED_THROTTLE = { graphRequestsPerSecond: 1_000_000 };
/** teams.pacing.limitScale: every documented limit the gateway paces under, times this (20 posts/s -> 200,000). */
export const LIFTED_PACING_SCALE = 10_000;
/** The emulator's service limits, every one lifted. */
export const LIFTED_EMULATOR_LIMITS = { chatMessagePost: null, chatMessageGet: null, teamsGet: null, teamsOther: null, presence: null, identity: null, identityWrite: null } as const;
/** And its limits per app across all tenants (200 chat-message posts/s: they capped the benchmark's XMPP -> Teams rate at 200 msg/s). */
export const LIFTED_ACROSS_TENANTS = { ...LIFTED_EMULATOR_LIMITS, any: null } as const;

export interface BenchPair {
  readonly client: BenchClient;
  /** The Teams user's UPN and her JID on the component. */
  readonly teamsUpn: string;
  readonly teamsJid: string;
}

export interface RelayFederationOptions {
  readonly nodes: number;
  readonly pairs: number;
  /** Directory for `node --cpu-prof` profiles of every node (none when undefined). */
  readonly cpuProfDir?: string | undefined;
  /** Lets `perf` name the JIT-compiled functions (node --perf-basic-prof). */
  readonly perfMaps?: boolean;
  readonly logLevel?: 'info' | 'debug';
  /** Basic notifications (a GET per Teams message) instead of rich ones. */
  readonly basicNotifications?: boolean;
}

export interface BenchNode {
  readonly id: string;
  readonly process: GatewayProcess;
}

export class RelayFederation {
  private constructor(
    readonly dir: string,
    readonly emulator: GraphEmulator,
    readonly prosody: ProsodyServer,
    readonly redis: RedisServer | undefined,
    readonly balancer: HttpBalancer | undefined,
    readonly nodes: BenchNode[],
    readonly pairs: BenchPair[],
    private readonly perfMaps: boolean,
  ) {}

  static async start(o: RelayFederationOptions): Promise<RelayFederation> {
    const tls = await ensureTlsMaterial(resolve('.test-tls'));
    const dir = await mkdtemp(join(tmpdir(), 'xtg-relay-bench-'));
    const teamsUsers = Array.from({ length: o.pairs }, (_, i) => ({
      userPrincipalName: `bench.t${i + 1}@${DEMO.teamsDomain}`,
      displayName: `Bench Teams ${i + 1}`,
      password: `Bench-pass-${i + 1}`,
    }));
    const xmppUsers = Array.from({ length: o.pairs }, (_, i) => ({ user: `bench${i + 1}`, password: `bench-pass-${i + 1}` }));
    // Whatever started is stopped again if a later part fails (no Prosody or node left running).
    const started: { stop(): Promise<unknown> }[] = [];
    try {
      const base = demoTenantEmulatorOptions({ tls, notificationRetryDelaysMs: [500, 1000, 2000, 4000, 8000] });
      const emulator = await startGraphEmulator({ ...base, users: [...base.users, ...teamsUsers], serviceLimits: LIFTED_EMULATOR_LIMITS, serviceLimitsAcrossTenants: LIFTED_ACROSS_TENANTS });
      started.push({ stop: () => emulator.close() });
      const [c2s, component] = (await freePorts(2)) as [number, number];
      const prosody = await ProsodyServer.start({
        dir: join(dir, 'prosody'),
        vhost: DEMO.xmppDomain,
        components: [{ domain: DEMO.componentDomain, secret: DEMO.componentSecret }],
        c2sPort: c2s,
        componentPort: component,
        users: xmppUsers,
      });
      started.push(prosody);
      const cluster = o.nodes > 1;
      const redis = cluster ? await RedisServer.start(await freePort()) : undefined;
      if (redis) started.push(redis);
      // Licensed alone too: without a licence a node runs in evaluation mode (10 accounts), too few for --pairs above 10.
      const licence = await writeTestLicence(dir, { maxNodes: o.nodes });
      const balancer = cluster ? await HttpBalancer.start(await freePort(), []) : undefined;
      if (balancer) started.push(balancer);
      const certificate = await ensureNotificationCertificate(join(dir, 'certs'), 'bench-1');
      const env: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: tls.caCertPath };
      const nodeArgs = [...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), ...(o.perfMaps ? ['--perf-basic-prof'] : [])];
      const nodes: BenchNode[] = [];
      const webhooks: number[] = [];
      for (let i = 0; i < o.nodes; i++) {
        const id = `node${i + 1}`;
        const [admin, webhook, clusterPort] = (await freePorts(3)) as [number, number, number];
        const configPath = join(dir, `${id}.yaml`);
        await writeLoopbackConfig(configPath, {
          componentPort: component,
          emulatorUrl: emulator.url,
          webhookPort: webhook,
          adminPort: admin,
          sqlitePath: join(dir, 'gateway.sqlite'),
          logLevel: o.logLevel ?? 'info',
          throttle: LIFTED_THROTTLE,
          transform: (config) => {
            const teams = config.teams as Record<string, unknown>;
            teams.pacing = { limitScale: LIFTED_PACING_SCALE };
          },
          ...(o.basicNotifications ? {} : { richNotifications: [certificate] }),
          ...(redis && licence && balancer
            ? {
                redisUrl: redis.url,
                publicUrl: `http://127.0.0.1:${balancer.port}/graph/notifications`,
                cluster: { nodeId: id, listenPort: clusterPort, secret: 'bench-cluster-secret', leaseSeconds: 2, licenceFile: licence.file, publicKeys: [licence.publicKeyFile] },
              }
            : { licenceFile: licence.file }),
        });
        const gateway = await GatewayProcess.start(configPath, admin, env, { nodeArgs });
        started.push(gateway);
        nodes.push({ id, process: gateway });
        webhooks.push(webhook);
        balancer?.setBackends([...webhooks]);
      }
      const pairs: BenchPair[] = [];
      for (const [i, u] of xmppUsers.entries()) {
        const client = await BenchClient.connect({ port: c2s, domain: DEMO.xmppDomain, user: u.user, password: u.password });
        started.push(client);
        const upn = (teamsUsers[i] as { userPrincipalName: string }).userPrincipalName;
        pairs.push({ client, teamsUpn: upn, teamsJid: `${upn.slice(0, upn.indexOf('@'))}@${DEMO.componentDomain}` });
      }
      return new RelayFederation(dir, emulator, prosody, redis, balancer, nodes, pairs, o.perfMaps ?? false);
    } catch (err) {
      for (const part of started.reverse()) await part.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  pids(): number[] {
    return this.nodes.map((n) => n.process.pid);
  }

  async stop(): Promise<void> {
    for (const p of this.pairs) await p.client.stop();
    // SIGTERM: a node stopping gracefully writes its CPU profile.
    await Promise.all(this.nodes.map((n) => n.process.stop().catch(() => undefined)));
    await this.balancer?.stop();
    await this.prosody.stop();
    await this.emulator.close();
    await this.redis?.stop();
    await rm(this.dir, { recursive: true, force: true });
    // node --perf-basic-prof also leaves V8 logs (isolate-<address>-<pid>-v8.log) in the working directory.
    if (this.perfMaps) {
      const pids = new Set(this.pids().map(String));
      for (const f of await readdir('.')) if (pids.has(/^isolate-0x[0-9a-f]+-(\d+)-v8\.log$/u.exec(f)?.[1] ?? '')) await rm(f, { force: true });
    }
  }
}
