/**
 * A private Prosody instance (Debian's package) on loopback: its own config, data and log under one directory,
 * c2s without TLS for easy client set-up, and XEP-0114 component listeners for the gateway. S2S is off unless
 * `s2s` is given: then STARTTLS with certificates from the test CA, peers found through the loopback DNS
 * responder (libunbound's forwarder; never the machine's resolver), and, on the gateway's front server, the
 * whitelist generated from the gateway's policy (src/policy/front-server-s2s.ts). Used by `sandbox` and by the
 * end-to-end tests, so both drive the same real server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tieToProcess } from './child-lifetime.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { portOpen } from './port-open.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { frontServerConfig, prosodyPluginDir, type FrontServerConfig } from '../policy/front-server-s2s.js';
import type { S2sOptions } from './s2s-options.js';

export interface ProsodyOptions {
  readonly dir: string;
  readonly vhost: string;
  /**
   * XEP-0114 components. validateFrom: false lets the component send from any address (Prosody's
   * validate_from_addresses), as a peer server over S2S can for the domains it serves; tests use it to play
   * hostile servers.
   */
  readonly components: readonly { domain: string; secret: string; validateFrom?: boolean }[];
  readonly c2sPort: number;
  /** The XEP-0114 listener; Prosody opens it only when there is a component. */
  readonly componentPort: number;
  readonly users: readonly { user: string; password: string }[];
  /** More virtual hosts on the same server (e.g. a second, non-whitelisted domain for tests). */
  readonly extraHosts?: readonly { vhost: string; users: readonly { user: string; password: string }[] }[];
  /** Server-to-server federation; off when absent. */
  readonly s2s?: S2sOptions;
}

export class ProsodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProsodyError';
  }
}

const lua = (s: string) => JSON.stringify(s); // a JSON string literal is a valid Lua string literal for these values
const luaList = (items: readonly string[]) => `{ ${items.map(lua).join(', ')} }`;

const BASE_MODULES = ['roster', 'saslauth', 'disco', 'ping', 'version', 'uptime', 'time', 'dialback', 'pep', 'vcard_legacy'];
/** With S2S: STARTTLS, and XEP-0198 on S2S streams. */
const S2S_MODULES = ['tls', 'smacks'];

/** Where each domain's S2S certificate is written (outside Prosody's automatic `certs` lookup, so c2s stays plaintext). */
function certPaths(dir: string, domain: string): { key: string; certificate: string } {
  return { key: join(dir, 's2s-tls', `${domain}.key`), certificate: join(dir, 's2s-tls', `${domain}.crt`) };
}

function s2sGlobal(o: ProsodyOptions, s2s: S2sOptions, front: FrontServerConfig | undefined): string[] {
  return [
    `s2s_ports = { ${s2s.port} }`,
    's2s_interfaces = { "127.0.0.1" }',
    's2s_require_encryption = true',
    // Peers prove their domain with a certificate from the CA below (RFC 6120 §13.7.2); dialback only for these
    // (on the front server, the generated lines below say so).
    ...(front ? [] : ['s2s_secure_auth = true', `s2s_insecure_domains = ${luaList(s2s.dialbackDomains ?? [])}`]),
    `s2s_ssl = { cafile = ${lua(s2s.caFile)} }`,
    `certificates = ${lua(join(o.dir, 'no-automatic-certificates'))}`,
    // c2s stays plaintext as without S2S (mod_tls serves both): a c2s TLS context with a certificate but no key
    // is refused by Prosody, which then offers no STARTTLS to clients (it logs this once at start).
    'c2s_ssl = { certificate = "none: c2s is plaintext on loopback" }',
    // A partner that went away is found out in seconds rather than the default 90.
    's2s_timeout = 10',
    // TCP_NODELAY, as the gateway's link and most clients set it: with Prosody's default (Nagle on), a stanza
    // written within 40 ms of the previous one waits for the peer's delayed ACK, which would dominate the latency
    // figures of bench/s2s.bench.ts (and slow the tests) without telling anything about S2S.
    'network_settings = { nagle = false }',
    // After a broken S2S link, stanzas the peer did not acknowledge (XEP-0198) are sent again on a new one.
    'smacks_s2s_resend = true',
    // Peers' SRV targets are "localhost": IPv4 only, so no attempt is wasted on ::1.
    'use_ipv6 = false',
    // Name resolution through libunbound (lua-unbound), forwarding to the loopback responder only.
    `unbound = { resolvconf = false; hoststxt = false; forward = ${lua(`127.0.0.1@${s2s.dnsPort}`)}; options = { ["do-not-query-localhost:"] = "no" } }`,
    ...(front ? front.prosodyGlobal : []),
  ];
}

/** The generated whitelist lines of the gateway's component with this domain (none for other components). */
function componentFront(s2s: S2sOptions | undefined, domain: string): readonly string[] {
  const policy = [s2s?.front, ...(s2s?.moreFronts ?? [])].find((f) => f?.componentDomain === domain);
  return policy ? frontServerConfig(policy, { prosodyPluginDir: prosodyPluginDir() }).prosodyComponent : [];
}

