/**
 * On-CPU samples of the gateway processes with Linux `perf` (cpu-clock, every thread, kernel and native code
 * included), for the relay benchmark's --perf option: unlike V8's --cpu-prof, which samples on the wall clock
 * and so charges a thread for the time it waits for a core, perf counts only time on a CPU. JIT-compiled
 * functions are named through node --perf-basic-prof. Needs the `perf` command (Debian: linux-perf).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { perfAreas } from './perf-areas.js';

export function perfAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v perf'], { stdio: 'ignore' }).status === 0;
}

export class PerfSampler {
  private constructor(
    private readonly child: ChildProcess,
    private readonly file: string,
  ) {}

  static start(pids: readonly number[], file: string): PerfSampler {
    const child = spawn('perf', ['record', '-q', '-g', '-e', 'cpu-clock', '-F', '499', '-o', file, '-p', pids.join(',')], { stdio: 'ignore' });
    return new PerfSampler(child, file);
  }

  /** Stops sampling; returns the share of on-CPU samples by thread, by area, then the top symbols (self time). */
  async stop(top = 15): Promise<string[]> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGINT');
    await exited;
    const summary = perfAreas(this.file);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const threads = `by thread: ${summary.threads.map((t) => `${t.role} ${pct(t.share)}`).join(', ')}`;
    const areas = summary.areas.map((a) => `${pct(a.share).padStart(6)}  ${a.area}${a.kernel > 0.005 ? ` (in the kernel: ${pct(a.kernel)})` : ''}`);
    const r = spawnSync('perf', ['report', '-i', this.file, '--stdio', '--no-children', '--sort', 'dso,sym', '--percent-limit', '0.5', '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const symbols = r.stdout.split('\n').filter((l) => /^\s+\d/u.test(l)).slice(0, top).map((l) => `  self ${l.trim().replace(/\s+/gu, ' ')}`);
    return [threads, ...areas, ...symbols];
  }
}
