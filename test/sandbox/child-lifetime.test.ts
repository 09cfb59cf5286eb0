/**
 * A loopback server lives no longer than the process that started it (src/sandbox/child-lifetime.ts): a process
 * that never stops its redis-server still exits by itself, and takes the server with it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { portOpen } from '../../src/sandbox/port-open.js';

const SANDBOX = fileURLToPath(new URL('../../src/sandbox/', import.meta.url));

describe('a loopback server started and never stopped', () => {
  it('does not hold its process open, and is gone once that process has exited', async () => {
    // Starts redis-server, prints its port, and returns: nothing else keeps this process alive.
    const script = `import { RedisServer } from ${JSON.stringify(`${SANDBOX}redis.js`)};
import { freePort } from ${JSON.stringify(`${SANDBOX}port-open.js`)};
const server = await RedisServer.start(await freePort());
process.stdout.write(String(server.port) + '\\n');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const code = await Promise.race([exited, sleep(20_000, 'still running')]);
    if (code === 'still running') child.kill('SIGKILL');
    assert.equal(code, 0, 'the process that started the server exits by itself');
    const port = Number.parseInt(out, 10);
    assert.ok(port > 0, `printed a port: ${out}`);
    let open = true;
    for (let i = 0; i < 20 && open; i++) {
      open = await portOpen(port);
      if (open) await sleep(100);
    }
    assert.equal(open, false, `redis-server still listens on ${port}`);
  });
});
