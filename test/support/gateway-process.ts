/**
 * A gateway node as a child process, started by the real CLI with a real config file, as an operator would
 * start it (through test-node.ts, so that test licences are valid). Its JSON log lines are kept for assertions (and printed when a test fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onJsonLines } from './json-lines.js';

/** The CLI as a test build (it trusts the test licence key; see test-node.ts). */
const MAIN = fileURLToPath(new URL('./test-node.js', import.meta.url));

export type LogLine = Record<string, unknown> & { level?: string; message?: string };

export class GatewayProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  private exit: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly adminPort: number,
  ) {
    onJsonLines(
      child.stdout,
      (v) => this.lines.push(v as LogLine),
      (line) => this.stderr.push(line),
    );
    child.stderr?.setEncoding('utf8').on('data', (d: string) => this.stderr.push(d));
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** The node's process id (for reading its CPU time and memory from /proc in benchmarks). */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  static async start(configPath: string, adminPort: number, env: NodeJS.ProcessEnv = {}, o: { waitHealthy?: boolean; nodeArgs?: readonly string[] } = {}): Promise<GatewayProcess> {
    const child = spawn(process.execPath, [...(o.nodeArgs ?? []), MAIN, 'start', '--config', configPath], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const g = new GatewayProcess(child, adminPort);
    if (o.waitHealthy ?? true) await g.waitHealthy();
    else await g.waitListening();
    return g;
  }

  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`gateway exited (${this.child.exitCode}):\n${this.stderr.join('')}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.adminPort}/readyz`)).ok) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gateway not healthy after ${timeoutMs} ms:\n${this.dump()}`);
  }

  /** The admin endpoint answers (healthy or not). */
  async waitListening(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`gateway exited (${this.child.exitCode}):\n${this.stderr.join('')}`);
      try {
        await fetch(`http://127.0.0.1:${this.adminPort}/healthz`);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`gateway admin endpoint not up after ${timeoutMs} ms`);
  }

  /** True while the node's process has not exited. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** GET /readyz (or /healthz): status and JSON body. */
  async health(path: '/readyz' | '/healthz' = '/readyz'): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.adminPort}/metrics`)).text();
  }

  /** Error lines of the node's log, for a test report (TAP comments). */
  errorReport(name: string): string {
    return this.lines
      .filter((l) => l.level === 'error')
      .map((l) => `# ${name}: ${JSON.stringify(l).slice(0, 600)}\n`)
      .join('');
  }

  dump(): string {
    return [...this.lines.map((l) => JSON.stringify(l)), ...this.stderr].join('\n');
  }

  /** Graceful stop (SIGTERM); resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    // As an orchestrator does (Kubernetes' default grace period): a draining node gets 30 s, then SIGKILL.
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }

  /** Crash (SIGKILL): nothing gets to clean up. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exit;
  }
}
