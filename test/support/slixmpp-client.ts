/**
 * An XMPP user whose client is slixmpp (Debian's python3-slixmpp), a library nobody here wrote: the Python side
 * (./slixmpp/partner_client.py) logs in and speaks XMPP with slixmpp's own plugins; this side sends it commands
 * and collects what it reports, as JSON lines. Debian's Python is run by path (/usr/bin/python3): a python3 found
 * first on PATH (pyenv, a venv) does not see Debian's packages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onJsonLines } from './json-lines.js';

const SCRIPT = fileURLToPath(new URL('../../../test/support/slixmpp/partner_client.py', import.meta.url));
export const DEBIAN_PYTHON = '/usr/bin/python3';

export type SlixmppEvent = Record<string, unknown> & { event: string };

export class SlixmppClient {
  readonly events: SlixmppEvent[] = [];
  private stderr = '';
  private waiters: (() => void)[] = [];
  private exited = false;

  private constructor(
    readonly jid: string,
    private readonly child: ChildProcess,
  ) {
    onJsonLines(
      child.stdout,
      (v) => {
        this.events.push(v as SlixmppEvent);
        for (const w of this.waiters.splice(0)) w();
      },
      (line) => (this.stderr += `${line}\n`),
    );
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-8000)));
    child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Starts the client and waits until its session is up (roster fetched, initial presence sent). */
  static async connect(o: { jid: string; password: string; port: number }): Promise<SlixmppClient> {
    const child = spawn(DEBIAN_PYTHON, [SCRIPT, o.jid, o.password, '127.0.0.1', String(o.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const c = new SlixmppClient(o.jid, child);
    await c.waitFor((e) => e.event === 'online', 30_000, 'the slixmpp session');
    return c;
  }

  command(c: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(c)}\n`);
  }

  /** Resolves with the first event (already reported or future) matching `pred`. */
  async waitFor(pred: (e: SlixmppEvent) => boolean, timeoutMs = 20_000, what = 'event'): Promise<SlixmppEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (this.exited || Date.now() > deadline) {
        throw new Error(`${this.exited ? 'slixmpp exited' : `timed out after ${timeoutMs} ms`} waiting for ${what}; events:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}\nstderr:\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.command({ op: 'quit' });
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
