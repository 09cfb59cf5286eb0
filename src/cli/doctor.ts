/**
 * `doctor --config FILE [--tenant ID] [--puppet JID]`: checks each tenant the configuration names (or one) before go-live (see
 * teams/doctor-checks.ts for each check) and prints one line per check; exit code 1 when any check fails.
 *
 * Graph validates the webhook by calling teams.webhook.publicUrl. When the gateway is not running, the doctor
 * answers that call itself on teams.webhook.listen for the duration of the check; when the port is taken (the
 * gateway runs), the gateway answers it.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { loadConfigFile, type RuntimeConfig, type TenantConfig } from '../config/load.js';
import { licenceIdentity } from '../config/tenant-config.js';
import { loadLicence, uncoveredTenants } from '../cluster/licence.js';
import { trustedLicenceKeys } from '../cluster/licence-keys.js';
import { errorMessage } from '../observability/logger.js';
import { sfbDoctorCheck } from '../sfb/doctor-check.js';
import { formatResults, runDoctorChecks, type CheckResult } from '../teams/doctor-checks.js';
import { pickTenant } from './tenant-option.js';

function splitHostPort(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/gu, ''), Number(listen.slice(i + 1))];
}

/** Runs `run` while a listener echoes Graph's validation tokens on the webhook address, if that address is free. */
async function withValidationListener<T>(c: TenantConfig, run: () => Promise<T>): Promise<T> {
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('validationToken');
    req.resume();
    if (req.method === 'POST' && token !== null) res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(token);
    else res.writeHead(202).end();
  };
  const teams = c.teams;
  if (!teams) return run(); // no Microsoft 365: no webhook to validate
  const tls = teams.webhook.tls;
  const server: Server = tls ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, answer) : createHttpServer(answer);
  const [host, port] = splitHostPort(teams.webhook.listen);
  const listening = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
    server.listen(port, host, () => resolve(true));
  });
  try {
    return await run();
  } finally {
    if (listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * Whether the licence covers the tenant (issue 16: each tenant of the node must be covered, docs/licensing.md).
 * No line for a node alone without a licence file: it runs in evaluation mode, which covers any tenant.
 */
function licenceCheck(config: RuntimeConfig, tenant: TenantConfig, now: number): CheckResult | undefined {
  const { file, publicKeys } = config.cluster.licence;
  if (file === undefined && !config.cluster.redis) return undefined;
  let verdict;
  try {
    verdict = loadLicence(file, trustedLicenceKeys(publicKeys), now);
  } catch (err) {
    return { name: 'licence', ok: false, detail: `the licence keys cannot be used: ${errorMessage(err)}`, fix: 'fix cluster.licence.publicKeys (docs/licensing.md)' };
  }
  if (!verdict.ok) return { name: 'licence', ok: false, detail: `licence ${verdict.problem}: ${verdict.detail}`, fix: 'install a valid licence (cluster.licence.file, docs/licensing.md)' };
  const id = licenceIdentity(tenant);
  const what = tenant.teams ? `Entra tenant ${id}` : `SfB SIP domain ${id}`;
  if (uncoveredTenants(verdict.terms, [id]).length > 0) {
    return { name: 'licence', ok: false, detail: `licence ${verdict.terms.id} does not cover ${what} (it covers ${(verdict.terms.limits?.tenants ?? []).join(', ')}): the node will not serve under it`, fix: `ask the vendor for a licence that lists ${id} too` };
  }
  return { name: 'licence', ok: true, detail: `licence ${verdict.terms.id} covers ${what} (until ${verdict.terms.expiresAt})` };
}

/** Checks one tenant (--tenant), or each tenant in turn with its own credentials; exit code 1 when any check failed. */
export async function runDoctor(configPath: string, puppetJid: string | undefined, tenantId: string | undefined, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = loadConfigFile(configPath);
  const tenants = tenantId === undefined ? config.tenants : [pickTenant(config, tenantId)];
  let failedAll = 0;
  for (const tenant of tenants) {
    if (config.tenants.length > 1) out.write(`tenant ${tenant.id} (${tenant.teams ? `Microsoft 365 tenant ${tenant.teams.tenantId}` : 'Skype for Business Server only'}):\n`);
    const licence = licenceCheck(config, tenant, Date.now());
    const xmppDomain = tenant.policy.domains.find((d) => !d.startsWith('*'));
    const sfb = tenant.sfb ? [await sfbDoctorCheck(tenant.sfb, xmppDomain, 'xmpp-teams-gateway doctor')] : []; // issue 17
    const results = [...(licence ? [licence] : []), ...(await runDoctorChecks({ tenant, puppetJid, withWebhook: (run) => withValidationListener(tenant, run) })), ...sfb];
    out.write(`${formatResults(results)}\n`);
    const failed = results.filter((r) => !r.ok).length;
    out.write(failed === 0 ? `all ${results.length} checks passed\n` : `${failed} of ${results.length} checks failed\n`);
    failedAll += failed;
  }
  return failedAll === 0 ? 0 : 1;
}
