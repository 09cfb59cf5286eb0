/**
 * The Graph webhook under load (issue 12 item 3, issue 13 item 3). Prints, for the real listener over loopback HTTP
 * with a SQLite file store (synchronous FULL):
 * - flood: four ~977 KB bodies of 23,000 made-up subscription ids each, posted at once: the longest event-loop
 *   stall, CPU time per body, store lookups and log lines;
 * - burst: 4,000 genuine notifications posted as Graph may (BENCH_BATCH items per POST, BENCH_CONCURRENCY POSTs
 *   in flight): the slowest and the median answer, and how many answers Graph would count as slow (> 2.9 s).
 * Run: npm run build && node dist/bench/webhook.bench.js. Figures are printed, not asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Agent, request } from 'node:http';
import { createLogger } from '../src/observability/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { WebhookServer } from '../src/teams/webhook-server.js';
import { countingStore } from '../test/support/counting-store.js';
import { freePort } from '../test/support/ports.js';

const TENANT = '0d5f7a3e-8b1c-4e2a-9f6d-3c4b5a697e80';
const BURST = Number(process.env.BENCH_NOTIFICATIONS ?? 4000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 200);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'xtg-bench-webhook-'));
  const store = SqliteStore.open(join(dir, 'bench.sqlite'), { synchronous: 'full' });
  const counts = { lookups: 0 };
  let logLines = 0;
  const log = createLogger({ level: 'info', nodeId: 'bench', stream: new Writable({ write: (c: Buffer, _e, cb) => ((logLines += c.toString().split('\n').length - 1), cb()) }) });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graph/notifications`;
  const server = new WebhookServer({ listen: `127.0.0.1:${port}`, publicUrl: url, tls: undefined, store: countingStore(store, counts), log, metrics: new Metrics({ defaultMetrics: false }), onRecorded: () => undefined, tenantId: TENANT });
  await server.start();
  await store.saveSubscription({ id: 'sub-1', purpose: 'messages:p1', resource: '/users/p1/chats/getAllMessages', changeType: 'created,updated,deleted', ownerUserId: 'p1', clientState: 'secret', expiresAt: Date.now() + 3_600_000 });

  // Flood.
  const items = Array.from({ length: 23_000 }, (_, i) => `{"subscriptionId":"s${i}","resource":"r"}`);
  const flood = `{"value":[${items.join(',')}]}`;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const statuses = await Promise.all([1, 2, 3, 4].map(async () => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: flood })).status));
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  console.log(
    `flood: 4 bodies of ${(flood.length / 1024).toFixed(0)} KB (23,000 made-up subscription ids each): answers ${statuses.join(',')}; ` +
      `longest event-loop stall ${(loop.max / 1e6).toFixed(0)} ms; CPU ${((cpu.user + cpu.system) / 1000 / 4).toFixed(0)} ms per body; ` +
      `${counts.lookups} store lookups; ${logLines} log lines`,
  );

  // Burst: the sender runs in a worker thread (as Graph is another machine), over keep-alive connections.
  const bodies: string[] = [];
  for (let i = 0; i < BURST; i += BATCH) {
    const value = [];
    for (let j = i; j < Math.min(BURST, i + BATCH); j++) {
      value.push({ subscriptionId: 'sub-1', clientState: 'secret', changeType: 'created', tenantId: TENANT, resource: `chats('19:c${j % 50}@unq.gbl.spaces')/messages('${1_700_000_000_000 + j}')` });
    }
    bodies.push(JSON.stringify({ value }));
  }
  const cpu1 = process.cpuUsage();
  const times = await new Promise<number[]>((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { url, bodies, concurrency: CONCURRENCY } });
    w.once('message', (m: number[] | string) => (typeof m === 'string' ? reject(new Error(m)) : resolve(m)));
    w.once('error', reject);
  });
  const cpuBurst = process.cpuUsage(cpu1);
  times.sort((a, b) => a - b);
  const pending = (await store.dueNotifications(Date.now() + 1, BURST + 10)).length;
  console.log(
    `burst: ${BURST} notifications, ${BATCH} per POST, ${CONCURRENCY} POSTs in flight: median answer ${times[Math.floor(times.length / 2)]?.toFixed(0)} ms, ` +
      `slowest ${times.at(-1)?.toFixed(0)} ms, over 2.9 s: ${times.filter((t) => t > 2900).length}; CPU ${((cpuBurst.user + cpuBurst.system) / 1000 / BURST).toFixed(2)} ms per notification (both threads); ${pending} committed`,
  );
  await server.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

/** The burst's sender: POSTs each body, `concurrency` at a time, and reports each answer's time. */
async function sender(o: { url: string; bodies: string[]; concurrency: number }): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const times: number[] = [];
  let next = 0;
  const postOne = (body: string) =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      const req = request(o.url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 202 ? resolve(performance.now() - t) : reject(new Error(`burst: answer ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  try {
    await Promise.all(
      Array.from({ length: Math.min(o.concurrency, o.bodies.length) }, async () => {
        for (;;) {
          const body = o.bodies[next++];
          if (body === undefined) return;
          times.push(await postOne(body));
        }
      }),
    );
    parentPort?.postMessage(times);
  } catch (err) {
    parentPort?.postMessage(String(err));
  }
  agent.destroy();
}

if (isMainThread) await main();
else await sender(workerData as { url: string; bodies: string[]; concurrency: number });
