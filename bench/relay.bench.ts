/**
 * End-to-end relay benchmark (issue 15): real Prosody, the Graph emulator with the tenant limits lifted, gateway
 * node(s) as child processes started by the CLI, N pairs of one XMPP user (xmpp.js) and one Teams user.
 *
 * For each node count it prints, each way: the relay rate until every message arrived (XMPP -> Teams: until every
 * XEP-0184 receipt, which the gateway sends only once Graph accepted the post; Teams -> XMPP: until every message
 * reached its XMPP client), the gateway's CPU time per message (user + system of the node processes, read from
 * /proc, until they are idle again: so the Graph change notification each post causes is counted too), the added
 * latency p50/p99 at half the measured rate, and each node's RSS.
 *
 *   node dist/bench/relay.bench.js [--nodes 1,3] [--messages 4000] [--pairs 8] [--runs 1] [--cpu-prof] [--perf] [--no-latency] [--latency-rate N] [--log debug] [--basic-notifications]
 *                                  [--only x2t|t2x] [--help]
 *
 * --cpu-prof runs every node with `node --cpu-prof` and prints where its CPU time went (by area and by function);
 * --only measures one direction (a profile of one path).
 * --perf samples the nodes with Linux perf during each timed run (on-CPU time only, native code and threads too).
 * Figures depend on the machine and on what else runs on it; CPU per message is the steadier one.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { printProfiles } from './relay/cpu-profile.js';
import { PerfSampler, perfAvailable } from './relay/perf-sampler.js';
import { cpuMs, machineTicks, percentile, quiescent, rssMiB } from './relay/proc-stats.js';
import { counts, graphCalls, line, meanTimings, medianRun, perMessage, summary, timings, unwrapsPerMessage, webhookPosts, type Direction } from './relay/report.js';
import { rsaUnwrapMs } from './relay/rsa-reference.js';
import { LIFTED_PACING_SCALE, LIFTED_THROTTLE, RelayFederation, type BenchPair } from './relay/relay-federation.js';

const USAGE = `usage: node dist/bench/relay.bench.js [options]
  --nodes 1,3              node counts to run, one after another (default 1,3)
  --messages 4000          messages each way in each timed run
  --pairs 8                XMPP user / Teams user pairs
  --only x2t|t2x           one direction only
  --no-latency             skip the added-latency runs at half the rate
  --latency-seconds 6      length of each latency run
  --latency-rate N         msg/s of the latency runs (default: half the measured rate of that direction)
  --runs 1                 timed runs each way, the directions alternated, then the median and range of each
  --cpu-prof               profile every node (node --cpu-prof) and print where its CPU went
  --perf                   sample the nodes with Linux perf during each timed run (by thread, by area)
  --log info|debug         the nodes' log level
  --basic-notifications    notifications without resource data (each message read from Graph)
  --help                   this text`;

/** A bad option: say which, and how to call the benchmark, without a stack trace. */
function usageError(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function positive(name: string, value: string): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : usageError(`--${name} ${value}: expected a whole number above 0`);
}

function parsedArgs(): ReturnType<typeof parse> {
  try {
    return parse();
  } catch (err) {
    return usageError(err instanceof Error ? err.message : String(err));
  }
}

