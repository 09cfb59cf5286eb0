/**
 * Loopback ports: whether something listens (the local servers' readiness), and free ones to listen on.
 *
 * A free port is handed out seconds before a server binds it (certificates are issued, an Erlang VM boots), and two
 * test files run at once. Asking the kernel (`listen(0)`) is not enough for that window: its choice comes from the
 * ephemeral range, where every other `listen(0)` (an Erlang node's distribution port, another test file's
 * servers) and every outgoing connection draw too. So a free port here is (1) below the ephemeral range, which
 * nothing picks by itself, (2) claimed in a directory that every process of this project shares (a file named for
 * the port, holding the claimant's pid: a claim of a process that is gone is taken over), and (3) bindable now.
 * A process never gets the same port twice and releases its claims when it exits.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Where claims live: one directory per machine user, shared by every process of this project. */
function claimsDir(): string {
  return join(tmpdir(), `xmpp-teams-gateway-ports-${process.getuid?.() ?? 'user'}`);
}

/** The kernel's ephemeral range (Linux); the usual default elsewhere. */
export function ephemeralRange(text?: string): { low: number; high: number } {
  try {
    const [low, high] = (text ?? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
    if (low && high && low <= high) return { low, high };
  } catch {
    // not Linux: fall through
  }
  return { low: 32768, high: 60999 };
}

/**
 * The range free ports are drawn from: [10000, ephemeral low) when that leaves at least 4,096 ports, else the top of
 * the port space above the ephemeral range, else (a machine that made every port ephemeral) the kernel's choice.
 */
export function claimRange(ephemeral: { low: number; high: number }): { low: number; high: number } | undefined {
  if (ephemeral.low - 10_000 >= 4096) return { low: 10_000, high: ephemeral.low - 1 };
  if (65_535 - ephemeral.high >= 4096) return { low: ephemeral.high + 1, high: 65_535 };
  return undefined;
}

/** This process's claims: port -> the directory it was claimed in. */
const mine = new Map<number, string>();
let releaseHooked = false;

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `port` for this process, taking over a claim whose process is gone. Each step is one atomic file operation:
 * a claim appears with its pid already in it (a hard link of a file written beforehand, which fails if a claim
 * exists), and a takeover first moves the claim aside (a rename), so that two processes never both take it over.
 */
function claim(dir: string, port: number): boolean {
  if (mine.has(port)) return false;
  const file = join(dir, String(port));
  const own = join(dir, `.${process.pid}.${port}.${randomBytes(4).toString('hex')}`);
  writeFileSync(own, String(process.pid));
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(own, file);
        mine.set(port, dir);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (pidAlive(ownerOf(file))) return false;
      const grave = `${own}.gone`;
      try {
        renameSync(file, grave);
      } catch {
        continue; // released or taken over meanwhile: try again
      }
      // What was moved aside may be a claim made after the check: a live one goes back unless a new one is there.
      if (pidAlive(ownerOf(grave))) {
        try {
          linkSync(grave, file);
        } catch {
          // a newer claim is in place
        }
        rmSync(grave, { force: true });
        return false;
      }
      rmSync(grave, { force: true });
    }
    return false;
  } finally {
    rmSync(own, { force: true });
  }
}

/** The pid in a claim file; NaN when it cannot be read (gone meanwhile). */
function ownerOf(file: string): number {
  try {
    return Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    return Number.NaN;
  }
}

/** Removes this process's claims (only those still holding its pid). */
function releaseAll(): void {
  for (const [port, dir] of mine) {
    const file = join(dir, String(port));
    if (ownerOf(file) !== process.pid) continue;
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
  mine.clear();
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function kernelChoice(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export class NoFreePortError extends Error {
  constructor(range: { low: number; high: number }, tries: number) {
    super(`no free TCP port on 127.0.0.1 in ${range.low}-${range.high} after ${tries} tries`);
    this.name = 'NoFreePortError';
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on now and no other process of this project has been given. */
export async function freePort(): Promise<number> {
  const range = claimRange(ephemeralRange());
  return range ? claimFreePort(range, claimsDir()) : kernelChoice();
}

/** freePort's draw in a given range and claims directory. */
export async function claimFreePort(range: { low: number; high: number }, dir: string, tries = 200): Promise<number> {
  mkdirSync(dir, { recursive: true });
  if (!releaseHooked) {
    releaseHooked = true;
    process.once('exit', () => releaseAll());
  }
  const span = range.high - range.low + 1;
  for (let i = 0; i < tries; i++) {
    const port = range.low + Math.floor(Math.random() * span);
    if (!claim(dir, port)) continue;
    if (await bindable(port)) return port;
    // Someone outside this project listens there: keep the claim (never hand it out) and draw again.
  }
  throw new NoFreePortError(range, tries);
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}
