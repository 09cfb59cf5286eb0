/** The gateway configuration for a loopback federation (sandbox and end-to-end tests), as a YAML file. */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { DEMO, DEMO_NORTHWIND } from './demo-tenant.js';
import { DEMO_SFB } from './demo-sfb.js';

export interface LoopbackConfig {
  readonly componentPort: number;
  readonly emulatorUrl: string;
  readonly webhookPort: number;
  readonly adminPort: number;
  readonly sqlitePath: string;
  readonly logLevel?: 'error' | 'warn' | 'info' | 'debug';
  readonly idleSeconds?: number;
  /** Whitelist; default: the sandbox's XMPP domain and every Teams user. */
  readonly policy?: Record<string, unknown>;
  readonly throttle?: Record<string, unknown>;
  readonly redisUrl?: string;
  /** With redisUrl: this node's cluster settings (a cluster needs a shared secret and, to serve, a licence). */
  readonly cluster?: {
    readonly nodeId?: string;
    readonly listenPort: number;
    readonly secret: string;
    readonly leaseSeconds?: number;
    readonly licenceFile?: string;
    readonly publicKeys?: readonly string[];
    /** Mutual TLS between nodes; the node then advertises https://. */
    readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  };
  /** Without redisUrl: this lone node's licence file (without one it runs in evaluation mode). */
  readonly licenceFile?: string;
  /** Bearer token of the admin API (off when absent). */
  readonly adminToken?: string;
  /** OTLP/HTTP endpoint for traces (off when absent). */
  readonly otlpEndpoint?: string;
  /** The gateway's XMPP component domain (default: the demo's). */
  readonly componentDomain?: string;
  /** In a cluster: one node holds the XMPP link, or every node connects (ejabberd). */
  readonly xmppLinks?: 'one' | 'every-node';
  /** Where Graph sends notifications, when not straight to this node (a load balancer in front of a cluster). */
  readonly publicUrl?: string;
  readonly longMessages?: 'refuse' | 'split';
  /** Serve the webhook (and media links) over TLS with these PEM files; publicUrl is then https. */
  readonly webhookTls?: { readonly certFile: string; readonly keyFile: string };
  /** Keep message bodies after delivery or dead-lettering (a dead letter can then be retried). */
  readonly keepBodies?: boolean;
  /** The operator console's settings (console.*). */
  readonly console?: Record<string, unknown>;
  /** Issue 17: the SfB side, as a trusted application of the SfB emulator's pool. */
  readonly sfb?: {
    readonly port: number;
    readonly poolPort: number;
    readonly certFile: string;
    readonly keyFile: string;
    readonly caFile: string;
    /** Where the node serves XMPP users' photos to SfB clients (sfb.photos.listen on loopback). */
    readonly photosPort?: number;
    readonly sessionIdleSeconds?: number;
    readonly subscriptionSeconds?: number;
  };
  /** Changes the finished configuration before it is written (a test breaking one setting). */
  readonly transform?: (config: Record<string, unknown>) => void;
  /** teams.webhook.lifecycleReplaySeconds (tests whose Graph asks for reauthorization every few seconds). */
  readonly lifecycleReplaySeconds?: number;
  /** Issue 16: a second tenant (DEMO_NORTHWIND) in the tenants layout, with walls. */
  readonly secondTenant?: SecondTenant;
  /** Rich notifications: encryption certificates, the current one first (none: basic notifications). */
  readonly richNotifications?: readonly { readonly id: string; readonly certFile: string; readonly keyFile: string }[];
}

