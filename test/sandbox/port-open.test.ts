/**
 * Free ports for the loopback servers: two processes drawing at once never get the same port, nothing the kernel
 * hands out by itself (the ephemeral range) is drawn, a port someone listens on is never given, and the claims of a
 * process that is gone do not hold their ports forever.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NoFreePortError, claimFreePort, claimRange, ephemeralRange, freePort } from '../../src/sandbox/port-open.js';

const MODULE = fileURLToPath(new URL('../../src/sandbox/port-open.js', import.meta.url));

/**
 * A process that draws `n` ports from `range` in `dir`, prints them and holds its claims until `release` is
 * called (its stdin ends); it releases them as it exits.
 */
async function drawIn(dir: string, range: { low: number; high: number }, n: number): Promise<{ ports: number[]; release: () => Promise<void> }> {
  const script = `import { claimFreePort } from ${JSON.stringify(MODULE)};
const out = [];
for (let i = 0; i < ${n}; i++) out.push(await claimFreePort(${JSON.stringify(range)}, ${JSON.stringify(dir)}));
process.stdout.write(JSON.stringify(out) + '\\n');
process.stdin.resume().on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let out = '';
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.endsWith('\n')) resolve(JSON.parse(out) as number[]);
    });
    void exited.then((code) => reject(new Error(`drawing ports exited with ${code}`)));
  });
  return {
    ports,
    release: async () => {
      child.stdin.end();
      assert.equal(await exited, 0);
    },
  };
}

/** A port the kernel found free (not drawn by this process, so not among its claims). */
async function kernelPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(r.pid);
  return r.pid;
}

describe('free loopback ports', () => {
  let dir: string;
  const listening: Server[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xtg-ports-'));
  });
  after(async () => {
    for (const s of listening) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the kernel ephemeral range and draws below it, or above it, or leaves the choice to the kernel', () => {
    assert.deepEqual(ephemeralRange('32768\t60999\n'), { low: 32768, high: 60999 });
    assert.deepEqual(ephemeralRange('garbage'), { low: 32768, high: 60999 });
    assert.deepEqual(claimRange({ low: 32768, high: 60999 }), { low: 10_000, high: 32767 });
    assert.deepEqual(claimRange({ low: 12_000, high: 50_000 }), { low: 50_001, high: 65_535 });
    assert.equal(claimRange({ low: 1024, high: 65_535 }), undefined);
  });

  it('gives a bindable port outside the ephemeral range, claimed by this process', async () => {
    const port = await freePort();
    const eph = ephemeralRange();
    assert.ok(port < eph.low || port > eph.high, `${port} is in the ephemeral range ${eph.low}-${eph.high}`);
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
    s.close();
    assert.notEqual(await freePort(), port, 'the same port twice');
  });

  it('never gives two processes drawing at once the same port, and releases the claims when they exit', async () => {
    const claims = join(dir, 'shared');
    const low = 20_000 + Math.floor(Math.random() * 10_000);
    const range = { low, high: low + 99 };
    const [one, two] = await Promise.all([drawIn(claims, range, 40), drawIn(claims, range, 40)]);
    const [a, b] = [one.ports, two.ports];
    assert.equal(a.length + b.length, 80);
    assert.equal(new Set([...a, ...b]).size, 80, `shared ports: ${a.filter((p) => b.includes(p)).join(', ')}`);
    assert.ok((await readdir(claims)).length >= 80, 'every port drawn is claimed while its process runs');
    await Promise.all([one.release(), two.release()]);
    assert.deepEqual(await readdir(claims), []);
  });

  it('takes over the claim of a process that is gone, and keeps off a live one', async () => {
    const claims = join(dir, 'stale');
    const port = await kernelPort();
    await mkdir(claims);
    await writeFile(join(claims, String(port)), String(deadPid()));
    assert.equal(await claimFreePort({ low: port, high: port }, claims), port);
    assert.equal(await readFile(join(claims, String(port)), 'utf8'), String(process.pid));

    const held = join(dir, 'held');
    const other = await kernelPort();
    await mkdir(held);
    await writeFile(join(held, String(other)), String(process.ppid));
    await assert.rejects(claimFreePort({ low: other, high: other }, held, 5), NoFreePortError);
  });

  it('never gives a port that something outside the project listens on', async () => {
    const s = createServer();
    listening.push(s);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as { port: number }).port;
    await assert.rejects(claimFreePort({ low: port, high: port }, join(dir, 'busy'), 5), NoFreePortError);
  });
});
