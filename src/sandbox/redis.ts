/** A private redis-server (Debian's package) on loopback, without persistence: for the sandbox and the tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { tieToProcess } from './child-lifetime.js';
import { portOpen } from './port-open.js';
import { setTimeout as sleep } from 'node:timers/promises';

export class RedisServer {
  private exited = false;
  private output = '';
  private readonly stopping: () => void;

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-4000)));
    child.on('exit', () => (this.exited = true));
    this.stopping = tieToProcess(child);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(port: number): Promise<RedisServer> {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new RedisServer(port, child);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (server.exited) throw new Error(`redis-server exited at start:\n${server.output}`);
      if (await portOpen(port)) return server;
      await sleep(50);
    }
    await server.stop();
    throw new Error(`redis-server did not listen on ${port} within 10 s:\n${server.output}`);
  }

  async stop(): Promise<void> {
    this.stopping();
    if (this.exited) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await done;
  }
}
