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
  const parts: string[] = [];
  try {
    // Each tenant's component gets its own tenant's whitelist (Prosody reads it per Component); ejabberd's S2S
    // access is one list for the server, so it gets every tenant's.
    const perTenant = [];
    for (const t of config.tenants) {
      const runtime = (await store.whitelist()).filter((e) => e.kind === 'domain').map((e) => e.value);
      perTenant.push({ tenant: t, domains: [...new Set([...t.policy.domains, ...runtime])] });
    }
    if (o.server === 'ejabberd') {
      const domains = [...new Set(perTenant.flatMap((p) => p.domains))];
      const generated = frontServerConfig({ componentDomain: config.tenants[0]?.components[0]?.domain ?? '', domains, dialbackDomains: o.dialback }, { prosodyPluginDir: prosodyPluginDir() });
      parts.push(frontServerConfigText('ejabberd', [], generated));
    } else {
      for (const [i, p] of perTenant.entries()) {
        const generated = frontServerConfig({ componentDomain: p.tenant.components[0]?.domain ?? '', domains: p.domains, dialbackDomains: o.dialback }, { prosodyPluginDir: prosodyPluginDir() });
        parts.push(frontServerConfigText('prosody', p.tenant.components.map((d) => d.domain), generated, i === 0));
      }
    }
  } finally {
    await store.close();
  }
  out.write(parts.join('\n'));
}

/** The printed text: ready to paste, with what it cannot express as comments. */
export function frontServerConfigText(server: FrontServerKind, componentDomains: readonly string[], g: ReturnType<typeof frontServerConfig>, withGlobal = true): string {
  if (server === 'prosody') {
    return [
      ...g.notes.map((n) => `-- NOTE: ${n}`),
      ...(withGlobal ? ['-- Global section:', ...g.prosodyGlobal, ''] : []),
      ...componentDomains.flatMap((domain) => [
        `Component ${JSON.stringify(domain)}`,
        '  component_secret = "..." -- yours, as the tenant\'s xmpp.password',
        ...g.prosodyComponent.map((l) => `  ${l}`),
        '',
      ]),
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
