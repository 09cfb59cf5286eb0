/**
 * What S2S federation costs (issue 14), measured in one run against the single-server path: the same gateway
 * node, Graph emulator and front Prosody serve `juliet@xmpp.example` (a user of the front server itself) and
 * `benvolio@partner.example` (a user of a partner Prosody, over S2S with TLS). For each path:
 * - latency, one message at a time: XMPP send → XEP-0184 receipt (the message crosses S2S to the gateway, Graph
 *   accepts it, the receipt crosses back), and Teams post → XMPP delivery;
 * - throughput: a burst of messages with receipts, sent at once by both users of the path to all five Teams
 *   users (ten pairs: each pair delivers in order, one Graph post at a time), until the last receipt;
 * - CPU time per message of the gateway node and of each Prosody (from /proc), steadier than wall time on a
 *   shared machine.
 * Graph's pacing is lifted (throttle.graphRequestsPerSecond) so that the node and the servers are measured, not
 * the tenant's Graph budget. Run: npm run bench, or alone: node dist/bench/s2s.bench.js (after npm run build).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import { DEMO } from '../src/sandbox/demo-tenant.js';
import { writeLoopbackConfig } from '../src/sandbox/gateway-config.js';
import { S2sPair } from '../src/sandbox/s2s-pair.js';
import { ensureTlsMaterial } from '../src/sandbox/tls.js';
import { startGraphEmulator } from '../test/emulators/graph/index.js';
import { demoTenantEmulatorOptions } from '../test/emulators/graph/demo-tenant.js';
import { GatewayProcess } from '../test/support/gateway-process.js';
import { freePorts } from '../test/support/ports.js';
import { TestXmppClient } from '../test/support/xmpp-client.js';

const PING_SAMPLES = Number(process.env.BENCH_S2S_PINGS ?? 300);
const LATENCY_SAMPLES = Number(process.env.BENCH_S2S_LATENCY ?? 40);
const BURST = Number(process.env.BENCH_S2S_BURST ?? 200);
const ROUNDS = Number(process.env.BENCH_S2S_ROUNDS ?? 3);
const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${DEMO.componentDomain}`;
const TEAMS_JIDS = ['alice.smith', 'bob.jones', "sean.o\\27brien", 'dave\\40fabrikam.example', 'eve.internal'].map((l) => `${l}@${DEMO.componentDomain}`);
const NS_RECEIPTS = 'urn:xmpp:receipts';

const missing = ['prosody', 'ls /usr/lib/*/lua/5.*/lunbound.so'].filter((c) => spawnSync('sh', ['-c', c.includes(' ') ? c : `command -v ${c}`], { stdio: 'ignore' }).status !== 0);
if (missing.length) {
  console.log(`s2s: prosody and lua-unbound are needed (npm test installs them), figures skipped`);
  process.exit(0);
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime: fields 14 and 15 of proc(5)
  return ticks / 100; // USER_HZ is 100 on Linux
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))]!;

const dir = await mkdtemp(join(tmpdir(), 'xtg-bench-s2s-'));
const tls = await ensureTlsMaterial(join(dir, 'tls'));
const emulator = await startGraphEmulator(demoTenantEmulatorOptions({ tls }));
const [frontC2s, partnerC2s, component, webhook, admin] = (await freePorts(5)) as [number, number, number, number, number];
const policy = { domains: [DEMO.xmppDomain, DEMO.partnerDomain], users: ['*'], reloadSeconds: 10 };
const pair = await S2sPair.start({
  dir,
  tls,
  front: {
    kind: 'prosody',
    c2sPort: frontC2s,
    componentPort: component,
    hosts: [{ domain: DEMO.xmppDomain, users: DEMO.xmppUsers }],
    component: { domain: DEMO.componentDomain, secret: DEMO.componentSecret },
    policy: { domains: policy.domains },
  },
  partner: { kind: 'prosody', c2sPort: partnerC2s, hosts: [{ domain: DEMO.partnerDomain, users: DEMO.partnerUsers }] },
});
const configPath = join(dir, 'gateway.yaml');
await writeLoopbackConfig(configPath, {
  componentPort: component,
  emulatorUrl: emulator.url,
  webhookPort: webhook,
  adminPort: admin,
  sqlitePath: join(dir, 'gateway.sqlite'),
  logLevel: 'warn',
  policy,
  throttle: { graphRequestsPerSecond: 100_000 },
});
const gateway = await GatewayProcess.start(configPath, admin, { NODE_EXTRA_CA_CERTS: tls.caCertPath });

interface Path {
  readonly name: string;
  /** Two users of the path's server; the first also measures latency. */
  readonly clients: readonly [TestXmppClient, TestXmppClient];
}
const connect = async (port: number, domain: string, user: { user: string; password: string }) => {
  const c = await TestXmppClient.connect({ port, domain, user: user.user, password: user.password, resource: 'bench' });
  await c.sendPresence();
  return c;
};
const paths: Path[] = [
  { name: 'single server', clients: [await connect(frontC2s, DEMO.xmppDomain, DEMO.xmppUsers[0]), await connect(frontC2s, DEMO.xmppDomain, DEMO.xmppUsers[1])] },
  { name: 'over S2S', clients: [await connect(partnerC2s, DEMO.partnerDomain, DEMO.partnerUsers[0]), await connect(partnerC2s, DEMO.partnerDomain, DEMO.partnerUsers[1])] },
];

