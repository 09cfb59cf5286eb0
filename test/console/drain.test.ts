/**
 * Draining a node from the console (issue 18): the command goes from one node's console over the cluster's Redis to
 * the node drained, which stops serving (its seat released, its actors handed off by the gateway's 'serving'
 * handler) and says who drained it; resume brings it back. Real redis-server, two cluster nodes in one process.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { clusterStatus } from '../../src/cluster/cluster-status.js';
import { DrainCommands } from '../../src/console/drain-commands.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { RedisServer } from '../../src/sandbox/redis.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { eventually } from '../support/federation.js';
import { freePort } from '../support/ports.js';
import { trustTestKeyInThisProcess, writeTestLicence } from '../support/test-licence.js';

describe('drain and resume a node from the console', { timeout: 60_000 }, () => {
  let server: RedisServer;
  let dir: string;
  const redis: Redis[] = [];
  const nodes: ClusterNode[] = [];
  const commands: DrainCommands[] = [];

  before(async () => {
    trustTestKeyInThisProcess(); // the nodes run in this test process, a test build: they accept the test licence
    server = await RedisServer.start(await freePort());
    dir = await mkdtemp(join(tmpdir(), 'xtg-drain-'));
    const licence = await writeTestLicence(dir, { maxNodes: 2 });
    for (const id of ['n1', 'n2']) {
      const r = new Redis(server.url, { maxRetriesPerRequest: 3 });
      redis.push(r);
      const log = createLogger({ level: 'error', nodeId: id, stream: new PassThrough() });
      const node = new ClusterNode({
        redis: r,
        name: 'drain-test',
        nodeId: id,
        rpcUrl: `http://127.0.0.1:1/${id}`,
        version: 'test',
        leaseMs: 2_000,
        licenceFile: licence.file,
        publicKeys: [licence.publicKeyFile],
        tenantIds: () => [DEMO.tenantId],
        store: SqliteStore.open(':memory:'),
        metrics: new Metrics({ defaultMetrics: false }),
        log,
        actorCount: () => 0,
        roles: () => [],
      });
      await node.start();
      nodes.push(node);
      const c = new DrainCommands({ nodeId: id, redis: r, cluster: node, log });
      await c.start();
      commands.push(c);
    }
  });
  after(async () => {
    for (const c of commands) await c.stop();
    for (const n of nodes) await n.leave().catch(() => undefined);
    for (const r of redis) r.disconnect();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("drains another node through Redis: it serves nothing, releases its seat, and says who drained it; resume brings it back", async () => {
    const [n1, n2] = nodes as [ClusterNode, ClusterNode];
    const [c1] = commands as [DrainCommands];
    assert.equal(n2.serving(), true);
    await c1.send('n2', 'drain', 'token:Ops Olga');
    await eventually(() => (n2.serving() ? undefined : true), 10_000, 'n2 stops serving');
    assert.equal(n2.problem(), 'drained by token:Ops Olga');
    const status = await eventually(async () => {
      const s = await clusterStatus(redis[0] as Redis, n1.keys);
      return s.nodes.find((n) => n.id === 'n2')?.serving === false && s.seats[0]?.held.join() === 'n1' ? s : undefined;
    }, 10_000, 'the cluster sees n2 drained, its seat free');
    assert.equal(status.nodes.find((n) => n.id === 'n2')?.problem, 'drained by token:Ops Olga');
    assert.equal(n1.serving(), true, 'the other node serves on');

    await c1.send('n2', 'resume', 'token:Ops Olga');
    await eventually(() => (n2.serving() ? true : undefined), 10_000, 'n2 serves again');
    assert.equal(n2.problem(), undefined);
  });
});
