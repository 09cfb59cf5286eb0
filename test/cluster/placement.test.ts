/**
 * The placement directory, licence seats and leases against a real redis-server: two nodes racing to claim a key
 * never both own it (many keys, many rounds), a dead owner's key is taken over by exactly one node, a node handing
 * its keys off keeps each until it releases it (or its grace is over), epochs only grow, seats are limited and
 * reclaimed after a lease lapses. Rendezvous hashing moves about 1/N keys on a join.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { LeaderLease } from '../../src/cluster/leader-lease.js';
import { LicenceSeats } from '../../src/cluster/licence-seats.js';
import { Membership } from '../../src/cluster/membership.js';
import { PlacementDirectory } from '../../src/cluster/placement-directory.js';
import { ClusterKeys, tenantName } from '../../src/cluster/redis-keys.js';
import { clusterStatus, formatClusterStatus } from '../../src/cluster/cluster-status.js';
import { actorAddress, tenantActorKey } from '../../src/actors/actor-keys.js';
import { rendezvousHome } from '../../src/cluster/rendezvous.js';
import { createLogger } from '../../src/observability/logger.js';
import { RedisServer } from '../../src/sandbox/redis.js';
import { freePort } from '../support/ports.js';

const keys = new ClusterKeys('t');
const quiet = createLogger({ level: 'error', nodeId: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('placement directory on redis-server', { timeout: 60_000 }, () => {
  let server: RedisServer;
  const conns: Redis[] = [];
  const connect = () => {
    const r = new Redis(server.url, { maxRetriesPerRequest: 1 });
    conns.push(r);
    return r;
  };
  /** What a serving node's heartbeat keeps in Redis: its lease and its serving marker. */
  const alive = async (r: Redis, id: string, ms = 60_000) => {
    await r.set(keys.node(id), '{}', 'PX', ms);
    await r.set(keys.serving(id), '1', 'PX', ms);
  };

  before(async () => {
    server = await RedisServer.start(await freePort());
  });
  after(async () => {
    for (const c of conns) c.disconnect();
    await server.stop();
  });

  it('two nodes racing to activate the same key never both own it (500 keys x 3 rounds)', async () => {
    const a = new PlacementDirectory(connect(), keys);
    const b = new PlacementDirectory(connect(), keys);
    const admin = connect();
    await alive(admin, 'A');
    await alive(admin, 'B');
    for (let round = 0; round < 3; round++) {
      const ks = Array.from({ length: 500 }, (_, i) => `user-pair:race${round}-${i}`);
      const results = await Promise.all(ks.flatMap((k) => [a.claim(k, 'A').then((r) => ({ k, n: 'A', r })), b.claim(k, 'B').then((r) => ({ k, n: 'B', r }))]));
      for (const k of ks) {
        const claims = results.filter((x) => x.k === k && x.r.claimed);
        assert.equal(claims.length, 1, `${k} claimed ${claims.length} times`);
        const loser = results.find((x) => x.k === k && !x.r.claimed);
        assert.ok(loser && !loser.r.claimed && loser.r.owner?.node === claims[0]?.n, 'the loser is told the owner');
        assert.deepEqual(await a.resolve(k), { node: claims[0]?.n, epoch: (claims[0]?.r as { epoch: number }).epoch });
      }
    }
  });

  it('a dead owner\'s key is taken over by exactly one of the racing nodes, with a higher epoch', async () => {
    const admin = connect();
    const dirs = ['C', 'D', 'E'].map((id) => ({ id, dir: new PlacementDirectory(connect(), keys) }));
    await alive(admin, 'Z', 60_000);
    for (const { id } of dirs) await alive(admin, id);
    const z = new PlacementDirectory(connect(), keys);
    const ks = Array.from({ length: 100 }, (_, i) => `remote-domain:dead${i}.example`);
    const old = new Map<string, number>();
    for (const k of ks) {
      const r = await z.claim(k, 'Z');
      assert.ok(r.claimed);
      old.set(k, r.epoch);
    }
    await admin.del(keys.node('Z'), keys.serving('Z')); // Z's lease lapsed
    for (const k of ks) assert.equal(await z.resolve(k), undefined, 'a dead owner is no owner');
    const results = await Promise.all(ks.flatMap((k) => dirs.map(({ id, dir }) => dir.claim(k, id).then((r) => ({ k, r })))));
    for (const k of ks) {
      const won = results.filter((x) => x.k === k && x.r.claimed);
      assert.equal(won.length, 1);
      assert.ok((won[0]?.r as { epoch: number }).epoch > (old.get(k) ?? Infinity), 'epochs only grow');
    }
    // The stale owner cannot release what is no longer its own.
    const k0 = ks[0] as string;
    assert.equal(await z.release(k0, 'Z', old.get(k0) ?? 0), false);
    assert.ok(await z.resolve(k0));
  });

  it('a node without a live lease cannot claim', async () => {
    const d = new PlacementDirectory(connect(), keys);
    const r = await d.claim('user-pair:nolease', 'ghost');
    assert.deepEqual(r, { claimed: false, owner: undefined });
  });

  it('an owner that is alive but no longer serves (unlicensed, leaving) is given nothing; its keys can be claimed once its hand-off grace is over', async () => {
    const admin = connect();
    const d = new PlacementDirectory(connect(), keys);
    await alive(admin, 'S');
    await alive(admin, 'T');
    assert.ok((await d.claim('user-pair:stuck', 'S')).claimed);
    await admin.del(keys.serving('S')); // S heartbeats on, but stopped serving (and its hand-off grace is over)
    assert.equal(await d.resolve('user-pair:stuck'), undefined);
    assert.ok((await d.claim('user-pair:stuck', 'T')).claimed);
  });

  it('a key of an owner handing off (stopped serving, within its grace) is claimed only once released, or once the grace is over', async () => {
    const admin = connect();
    const d = new PlacementDirectory(connect(), keys);
    await alive(admin, 'H');
    await alive(admin, 'N');
    const released = await d.claim('user-pair:handed', 'H');
    const abandoned = await d.claim('user-pair:abandoned', 'H');
    assert.ok(released.claimed && abandoned.claimed);
    // What H's heartbeat does when it stops serving (membership.ts): its serving marker goes, its hand-off marker comes.
    await admin.del(keys.serving('H'));
    await admin.set(keys.handingOff('H'), '1', 'PX', 400);
    assert.equal(await d.resolve('user-pair:handed'), undefined, 'no new message is sent to H');
    // H still runs the actor (a post may be on its way): N waits, told who owns it.
    assert.deepEqual(await d.claim('user-pair:handed', 'N'), { claimed: false, owner: { node: 'H', epoch: released.epoch } });
    assert.ok(await d.release('user-pair:handed', 'H', released.epoch));
    assert.ok((await d.claim('user-pair:handed', 'N')).claimed, 'released: N takes it at once');
    // A hand-off that never ends does not hold the key for ever.
    assert.deepEqual(await d.claim('user-pair:abandoned', 'N'), { claimed: false, owner: { node: 'H', epoch: abandoned.epoch } });
    await new Promise((r) => setTimeout(r, 450));
    assert.ok((await d.claim('user-pair:abandoned', 'N')).claimed, 'the grace is over');
    // Nor does one of a node that died meanwhile: its lease lapses first.
    const died = await d.claim('user-pair:died', 'N');
    assert.ok(died.claimed);
    await admin.del(keys.serving('N'));
    await admin.set(keys.handingOff('N'), '1', 'PX', 60_000);
    assert.equal((await d.claim('user-pair:died', 'H')).claimed, false, 'H does not serve either');
    await alive(admin, 'O');
    assert.deepEqual(await d.claim('user-pair:died', 'O'), { claimed: false, owner: { node: 'N', epoch: died.epoch } });
    await admin.del(keys.node('N')); // N's lease lapsed
    assert.ok((await d.claim('user-pair:died', 'O')).claimed, 'a dead node hands nothing off');
  });

  it('a node\'s heartbeat starts its hand-off grace when it stops serving, not again while it stays so, and ends it when it serves or leaves', async () => {
    const admin = connect();
    let state = { licensed: true, leaving: false };
    const m = new Membership({
      redis: connect(),
      keys,
      leaseMs: 60_000,
      handOffGraceMs: 5_000,
      log: quiet,
      self: () => ({ id: 'G', rpcUrl: 'http://127.0.0.1:1', version: 't', startedAt: 0, licenceId: undefined, problem: undefined, roles: [], actors: 0, ...state }),
    });
    await m.join();
    const ttl = () => admin.pttl(keys.handingOff('G'));
    try {
      assert.equal(await admin.exists(keys.serving('G')), 1);
      assert.equal(await ttl(), -2, 'serving: no hand-off');
      state = { licensed: true, leaving: true };
      await m.announce('leaving');
      assert.equal(await admin.exists(keys.serving('G')), 0);
      const first = await ttl();
      assert.ok(first > 4_000 && first <= 5_000, `the grace starts (${first} ms left)`);
      await new Promise((r) => setTimeout(r, 300));
      await m.announce('still leaving');
      assert.ok((await ttl()) < first, 'a later heartbeat does not start it again');
      state = { licensed: true, leaving: false };
      await m.announce('serving again');
      assert.equal(await ttl(), -2, 'serving again: the grace ends');
      state = { licensed: false, leaving: false };
      await m.announce('licence lost');
      assert.ok((await ttl()) > 0, 'a lost licence seat starts it too');
      await m.leave();
      assert.equal(await ttl(), -2, 'gone: nothing is handed off any more');
    } finally {
      await m.leave();
    }
  });

  it('licence seats: at most maxNodes holders; a lapsed seat is reclaimed', async () => {
    const seats = new LicenceSeats(connect(), keys);
    assert.equal((await seats.claim('L1', 'n1', 60_000, 2)).status, 'claimed');
    assert.equal((await seats.claim('L1', 'n2', 600, 2)).status, 'claimed');
    assert.equal((await seats.claim('L1', 'n1', 60_000, 2)).status, 'renewed');
    assert.equal((await seats.claim('L1', 'n3', 60_000, 2)).status, 'refused');
    await new Promise((r) => setTimeout(r, 700)); // n2 stops renewing
    const r = await seats.claim('L1', 'n3', 60_000, 2);
    assert.deepEqual(r, { status: 'claimed', reclaimedFrom: ['n2'] });
    await seats.release('L1', 'n1');
    assert.deepEqual((await seats.holders('L1')).map((h) => h.nodeId), ['n3']);
  });

  it('a leader lease has one holder; it moves when the holder stops being eligible, lapses, or is overtaken', async () => {
    const admin = connect();
    const eligible = new Map<string, boolean>([
      ['P', true],
      ['Q', true],
    ]);
    const mk = (id: string) => new LeaderLease({ redis: connect(), key: keys.lease('link'), nodeId: id, leaseMs: 600, eligible: () => eligible.get(id) ?? false, log: quiet });
    const p = mk('P');
    const q = mk('Q');
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const holders = () => [p, q].filter((l) => l.isHeld).length;
    p.start();
    q.start();
    await sleep(300);
    assert.equal(holders(), 1, 'exactly one holder');
    const [first, second] = p.isHeld ? [p, q] : [q, p];
    const firstId = first === p ? 'P' : 'Q';
    assert.equal(await admin.get(keys.lease('link')), firstId);
    // The holder stops being eligible (unlicensed, leaving): it releases, and the other takes over at its next tick.
    eligible.set(firstId, false);
    await sleep(500);
    assert.equal(first.isHeld, false);
    assert.equal(second.isHeld, true);
    // Someone else holds the key now (a stalled holder's lease lapsed and was taken): the old holder learns it.
    await admin.set(keys.lease('link'), 'Z', 'PX', 600);
    await sleep(400);
    assert.equal(second.isHeld, false, 'the overtaken holder gives the role up');
    // Z never renews: its lease lapses and an eligible node takes it.
    await sleep(700);
    assert.equal(second.isHeld, true);
    await p.stop();
    await q.stop();
    assert.equal(await admin.get(keys.lease('link')), null, 'stop releases the lease');
  });
});

