/**
 * Where the nodes' on-CPU samples went, by area: each perf sample (with its call chain) counts for the first area
 * found walking from the sampled frame towards the root, so areas add up to 100%. A frame names an area by the
 * file or native symbol it comes from.
 */
import { spawnSync } from 'node:child_process';

const AREAS: readonly (readonly [string, RegExp])[] = [
  ['JIT compiler threads', /OptimizingCompileDispatcher|PipelineCompilationJob|compiler::/u],
  ['garbage collector', /Scavenger|MarkCompact|ConcurrentMarking|Sweeper|Heap::|MinorMarkSweep|IncrementalMarking/u],
  ['store writer thread (SQLite, fsync)', /write-worker\.js|sqlite3|better_sqlite3|runBatch/u],
  ['store reads and group commit (event loop)', /dist\/src\/store\//u],
  ['between nodes (node transport, cluster router)', /cluster\/node-transport\.js|cluster\/transport\/|cluster-router\.js|shared-xmpp-link\.js/u],
  ['Redis (ioredis, membership, placement, leases)', /ioredis|redis-parser|cluster\/(membership|placement-directory|leader-lease|cluster-node|licence-seats)\.js/u],
  ['Graph client (@microsoft/microsoft-graph-client, transport)', /microsoft-graph-client|graph-transport\.js|graph-client\.js|tslib/u],
  ['rate limits and Graph pacing (token buckets)', /rate-buckets\.js|token-bucket\.js|graph-pacing\.js|policy\/throttle\.js/u],
  ['webhook and inbox (webhook-server, notification-processor)', /webhook-server\.js|notification-processor\.js|graph-notification\.js/u],
  ['XMPP link (xmpp.js, ltx)', /@xmpp|ltx|component-link\.js|shared-xmpp-link\.js/u],
  ['stanza router and accept', /stanza-router\.js|accept\.js|arrival-order\.js|protocol\/stanza\.js/u],
  ['pair actor', /actors\/user-pair/u],
  ['actor runtime (supervisor, comedy, bluebird)', /actor-supervisor\.js|actor-runtime\.js|comedy|bluebird|remote-domain-actor\.js/u],
  ['HTTP (node:http, https)', /_http_|node:http|node:https|llhttp|Parser::/u],
  ['TLS (OpenSSL)', /TLSWrap|libcrypto|libssl|ssl3_|tls1_|EVP_|aesni|gcm_/u],
  ['streams, events, timers (Node internals)', /node:internal\/streams|node:events|node:internal\/timers|stream_base_commons/u],
  ['metrics and logs', /prom-client|winston|logform/u],
];

/** A sample in the kernel (a system call, a page fault, a context switch) counts for the area that entered it. */
const KERNEL = /\[kernel|kallsyms|entry_SYSCALL|do_syscall|finish_task_switch|irqentry/u;

export function perfAreas(file: string): { area: string; share: number; kernel: number }[] {
  const r = spawnSync('perf', ['script', '-i', file, '-F', 'ip,sym,dso'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const counts = new Map<string, number>();
  const inKernel = new Map<string, number>();
  let total = 0;
  for (const block of r.stdout.split(/\n\s*\n/u)) {
    const frames = block.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (frames.length === 0) continue;
    total++;
    let area = 'other';
    for (const f of frames) {
      if (KERNEL.test(f)) continue;
      const hit = AREAS.find(([, re]) => re.test(f));
      if (hit) {
        area = hit[0];
        break;
      }
    }
    counts.set(area, (counts.get(area) ?? 0) + 1);
    if (KERNEL.test(frames[0] ?? '')) inKernel.set(area, (inKernel.get(area) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([area, n]) => ({ area, share: n / Math.max(1, total), kernel: (inKernel.get(area) ?? 0) / Math.max(1, total) }));
}
