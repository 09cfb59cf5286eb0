/**
 * Operating-system packages the sandbox and the tests need (Debian names). Missing ones are installed with
 * apt-get when running as root; otherwise the caller stops with the exact command to run.
 */
import { spawnSync } from 'node:child_process';

export interface OsPackage {
  /** An executable the package provides, used to detect it. */
  readonly command: string;
  readonly debianPackage: string;
}

export const PROSODY: OsPackage = { command: 'prosody', debianPackage: 'prosody' };
export const REDIS: OsPackage = { command: 'redis-server', debianPackage: 'redis-server' };

export class MissingOsPackagesError extends Error {
  constructor(readonly packages: readonly string[]) {
    super(
      `missing operating-system packages: ${packages.join(', ')}\n` +
        `install them with:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`,
    );
    this.name = 'MissingOsPackagesError';
  }
}

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status ?? r.signal}`);
}

/** Installs what is missing (root), or throws {@link MissingOsPackagesError} naming the command to run. */
export function ensureOsPackages(packages: readonly OsPackage[], log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  const missing = packages.filter((p) => !has(p.command)).map((p) => p.debianPackage);
  if (missing.length === 0) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !has('apt-get')) throw new MissingOsPackagesError(missing);
  log(`installing ${missing.join(', ')} with apt-get ...`);
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing]);
  // Debian starts the packaged service; the sandbox and the tests run their own instances on their own ports.
  spawnSync('sh', ['-c', 'service prosody stop >/dev/null 2>&1; service redis-server stop >/dev/null 2>&1; true'], { stdio: 'ignore' });
  const still = packages.filter((p) => !has(p.command)).map((p) => p.debianPackage);
  if (still.length) throw new MissingOsPackagesError(still);
}
