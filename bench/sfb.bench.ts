/**
 * The SfB path against the Teams path, in one run (issue 17): one gateway node (a child process, as deployed)
 * between a real Prosody and, on one side, the Graph emulator, on the other the SfB emulator's Front End over mutual
 * TLS. Graph's per-tenant pacing is lifted (throttle.graphRequestsPerSecond) so the node's own cost shows.
 *
 * - latency: one message at a time, XMPP send -> XEP-0184 receipt (Teams: Graph accepted the post; SfB: the 200 to
 *   the MESSAGE), median and p90;
 * - throughput: N messages with W in flight, receipts counted (one pair: its outbox is delivered in order, one
 *   message at a time; the Graph emulator keeps Graph's own 20 posts/s per tenant, so the Teams path stops there);
 * - SfB -> XMPP: one at a time, the SfB user's MESSAGE -> the XMPP client has it;
 * - CPU time of the gateway process per message (its /metrics), steadier than wall time on a shared machine.
 * Run: npm run bench (BENCH_SFB_MESSAGES, BENCH_SFB_RUNS to change the sizes).
 */
import { resolve } from 'node:path';
import xml from '@xmpp/xml';
import { ensureTlsMaterial } from '../src/sandbox/tls.js';
import type { TestXmppClient } from '../test/support/xmpp-client.js';

const N = Number(process.env.BENCH_SFB_MESSAGES ?? 300);
const SEQ = Math.min(60, N);
const WINDOW = 20;
const RUNS = Number(process.env.BENCH_SFB_RUNS ?? 1);

const tlsDir = resolve('.test-tls');
const tls = await ensureTlsMaterial(tlsDir);
// As `npm test` does: the gateway child process trusts the emulators' CA.
process.env.XTG_TEST_TLS_DIR = tlsDir;
process.env.NODE_EXTRA_CA_CERTS = tls.caCertPath;
const { COMPONENT, Federation } = await import('../test/support/federation.js');

const ALICE = `alice.smith@${COMPONENT}`;
const CAROL = `carol@${COMPONENT}`;
const NS_RECEIPTS = 'urn:xmpp:receipts';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function cpuSeconds(metrics: () => Promise<string>): Promise<number> {
  const text = await metrics();
  const m = /^xtg_process_cpu_seconds_total (\S+)$/mu.exec(text);
  return m ? Number(m[1]) : NaN;
}

let seq = 0;
function sendWithReceipt(c: TestXmppClient, to: string): Promise<number> {
  const id = `b${++seq}`;
  const started = performance.now();
  const receipt = c.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 60_000, `receipt ${id}`);
  void c.send(xml('message', { to, type: 'chat', id }, xml('body', {}, `bench message ${id}`), xml('request', { xmlns: NS_RECEIPTS })));
  return receipt.then(() => performance.now() - started);
}

async function latency(c: TestXmppClient, to: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await sendWithReceipt(c, to));
  return out;
}

async function throughput(c: TestXmppClient, to: string, n: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await sendWithReceipt(c, to);
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  return (n / (performance.now() - started)) * 1000;
}

for (let run = 1; run <= RUNS; run++) {
  const f = await Federation.start({ sfb: {}, throttle: { graphRequestsPerSecond: 10_000 }, idleSeconds: 3600 });
  try {
    const juliet = await f.client('juliet');
    await juliet.sendPresence();
    const metrics = () => f.gateway.metrics();
    await latency(juliet, ALICE, 5); // warm-up: accounts, chats, sessions, connections
    await latency(juliet, CAROL, 5);
    const rows: string[][] = [];
    for (const [name, to] of [
      ['XMPP -> Teams', ALICE],
      ['XMPP -> SfB', CAROL],
    ] as const) {
      const cpu0 = await cpuSeconds(metrics);
      const lat = await latency(juliet, to, SEQ);
      const rate = await throughput(juliet, to, N);
      const cpu1 = await cpuSeconds(metrics);
      rows.push([name, `${pct(lat, 50).toFixed(1)} ms`, `${pct(lat, 90).toFixed(1)} ms`, `${rate.toFixed(0)} msg/s`, `${(((cpu1 - cpu0) * 1000) / (SEQ + N)).toFixed(2)} ms`]);
    }
    // SfB -> XMPP, one at a time: the SfB user's MESSAGE is answered 200 once the stanza is on the XMPP link.
    const emu = f.sfb;
    if (emu) {
      const cpu0 = await cpuSeconds(metrics);
      const lat: number[] = [];
      for (let i = 0; i < SEQ; i++) {
        const text = `from sfb ${i}`;
        const started = performance.now();
        const got = juliet.waitFor((el) => el.getChildText('body') === text, 30_000, text);
        await fetch(`${emu.controlUrl}/_emulator/users/carol/messages`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example', text }) });
        await got;
        lat.push(performance.now() - started);
      }
      const cpu1 = await cpuSeconds(metrics);
      rows.push(['SfB -> XMPP', `${pct(lat, 50).toFixed(1)} ms`, `${pct(lat, 90).toFixed(1)} ms`, '-', `${(((cpu1 - cpu0) * 1000) / SEQ).toFixed(2)} ms`]);
    }
    process.stdout.write(`\nSfB vs Teams path, run ${run}/${RUNS} (${SEQ} sequential + ${N} with ${WINDOW} in flight per direction; one node, loopback)\n`);
    process.stdout.write('| Path | latency p50 | latency p90 | throughput | gateway CPU per message |\n|---|---|---|---|---|\n');
    for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
  } finally {
    await f.stop();
  }
}
