/**
 * A loopback server (Prosody, ejabberd, redis-server) lives no longer than the process that started it: it never
 * holds that process open (a test file whose setup failed half-way still exits, instead of hanging its test run),
 * and it is killed when that process exits without stopping it.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * Unrefs the child and its pipes, and SIGKILLs it at this process's exit. Returns what a clean stop calls first: it
 * drops the exit hook and refs the child again, so that waiting for its exit holds this process open.
 */
export function tieToProcess(child: ChildProcess): () => void {
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as Socket | null)?.unref?.();
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const hook = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', hook);
  return () => {
    process.removeListener('exit', hook);
    child.ref();
  };
}
