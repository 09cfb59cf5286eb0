/**
 * Where the nodes' on-CPU samples went, by area and by thread: each perf sample (with its call chain) counts for
 * the first area found walking from the sampled frame towards the root (rich notifications' decryption wherever
 * it is on the stack), so areas add up to 100%. A frame names an area by the file or native symbol it comes from.
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

/**
 * Decrypting rich notifications, counted wherever it is on the stack (its RSA step ends in OpenSSL, which the TLS
 * area would otherwise claim). perf sometimes cuts a stack short inside OpenSSL's big-number code: such a sample
 * counts here too, as nothing else in a node does private-key RSA at that rate (TLS handshakes are a few a minute).
 */
export const RICH_NOTIFICATIONS = 'rich notifications: decrypting (RSA-OAEP key unwrap, AES-CBC, HMAC)';
const RICH_STACK = /rich-notifications\.js|decrypt-worker\.js|resource-decrypter\.js|PublicKeyCipher/u;
const RSA_LEAF = /^\S+ (?:ossl_rsaz_|rsaz_|bn_sqrx8x|__bn_sqrx8x|bn_mulx4x_mont|bn_sqr8x_mont|RSAZ_)/u;

/** The area of one sample, from its frames (leaf first): the first area found walking towards the root. */
export function areaOf(frames: readonly string[]): string {
  if (frames.some((f) => RICH_STACK.test(f)) || RSA_LEAF.test(frames[0] ?? '')) return RICH_NOTIFICATIONS;
  for (const f of frames) {
    if (KERNEL.test(f)) continue;
    const hit = AREAS.find(([, re]) => re.test(f));
    if (hit) return hit[0];
  }
  return 'other';
}

/**
 * What a thread of a node is, from where its samples went: the process's first thread runs the event loop; of
 * the others, the one that decrypts, the SQLite writer, and V8's own (compiler, garbage collector).
 */
export function threadRole(isMain: boolean, areas: ReadonlyMap<string, number>): string {
  if (isMain) return 'event loop';
  const total = [...areas.values()].reduce((a, b) => a + b, 0);
  const share = (area: string) => (areas.get(area) ?? 0) / Math.max(1, total);
  if (share(RICH_NOTIFICATIONS) >= 0.5) return 'decrypting thread';
  if (share('store writer thread (SQLite, fsync)') >= 0.5) return 'SQLite writer thread';
  if (share('JIT compiler threads') + share('garbage collector') >= 0.5) return "V8's threads (compiler, garbage collector)";
  return 'other threads';
}

export interface PerfSummary {
  /** Share of all samples by area, and the share of all samples that were in the kernel, largest first. */
  readonly areas: { area: string; share: number; kernel: number }[];
  /** Share of all samples by thread role (threads of one role added up), largest first. */
  readonly threads: { role: string; share: number }[];
}

export function perfAreas(file: string): PerfSummary {
  const r = spawnSync('perf', ['script', '-i', file, '-F', 'pid,tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const counts = new Map<string, number>();
  const inKernel = new Map<string, number>();
  const byThread = new Map<string, { main: boolean; areas: Map<string, number> }>();
  let total = 0;
  for (const block of r.stdout.split(/\n\s*\n/u)) {
    const [header, ...frames] = block.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    const ids = /^(\d+)\/(\d+)$/u.exec(header ?? '');
    if (!ids || frames.length === 0) continue;
    total++;
    const area = areaOf(frames);
    counts.set(area, (counts.get(area) ?? 0) + 1);
    if (KERNEL.test(frames[0] ?? '')) inKernel.set(area, (inKernel.get(area) ?? 0) + 1);
    const key = `${ids[1]}/${ids[2]}`;
    let t = byThread.get(key);
    if (!t) byThread.set(key, (t = { main: ids[1] === ids[2], areas: new Map() }));
    t.areas.set(area, (t.areas.get(area) ?? 0) + 1);
  }
  const roles = new Map<string, number>();
  for (const t of byThread.values()) {
    const role = threadRole(t.main, t.areas);
    roles.set(role, (roles.get(role) ?? 0) + [...t.areas.values()].reduce((a, b) => a + b, 0));
  }
  const share = (n: number) => n / Math.max(1, total);
  return {
    areas: [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([area, n]) => ({ area, share: share(n), kernel: share(inKernel.get(area) ?? 0) })),
    threads: [...roles.entries()].sort((a, b) => b[1] - a[1]).map(([role, n]) => ({ role, share: share(n) })),
  };
}
