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
  readonly longMessages?: 'refuse' | 'split';
  /** Serve the webhook (and media links) over TLS with these PEM files; publicUrl is then https. */
  readonly webhookTls?: { readonly certFile: string; readonly keyFile: string };
}

export function loopbackConfig(o: LoopbackConfig): Record<string, unknown> {
  return {
    xmpp: { service: `xmpp://127.0.0.1:${o.componentPort}`, domain: DEMO.componentDomain, password: DEMO.componentSecret, reconnectDelayMs: 500, ...(o.longMessages ? { longMessages: o.longMessages } : {}) },
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
        publicUrl: `${o.webhookTls ? 'https' : 'http'}://127.0.0.1:${o.webhookPort}/graph/notifications`,
        ...(o.webhookTls ? { tls: o.webhookTls } : {}),
      },
      puppets: { upnDomain: DEMO.puppetDomain, passwordSecret: DEMO.puppetPasswordSecret },
    },
    store: { sqlite: { path: o.sqlitePath } },
    admin: { listen: `127.0.0.1:${o.adminPort}` },
    log: { level: o.logLevel ?? 'info' },
    actors: { idleSeconds: o.idleSeconds ?? 600 },
    policy: o.policy ?? { domains: [DEMO.xmppDomain], users: ['*'], reloadSeconds: 1 },
    ...(o.throttle ? { throttle: o.throttle } : {}),
    ...(o.redisUrl ? { cluster: { redis: { url: o.redisUrl } } } : {}),
  };
}

export async function writeLoopbackConfig(path: string, o: LoopbackConfig): Promise<void> {
  await writeFile(path, `# generated for a loopback federation; see README "Configuration"\n${stringify(loopbackConfig(o))}`);
}