let seq = 0;
async function sendWithReceipt(c: TestXmppClient, body: string, to = ALICE): Promise<number> {
  const id = `b${++seq}`;
  const receipt = c.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 120_000, `receipt ${id}`);
  const t0 = performance.now();
  await c.send(xml('message', { to, type: 'chat', id }, xml('body', {}, body), xml('request', { xmlns: NS_RECEIPTS })));
  await receipt;
  return performance.now() - t0;
}

async function ping(c: TestXmppClient): Promise<number> {
  const t0 = performance.now();
  const r = await c.iq(ALICE, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }), 20_000);
  if (r.attrs.type !== 'result') throw new Error(`ping answered ${r.toString()}`);
  return performance.now() - t0;
}

async function teamsToXmpp(c: TestXmppClient): Promise<number> {
  const text = `from Teams ${++seq}`;
  const got = c.waitFor((el) => el.getChildText('body') === text, 60_000, text);
  const t0 = performance.now();
  await emulator.sendAs(ALICE_UPN, c.bare, text);
  await got;
  return performance.now() - t0;
}

function trim(c: TestXmppClient): void {
  c.received.length = 0; // the client keeps every stanza; a benchmark sends thousands
}

try {
  // Warm-up: chats created, actors active, S2S streams open, JIT warm.
  for (const p of paths) {
    for (const c of p.clients) for (const to of TEAMS_JIDS) await sendWithReceipt(c, 'warm-up', to);
    for (let i = 0; i < 10; i++) await teamsToXmpp(p.clients[0]);
  }

  const pings = new Map<string, number[]>(paths.map((p) => [p.name, []]));
  for (let i = 0; i < PING_SAMPLES; i++) {
    for (const p of i % 2 ? [...paths].reverse() : paths) pings.get(p.name)!.push(await ping(p.clients[0]));
    if (i % 50 === 49) paths.forEach((p) => trim(p.clients[0]));
  }
  const pingDiffs = pings.get('over S2S')!.map((x, i) => x - pings.get('single server')![i]!);

  const results = new Map<string, { up: number[]; down: number[]; rates: number[]; cpu: { gateway: number; front: number; partner: number } }>();
  for (const p of paths) results.set(p.name, { up: [], down: [], rates: [], cpu: { gateway: 0, front: 0, partner: 0 } });
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, so both paths see the same machine load.
    for (const p of paths) {
      const r = results.get(p.name)!;
      for (let i = 0; i < LATENCY_SAMPLES / ROUNDS; i++) {
        r.up.push(await sendWithReceipt(p.clients[0], `latency ${i}`));
        r.down.push(await teamsToXmpp(p.clients[0]));
      }
      p.clients.forEach(trim);
      const cpu0 = { gateway: cpuSeconds(gateway.pid), front: cpuSeconds(pair.front.pid), partner: cpuSeconds(pair.partner?.pid) };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: BURST }, (_, i) => sendWithReceipt(p.clients[i % 2]!, `burst ${round}.${i}`, TEAMS_JIDS[i % TEAMS_JIDS.length])));
      const seconds = (performance.now() - t0) / 1000;
      r.rates.push(BURST / seconds);
      r.cpu.gateway += cpuSeconds(gateway.pid) - cpu0.gateway;
      r.cpu.front += cpuSeconds(pair.front.pid) - cpu0.front;
      r.cpu.partner += cpuSeconds(pair.partner?.pid) - cpu0.partner;
      p.clients.forEach(trim);
    }
  }

  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const perMsg = (s: number) => `${((s * 1000) / (BURST * ROUNDS)).toFixed(2)} ms`;
  console.log(
    `S2S vs single server (Prosody ↔ Prosody, STARTTLS, SASL EXTERNAL; ${PING_SAMPLES} pings, ${LATENCY_SAMPLES} one-at-a-time messages each way, ${ROUNDS} bursts of ${BURST} over 10 pairs):`,
  );
  for (const p of paths) {
    const r = results.get(p.name)!;
    const pg = pings.get(p.name)!;
    console.log(
      `  ${p.name.padEnd(13)} ping to a Teams user median ${ms(median(pg))} p95 ${ms(p95(pg))} | XMPP→Teams→receipt median ${ms(median(r.up))} p95 ${ms(p95(r.up))} | Teams→XMPP median ${ms(median(r.down))} p95 ${ms(p95(r.down))} | ` +
        `burst ${median(r.rates).toFixed(0)} msg/s (median of ${ROUNDS}) | CPU per message: gateway ${perMsg(r.cpu.gateway)}, front Prosody ${perMsg(r.cpu.front)}, partner Prosody ${perMsg(r.cpu.partner)}`,
    );
  }
  const one = results.get('single server')!;
  const s2s = results.get('over S2S')!;
  console.log(
    `  S2S adds: ${ms(median(pingDiffs))} to an XMPP round trip (median of paired samples), ${ms(median(s2s.up) - median(one.up))} to XMPP→Teams→receipt (two S2S hops), ${ms(median(s2s.down) - median(one.down))} to Teams→XMPP (one hop); ` +
      `throughput ${((median(s2s.rates) / median(one.rates)) * 100).toFixed(0)}% of the single-server path`,
  );
} finally {
  for (const p of paths) for (const c of p.clients) await c.stop();
  await gateway.stop();
  await pair.stop();
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
}
