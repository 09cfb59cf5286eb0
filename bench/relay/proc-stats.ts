/**
 * What a benchmark reads of another process from /proc (Linux): its CPU time (user + system, every thread, so a
 * store worker thread counts too) and its resident memory. Clock ticks are 10 ms (USER_HZ 100 on Linux), which is
 * plenty for runs of seconds.
 */
import { readFileSync } from 'node:fs';

const USER_HZ = 100;

/** CPU time used so far by process `pid`, in ms (user + system, all threads). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / USER_HZ;
}

/**
 * The machine's CPU time so far, every core (/proc/stat): busy (all but idle and iowait) and in all, in ticks, and
 * how many cores those totals cover (its cpuN lines: the machine's, whatever this process may run on).
 */
export function machineTicks(): { busy: number; total: number; cores: number } {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const fields = (lines[0] ?? '').trim().split(/\s+/u).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total, cores: lines.filter((l) => /^cpu\d/u.test(l)).length };
}

/** Resident set size now and at its peak (VmRSS, VmHWM), in MiB. */
export function rssMiB(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'mu').exec(status)?.[1] ?? NaN);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Waits until the processes use less than `idleMsPerSecond` of CPU per second (work after the measured event). */
export async function quiescent(pids: readonly number[], idleMsPerSecond = 30, limitMs = 30_000): Promise<void> {
  const total = () => pids.reduce((n, p) => n + cpuMs(p), 0);
  const deadline = Date.now() + limitMs;
  let last = total();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const now = total();
    if ((now - last) * 2 < idleMsPerSecond) return;
    last = now;
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
}
