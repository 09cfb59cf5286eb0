/**
 * A private ejabberd instance (Debian's package, 23.01 on bookworm) on loopback, the counterpart of
 * {@link ./prosody.ts}: its own config, Mnesia spool, logs, Erlang cookie and Erlang node name under one
 * directory; c2s and XEP-0114 component listeners on 127.0.0.1 only; s2s refused. Unlike Prosody, ejabberd
 * accepts several component connections for one domain and spreads the stanzas for that domain over them
 * (by default at random, one draw per stanza; see `domainBalancing`), which is what the gateway's cluster uses.
 *
 * The Erlang VM runs as a foreground child process started directly with `erl` and the arguments Debian's
 * /usr/sbin/ejabberdctl would give it (ejabberdctl, run as root, switches to the `ejabberd` system user, which
 * cannot read a private directory). Administration commands (`register`, `status`) go through the same
 * `ejabberd_ctl` module ejabberdctl uses, from a short-lived hidden Erlang node that shares the cookie.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { tieToProcess } from './child-lifetime.js';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { portOpen } from './port-open.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { frontServerConfig, prosodyPluginDir } from '../policy/front-server-s2s.js';
import type { S2sOptions } from './s2s-options.js';

export interface EjabberdOptions {
  readonly dir: string;
  readonly vhost: string;
  readonly components: readonly { domain: string; secret: string }[];
  readonly c2sPort: number;
  readonly componentPort: number;
  readonly users: readonly { username: string; password: string }[];
  /** More virtual hosts on the same server, each with its users. */
  readonly extraHosts?: readonly { vhost: string; users: readonly { username: string; password: string }[] }[];
  /** Server-to-server federation (STARTTLS, certificates, the loopback DNS responder); refused when absent. */
  readonly s2s?: S2sOptions;
  /**
   * Key and certificate (PEM) for c2s: STARTTLS is offered (not required) and the certificate must name the
   * virtual host, because clients check it against the domain they log in to. Without it c2s is plaintext only.
   */
  readonly tls?: { readonly key: string; readonly cert: string };
  /**
   * ejabberd's `domain_balancing` per component domain. Left out, each stanza goes to one of the domain's
   * connections drawn at random (a hash of the current time). With a `type`, the draw is a hash of that
   * address instead, over `componentNumber` fixed slots (required: ejabberd 23.01 crashes every component
   * connection of a domain whose entry lacks it). A connection takes the first free slot; a stanza whose slot
   * has no connection is dropped silently (no error to the sender); connections beyond `componentNumber` are
   * accepted but get nothing.
   */
  readonly domainBalancing?: Readonly<
    Record<string, { readonly type?: 'random' | 'source' | 'destination' | 'bare_source' | 'bare_destination'; readonly componentNumber?: number }>
  >;
  /** How long to wait for the node to start; 30 s unless told. */
  readonly startTimeoutMs?: number;
}

export class EjabberdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EjabberdError';
  }
}

/** Where Debian's ejabberd lives; read from /usr/sbin/ejabberdctl so that any architecture works. */
interface Installation {
  readonly erl: string;
  readonly erlLibs: string;
}

const EJABBERDCTL = '/usr/sbin/ejabberdctl';

function installation(): Installation {
  let script: string;
  try {
    script = readFileSync(EJABBERDCTL, 'utf8');
  } catch {
    throw new EjabberdError(`${EJABBERDCTL} not found: install Debian's ejabberd package (apt-get install --no-install-recommends ejabberd)`);
  }
  const erl = /^ERL="([^"]+)"/m.exec(script)?.[1] ?? '/usr/bin/erl';
  let erlLibs = /^ERL_LIBS='([^']+)'/m.exec(script)?.[1];
  if (!erlLibs) {
    // Fallback: the multiarch directory that holds ejabberd-<version>/.
    const base = safeList('/usr/lib').find((d) => safeList(join('/usr/lib', d)).some((e) => e.startsWith('ejabberd-')));
    if (!base) throw new EjabberdError(`cannot find ejabberd's Erlang libraries (no ERL_LIBS in ${EJABBERDCTL}, no /usr/lib/*/ejabberd-*)`);
    erlLibs = join('/usr/lib', base);
  }
  if (!existsSync(erl)) throw new EjabberdError(`the Erlang runtime ${erl} named by ${EJABBERDCTL} is missing`);
  return { erl, erlLibs };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const modulesBase = {
  mod_roster: {},
  mod_disco: {},
  mod_ping: {},
  mod_version: { show_os: false },
  mod_caps: {},
  mod_vcard: {},
  mod_admin_extra: {},
};

