/**
 * Outbox commit throughput on SQLite (issue 3): how many XMPP messages per second the gateway can durably accept
 * (one committed outbox row each, before any Graph call), with and without group commit, at both durability
 * levels. Run: npm run bench. Figures depend on the disk: they are printed, not asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { OutboundMessage } from '../src/store/store.js';

const N = Number(process.env.BENCH_MESSAGES ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);

function message(i: number): OutboundMessage {
  return {
    teamsUserId: `user-${i % 50}`,
    remoteJid: `juliet${i % 20}@xmpp.example`,
    dedupKey: `dedup-${i}`,
    sender: `juliet${i % 20}@xmpp.example/phone`,
    stanzaId: `id-${i}`,
    receiptRequested: true,
    body: `message ${i}: the quick brown fox jumps over the lazy dog`,
  };
}

interface Result {
  readonly name: string;
  readonly perSecond: number;
  readonly meanLatencyMs: number;
}

/** `CONCURRENCY` senders, each awaiting its own commit before sending the next message, as actors do. */
async function run(name: string, synchronous: 'full' | 'normal', groupCommit: boolean): Promise<Result> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'xtg-bench-'));
  const store = SqliteStore.open(join(dir, 'bench.sqlite'), { synchronous, groupCommit });
  let next = 0;
  let latencyTotal = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < N; i = next++) {
        const t = process.hrtime.bigint();
        await store.enqueueOutbound(message(i), Date.now());
        latencyTotal += Number(process.hrtime.bigint() - t) / 1e6;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { name, perSecond: N / seconds, meanLatencyMs: latencyTotal / N };
}

const results: Result[] = [];
for (const [name, sync, group] of [
  ['synchronous=FULL,   one commit per message', 'full', false],
  ['synchronous=FULL,   group commit', 'full', true],
  ['synchronous=NORMAL, one commit per message', 'normal', false],
  ['synchronous=NORMAL, group commit', 'normal', true],
] as const) {
  results.push(await run(name, sync, group));
}
console.log(`outbox accept: ${N} messages, ${CONCURRENCY} concurrent senders, SQLite WAL in ${process.env.BENCH_DIR ?? tmpdir()} (set BENCH_DIR to measure another disk)`);
for (const r of results) console.log(`  ${r.name.padEnd(45)} ${r.perSecond.toFixed(0).padStart(8)} msg/s   mean commit latency ${r.meanLatencyMs.toFixed(2)} ms`);
const [fullSingle, fullGroup] = results;
if (fullSingle && fullGroup) console.log(`  group commit at FULL durability: x${(fullGroup.perSecond / fullSingle.perSecond).toFixed(1)}`);