describe('rendezvous hashing', () => {
  const keysOf = (n: number) => Array.from({ length: n }, (_, i) => `user-pair:u${i}|x${i}@example.org`);

  it('spreads keys evenly and moves only the new node\'s share on a join', () => {
    const ks = keysOf(4000);
    const three = ['node1', 'node2', 'node3'];
    const four = [...three, 'node4'];
    const count = new Map<string, number>();
    let moved = 0;
    for (const k of ks) {
      const before = rendezvousHome(k, three);
      const afterJoin = rendezvousHome(k, four);
      count.set(before ?? '', (count.get(before ?? '') ?? 0) + 1);
      if (before !== afterJoin) {
        moved++;
        assert.equal(afterJoin, 'node4', 'a key only ever moves to the node that joined');
      }
    }
    for (const id of three) assert.ok(Math.abs((count.get(id) ?? 0) - 4000 / 3) < 150, `${id}: ${count.get(id)}`);
    assert.ok(Math.abs(moved - 1000) < 120, `moved ${moved} of 4000`);
  });

  it('gives the same answer whatever the order of the nodes, and none for no nodes', () => {
    assert.equal(rendezvousHome('k', ['b', 'a', 'c']), rendezvousHome('k', ['c', 'b', 'a']));
    assert.equal(rendezvousHome('k', []), undefined);
  });
});