/** The configuration as ejabberd.yml's structure (written with the yaml package). */
export function configObject(o: EjabberdOptions, paths: { certfiles: readonly string[]; c2sTls: boolean }): Record<string, unknown> {
  const s2s = o.s2s;
  if (s2s?.moreFronts?.length) throw new Error('ejabberd cannot front a second gateway component with a whitelist of its own (s2s_access is server-wide): use Prosody');
  const front = s2s?.front ? frontServerConfig(s2s.front, { prosodyPluginDir: prosodyPluginDir() }).ejabberd : undefined;
  const balancing = Object.entries(o.domainBalancing ?? {});
  const dialback = s2s?.dialbackDomains ?? [];
  const acl: Record<string, unknown> = { local: { user_regexp: '' }, ...(front?.acl ?? {}) };
  const accessRules: Record<string, unknown> = {
    local: { allow: 'local' },
    c2s: { allow: 'all' },
    // Without S2S every stream is refused; a partner server takes any peer with a valid certificate.
    s2s: s2s ? { allow: 'all' } : { deny: 'all' },
    ...(front?.accessRules ?? {}),
  };
  const modules: Record<string, unknown> = { ...modulesBase };
  if (s2s && !front) {
    if (dialback.length) {
      acl.dialback_peers = { server: [...dialback] };
      accessRules.dialback = { allow: 'dialback_peers' };
    } else {
      accessRules.dialback = { deny: 'all' };
    }
    // Loaded so that this server's own domains without a valid certificate can still authenticate outgoing
    // streams by dialback; the access rule keeps certificate checks strict for every peer outside it.
    modules.mod_s2s_dialback = { access: 'dialback' };
  }
  Object.assign(modules, front?.modules ?? {});
  return {
    hosts: [o.vhost, ...(o.extraHosts ?? []).map((h) => h.vhost)],
    loglevel: 'info',
    log_rotate_count: 0,
    hide_sensitive_log_data: false,
    acme: { auto: false },
    ...(paths.certfiles.length ? { certfiles: [...paths.certfiles] } : {}),
    listen: [
      { port: o.c2sPort, ip: '127.0.0.1', module: 'ejabberd_c2s', starttls: paths.c2sTls, starttls_required: false, max_stanza_size: 262144, access: 'c2s' },
      {
        port: o.componentPort,
        ip: '127.0.0.1',
        module: 'ejabberd_service',
        max_stanza_size: 524288,
        hosts: Object.fromEntries(o.components.map((c) => [c.domain, { password: c.secret }])),
      },
      ...(s2s ? [{ port: s2s.port, ip: '127.0.0.1', module: 'ejabberd_s2s_in', max_stanza_size: 524288 }] : []),
    ],
    ...(balancing.length
      ? {
          domain_balancing: Object.fromEntries(
            balancing.map(([d, b]) => [d, { ...(b.type ? { type: b.type } : {}), ...(b.componentNumber ? { component_number: b.componentNumber } : {}) }]),
          ),
        }
      : {}),
    auth_method: 'internal',
    auth_password_format: 'scram',
    disable_sasl_mechanisms: ['digest-md5', 'x-oauth2'],
    ...(s2s
      ? {
          // Peers' certificates are checked against this CA only; STARTTLS on every S2S stream.
          ca_file: s2s.caFile,
          s2s_use_starttls: 'required',
          // The loopback resolver answers at once; a partner that went away is found out in seconds.
          s2s_dns_timeout: 2,
          s2s_dns_retries: 1,
          outgoing_s2s_families: ['ipv4'],
          outgoing_s2s_timeout: 10,
        }
      : {}),
    ...(front ? { s2s_use_starttls: front.s2sUseStarttls } : {}),
    s2s_access: front?.s2sAccess ?? 's2s',
    acl,
    access_rules: accessRules,
    api_permissions: { 'console commands': { from: ['ejabberd_ctl'], who: 'all', what: '*' } },
    modules,
  };
}

export class EjabberdServer {
  private exited = false;
  private exitInfo = '';
  private readonly removeExitHook: () => void;

