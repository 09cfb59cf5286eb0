/**
 * Whitelist and rate-limit costs (issue 4): ns per policy decision, µs per rate-limit admission, and how close a
 * flood's admitted count comes to what the bucket configuration allows. Run: npm run bench.
 */
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { Metrics } from '../src/observability/metrics.js';
import { RedisServer } from '../src/sandbox/redis.js';
import { freePort } from '../test/support/ports.js';
import { Throttler } from '../src/policy/throttle.js';
import { compileDomainRules, domainAllowed, mayFederate, type Policy } from '../src/policy/whitelist.js';

function nsPerOp(n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(n, 10_000); i++) fn(i); // warm-up
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) if (fn(i)) sink++;
  const ns = Number(process.hrtime.bigint() - start) / n;
  if (sink < 0) console.log(sink);
  return ns;
}

// A realistic policy: 200 domain rules (half suffix rules), 5,000 listed users, 20 groups, 10 pairing rules.
const domains = Array.from({ length: 200 }, (_, i) => (i % 2 ? `*.d${i}.example` : `d${i}.example`));
const users = new Set(Array.from({ length: 5000 }, (_, i) => `user${i}@contoso.com`));
const groups = new Set(Array.from({ length: 20 }, (_, i) => `g${i}`));
const policy: Policy = {
  domains,
  domainCheck: compileDomainRules(domains),
  users: { users, groups },
  pairing: Array.from({ length: 10 }, (_, i) => ({ users: new Set([`user${i}@contoso.com`]), groups: new Set<string>(), domains: [`*.d${i * 2 + 1}.example`] })),
};
const noGroups = new Set<string>();
const N = 1_000_000;
const check = compileDomainRules(domains);
const domainLinearNs = nsPerOp(N, (i) => domainAllowed(domains, i % 3 ? `x.d${(i % 100) * 2 + 1}.example` : 'stranger.example'));
const domainNs = nsPerOp(N, (i) => check(i % 3 ? `x.d${(i % 100) * 2 + 1}.example` : 'stranger.example'));
const verdictNs = nsPerOp(N, (i) => mayFederate(policy, { id: `id${i}`, upn: `user${i % 6000}@contoso.com` }, noGroups, `x.d${(i % 100) * 2 + 1}.example`).allowed);
console.log(`policy decision (200 domain rules, 5000 users, 10 pairing rules):`);
console.log(`  domain whitelist check (compiled, as the node runs it) ${domainNs.toFixed(0).padStart(6)} ns/op   (linear scan: ${domainLinearNs.toFixed(0)} ns/op)`);
console.log(`  full verdict (domain+user+pairing) ${verdictNs.toFixed(0).padStart(6)} ns/op`);

// Rate-limit admission cost and accuracy, in-process buckets.
const metrics = new Metrics({ defaultMetrics: false });
const rate = 50;
const burst = 10;
const t = new Throttler({ pair: { messagesPerSecond: rate, messageBurst: burst }, user: {}, domain: {}, queueDepth: 1 }, metrics);
const admitCost = new Throttler({ pair: { messagesPerSecond: 1e9, messageBurst: 1e9 }, user: {}, domain: {}, queueDepth: 1 }, metrics);
const M = 20_000;
let start = process.hrtime.bigint();
for (let i = 0; i < M; i++) await admitCost.admit('xmpp_to_teams', { scopes: [{ scope: 'pair', key: `k${i % 100}` }], bytes: 10 }, 'refuse');
const admitUs = Number(process.hrtime.bigint() - start) / M / 1000;
console.log(`rate-limit admission (one in-process bucket)  ${admitUs.toFixed(1)} µs/op`);

/** Floods one bucket for 3 s from `throttlers` (nodes) in turn; returns admitted vs configured. */
async function flood(throttlers: Throttler[], key: string): Promise<string> {
  let allowed = 0;
  let attempts = 0;
  const begin = process.hrtime.bigint();
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    const batch = await Promise.all(Array.from({ length: 20 }, (_, i) => (throttlers[i % throttlers.length] as Throttler).admit('xmpp_to_teams', { scopes: [{ scope: 'pair', key }], bytes: 10 }, 'refuse')));
    attempts += batch.length;
    allowed += batch.filter((r) => r.ok).length;
    await new Promise((r) => setTimeout(r, 5));
  }
  const elapsed = Number(process.hrtime.bigint() - begin) / 1e9;
  const expected = burst + rate * elapsed;
  return `${attempts} attempts in ${elapsed.toFixed(2)} s against ${rate}/s, burst ${burst}: admitted ${allowed}, configured ${expected.toFixed(0)} (${((allowed / expected) * 100).toFixed(1)}%)`;
}

console.log(`flood accuracy, in-process bucket:        ${await flood([t], 'flood')}`);
await t.stop();
await admitCost.stop();

if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0) {
  const redis = await RedisServer.start(await freePort());
  const cfg = { pair: { messagesPerSecond: rate, messageBurst: burst }, user: {}, domain: {}, queueDepth: 1 };
  const nodes = [new Throttler(cfg, metrics, new Redis(redis.url), 'bench'), new Throttler(cfg, metrics, new Redis(redis.url), 'bench')];
  const redisCost = new Throttler({ ...cfg, pair: { messagesPerSecond: 1e6, messageBurst: 1_000_000 } }, metrics, new Redis(redis.url), 'bench-cost');
  start = process.hrtime.bigint();
  for (let i = 0; i < 2000; i++) await redisCost.admit('xmpp_to_teams', { scopes: [{ scope: 'pair', key: `k${i % 100}` }], bytes: 10 }, 'refuse');
  console.log(`rate-limit admission (Redis bucket, loopback)  ${(Number(process.hrtime.bigint() - start) / 2000 / 1000).toFixed(1)} µs/op`);
  console.log(`flood accuracy, Redis bucket, two nodes:  ${await flood(nodes, 'flood-redis')}`);
  for (const n of [...nodes, redisCost]) await n.stop();
  await redis.stop();
} else {
  console.log('(redis-server not installed: Redis-backed figures skipped)');
}
