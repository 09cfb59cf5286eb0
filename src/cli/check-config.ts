/** `check-config`: validates a configuration file and prints what the node would use (secrets hidden). */
import { loadConfigFile } from '../config/load.js';

export function runCheckConfig(configPath: string, out: NodeJS.WritableStream = process.stdout): void {
  const c = loadConfigFile(configPath);
  out.write(`${configPath}: valid\n`);
  out.write(`  XMPP component ${c.xmpp.domain} via ${c.xmpp.service}\n`);
  out.write(`  tenant ${c.teams.tenantId}, app ${c.teams.clientId}, Graph ${c.teams.graphBaseUrl}\n`);
  if (c.policy.domains.length === 0 || (c.policy.users.length === 0 && c.policy.groups.length === 0)) {
    out.write('  note: policy.domains or policy.users/groups is empty; nothing federates until the whitelist lists someone (deny by default)\n');
  }
  out.write(`  webhook ${c.teams.webhook.listen} (public ${c.teams.webhook.publicUrl})\n`);
  const m = c.store.mssql;
  out.write(c.store.driver === 'mssql' && m ? `  store SQL Server ${m.server}:${m.port}/${m.database}\n` : `  store SQLite ${c.store.sqlite.path}\n`);
}