function parse() {
  return parseArgs({
    options: {
      nodes: { type: 'string', default: '1,3' },
      messages: { type: 'string', default: '4000' },
      pairs: { type: 'string', default: '8' },
      'cpu-prof': { type: 'boolean', default: false },
      perf: { type: 'boolean', default: false },
      'no-latency': { type: 'boolean', default: false },
      'latency-seconds': { type: 'string', default: '6' },
      'latency-rate': { type: 'string' },
      runs: { type: 'string', default: '1' },
      log: { type: 'string', default: 'info' },
      'basic-notifications': { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

const { values: args } = parsedArgs();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const MESSAGES = positive('messages', args.messages);
const PAIRS = positive('pairs', args.pairs);
const LATENCY_SECONDS = positive('latency-seconds', args['latency-seconds']);
const LATENCY_RATE = args['latency-rate'] === undefined ? undefined : positive('latency-rate', args['latency-rate']);
const RUNS = positive('runs', args.runs);
const NODE_COUNTS = args.nodes.split(',').map((n) => positive('nodes', n.trim()));
if (args.only !== undefined && args.only !== 'x2t' && args.only !== 't2x') usageError(`--only ${args.only}: expected x2t or t2x`);
if (args.log !== 'info' && args.log !== 'debug') usageError(`--log ${args.log}: expected info or debug`);
const LOG_LEVEL: 'info' | 'debug' = args.log;
const RUN_X2T = args.only !== 't2x';
const RUN_T2X = args.only !== 'x2t';


function harness(cpu0: NodeJS.CpuUsage, seconds: number): number {
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / 1e6 / seconds;
}

const now = () => performance.timeOrigin + performance.now();
let runId = 0;

/**
 * One timed run: from quiet nodes, `send` hands every message over, `arrived` resolves when the last one is in;
 * then the nodes' CPU is read once they are quiet again (work after the last arrival counts).
 */
async function timed(pids: number[], xmppServerPid: number | undefined, tag: string, what: string, messages: number, send: () => Promise<void>, arrived: () => Promise<void>): Promise<Omit<Direction, 'failed' | 'unwrapsPerMessage'>> {
  await quiescent(pids);
  const rsa = rsaUnwrapMs();
  const perf = startPerf(pids, tag);
  const cpu0 = sumCpu(pids);
  const own0 = process.cpuUsage();
  const xmpp0 = xmppServerPid ? cpuMs(xmppServerPid) : 0;
  const machine0 = machineTicks();
  const t0 = performance.now();
  await send();
  await arrived();
  const seconds = (performance.now() - t0) / 1000;
  const machine1 = machineTicks();
  const machineBusyCores = ((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)) * machine1.cores;
  const harnessLoad = harness(own0, seconds);
  const xmppServerLoad = xmppServerPid ? (cpuMs(xmppServerPid) - xmpp0) / 1000 / seconds : 0;
  await quiescent(pids);
  const cpu = sumCpu(pids) - cpu0;
  await printPerf(perf, what);
  return { rate: messages / seconds, seconds, cpuMsPerMessage: cpu / messages, harnessLoad, xmppServerLoad, machineBusyCores, machineCores: machine1.cores, rsaUnwrapMs: rsa };
}

/** Per run and pair (prefix): how many of its messages are counted in already, in order (countAnswered, countBodies). */
const counted = new Map<string, number>();

/** Every pair sends its share at once; resolves when every receipt (or error) is in. */
async function xmppToTeams(f: RelayFederation, count: number, pids: number[]): Promise<Omit<Direction, 'unwrapsPerMessage'>> {
  const tag = `x2t${++runId}`;
  const per = Math.ceil(count / f.pairs.length);
  const run = await timed(
    pids,
    f.prosody.pid,
    tag,
    'XMPP -> Teams',
    per * f.pairs.length,
    async () => {
      await Promise.all(f.pairs.flatMap((p, pi) => Array.from({ length: per }, (_, i) => p.client.send(p.teamsJid, `${tag}-${pi}-${i}`, `${tag} ${pi} ${i} the quick brown fox jumps over the lazy dog`))));
    },
    async () => {
      await Promise.all(f.pairs.map((p, pi) => p.client.until(() => countAnswered(p, `${tag}-${pi}-`, per) >= per, Math.max(120_000, count * 100), `${per} receipts`)));
    },
  );
  const failed = f.pairs.reduce((n, p, pi) => n + [...p.client.errors.keys()].filter((id) => id.startsWith(`${tag}-${pi}-`)).length, 0);
  return { ...run, failed };
}

/** How many of the `per` messages of `prefix` were answered (receipt or error), counted from where the last count stopped. */
function countAnswered(p: BenchPair, prefix: string, per: number): number {
  let n = counted.get(prefix) ?? 0;
  while (n < per && (p.client.receipts.has(`${prefix}${n}`) || p.client.errors.has(`${prefix}${n}`))) n++;
  counted.set(prefix, n);
  return n;
}

/** Messages a Teams user writes in one turn of the bench's event loop (see teamsToXmpp). */
const YIELD_EVERY = 8;

/** Every Teams user writes her share at once; resolves when every message reached its XMPP client. */
async function teamsToXmpp(f: RelayFederation, count: number, pids: number[]): Promise<Omit<Direction, 'unwrapsPerMessage'>> {
  const tag = `t2x${++runId}`;
  const per = Math.ceil(count / f.pairs.length);
  const run = await timed(
    pids,
    f.prosody.pid,
    tag,
    'Teams -> XMPP',
    per * f.pairs.length,
    async () => {
      await Promise.all(
        f.pairs.map(async (p, pi) => {
          for (let i = 0; i < per; i++) {
            await f.emulator.sendAs(p.teamsUpn, p.client.bare, `${tag} ${pi} ${i} over the lazy dog`);
            // sendAs does its work at once: without a turn of the event loop now and then, the emulator (in this
            // process) would deliver nothing until every message of the run exists, and the gateway would sit idle
            // through a burst no Teams tenant makes.
            if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((r) => setImmediate(r));
          }
        }),
      );
    },
    async () => {
      await Promise.all(f.pairs.map((p, pi) => p.client.until(() => countBodies(p, `${tag} ${pi} `, per) >= per, Math.max(120_000, count * 100), `${per} messages from Teams`)));
    },
  );
  return { ...run, failed: 0 };
}

/** Samples the nodes during a timed run (--perf; not during warm-up runs). */
let perfOn = false;
function startPerf(pids: readonly number[], tag: string): PerfSampler | undefined {
  return perfOn ? PerfSampler.start(pids, join(tmpdir(), `xtg-relay-${tag}.perf.data`)) : undefined;
}

async function printPerf(perf: PerfSampler | undefined, what: string): Promise<void> {
  if (!perf) return;
  console.log(`  perf, ${what} (share of the nodes' on-CPU samples: by thread, by area, then the top symbols):`);
  for (const l of await perf.stop()) console.log(`    ${l}`);
}

/** How many of the `per` messages of `prefix` arrived, counted from where the last count stopped (not from 0 each time). */
function countBodies(p: BenchPair, prefix: string, per: number): number {
  let n = counted.get(prefix) ?? 0;
  while (n < per && p.client.bodies.has(`${prefix}${n} over the lazy dog`)) n++;
  counted.set(prefix, n);
  return n;
}

function sumCpu(pids: readonly number[]): number {
  return pids.reduce((n, p) => n + cpuMs(p), 0);
}

/**
 * Paced load at `rate` msg/s for LATENCY_SECONDS. XMPP -> Teams: from the client's send to the post's
 * createdDateTime in the emulator (XMPP in -> Graph post, plus Prosody's hop). Teams -> XMPP: from the message's
 * creation in the emulator (Graph then notifies) to its arrival at the XMPP client.
 */
async function latency(f: RelayFederation, dir: 'x2t' | 't2x', rate: number): Promise<{ p50: number; p99: number; n: number }> {
  const tag = `${dir}lat${++runId}`;
  const total = Math.max(f.pairs.length, Math.round(rate * LATENCY_SECONDS));
  const sent = new Map<string, number>();
  const created = new Map<string, number>();
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  let due = 0;
  let i = 0;
  const start = performance.now();
  while (i < total) {
    due += perTick;
    const target = start + (i / rate) * 1000;
    while (due >= 1 && i < total) {
      const pi = i % f.pairs.length;
      const p = f.pairs[pi] as BenchPair;
      const text = `${tag} ${pi} ${i} over the lazy dog`;
      if (dir === 'x2t') {
        sent.set(text, now());
        void p.client.send(p.teamsJid, `${tag}-${i}`, text);
      } else {
        const m = await f.emulator.sendAs(p.teamsUpn, p.client.bare, text);
        created.set(text, Date.parse(m.createdDateTime));
      }
      i++;
      due -= 1;
    }
    const wait = target + tickMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const latencies: number[] = [];
  if (dir === 'x2t') {
    await Promise.all(f.pairs.map((p, pi) => p.client.until(() => [...sent.keys()].filter((t) => t.startsWith(`${tag} ${pi} `)).every((t) => p.client.receipts.has(`${tag}-${t.split(' ')[2]}`)), 60_000, 'receipts')));
    for (const p of f.pairs) {
      for (const chat of f.emulator.chatsOf(p.teamsUpn)) {
        for (const m of chat.messages) {
          const text = /(x2tlat\d+ \d+ \d+ over the lazy dog)/u.exec(m.body.content)?.[1];
          const t = text === undefined ? undefined : sent.get(text);
          if (t !== undefined) latencies.push(Date.parse(m.createdDateTime) - t);
        }
      }
    }
  } else {
    await Promise.all(f.pairs.map((p, pi) => p.client.until(() => [...created.keys()].filter((t) => t.startsWith(`${tag} ${pi} `)).every((t) => p.client.bodies.has(t)), 60_000, 'messages')));
    for (const p of f.pairs) for (const [text, at] of created) { const got = p.client.bodies.get(text); if (got !== undefined) latencies.push(performance.timeOrigin + got - at); }
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length };
}

/** Messages each way of the untimed run before the timed ones. */
const WARM_UP_MESSAGES = 4000;

async function warmUp(f: RelayFederation): Promise<void> {
  // Creates every XMPP user's Teams account, chat and message subscription, and activates every pair.
  await Promise.all(f.pairs.map((p, pi) => p.client.send(p.teamsJid, `warm-${pi}`, `warm-up ${pi}`)));
  await Promise.all(f.pairs.map((p, pi) => p.client.until(() => p.client.receipts.has(`warm-${pi}`), 60_000, 'warm-up receipt')));
  await Promise.all(f.pairs.map((p, pi) => f.emulator.sendAs(p.teamsUpn, p.client.bare, `warm-down ${pi}`)));
  await Promise.all(f.pairs.map((p, pi) => p.client.until(() => p.client.bodies.has(`warm-down ${pi}`), 60_000, 'warm-up message from Teams')));
  // A run each way first, so the timed runs measure a node that has compiled its code (V8's optimizing compiler
  // otherwise takes a sixth of the first thousand messages' CPU) and opened its connections. After runs of 1,000
  // it still took 8% of a node's samples in the first timed run of XMPP -> Teams, 3–4% in the runs after it
  // (--perf --runs 3, 2026-12-02): a node that has run for an hour compiles nothing more.
  const pids = f.pids();
  await xmppToTeams(f, Math.min(WARM_UP_MESSAGES, MESSAGES), pids);
  await teamsToXmpp(f, Math.min(WARM_UP_MESSAGES, MESSAGES), pids);
}


for (const nodes of NODE_COUNTS) {
  const profDir = args['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'xtg-relay-prof-')) : undefined;
  const basic = args['basic-notifications'];
  const f = await RelayFederation.start({ nodes, pairs: PAIRS, cpuProfDir: profDir, perfMaps: args.perf, logLevel: LOG_LEVEL, basicNotifications: basic });
  try {
    console.log(
      `relay, ${nodes} node${nodes > 1 ? 's' : ''} (${nodes > 1 ? 'Redis, one XMPP link, webhooks behind a balancer, shared SQLite file' : 'embedded: SQLite, no Redis'}), ${PAIRS} pairs, ${MESSAGES} messages each way${RUNS > 1 ? ` in each of ${RUNS} timed runs` : ''}, log level ${LOG_LEVEL}, SQLite defaults (synchronous FULL, group commit), ${basic ? 'basic notifications (a GET per Teams message)' : 'rich notifications'};`,
    );
    console.log(
      `  Graph's limits LIFTED: the emulator's service limits off (documented: 20 chat posts/s per app and tenant), the gateway's pacing on with every limit x${LIFTED_PACING_SCALE} (teams.pacing.limitScale) and throttle.graphRequestsPerSecond ${LIFTED_THROTTLE.graphRequestsPerSecond}:`,
    );
    await warmUp(f);
    const pids = f.pids();
    if (args.perf && !perfAvailable()) console.log('  (--perf: the perf command is not installed; Debian: apt-get install linux-perf)');
    perfOn = args.perf && perfAvailable();
    const requestsBefore = f.emulator.requests().length;
    // Runs of the two directions alternate, so that a change in the machine's load reaches both alike.
    const x2tRuns: Direction[] = [];
    const t2xRuns: Direction[] = [];
    for (let r = 0; r < RUNS; r++) {
      if (RUN_X2T) {
        const t0 = await timings(f);
        const c0 = await counts(f);
        const run = await xmppToTeams(f, MESSAGES, pids);
        const c = await counts(f);
        const d = { ...run, unwrapsPerMessage: unwrapsPerMessage(c0, c, MESSAGES) };
        x2tRuns.push(d);
        console.log(line('XMPP -> Teams', d));
        console.log(`    the nodes' means: ${meanTimings(t0, await timings(f))}`);
        console.log(`    per message: ${perMessage(c0, c, MESSAGES)}`);
      }
      if (RUN_T2X) {
        const t1 = await timings(f);
        const c1 = await counts(f);
        const since = Date.now();
        const run = await teamsToXmpp(f, MESSAGES, pids);
        const c = await counts(f);
        const d = { ...run, unwrapsPerMessage: unwrapsPerMessage(c1, c, MESSAGES) };
        t2xRuns.push(d);
        console.log(line('Teams -> XMPP', d));
        console.log(`    ${webhookPosts(f.emulator.deliveries().filter((e) => e.at >= since && e.kind === 'change'))}`);
        console.log(`    the nodes' means: ${meanTimings(t1, await timings(f))}`);
        console.log(`    per message: ${perMessage(c1, c, MESSAGES)}`);
      }
    }
    if (RUNS > 1) {
      if (RUN_X2T) console.log(summary('XMPP -> Teams', x2tRuns));
      if (RUN_T2X) console.log(summary('Teams -> XMPP', t2xRuns));
    }
    const x2t = medianRun(x2tRuns);
    const t2x = medianRun(t2xRuns);
    const timedMessages = (x2tRuns.length + t2xRuns.length) * MESSAGES;
    console.log(`  Graph requests per message (the timed runs, ${timedMessages} messages): ${graphCalls(f.emulator.requests().slice(requestsBefore), timedMessages)}`);
    if (!args['no-latency']) {
      console.log(`  added latency at ${LATENCY_RATE === undefined ? 'half the measured rate' : `${LATENCY_RATE} msg/s`} (${LATENCY_SECONDS} s each):`);
      if (x2t) {
        const l0 = await timings(f);
        const rate = LATENCY_RATE ?? x2t.rate / 2;
        const a = await latency(f, 'x2t', rate);
        console.log(`    XMPP -> Teams at ${rate.toFixed(0)} msg/s: p50 ${a.p50.toFixed(1)} ms, p99 ${a.p99.toFixed(1)} ms (${a.n} messages; client send -> Graph post)`);
        console.log(`      the nodes' means: ${meanTimings(l0, await timings(f))}`);
      }
      if (t2x) {
        const l1 = await timings(f);
        const rate = LATENCY_RATE ?? t2x.rate / 2;
        const b = await latency(f, 't2x', rate);
        console.log(`    Teams -> XMPP at ${rate.toFixed(0)} msg/s: p50 ${b.p50.toFixed(1)} ms, p99 ${b.p99.toFixed(1)} ms (${b.n} messages; message created in Teams -> XMPP client)`);
        console.log(`      the nodes' means: ${meanTimings(l1, await timings(f))}`);
      }
    }
    for (const n of f.nodes) {
      const r = rssMiB(n.process.pid);
      console.log(`  ${n.id} RSS ${r.now.toFixed(0)} MiB (peak ${r.peak.toFixed(0)} MiB)`);
    }
  } finally {
    await f.stop();
  }
  if (profDir) printProfiles(profDir);
}
process.exit(0);
