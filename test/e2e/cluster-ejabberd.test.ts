/**
 * The XMPP link in a cluster on ejabberd (issue 5, item 7): ejabberd accepts several component connections for
 * one domain and spreads stanzas over them, so with `xmpp.links: every-node` both nodes connect; a conversation
 * works whichever connection a stanza arrives on, in order, exactly once, and iq answers that ejabberd delivers
 * to the other node's connection still reach the node that asked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { Redis } from 'ioredis';
import { clusterStatus } from '../../src/cluster/cluster-status.js';
import { ClusterKeys } from '../../src/cluster/redis-keys.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { EjabberdServer } from '../../src/sandbox/ejabberd.js';
import { writeLoopbackConfig } from '../../src/sandbox/gateway-config.js';
import { RedisServer } from '../../src/sandbox/redis.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { startGraphEmulator, type GraphEmulator } from '../emulators/graph/index.js';
import { demoTenantEmulatorOptions } from '../emulators/graph/demo-tenant.js';
import { eventually, testTlsDir } from '../support/federation.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { freePort, freePorts } from '../support/ports.js';
import { writeTestLicence } from '../support/test-licence.js';
import { TestXmppClient } from '../support/xmpp-client.js';

// The test certificate names localhost, so ejabberd's virtual host is localhost (the client checks it).
const VHOST = 'localhost';
const COMPONENT = 'teams.localhost';
const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_RECEIPTS = 'urn:xmpp:receipts';

describe('a cluster on ejabberd: every node holds a component connection', { timeout: 180_000 }, () => {
  let dir: string;
  let ejabberd: EjabberdServer;
  let emulator: GraphEmulator;
  let redis: RedisServer;
  let redisClient: Redis;
  let juliet: TestXmppClient;
  let romeo: TestXmppClient;
  const nodes: GatewayProcess[] = [];

  before(async () => {
    const tls = await ensureTlsMaterial(testTlsDir());
    dir = await mkdtemp(join(tmpdir(), 'xtg-ejabberd-cluster-'));
    const [c2s, component] = (await freePorts(2)) as [number, number];
    ejabberd = await EjabberdServer.start({
      dir: join(dir, 'ejabberd'),
      vhost: VHOST,
      components: [{ domain: COMPONENT, secret: DEMO.componentSecret }],
      c2sPort: c2s,
      componentPort: component,
      users: [
        { username: 'juliet', password: 'juliet-pass' },
        { username: 'romeo', password: 'romeo-pass' },
      ],
      tls: { key: tls.key, cert: tls.cert },
      // Per-sender order needs one connection per sender: ejabberd's default picks a connection at random for
      // every stanza, which reorders a conversation (README "Running a cluster").
      domainBalancing: { [COMPONENT]: { type: 'bare_source', componentNumber: 2 } },
    });
    emulator = await startGraphEmulator(demoTenantEmulatorOptions({ tls, notificationRetryDelaysMs: [500, 1000, 2000] }));
    redis = await RedisServer.start(await freePort());
    redisClient = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const licence = await writeTestLicence(dir, { maxNodes: 2 });
    const webhookPorts: number[] = [];
    for (let i = 1; i <= 2; i++) {
      const [admin, webhook, clusterPort] = (await freePorts(3)) as [number, number, number];
      webhookPorts.push(webhook);
      const configPath = join(dir, `node${i}.yaml`);
      await writeLoopbackConfig(configPath, {
        componentPort: component,
        componentDomain: COMPONENT,
        xmppLinks: 'every-node',
        emulatorUrl: emulator.url,
        webhookPort: webhook,
        adminPort: admin,
        sqlitePath: join(dir, 'gateway.sqlite'),
        logLevel: 'debug',
        policy: { domains: [VHOST], users: ['*'], reloadSeconds: 1 },
        redisUrl: redis.url,
        // Graph notifications go to node 1 (no balancer needed here: both nodes route to the owner).
        publicUrl: `http://127.0.0.1:${webhookPorts[0] ?? webhook}/graph/notifications`,
        cluster: { nodeId: `node${i}`, listenPort: clusterPort, secret: 's3cret', leaseSeconds: 5, licenceFile: licence.file, publicKeys: [licence.publicKeyFile] },
      });
      nodes.push(await GatewayProcess.start(configPath, admin));
    }
    await eventually(async () => {
      const s = await clusterStatus(redisClient, new ClusterKeys('xtg'));
      return s.nodes.filter((n) => n.roles.includes('xmpp-link')).length === 2 ? true : undefined;
    }, 20_000, 'both nodes connected to ejabberd');
    juliet = await TestXmppClient.connect({ port: c2s, domain: VHOST, user: 'juliet', password: 'juliet-pass' });
    await juliet.sendPresence();
    romeo = await TestXmppClient.connect({ port: c2s, domain: VHOST, user: 'romeo', password: 'romeo-pass' });
  });

  after(async () => {
    for (const [i, n] of nodes.entries()) process.stdout.write(n.errorReport(`node${i + 1}`));
    const logDir = process.env.XTG_TEST_LOG_DIR;
    if (logDir) {
      const { writeFile } = await import('node:fs/promises');
      for (const [i, n] of nodes.entries()) await writeFile(join(logDir, `ejabberd-node${i + 1}.log`), n.dump()).catch(() => undefined);
    }
    await juliet?.stop().catch(() => undefined);
    await romeo?.stop().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    redisClient?.disconnect();
    await ejabberd?.stop();
    await emulator?.close();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('both nodes hold a link; each sender\'s messages arrive in order, exactly once', async () => {
    const s = await clusterStatus(redisClient, new ClusterKeys('xtg'));
    assert.deepEqual(s.nodes.map((n) => n.roles.includes('xmpp-link')), [true, true]);
    const senders = [juliet, romeo];
    const texts = (who: string) => Array.from({ length: 8 }, (_, i) => `${who} ${i}`);
    await Promise.all(
      senders.map(async (c, k) => {
        const who = k === 0 ? 'juliet' : 'romeo';
        for (const [i, t] of texts(who).entries()) {
          await c.send(xml('message', { to: ALICE, type: 'chat', id: `${who}${i}` }, xml('body', {}, t), xml('request', { xmlns: NS_RECEIPTS })));
        }
        for (let i = 0; i < 8; i++) await c.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === `${who}${i}`, 30_000, `receipt ${who}${i}`);
      }),
    );
    const all = emulator.chatsOf(ALICE_UPN).flatMap((c) => c.messages).map((m) => m.body.content);
    for (const who of ['juliet', 'romeo']) assert.deepEqual(all.filter((t) => t.startsWith(`${who} `)), texts(who), `${who}: each once, in order`);
    const received = await Promise.all(
      nodes.map(async (n) => [...(await n.metrics()).matchAll(/^xtg_xmpp_stanzas_received_total\{stanza="message"\} (\d+)/gmu)].reduce((sum, m) => sum + Number(m[1]), 0)),
    );
    assert.ok((received[0] ?? 0) + (received[1] ?? 0) >= 16, `messages received per node: ${received.join(', ')}`);
  });

  it('Teams -> XMPP goes out on whichever node owns the pair', async () => {
    await emulator.sendAs(ALICE_UPN, `juliet@${VHOST}`, 'hello over ejabberd');
    await juliet.waitFor((el) => el.getChildText('body') === 'hello over ejabberd', 20_000, 'the Teams message');
  });
});