describe('cluster status per tenant (issue 16) on redis-server', { timeout: 30_000 }, () => {
  let server: RedisServer;
  let r: Redis;
  const k = new ClusterKeys('ts');
  before(async () => {
    server = await RedisServer.start(await freePort());
    r = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    r?.disconnect();
    await server?.stop();
  });

  it('shows each tenant\'s XMPP link holder and its actors per node, and one tenant with --tenant', async () => {
    const until = Date.now() + 60_000;
    for (const id of ['A', 'B']) {
      const info = { id, rpcUrl: `http://${id}`, version: 't', startedAt: 0, licensed: true, licenceId: 'L-1', problem: undefined, roles: [], actors: 0, leaving: false };
      await r.zadd(k.nodes, until, id);
      await r.set(k.node(id), JSON.stringify(info), 'PX', 60_000);
      await r.set(k.serving(id), '1', 'PX', 60_000);
    }
    const dir = new PlacementDirectory(r, k);
    const claim = (tenant: string, key: string, node: string) => dir.claim(actorAddress('user-pair', tenantActorKey(tenant, key)), node);
    await claim('default', 'u1|a@x.example', 'A');
    await claim('northwind', 'u1|a@x.example', 'A');
    await claim('northwind', 'u2|a@x.example', 'B');
    await claim('northwind', 'u3|a@x.example', 'B');
    await dir.claim(actorAddress('remote-domain', tenantActorKey('northwind', 'x.example')), 'B');
    await r.set(k.lease(tenantName('northwind', 'xmpp-link')), 'B', 'PX', 60_000);
    await r.set(k.lease(tenantName('default', 'xmpp-link')), 'A', 'PX', 60_000);

    const status = await clusterStatus(r, k, ['default', 'northwind', 'idle']);
    assert.deepEqual(status.tenants, [
      { id: 'default', linkHolder: 'A', actors: { A: 1 } },
      { id: 'northwind', linkHolder: 'B', actors: { A: 1, B: 3 } },
      { id: 'idle', linkHolder: undefined, actors: {} },
    ]);
    const text = formatClusterStatus(status);
    assert.match(text, /^tenant northwind: XMPP link on B, 4 actor\(s\) \(A 1, B 3\)$/mu);
    assert.match(text, /^tenant idle: XMPP link on -, 0 actor\(s\)$/mu);
    assert.equal((await clusterStatus(r, k)).tenants, undefined, 'GET /cluster (no tenants asked) does not scan the directory');
  });
});