  private constructor(
    readonly o: EjabberdOptions,
    /** The Erlang node name, unique per instance (`xtg<hex>@localhost`). */
    readonly node: string,
    readonly configPath: string,
    private readonly install: Installation,
    private readonly child: ChildProcess,
  ) {
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
    });
    // A process that exits without stop() does not wait for the graceful stop on stdin's end.
    this.removeExitHook = tieToProcess(child);
  }

  /** The Erlang VM's process id (for CPU accounting in benchmarks). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get logPath(): string {
    return join(this.o.dir, 'logs', 'ejabberd.log');
  }

  static async start(o: EjabberdOptions): Promise<EjabberdServer> {
    for (const [domain, b] of Object.entries(o.domainBalancing ?? {})) {
      if (b.type && !b.componentNumber) {
        // ejabberd 23.01's router reads component_number whenever the domain has a domain_balancing entry:
        // without it, every component connection for the domain crashes right after its handshake.
        throw new EjabberdError(`domainBalancing for ${domain}: ejabberd 23.01 needs componentNumber with type (else it drops every component connection)`);
      }
    }
    const install = installation();
    const spool = join(o.dir, 'spool');
    const logs = join(o.dir, 'logs');
    await mkdir(logs, { recursive: true });
    for (const port of [o.c2sPort, o.componentPort, ...(o.s2s ? [o.s2s.port] : [])]) {
      if (await portOpen(port)) throw new EjabberdError(`port ${port} on 127.0.0.1 is already in use; choose another`);
    }
    // Mnesia ties its schema to the node name, so a fresh name gets a fresh spool; accounts come from `users`.
    await rm(spool, { recursive: true, force: true });
    await mkdir(spool, { recursive: true });
    const node = `xtg${randomBytes(5).toString('hex')}@localhost`;
    const cookiePath = join(o.dir, '.erlang.cookie');
    await rm(cookiePath, { force: true });
    await writeFile(cookiePath, randomBytes(18).toString('hex').toUpperCase(), { mode: 0o400 });
    await chmod(cookiePath, 0o400);
    const certfiles: string[] = [];
    const writePem = async (name: string, c: { key: string; cert: string }) => {
      const file = join(o.dir, name);
      await rm(file, { force: true });
      await writeFile(file, `${c.key.trim()}\n${c.cert.trim()}\n`, { mode: 0o600 });
      certfiles.push(file);
    };
    if (o.tls) await writePem('c2s.pem', o.tls);
    // One file per domain: ejabberd picks the certificate whose names match the stream's domain.
    for (const [domain, c] of Object.entries(o.s2s?.certificates ?? {})) await writePem(`s2s-${domain}.pem`, c);
    await rm(join(o.dir, 'inetrc'), { force: true });
    if (o.s2s) {
      // Erlang's resolver (inet_res, what ejabberd's SRV lookups use) asks the loopback responder only.
      await writeFile(join(o.dir, 'inetrc'), `{resolv_conf, ""}.\n{hosts_file, ""}.\n{nameserver, {127,0,0,1}, ${o.s2s.dnsPort}}.\n`);
    }
    const configPath = join(o.dir, 'ejabberd.yml');
    await writeFile(configPath, `# generated by xmpp-teams-gateway; loopback only: for demos and tests\n${stringify(configObject(o, { certfiles, c2sTls: o.tls !== undefined }))}`);
    await writeFile(join(logs, 'ejabberd.log'), '');
    const consoleFd = openSync(join(logs, 'console.log'), 'w');
    let child: ChildProcess;
    try {
      child = spawn(
        install.erl,
        [
          '-sname',
          node,
          '+K',
          'true',
          '+P',
          '250000',
          '-env',
          'ERL_CRASH_DUMP_BYTES',
          '0',
          // Erlang distribution (which ejabberd_ctl talks over) on loopback only.
          '-kernel',
          'inet_dist_use_interface',
          '{127,0,0,1}',
          '-noinput',
          '-mnesia',
          'dir',
          JSON.stringify(spool),
          '-s',
          'ejabberd',
          // Stops the node when stdin (a pipe from this process) closes: whatever way this process ends, even
          // SIGKILL, no Erlang VM is left behind.
          '-eval',
          'spawn(fun() -> P = open_port({fd,0,1}, [in, eof, binary]), (fun L() -> receive {P, {data, _}} -> L(); {P, eof} -> init:stop() end end)() end)',
        ],
        { cwd: o.dir, env: EjabberdServer.env(o.dir, install, configPath), stdio: ['pipe', consoleFd, consoleFd] },
      );
    } finally {
      closeSync(consoleFd);
    }
    const server = new EjabberdServer(o, node, configPath, install, child);
    const startedAt = Date.now();
    const deadline = startedAt + (o.startTimeoutMs ?? 30_000);
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    try {
      for (;;) {
        if (spawnError) throw new EjabberdError(`cannot run ${install.erl}: ${spawnError.message}`);
        if (server.exited) throw new EjabberdError(`ejabberd exited at start (${server.exitInfo}); see ${server.logPath}:\n${await server.logTail()}`);
        if (Date.now() > deadline) {
          throw new EjabberdError(`ejabberd did not open ports ${o.c2sPort}/${o.componentPort} within ${Date.now() - startedAt} ms:\n${await server.logTail()}`);
        }
        const ports = [o.c2sPort, o.componentPort, ...(o.s2s ? [o.s2s.port] : [])];
        if ((await Promise.all(ports.map((p) => portOpen(p)))).every(Boolean) && (await server.ctl(['status'])).code === 0) break;
        await sleep(150);
      }
      for (const u of o.users) await server.register(u.username, u.password);
      for (const h of o.extraHosts ?? []) for (const u of h.users) await server.register(u.username, u.password, h.vhost);
      return server;
    } catch (err) {
      await server.stop();
      throw err;
    }
  }

  private static env(dir: string, install: Installation, configPath: string): NodeJS.ProcessEnv {
    return {
      ...process.env,
      // erl reads the cookie from $HOME/.erlang.cookie; ejabberd keeps contributed modules under $HOME too.
      HOME: dir,
      EJABBERD_CONFIG_PATH: configPath,
      EJABBERD_LOG_PATH: join(dir, 'logs', 'ejabberd.log'),
      EJABBERD_PID_PATH: join(dir, 'ejabberd.pid'),
      ERL_CRASH_DUMP: join(dir, 'logs', 'erl_crash.dump'),
      ERL_LIBS: install.erlLibs,
      ERL_MAX_PORTS: '32000',
      ERL_MAX_ETS_TABLES: '1400',
      // If this is the first Erlang node on the machine, the epmd it starts listens on loopback only.
      ERL_EPMD_ADDRESS: '127.0.0.1',
      ...(existsSync(join(dir, 'inetrc')) ? { ERL_INETRC: join(dir, 'inetrc') } : {}),
      CONTRIB_MODULES_PATH: join(dir, 'modules'),
    };
  }

  /** Runs an ejabberdctl command against this node (from a hidden, short-lived Erlang node). */
  ctl(args: readonly string[], timeoutMs = 20_000): Promise<{ code: number; output: string }> {
    const ctlNode = `xtgctl${randomBytes(4).toString('hex')}@localhost`;
    return new Promise((resolve) => {
      execFile(
        this.install.erl,
        ['-sname', ctlNode, '-hidden', '-noinput', '-kernel', 'inet_dist_use_interface', '{127,0,0,1}', '-s', 'ejabberd_ctl', '-extra', this.node, ...args],
        { cwd: this.o.dir, env: EjabberdServer.env(this.o.dir, this.install, this.configPath), timeout: timeoutMs, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          resolve({ code, output: `${stdout}${stderr}`.trim() });
        },
      );
    });
  }

  /** Creates an account on the virtual host (or changes its password if it exists). */
  async register(username: string, password: string, host = this.o.vhost): Promise<void> {
    const r = await this.ctl(['register', username, host, password]);
    if (r.code === 0) return;
    if (/already registered|conflict/i.test(r.output)) {
      const c = await this.ctl(['change_password', username, host, password]);
      if (c.code === 0) return;
      throw new EjabberdError(`ejabberdctl change_password ${username}@${host} failed (${c.code}): ${c.output}`);
    }
    throw new EjabberdError(`ejabberdctl register ${username}@${host} failed (${r.code}): ${r.output}\n${await this.logTail()}`);
  }

  async logTail(lines = 25): Promise<string> {
    const tail = async (path: string) => {
      try {
        return (await readFile(path, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    };
    const log = await tail(this.logPath);
    // Errors from before the logger is up (e.g. a config the parser refuses) only reach the console.
    return log || (await tail(join(this.o.dir, 'logs', 'console.log'))) || '(no log)';
  }

  /** Stops the node (gracefully: SIGTERM runs init:stop(); SIGKILL after 10 s). epmd, if started, stays: it is shared. */
  async stop(): Promise<void> {
    this.removeExitHook();
    if (this.exited || this.child.exitCode !== null || this.child.pid === undefined) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const stopped = await Promise.race([done.then(() => true), sleep(10_000, undefined, { ref: false }).then(() => false)]);
    if (!stopped) {
      this.child.kill('SIGKILL');
      await done;
    }
  }
}
