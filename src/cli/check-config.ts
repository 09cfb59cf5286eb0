/** `check-config`: validates a configuration file and prints what the node would use (secrets hidden). */
import { loadConfigFile } from '../config/load.js';

export function runCheckConfig(configPath: string, out: NodeJS.WritableStream = process.stdout): void {
  const c = loadConfigFile(configPath);
  out.write(`${configPath}: valid\n`);
  out.write(`  XMPP server ${c.xmpp.service}\n`);
  for (const t of c.tenants) {
    out.write(t.teams ? `  tenant ${t.id}: Microsoft 365 tenant ${t.teams.tenantId}, app ${t.teams.clientId}, Graph ${t.teams.graphBaseUrl}\n` : `  tenant ${t.id}: no Microsoft 365 tenant (Skype for Business Server only)\n`);
    out.write(`    XMPP component${t.components.length > 1 ? 's' : ''} ${t.components.map((d) => d.domain).join(', ')}\n`);
    if (t.policy.domains.length === 0 || (t.policy.users.length === 0 && t.policy.groups.length === 0)) {
      out.write('    note: policy.domains or policy.users/groups is empty; nothing federates until the whitelist lists someone (deny by default)\n');
    }
    if (t.teams) out.write(`    webhook ${t.teams.webhook.listen} (public ${t.teams.webhook.publicUrl})\n`);
    if (t.sfb) out.write(`    Skype for Business pool ${t.sfb.pool.fqdn}, trusted application on ${t.sfb.listen}\n`);
  }
  const walls = c.walls.remote.length + c.walls.between.length;
  if (c.tenants.length > 1 || walls > 0) out.write(`  walls: ${c.walls.remote.length} remote rule(s), ${c.walls.between.length} rule(s) between tenants; nothing else crosses between tenants\n`);
  const m = c.store.mssql;
  out.write(c.store.driver === 'mssql' && m ? `  store SQL Server ${m.server}:${m.port}/${m.database}\n` : `  store SQLite ${c.store.sqlite.path}\n`);
}
