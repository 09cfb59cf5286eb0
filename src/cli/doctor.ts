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
import { loadConfigFile, type TenantConfig } from '../config/load.js';
import { formatResults, runDoctorChecks } from '../teams/doctor-checks.js';
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
  const tls = c.teams.webhook.tls;
  const server: Server = tls ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, answer) : createHttpServer(answer);
  const [host, port] = splitHostPort(c.teams.webhook.listen);
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

/** Checks one tenant (--tenant), or each tenant in turn with its own credentials; exit code 1 when any check failed. */
export async function runDoctor(configPath: string, puppetJid: string | undefined, tenantId: string | undefined, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = loadConfigFile(configPath);
  const tenants = tenantId === undefined ? config.tenants : [pickTenant(config, tenantId)];
  let failedAll = 0;
  for (const tenant of tenants) {
    if (config.tenants.length > 1) out.write(`tenant ${tenant.id} (Microsoft 365 tenant ${tenant.teams.tenantId}):\n`);
    const results = await runDoctorChecks({ tenant, puppetJid, withWebhook: (run) => withValidationListener(tenant, run) });
    out.write(`${formatResults(results)}\n`);
    const failed = results.filter((r) => !r.ok).length;
    out.write(failed === 0 ? `all ${results.length} checks passed\n` : `${failed} of ${results.length} checks failed\n`);
    failedAll += failed;
  }
  return failedAll === 0 ? 0 : 1;
}
