/**
 * `sandbox`: a complete federation on loopback with embedded defaults — the gateway's Prosody with two XMPP
 * users, a partner organisation's Prosody with its own domain and users federated with it over S2S (STARTTLS,
 * certificates from the sandbox CA), the Graph emulator with two demo tenants (Contoso and Northwind, issue 16),
 * and one gateway node serving both, each on its own component domain behind walls (a child process, configured
 * exactly as a real node would be, trusting the emulator's CA through NODE_EXTRA_CA_CERTS). Runs until Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGraphEmulator, type GraphEmulator } from '../../test/emulators/graph/index.js';
import { demoTenantsEmulatorOptions } from '../../test/emulators/graph/demo-tenant.js';
import { DEMO, DEMO_NORTHWIND } from './demo-tenant.js';
import { writeLoopbackConfig } from './gateway-config.js';
import { PROSODY, S2S_PACKAGES, ensureOsPackages } from './os-deps.js';
import { S2sPair } from './s2s-pair.js';
import { ensureTlsMaterial } from './tls.js';
import { startSfbPool } from './sfb-pool.js';
import { DEMO_SFB } from './demo-sfb.js';
import { ensureNotificationCertificate } from './notification-certificates.js';
import { EVALUATION } from '../cluster/lone-node-licence.js';
import { escapeLocalpart } from '../protocol/jid.js';
import { upnToLocalpart } from '../protocol/teams-address.js';

/** Who the sandbox's walls let through (besides whole domains). */
export const SANDBOX_WALLS = { partnerReaches: 'alice.smith@contoso.example', northwindLetsIn: `juliet@${DEMO.xmppDomain}` } as const;

export interface SandboxOptions {
  readonly dir: string;
  readonly c2sPort: number;
  readonly componentPort: number;
  /** Client port of the partner organisation's server (5223 unless told). */
  readonly partnerC2sPort?: number;
  readonly emulatorPort?: number;
  readonly webhookPort?: number;
  readonly adminPort?: number;
  /** Issue 17: the gateway's SIP listener, the SfB emulator's Front End and its control API. */
  readonly sfbPort?: number;
  readonly sfbPoolPort?: number;
  readonly sfbControlPort?: number;
  /** Where the node serves XMPP users' photos to SfB clients (sfb.photos.listen). */
  readonly sfbPhotosPort?: number;
}

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
const TEAMS_CLI = fileURLToPath(new URL('../../test/emulators/graph/teams-cli.js', import.meta.url));
const SFB_CLI = fileURLToPath(new URL('../../test/emulators/sfb/sfb-cli.js', import.meta.url));

