/**
 * Idle pair actors (issue 15): the memory and activation time of N UserPairActors (default 100,000) on one node,
 * as a node holds them between messages. The node's own parts are real: the SQLite store (the pairs exist, as
 * after their first conversation), the comedy runtime, the supervisor and the UserPairActor itself. The ports to
 * the outside are stubs that answer what an idle activation asks (the Teams user's record; no Graph or XMPP
 * traffic): the figures are the node's cost, not Graph's latency.
 *
 * Each actor is activated by the message a node sends a pair it wakes ("drain": it reads its pending outbox, finds
 * nothing, and is idle). Printed: activation time per actor (wall, and CPU), heap and RSS per actor after a GC,
 * and the time to passivate them all.
 * Run: node --expose-gc dist/bench/actors.bench.js [--actors 100000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { UserPairActor, type Outcome, type PairDeps, type PairMessage } from '../src/actors/user-pair-actor.js';
import { pairKey } from '../src/actors/actor-keys.js';
import { createLogger } from '../src/observability/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { Throttler } from '../src/policy/throttle.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { ActorRuntime } from '../src/supervisors/actor-runtime.js';
import { ActorSupervisor } from '../src/supervisors/actor-supervisor.js';
import { Directory } from '../src/teams/directory.js';
import { PresenceKeeper } from '../src/teams/presence-keeper.js';
import { refusalLogBudget } from '../src/observability/log-budget.js';
import type { TeamsPort, TeamsUser } from '../src/teams/teams-port.js';
import type { XmppPort } from '../src/xmpp/component-link.js';

const { values: args } = parseArgs({ options: { actors: { type: 'string', default: '100000' } } });
const N = Number(args.actors);
const TEAMS_USERS = 1000;

function gc(): boolean {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) return false;
  for (let i = 0; i < 3; i++) g();
  return true;
}

const mib = (b: number) => (b / 1048576).toFixed(0);

const dir = mkdtempSync(join(tmpdir(), 'xtg-actors-bench-'));
const path = join(dir, 'gateway.sqlite');
const store = SqliteStore.open(path);
// The pairs exist already (written here directly: seeding is not what is measured).
{
  const db = new Database(path);
  const insert = db.prepare('INSERT INTO pairs (teams_user_id, remote_jid, chat_id, sub_from, sub_to, sub_to_pending, updated_at) VALUES (?, ?, ?, 0, 0, 0, 0)');
  db.transaction(() => {
    for (let i = 0; i < N; i++) insert.run(`user-${i % TEAMS_USERS}`, `x${i}@xmpp.example`, `chat-${i}`);
  })();
  db.close();
}
const users = new Map<string, TeamsUser>(Array.from({ length: TEAMS_USERS }, (_, i) => [`user-${i}`, { id: `user-${i}`, upn: `user${i}@contoso.example`, displayName: `User ${i}` }] as const));
const unused = () => Promise.reject(new Error('an idle activation does not call Graph'));
const teams = new Proxy({} as TeamsPort, {
  get: (_t, prop) => (prop === 'userById' ? (id: string) => Promise.resolve(users.get(id)) : unused),
});
const xmpp: XmppPort = { send: () => Promise.resolve(), isOnline: () => true, request: unused };
const metrics = new Metrics({ defaultMetrics: false });
const quiet = new Writable({ write: (_c, _e, cb) => cb() });
const log = createLogger({ level: 'warn', nodeId: 'bench', stream: quiet });
const deps: PairDeps = {
  store,
  teams,
  directory: new Directory({ teams, book: { defaultUpnDomain: 'contoso.example' }, componentDomain: 'teams.example.org', puppetUpnDomain: 'xmpp.contoso.example' }),
  xmpp,
  subscriptions: { puppetReady: () => Promise.resolve(), presenceInterestChanged: () => Promise.resolve() },
  policy: { verdict: () => ({ allowed: true }) },
  avatarHash: () => Promise.resolve(undefined),
  throttle: new Throttler({ pair: {}, user: {}, domain: {}, queueDepth: 1 }, metrics),
  metrics,
  presenceKeeper: new PresenceKeeper(teams, { sessionMinutes: 60, keepAliveMs: 240_000 }, metrics, log),
  refusalLog: refusalLogBudget(log),
  settings: {
    componentDomain: 'teams.example.org',
    maxTeamsHtmlBytes: 28_000,
    maxResources: 10,
    outboxMaxAttempts: 10,
    outboxBackoffInitialMs: 1000,
    outboxBackoffMaxMs: 300_000,
    onRateExceeded: 'refuse',
    maxThrottleDelayMs: 30_000,
    longMessages: 'refuse',
  },
  now: Date.now,
};
const runtime = await ActorRuntime.start(log);
let pairs: ActorSupervisor<PairMessage, Outcome> | undefined;
pairs = new ActorSupervisor<PairMessage, Outcome>({
  kind: 'user-pair',
  runtime,
  policy: { maxRestarts: 5, windowMs: 60_000, backoffInitialMs: 100, backoffMaxMs: 5_000 },
  idleMs: 24 * 3_600_000, // idle, but not passivated during the bench
  metrics,
  log,
  onEscalate: () => undefined,
  factory: (ctx) => new UserPairActor(ctx, deps, (m) => void pairs?.ask(ctx.key, m, { correlationId: 'self' })),
});

// Warm the code paths first, so that the delta is the actors, not compiled code.
for (let i = 0; i < 200; i++) await pairs.ask(pairKey({ teamsUserId: `user-${i % TEAMS_USERS}`, remoteJid: `x${i}@xmpp.example` }), { type: 'drain' }, { correlationId: 'warm' });
const hasGc = gc();
const before = process.memoryUsage();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const CONCURRENCY = 64;
let next = 200;
let failed = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < N; i = next++) {
      await pairs?.ask(pairKey({ teamsUserId: `user-${i % TEAMS_USERS}`, remoteJid: `x${i}@xmpp.example` }), { type: 'drain' }, { correlationId: `a${i}` }).catch(() => failed++);
    }
  }),
);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
gc();
const after = process.memoryUsage();
const live = pairs.keys().length;
const activated = N - 200;
console.log(`idle pair actors: ${live} live (UserPairActor in comedy under the supervisor; pairs in SQLite; ${CONCURRENCY} activations at once)`);
console.log(`  activation: ${((seconds * 1e6) / activated).toFixed(0)} µs per actor (wall), ${(((cpu.user + cpu.system) / activated)).toFixed(0)} µs CPU; ${(activated / seconds).toFixed(0)} activations/s${failed ? `, ${failed} failed` : ''}`);
console.log(
  `  memory: heap +${mib(after.heapUsed - before.heapUsed)} MiB (${((after.heapUsed - before.heapUsed) / activated).toFixed(0)} bytes per actor), ` +
    `RSS ${mib(after.rss)} MiB in all for ${live} actors (+${mib(after.rss - before.rss)} MiB; ${((after.rss - before.rss) / activated).toFixed(0)} bytes per actor)${hasGc ? '' : ' (WITHOUT --expose-gc: unreliable)'}`,
);
const stopStart = performance.now();
await pairs.stop();
console.log(`  passivation of all of them (node stop): ${(((performance.now() - stopStart) * 1000) / live).toFixed(0)} µs per actor`);
await runtime.stop();
await store.close();
await deps.throttle.admit('xmpp_to_teams', { scopes: [], bytes: 0 }, 'refuse').catch(() => undefined);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
