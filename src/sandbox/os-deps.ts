/**
 * Operating-system packages the sandbox and the tests need (Debian names). Missing ones are installed with
 * apt-get when running as root; otherwise the caller stops with the exact command to run.
 */
import { spawnSync } from 'node:child_process';

export type OsPackage = {
  readonly debianPackage: string;
  /** The system service the package installs and starts; stopped and disabled right after installing it. */
  readonly service?: string;
} & (
  | {
      /** An executable the package provides, used to detect it. */
      readonly command: string;
      readonly probe?: never;
    }
  | {
      /** A shell test that succeeds when the package is there (for libraries, which have no executable). */
      readonly probe: string;
      readonly command?: never;
    }
);

export const PROSODY: OsPackage = { command: 'prosody', debianPackage: 'prosody', service: 'prosody' };
export const REDIS: OsPackage = { command: 'redis-server', debianPackage: 'redis-server', service: 'redis-server' };
/**
 * ejabberd (23.01 on bookworm, with the Erlang runtime it needs), the XMPP server that balances one component
 * domain over several XEP-0114 links. Detected by its absolute path: /usr/sbin is not on every user's PATH.
 */
export const EJABBERD: OsPackage = { command: '/usr/sbin/ejabberdctl', debianPackage: 'ejabberd', service: 'ejabberd' };
/**
 * Prosody's server-to-server federation on loopback: libunbound for Lua, so that Prosody resolves peers through
 * the federation's own DNS responder (its built-in resolver reads only /etc/resolv.conf).
 */
export const LUA_UNBOUND: OsPackage = { probe: 'ls /usr/lib/*/lua/5.*/lunbound.so', debianPackage: 'lua-unbound' };
/**
 * slixmpp (1.8 on bookworm), an XMPP library nobody here wrote, for the partner side of an end-to-end test. It
 * lives in Debian's Python: the tests run /usr/bin/python3, never a python3 found first on PATH (pyenv, venv).
 */
export const SLIXMPP: OsPackage = { probe: '/usr/bin/python3 -c "import slixmpp" 2>/dev/null', debianPackage: 'python3-slixmpp' };
/** Everything S2S federation on loopback needs besides the servers themselves. */
export const S2S_PACKAGES: readonly OsPackage[] = [LUA_UNBOUND];

/**
 * Debian's Chromium, the browser the console's end-to-end tests drive with playwright-core (never a browser that
 * Playwright downloads). Detected by its absolute path.
 */
export const CHROMIUM: OsPackage = { command: '/usr/bin/chromium', debianPackage: 'chromium' };

/**
 * Issue 17's standards smoke test of the project's SIP stack (test/sfb/sip/kamailio-baresip.test.ts): Kamailio
 * (5.6 on bookworm) as proxy and registrar over TCP, baresip (1.0) as an independent user agent. Installed by the
 * test command only when that test is selected.
 */
export const KAMAILIO: OsPackage = { command: '/usr/sbin/kamailio', debianPackage: 'kamailio', service: 'kamailio' };
export const BARESIP: OsPackage = { command: 'baresip', debianPackage: 'baresip' };

export class MissingOsPackagesError extends Error {
  constructor(readonly packages: readonly string[]) {
    super(
      `missing operating-system packages: ${packages.join(', ')}\n` +
        `install them with:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`,
    );
    this.name = 'MissingOsPackagesError';
  }
}

function has(p: OsPackage): boolean {
  return spawnSync('sh', ['-c', p.probe !== undefined ? p.probe : `command -v ${p.command}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status ?? r.signal}`);
}

/** Installs what is missing (root), or throws {@link MissingOsPackagesError} naming the command to run. */
export function ensureOsPackages(packages: readonly OsPackage[], log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  const missingPackages = packages.filter((p) => !has(p));
  const missing = missingPackages.map((p) => p.debianPackage);
  if (missing.length === 0) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !has({ command: 'apt-get', debianPackage: 'apt' })) throw new MissingOsPackagesError(missing);
  log(`installing ${missing.join(', ')} with apt-get ...`);
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing]);
  // Debian starts the packaged services and enables them at boot; the sandbox and the tests run their own
  // instances on their own ports, so the system ones just installed are stopped and disabled and hold no port.
  // (Only those: a service the machine already had is left alone.)
  for (const service of missingPackages.flatMap((p) => (p.service ? [p.service] : []))) {
    spawnSync('sh', ['-c', `service ${service} stop; systemctl disable ${service} || update-rc.d ${service} disable; true`], { stdio: 'ignore' });
  }
  const still = packages.filter((p) => !has(p)).map((p) => p.debianPackage);
  if (still.length) throw new MissingOsPackagesError(still);
}