function hostS2s(o: ProsodyOptions, domain: string): string[] {
  if (!o.s2s?.certificates[domain]) return [];
  const p = certPaths(o.dir, domain);
  return [`  s2s_ssl = { key = ${lua(p.key)}, certificate = ${lua(p.certificate)} }`];
}

function configText(o: ProsodyOptions): string {
  const s2s = o.s2s;
  const front = s2s?.front ? frontServerConfig(s2s.front, { prosodyPluginDir: prosodyPluginDir() }) : undefined;
  const modules = [...BASE_MODULES, ...(s2s ? S2S_MODULES : [])];
  const vhosts = [o.vhost, ...(o.extraHosts ?? []).map((h) => h.vhost)];
  return `-- generated by xmpp-teams-gateway; loopback only, plaintext c2s: for demos and tests
pidfile = ${lua(join(o.dir, 'prosody.pid'))}
data_path = ${lua(join(o.dir, 'data'))}
daemonize = false
run_as_root = true
log = { { levels = { min = "info" }, to = "file", filename = ${lua(join(o.dir, 'prosody.log'))} } }
interfaces = { "127.0.0.1" }
c2s_ports = { ${o.c2sPort} }
component_ports = { ${o.componentPort} }
component_interface = "127.0.0.1"
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
modules_enabled = ${luaList(modules)}
${s2s ? s2sGlobal(o, s2s, front).join('\n') : 'modules_disabled = { "s2s" }'}
${vhosts.map((v) => [`VirtualHost ${lua(v)}`, ...hostS2s(o, v)].join('\n')).join('\n')}
${o.components
  .map((c) =>
    [
      `Component ${lua(c.domain)}`,
      `  component_secret = ${lua(c.secret)}`,
      ...(c.validateFrom === false ? ['  validate_from_addresses = false'] : []),
      ...hostS2s(o, c.domain),
      ...componentFront(s2s, c.domain).map((l) => `  ${l}`),
    ].join('\n'),
  )
  .join('\n')}
`;
}

async function writeCertificates(o: ProsodyOptions): Promise<void> {
  if (!o.s2s) return;
  await mkdir(join(o.dir, 's2s-tls'), { recursive: true });
  await mkdir(join(o.dir, 'no-automatic-certificates'), { recursive: true });
  for (const [domain, c] of Object.entries(o.s2s.certificates)) {
    const p = certPaths(o.dir, domain);
    await writeFile(p.key, c.key, { mode: 0o600 });
    await writeFile(p.certificate, c.cert);
  }
}

function register(configPath: string, vhost: string, user: string, password: string): void {
  const r = spawnSync('prosodyctl', ['--config', configPath, 'register', user, vhost, password], { encoding: 'utf8' });
  if (r.status !== 0) throw new ProsodyError(`prosodyctl register ${user}@${vhost} failed: ${r.stderr || r.stdout}`);
}

export class ProsodyServer {
  private exited = false;
  private readonly stopping: () => void;

  private constructor(
    readonly o: ProsodyOptions,
    readonly configPath: string,
    private readonly child: ChildProcess,
  ) {
    child.on('exit', () => {
      this.exited = true;
    });
    this.stopping = tieToProcess(child);
  }

  static async start(o: ProsodyOptions): Promise<ProsodyServer> {
    await mkdir(join(o.dir, 'data'), { recursive: true });
    const ports = [o.c2sPort, ...(o.components.length ? [o.componentPort] : []), ...(o.s2s ? [o.s2s.port] : [])];
    for (const port of ports) {
      if (await portOpen(port)) throw new ProsodyError(`port ${port} on 127.0.0.1 is already in use; choose another`);
    }
    const configPath = join(o.dir, 'prosody.cfg.lua');
    await writeCertificates(o);
    await writeFile(configPath, configText(o));
    for (const u of o.users) register(configPath, o.vhost, u.user, u.password);
    for (const h of o.extraHosts ?? []) for (const u of h.users) register(configPath, h.vhost, u.user, u.password);
    const server = new ProsodyServer(o, configPath, spawn('prosody', ['--config', configPath], { stdio: 'ignore' }));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (server.exited) throw new ProsodyError(`prosody exited at start; see ${join(o.dir, 'prosody.log')}:\n${await server.logTail()}`);
      if ((await Promise.all(ports.map((p) => portOpen(p)))).every(Boolean)) return server;
      await sleep(100);
    }
    await server.stop();
    throw new ProsodyError(`prosody did not open ports ${ports.join('/')} within 20 s:\n${await server.logTail()}`);
  }

  /** The server's process id (for CPU accounting in benchmarks). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Creates (or resets the password of) an account on the virtual host. */
  register(user: string, password: string): void {
    register(this.configPath, this.o.vhost, user, password);
  }

  async logTail(lines = 20): Promise<string> {
    try {
      return (await readFile(join(this.o.dir, 'prosody.log'), 'utf8')).split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    this.stopping();
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const killed = await Promise.race([done.then(() => true), sleep(5000, undefined, { ref: false }).then(() => false)]);
    if (!killed) {
      this.child.kill('SIGKILL');
      await done;
    }
  }
}
