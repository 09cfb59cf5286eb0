/** The gateway configuration for a loopback federation (sandbox and end-to-end tests), as a YAML file. */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { DEMO } from './demo-tenant.js';

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
      },
      puppets: { upnDomain: DEMO.puppetDomain, passwordSecret: DEMO.puppetPasswordSecret },
    },
    store: { sqlite: { path: o.sqlitePath } },
    admin: { listen: `127.0.0.1:${o.adminPort}`, ...(o.adminToken ? { token: o.adminToken } : {}) },
    log: { level: o.logLevel ?? 'info' },
    actors: { idleSeconds: o.idleSeconds ?? 600 },
    policy: o.policy ?? { domains: [DEMO.xmppDomain], users: ['*'], reloadSeconds: 1 },
    ...(o.throttle ? { throttle: o.throttle } : {}),
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
      : {}),
  };
}

export async function writeLoopbackConfig(path: string, o: LoopbackConfig): Promise<void> {
  await writeFile(path, `# generated for a loopback federation; see README "Configuration"\n${stringify(loopbackConfig(o))}`);
}