export function loopbackConfig(o: LoopbackConfig): Record<string, unknown> {
  return {
    xmpp: { service: `xmpp://127.0.0.1:${o.componentPort}`, domain: o.componentDomain ?? DEMO.componentDomain, password: DEMO.componentSecret, reconnectDelayMs: 500, ...(o.xmppLinks ? { links: o.xmppLinks } : {}), ...(o.longMessages ? { longMessages: o.longMessages } : {}) },
    teams: {
      tenantId: DEMO.tenantId,
      clientId: DEMO.clientId,
      clientSecret: DEMO.clientSecret,
      authorityHost: o.emulatorUrl,
      graphBaseUrl: o.emulatorUrl,
      disableInstanceDiscovery: true,
      defaultUpnDomain: DEMO.teamsDomain,
      webhook: {
        listen: `127.0.0.1:${o.webhookPort}`,
        publicUrl: o.publicUrl ?? `${o.webhookTls ? 'https' : 'http'}://127.0.0.1:${o.webhookPort}/graph/notifications`,
        ...(o.webhookTls ? { tls: o.webhookTls } : {}),
        ...(o.lifecycleReplaySeconds ? { lifecycleReplaySeconds: o.lifecycleReplaySeconds } : {}),
        ...(o.richNotifications?.length ? { richNotifications: { certificates: o.richNotifications.map((c) => ({ ...c })) } } : {}),
      },
      puppets: { upnDomain: DEMO.puppetDomain, passwordSecret: DEMO.puppetPasswordSecret, groupId: DEMO.puppetGroup.id },
    },
    store: { sqlite: { path: o.sqlitePath }, ...(o.keepBodies ? { retention: { keepBodies: true } } : {}) },
    ...(o.console ? { console: o.console } : {}),
    admin: { listen: `127.0.0.1:${o.adminPort}`, ...(o.adminToken ? { token: o.adminToken } : {}) },
    log: { level: o.logLevel ?? 'info' },
    actors: { idleSeconds: o.idleSeconds ?? 600 },
    policy: o.policy ?? { domains: [DEMO.xmppDomain], users: ['*'], reloadSeconds: 1 },
    ...(o.throttle ? { throttle: o.throttle } : {}),
    ...(o.sfb
      ? {
          sfb: {
            listen: `127.0.0.1:${o.sfb.port}`,
            fqdn: DEMO_SFB.gateway,
            tls: { certFile: o.sfb.certFile, keyFile: o.sfb.keyFile, caFile: o.sfb.caFile },
            pool: { fqdn: DEMO_SFB.frontEnd, port: o.sfb.poolPort },
            trustedPeers: [DEMO_SFB.frontEnd, DEMO_SFB.pool],
            hosts: { [DEMO_SFB.frontEnd]: '127.0.0.1', [DEMO_SFB.pool]: '127.0.0.1' },
            users: [...DEMO_SFB.users],
            defaultDomain: DEMO_SFB.sipDomain,
            ...(o.sfb.photosPort ? { photos: { listen: `127.0.0.1:${o.sfb.photosPort}` } } : {}),
            ...(o.sfb.sessionIdleSeconds ? { sessionIdleSeconds: o.sfb.sessionIdleSeconds } : {}),
            ...(o.sfb.subscriptionSeconds ? { subscriptionSeconds: o.sfb.subscriptionSeconds } : {}),
          },
        }
      : {}),
    ...(o.otlpEndpoint ? { tracing: { otlpEndpoint: o.otlpEndpoint } } : {}),
    ...(o.redisUrl
      ? {
          cluster: {
            redis: { url: o.redisUrl },
            ...(o.cluster
              ? {
                  ...(o.cluster.nodeId ? { nodeId: o.cluster.nodeId } : {}),
                  listen: `127.0.0.1:${o.cluster.listenPort}`,
                  ...(o.cluster.tls ? { tls: o.cluster.tls, advertiseUrl: `https://127.0.0.1:${o.cluster.listenPort}` } : {}),
                  secret: o.cluster.secret,
                  leaseSeconds: o.cluster.leaseSeconds ?? 5,
                  licence: { ...(o.cluster.licenceFile ? { file: o.cluster.licenceFile } : {}), publicKeys: [...(o.cluster.publicKeys ?? [])] },
                }
              : {}),
          },
        }
      : o.licenceFile
        ? { cluster: { licence: { file: o.licenceFile } } }
        : {}),
  };
}

export async function writeLoopbackConfig(path: string, o: LoopbackConfig): Promise<void> {
  const config = loopbackConfig(o);
  if (o.secondTenant) twoTenantLayout(config, o.secondTenant);
  o.transform?.(config);
  await writeFile(path, `# generated for a loopback federation; see README "Configuration"\n${stringify(config)}`);
}

/** The second demo tenant's settings for a two-tenant loopback federation (issue 16). */
export interface SecondTenant {
  /** Its whitelist (default: the sandbox's XMPP domain and every Teams user). */
  readonly policy?: Record<string, unknown>;
  /** The tenants' admin tokens (tenants[].admin.token). */
  readonly adminTokens?: { readonly first: string; readonly second: string };
  /** The walls (walls.remote, walls.between). */
  readonly walls?: Record<string, unknown>;
}

/**
 * Turns a single-tenant loopback configuration into the tenants layout: the demo tenant "contoso" (as configured,
 * with the SfB side and cards settings if any) and "northwind" (DEMO_NORTHWIND, its own component domain, app
 * registration, puppets and webhook path on the same listener).
 */
export function twoTenantLayout(config: Record<string, unknown>, o: SecondTenant): void {
  const xmpp = config.xmpp as Record<string, unknown>;
  const teams = config.teams as Record<string, unknown> & { webhook: Record<string, unknown> & { publicUrl: string } };
  const northwindUrl = new URL(teams.webhook.publicUrl);
  northwindUrl.pathname = '/graph/northwind/notifications';
  const tenant = (id: string, domain: unknown, password: unknown, t: Record<string, unknown>, policy: unknown, token: string | undefined) => ({
    id,
    xmpp: { domain, password },
    teams: t,
    policy,
    ...(config.throttle ? { throttle: config.throttle } : {}),
    ...(token ? { admin: { token } } : {}),
  });
  // The SfB pool and the cards settings, when configured, are Contoso's (the first tenant's).
  const contosoOwn = { ...(config.cards ? { cards: config.cards } : {}), ...(config.sfb ? { sfb: config.sfb } : {}) };
  config.tenants = [
    { ...tenant('contoso', xmpp.domain, xmpp.password, teams, config.policy, o.adminTokens?.first), ...contosoOwn },
    tenant(
      'northwind',
      DEMO_NORTHWIND.componentDomain,
      DEMO_NORTHWIND.componentSecret,
      {
        ...teams,
        tenantId: DEMO_NORTHWIND.tenantId,
        clientId: DEMO_NORTHWIND.clientId,
        clientSecret: DEMO_NORTHWIND.clientSecret,
        defaultUpnDomain: DEMO_NORTHWIND.teamsDomain,
        webhook: { ...teams.webhook, publicUrl: northwindUrl.toString() },
        puppets: { upnDomain: DEMO_NORTHWIND.puppetDomain, passwordSecret: DEMO_NORTHWIND.puppetPasswordSecret, groupId: DEMO_NORTHWIND.puppetGroup.id },
      },
      o.policy ?? config.policy,
      o.adminTokens?.second,
    ),
  ];
  if (o.walls) config.walls = o.walls;
  delete xmpp.domain;
  delete xmpp.password;
  for (const k of ['teams', 'policy', 'throttle', 'cards', 'sfb']) delete config[k];
}
