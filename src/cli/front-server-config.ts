/**
 * `front-server-config`: prints the S2S part of the front XMPP server's configuration (Prosody or ejabberd)
 * generated from the gateway's whitelist — policy.domains of the configuration file and the domains added at
 * run time (`whitelist add domain`) — so that the front server refuses S2S from any other domain
 * (src/policy/front-server-s2s.ts). Run it again, and reload the server, after the whitelist changes.
 */
import { stringify } from 'yaml';
import { loadConfigFile } from '../config/load.js';
import { frontServerConfig, prosodyPluginDir } from '../policy/front-server-s2s.js';
import { openStore } from '../store/open-store.js';
import { UsageError } from './args.js';

export type FrontServerKind = 'prosody' | 'ejabberd';

export async function runFrontServerConfig(
  configPath: string,
  o: { server: string | undefined; dialback: readonly string[] },
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  if (o.server !== 'prosody' && o.server !== 'ejabberd') throw new UsageError('front-server-config: --server prosody or --server ejabberd');
  const config = loadConfigFile(configPath);
  const store = await openStore(config.store);
  let runtime: string[];
  try {
    runtime = (await store.whitelist()).filter((e) => e.kind === 'domain').map((e) => e.value);
  } finally {
    await store.close();
  }
  const domains = [...new Set([...config.policy.domains, ...runtime])];
  const generated = frontServerConfig({ componentDomain: config.xmpp.domain, domains, dialbackDomains: o.dialback }, { prosodyPluginDir: prosodyPluginDir() });
  out.write(frontServerConfigText(o.server, config.xmpp.domain, generated));
}

/** The printed text: ready to paste, with what it cannot express as comments. */
export function frontServerConfigText(server: FrontServerKind, componentDomain: string, g: ReturnType<typeof frontServerConfig>): string {
  if (server === 'prosody') {
    return [
      ...g.notes.map((n) => `-- NOTE: ${n}`),
      '-- Global section:',
      ...g.prosodyGlobal,
      '',
      `Component ${JSON.stringify(componentDomain)}`,
      '  component_secret = "..." -- yours, as xmpp.password',
      ...g.prosodyComponent.map((l) => `  ${l}`),
      '',
    ].join('\n');
  }
  const yaml = stringify({
    acl: g.ejabberd.acl,
    access_rules: g.ejabberd.accessRules,
    s2s_access: g.ejabberd.s2sAccess,
    s2s_use_starttls: g.ejabberd.s2sUseStarttls,
    ...(Object.keys(g.ejabberd.modules).length ? { modules: g.ejabberd.modules } : {}),
  });
  return `${g.notes.map((n) => `# NOTE: ${n}\n`).join('')}# Merge into ejabberd.yml (acl, access_rules and modules with yours), then: ejabberdctl reload_config\n${yaml}`;
}