async function waitForHealthy(adminPort: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with code ${child.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the gateway did not become healthy within ${timeoutMs / 1000} s`);
}

export async function runSandbox(o: SandboxOptions): Promise<void> {
  ensureOsPackages([PROSODY, ...S2S_PACKAGES]);
  const dir = resolve(o.dir);
  await mkdir(dir, { recursive: true });
  const tls = await ensureTlsMaterial(join(dir, 'tls'));
  const emulatorPort = o.emulatorPort ?? 8443;
  const webhookPort = o.webhookPort ?? 8090;
  const adminPort = o.adminPort ?? 9464;
  const partnerC2sPort = o.partnerC2sPort ?? 5223;
  // Deny by default: the two XMPP domains (ours and the partner's over S2S); Teams users by name and (Bob) by group,
  // Eve left out on purpose; the SfB users by SIP address.
  const policy = {
    domains: [DEMO.xmppDomain, DEMO.partnerDomain],
    users: [
      ...DEMO.teamsUsers.map((u) => u.userPrincipalName).filter((u) => u !== 'eve.internal@contoso.example' && !(DEMO.liaisonGroup.members as readonly string[]).includes(u)),
      ...DEMO_SFB.users,
    ],
    groups: [DEMO.liaisonGroup.id],
  };
  // Northwind, the second tenant: the same two domains; Grace by name, Ken by group, Nina left out.
  const northwindPolicy = { domains: policy.domains, users: [DEMO_NORTHWIND.teamsUsers[0].userPrincipalName], groups: [DEMO_NORTHWIND.liaisonGroup.id] };
  // The walls (docs/tenants.md), what each tenant may federate with at most (its whitelist works within them):
  // Contoso with xmpp.example and stranger.example (not whitelisted: evaluation mode allows two remote domains), and
  // the partner with Alice only; Northwind with the partner and juliet of xmpp.example (not romeo); no rule between
  // the two tenants, so nothing crosses between them.
  const walls = {
    remote: [
      { tenant: 'contoso', parties: [DEMO.xmppDomain, DEMO.strangerDomain] },
      { tenant: 'contoso', parties: [DEMO.partnerDomain], users: [SANDBOX_WALLS.partnerReaches] },
      { tenant: 'northwind', parties: [DEMO.partnerDomain, SANDBOX_WALLS.northwindLetsIn] },
    ],
  };

  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const emulator: GraphEmulator = await startGraphEmulator(demoTenantsEmulatorOptions({ tls, port: emulatorPort }));
    stops.push(() => emulator.close());

    const servers = await S2sPair.start({
      dir,
      tls,
      front: {
        kind: 'prosody',
        c2sPort: o.c2sPort,
        componentPort: o.componentPort,
        hosts: [
          { domain: DEMO.xmppDomain, users: DEMO.xmppUsers },
          { domain: DEMO.strangerDomain, users: DEMO.strangerUsers },
        ],
        component: { domain: DEMO.componentDomain, secret: DEMO.componentSecret },
        policy: { domains: policy.domains },
        moreComponents: [{ domain: DEMO_NORTHWIND.componentDomain, secret: DEMO_NORTHWIND.componentSecret, policy: { domains: northwindPolicy.domains } }],
      },
      partner: { kind: 'prosody', c2sPort: partnerC2sPort, hosts: [{ domain: DEMO.partnerDomain, users: DEMO.partnerUsers }] },
    });
    stops.push(() => servers.stop());

    // Issue 17: an SfB Front End pool, the gateway as its trusted application (SfB users homed by name).
    const sfb = await startSfbPool(tls, { sipPort: o.sfbPoolPort ?? 5062, controlPort: o.sfbControlPort ?? 8444, photosPort: o.sfbPhotosPort ?? 8061 }, [o.sfbPort ?? 5061]);
    stops.push(() => sfb.emulator.close());

    const configPath = join(dir, 'gateway.yaml');
    await writeLoopbackConfig(configPath, {
      sfb: sfb.gatewayConfig,
      componentPort: o.componentPort,
      emulatorUrl: emulator.url,
      webhookPort,
      adminPort,
      sqlitePath: join(dir, 'gateway.sqlite'),
      policy,
      adminToken: DEMO.adminToken,
      // Rich notifications: Graph sends each Teams message and presence change encrypted to this certificate.
      richNotifications: [await ensureNotificationCertificate(join(dir, 'tls'), 'sandbox-1')],
      secondTenant: { policy: northwindPolicy, walls, adminTokens: { first: DEMO.tenantAdminToken, second: DEMO_NORTHWIND.tenantAdminToken } },
    });
    const logPath = join(dir, 'gateway.log');
    const logFile = createWriteStream(logPath, { flags: 'a' });
    const gateway = spawn(process.execPath, [MAIN, 'start', '--config', configPath], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.caCertPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gateway.stdout?.pipe(logFile);
    gateway.stderr?.pipe(logFile);
    stops.push(async () => {
      if (gateway.exitCode !== null) return;
      const exited = new Promise((r) => gateway.once('exit', r));
      gateway.kill('SIGTERM');
      await exited;
    });
    await waitForHealthy(adminPort, gateway, 30_000);

    const rel = (p: string) => relative(process.cwd(), p) || '.';
    const cli = `NODE_EXTRA_CA_CERTS=${rel(tls.caCertPath)} node ${rel(TEAMS_CLI)} --emulator ${emulator.url}`;
    const sfbCli = `node ${rel(SFB_CLI)} --emulator ${sfb.emulator.controlUrl}`;
    const teamsJids = DEMO.teamsUsers.map((u) => `${upnToLocalpart(u.userPrincipalName, { defaultUpnDomain: DEMO.teamsDomain })}@${DEMO.componentDomain}`);
    const northwindJids = DEMO_NORTHWIND.teamsUsers.map((u) => `${upnToLocalpart(u.userPrincipalName, { defaultUpnDomain: DEMO_NORTHWIND.teamsDomain })}@${DEMO_NORTHWIND.componentDomain}`);
    const nwCli = `${cli} --tenant ${DEMO_NORTHWIND.teamsDomain}`;
    process.stdout.write(`
The sandbox federation is up (everything on 127.0.0.1; Ctrl-C stops it).

XMPP side — the gateway's Prosody (${DEMO.xmppDomain}), client port ${o.c2sPort} (no TLS, plain password):
${DEMO.xmppUsers.map((u) => `  ${u.user}@${DEMO.xmppDomain}   password ${u.password}`).join('\n')}
  e.g. with any XMPP client (Gajim, Dino, profanity: server 127.0.0.1 port ${o.c2sPort}, allow plaintext).
A partner organisation on its own Prosody (${DEMO.partnerDomain}), client port ${partnerC2sPort}, federated over S2S with TLS:
${DEMO.partnerUsers.map((u) => `  ${u.user}@${DEMO.partnerDomain}   password ${u.password}`).join('\n')}
  (server 127.0.0.1 port ${partnerC2sPort}; its users reach Teams across both servers, as partners do in production)

Two Microsoft 365 tenants, each on its own component domain, kept apart by walls (docs/tenants.md):
Contoso's Teams users, as XMPP contacts on ${DEMO.componentDomain} (add them to the roster to see their presence):
${teamsJids.filter((j) => !j.startsWith('eve.')).map((j) => `  ${j}`).join('\n')}
  (eve.internal@${DEMO.componentDomain} exists in Teams but is not whitelisted: she looks nonexistent from XMPP;
   ${DEMO.strangerUsers[0]?.user}@${DEMO.strangerDomain}, password ${DEMO.strangerUsers[0]?.password}, is on a domain outside the whitelist: everything it sends is refused.)
  (a UPN outside ${DEMO.teamsDomain}, or with characters a JID forbids, is escaped by XEP-0106, e.g. ${escapeLocalpart("o'brien")})
Northwind's Teams users, on ${DEMO_NORTHWIND.componentDomain}:
${northwindJids.filter((j) => !j.startsWith('nina.')).map((j) => `  ${j}`).join('\n')}
  (nina.internal is not whitelisted)
The walls: users of ${DEMO.xmppDomain} reach Contoso's users; the partner (${DEMO.partnerDomain}) reaches ${SANDBOX_WALLS.partnerReaches} only;
  Northwind federates with the partner and with ${SANDBOX_WALLS.northwindLetsIn} only (romeo is refused as by a nonexistent user);
  nothing crosses between Contoso and Northwind (no walls.between rule). Refusals are in each tenant's audit log.

Act as a Teams user (Graph emulator at ${emulator.url}):
  ${cli} send alice.smith@contoso.example juliet@${DEMO.xmppDomain} "Hello from Teams"
  ${cli} chats alice.smith@contoso.example
  ${cli} presence alice.smith@contoso.example Busy InACall
  ${cli} presence alice.smith@contoso.example        # what Teams shows for her (or for an XMPP user's account)
  ${cli} users
  ${nwCli} send ${DEMO_NORTHWIND.teamsUsers[0].userPrincipalName} juliet@${DEMO.xmppDomain} "Hello from Northwind"   # --tenant: act in Northwind
  node ${rel(MAIN)} whitelist add user eve.internal@${DEMO.teamsDomain} --tenant contoso --config ${rel(configPath)}   # let Eve federate, no restart

Skype for Business users (the SfB emulator's pool ${DEMO_SFB.frontEnd}; the gateway is its trusted application):
${DEMO_SFB.users.filter((u) => !u.startsWith('nobody')).map((u) => `  ${u.split('@')[0]}@${DEMO.componentDomain}`).join('\n')}
  (dan is signed in on two devices, erin is signed out)
Act as an SfB user (control API ${sfb.emulator.controlUrl}):
  ${sfbCli} send carol juliet@${DEMO.xmppDomain} "Hello from Skype for Business"
  ${sfbCli} inbox carol
  ${sfbCli} presence carol 6500 in-a-meeting back at 3
  ${sfbCli} watch carol juliet@${DEMO.xmppDomain}     # then: ${sfbCli} watching carol

Gateway node: metrics http://127.0.0.1:${adminPort}/metrics, health /healthz, readiness /readyz, logs ${rel(logPath)}, config ${rel(configPath)}
Operator console: http://127.0.0.1:${adminPort}/console/ (sign in with the operator's admin token ${DEMO.adminToken};
  a tenant's own administrators: ${DEMO.tenantAdminToken} for Contoso, ${DEMO_NORTHWIND.tenantAdminToken} for Northwind)
  It runs in evaluation mode (no licence): one node, at most ${EVALUATION.remoteDomains} remote domains and ${EVALUATION.accounts} XMPP users with a Teams account (docs/licensing.md).
`);
    await new Promise<void>((resolveStop) => {
      process.once('SIGINT', () => resolveStop());
      process.once('SIGTERM', () => resolveStop());
      gateway.once('exit', (code) => {
        process.stderr.write(`the gateway exited (code ${code}); see ${rel(logPath)}\n`);
        resolveStop();
      });
    });
    process.stdout.write('stopping the sandbox ...\n');
  } finally {
    await stopAll();
  }
}
