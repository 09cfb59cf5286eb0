/**
 * The cluster (issue 5) end to end: three node processes on loopback with a real redis-server, real Prosody and
 * the Graph emulator. A fourth node joins and takes its share of the keys by handoff; a node is killed (SIGKILL)
 * and the conversation continues on the others with nothing lost or doubled; an unlicensed node serves nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { rendezvousHome } from '../../src/cluster/rendezvous.js';
import { ClusterFederation } from '../support/cluster-federation.js';
import { parsePrometheus, total } from '../support/prometheus.js';
import { COMPONENT, XMPP_DOMAIN, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_RECEIPTS = 'urn:xmpp:receipts';
const EXTRA_USERS = 16;
const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

describe('a cluster of licensed nodes', { timeout: 240_000 }, () => {
  let f: ClusterFederation;
  let juliet: TestXmppClient;
  const copiesInTeams = (text: string) => f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.messages).filter((m) => m.body.content === text).length;
  const teamsTexts = () => f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.messages).map((m) => m.body.content);
  const send = (id: string, text: string) =>
    juliet.send(xml('message', { to: ALICE, type: 'chat', id }, xml('body', {}, text), xml('request', { xmlns: NS_RECEIPTS })));
  const receipt = (id: string, timeoutMs = 30_000) => juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, timeoutMs, `receipt for ${id}`);
  /**
   * One of the extra XMPP users whose pair with a Teams user lives (by rendezvous hashing over the serving nodes)
   * on a node that does not hold the XMPP link, with that owner and the link holder.
   */
  const senderAwayFromLink = async (teamsUserId: string) => {
    const status = await f.status();
    const holder = status.nodes.find((n) => n.roles.includes('xmpp-link'))?.id;
    const serving = status.nodes.filter((n) => n.serving).map((n) => n.id);
    const ownerOf = (u: string) => rendezvousHome(`user-pair:${teamsUserId}|${u}@${XMPP_DOMAIN}`, serving);
    const users = Array.from({ length: EXTRA_USERS }, (_, i) => `user${String(i + 1).padStart(2, '0')}`);
    const sender = users.find((u) => ownerOf(u) !== holder);
    const owner = sender === undefined ? undefined : ownerOf(sender);
    assert.ok(sender && owner && holder, 'a sender whose pair lives away from the link holder');
    return { sender, owner, holder };
  };
  const julietPair = async () => {
    const s = await f.status();
    for (const n of s.nodes) {
      const key = (await f.ownedKeys(n.id)).find((k) => k.startsWith('user-pair:') && k.endsWith(`|juliet@${XMPP_DOMAIN}`));
      if (key) return { key, node: n.id };
    }
    return undefined;
  };

  before(async () => {
    // Nodes speak mutual TLS to each other (cluster.tls, https:// advertise URLs), as docs/security.md advises.
    f = await ClusterFederation.start({ nodes: 3, maxNodes: 4, leaseSeconds: 2, extraUsers: EXTRA_USERS, tls: true });
    juliet = await f.client('juliet');
    await juliet.sendPresence();
  });
  after(async () => f?.stop());

  it('relays both ways whichever node owns the pair, and the directory names exactly one owner', async () => {
    await send('c1', 'hello across the cluster');
    await receipt('c1');
    const pair = await eventually(julietPair, 5_000, 'the pair in the directory');
    assert.equal(await f.ownerOf(pair.key), pair.node);
    await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, 'reply from Teams');
    await juliet.waitFor((el) => el.getChildText('body') === 'reply from Teams', 20_000, 'the Teams reply');
    const owners = (await f.status()).nodes.filter((n) => n.actors > 0).map((n) => n.id);
    assert.ok(owners.length >= 1);
    // Over mutual TLS: every node listens with TLS, and none warned about plaintext.
    for (const n of f.nodes) {
      assert.equal(n.process.lines.find((l) => l.message === 'cluster listener up')?.tls, true, n.id);
      assert.equal(n.process.lines.some((l) => /not encrypted/u.test(String(l.message))), false);
    }
  });

  it('`cluster status` and GET /cluster show the nodes, their roles, actors and licence seats', async () => {
    const node1 = f.node('node1');
    const cli = spawnSync(process.execPath, [MAIN, 'cluster', 'status', '--config', node1.configPath], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const rows = cli.stdout.split('\n');
    assert.match(rows[0] ?? '', /^NODE\s+SERVING\s+ACTORS\s+ROLES\s+LICENCE\s+LEASE/u);
    for (const id of ['node1', 'node2', 'node3']) assert.ok(rows.some((r) => new RegExp(`^${id}\\s+yes\\s+\\d+`, 'u').test(r)), `${id} is listed as serving`);
    assert.ok(rows.some((r) => /xmpp-link/u.test(r)), 'the link holder is shown');
    assert.match(cli.stdout, /licence L-test: 3 seat\(s\) held/u);
    assert.match(cli.stdout, /^tenant default: XMPP link on node[123], \d+ actor\(s\)/mu, 'the (one) tenant\'s link holder and actors');
    const view = (await (await fetch(`http://127.0.0.1:${node1.ports.admin}/cluster`)).json()) as { nodes: { id: string; serving: boolean; actors: number }[] };
    assert.deepEqual(view.nodes.map((n) => n.id), ['node1', 'node2', 'node3']);
    assert.ok(view.nodes.reduce((sum, n) => sum + n.actors, 0) >= 2, 'the pair and the remote domain are placed');
  });

  it('a crashed actor is restarted from its durable state and the conversation continues', async () => {
    // Activating a pair reads the Teams user from Graph (unless the node has her cached from routing a stanza, as
    // the link holder has). Four 503s outlast the Graph client's three retries: activation throws, the actor
    // crashes, and its supervisor restarts it, retrying the message once.
    const bob = f.emulator.user('bob.jones@contoso.example');
    assert.ok(bob);
    const { sender } = await senderAwayFromLink(bob.id);
    const client = await f.client(sender, 'crash');
    await client.sendPresence();
    f.emulator.throttle({ method: 'GET', path: `/users/${bob.id}`, count: 4, retryAfterSeconds: 0, status: 503 });
    const BOB = `bob.jones@${COMPONENT}`;
    await client.send(xml('message', { to: BOB, type: 'chat', id: 'r1' }, xml('body', {}, 'after a crash'), xml('request', { xmlns: NS_RECEIPTS })));
    await client.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === 'r1', 40_000, 'receipt r1');
    const restarted = f.nodes.flatMap((n) => n.process.lines).find((l) => l.message === 'actor crashed; restarting from its durable state');
    assert.ok(restarted, 'the supervisor logged the restart');
    assert.ok(String(restarted.actorKey).endsWith(`|${sender}@${XMPP_DOMAIN}`));
    const metrics = (await Promise.all(f.nodes.map((n) => n.process.metrics()))).join('\n');
    assert.match(metrics, /xtg_actor_restarts_total\{kind="user-pair"\} [1-9]/u);
    assert.equal(f.emulator.chatsOf('bob.jones@contoso.example').flatMap((c) => c.messages).filter((m) => m.body.content === 'after a crash').length, 1);
    await f.emulator.sendAs('bob.jones@contoso.example', `${sender}@${XMPP_DOMAIN}`, 'bob answers');
    await client.waitFor((el) => el.getChildText('body') === 'bob answers', 20_000, 'the answer from Teams');
  });

  it('an unlicensed node starts, says why, and serves nothing', async () => {
    const node = await f.addNode({ licensed: false });
    try {
      const health = await eventually(async () => {
        const h = await node.process.health();
        // Until the node has read its licence configuration, /readyz says "not checked yet".
        const problem = (h.body.problems as Record<string, string> | undefined)?.licence;
        return problem && !problem.includes('not checked yet') ? h : undefined;
      }, 10_000, 'the licence problem on /readyz');
      assert.equal(health.status, 503);
      assert.match(String((health.body.licence as { problem: string }).problem), /licence missing/u);
      assert.match(String((health.body.problems as Record<string, string>).licence), /no licence file is configured/u);
      const alive = await node.process.health('/healthz');
      assert.equal(alive.status, 200, 'the process is alive: liveness probes must not restart it for a licence problem');
      assert.ok(node.process.lines.some((l) => l.message === 'this node is not licensed and serves nothing'));
      const me = (await f.status()).nodes.find((n) => n.id === node.id);
      assert.equal(me?.serving, false);
      // Traffic meanwhile goes to the licensed nodes only.
      for (let i = 1; i <= 4; i++) {
        const c = await f.client(`user${String(i).padStart(2, '0')}`);
        // A subscription makes a pair (a bare presence or probe does not: issue 12, docs/security.md).
        await c.send(xml('presence', { to: ALICE, type: 'subscribe' }));
      }
      await eventually(async () => ((await f.status()).nodes.reduce((n, x) => n + x.actors, 0) >= 5 ? true : undefined), 10_000, 'pairs placed');
      assert.deepEqual(await f.ownedKeys(node.id), []);
      assert.deepEqual(me?.roles, []);
      // Graph notifications sent to it are refused, so the load balancer and Graph's retries go elsewhere.
      const res = await fetch(`http://127.0.0.1:${node.ports.webhook}/graph/notifications`, { method: 'POST', body: '{"value":[]}' });
      assert.equal(res.status, 503);
    } finally {
      await node.process.stop();
      f.retire(node);
    }
  });

  it('a fourth node takes about a quarter of the keys by handoff, losing and reordering nothing', async () => {
    for (let i = 5; i <= EXTRA_USERS; i++) {
      const c = await f.client(`user${String(i).padStart(2, '0')}`);
      await c.send(xml('presence', { to: ALICE, type: 'subscribe' }));
    }
    const before = new Map<string, string>();
    await eventually(async () => {
      before.clear();
      for (const n of (await f.status()).nodes) for (const k of await f.ownedKeys(n.id)) before.set(k, n.id);
      return before.size >= EXTRA_USERS + 2 ? true : undefined;
    }, 15_000, 'every subscribed pair placed');
    // Messages in one pair keep flowing while the node joins.
    const texts = Array.from({ length: 10 }, (_, i) => `ordered ${i}`);
    const sending = (async () => {
      for (const [i, t] of texts.entries()) {
        await send(`o${i}`, t);
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    const joined = await f.addNode();
    await sending;
    const serving = ['node1', 'node2', 'node3', joined.id];
    const expectedMoves = [...before.keys()].filter((k) => rendezvousHome(k, serving) === joined.id);
    await eventually(async () => {
      const mine = new Set(await f.ownedKeys(joined.id));
      return expectedMoves.every((k) => mine.has(k)) || expectedMoves.length === 0 ? true : undefined;
    }, 15_000, 'the keys homed at the new node to move there');
    // Only keys whose home changed moved (rendezvous hashing), about 1/4 of them.
    assert.ok(expectedMoves.length >= 1 && expectedMoves.length <= before.size / 2, `moved ${expectedMoves.length} of ${before.size}`);
    for (const [k, node] of before) {
      if (!expectedMoves.includes(k)) {
        const now = await f.ownerOf(k);
        assert.ok(now === undefined || now === node, `${k} moved from ${node} to ${now} without reason`);
      }
    }
    for (let i = 0; i < texts.length; i++) await receipt(`o${i}`);
    const seen = teamsTexts().filter((t) => t.startsWith('ordered '));
    assert.deepEqual(seen, texts);
    // The handing-off nodes said so.
    const handoffs = f.nodes.flatMap((n) => n.process.lines).filter((l) => l.message === 'handing off actors to their new home');
    assert.ok(expectedMoves.length === 0 || handoffs.length >= 1);
  });

  it('one trace follows a stanza across nodes: its trace id is in the logs of the node that owns the actor', async () => {
    const alice = f.emulator.user(ALICE_UPN);
    assert.ok(alice);
    const { sender, owner, holder } = await senderAwayFromLink(alice.id);
    const client = await f.client(sender, 'trace');
    // Only what the nodes log from now on (the sender's pair may have relayed earlier messages).
    const [ownerFrom, holderFrom] = [f.node(owner).process.lines.length, f.node(holder).process.lines.length];
    await client.send(xml('message', { to: ALICE, type: 'chat', id: 't1' }, xml('body', {}, 'traced'), xml('request', { xmlns: NS_RECEIPTS })));
    await client.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === 't1', 30_000, 'receipt t1');
    // The link holder commits the message on arrival; the owner's actor posts it (its debug line).
    // (The receipt goes as soon as Graph accepted the post; the line follows once the outcome is committed.)
    const accepted = await eventually(
      () => f.node(owner).process.lines.slice(ownerFrom).find((l) => l.message === 'message relayed to Teams' && String(l.actorKey).endsWith(`|${sender}@${XMPP_DOMAIN}`)),
      10_000,
      "the owner's line for the message",
    );
    assert.ok(accepted.traceId, 'the owner logged the message with a trace id');
    const received = f.node(holder).process.lines.slice(holderFrom).find((l) => l.message === 'stanza received' && l.correlationId === accepted.correlationId);
    assert.equal(received?.traceId, accepted.traceId, 'the link holder started the trace the owner continued');
    // Both nodes exported spans of that trace over OTLP, the owner's under the holder's.
    // Spans are exported in batches as they end (the holder's root span last), so wait for the ones asserted.
    const spans = await eventually(() => {
      const s = f.otlp.spans.filter((x) => x.traceId === accepted.traceId);
      const root = s.some((x) => x.node === holder && x.name === 'xmpp message');
      const remote = s.some((x) => x.node === owner && x.name === 'actor call' && x.parentSpanId !== undefined);
      return root && remote && s.some((x) => x.name.startsWith('graph')) ? s : undefined;
    }, 10_000, 'the root span from the link holder, the actor call span from the owner, and a Graph span');
    assert.ok(new Set(spans.map((x) => x.node)).size >= 2);
  });

  it('/metrics on each node exposes the operations families with bounded labels after a conversation', async () => {
    const all = await Promise.all(f.nodes.map(async (n) => parsePrometheus(await n.process.metrics())));
    const families = [
      'xtg_messages_relayed_total', 'xtg_message_bytes_total', 'xtg_relay_latency_seconds', 'xtg_stanza_errors_total',
      'xtg_graph_requests_total', 'xtg_graph_retry_after_seconds_total', 'xtg_throttled_total', 'xtg_actors_live',
      'xtg_actor_activations_total', 'xtg_actor_passivations_total', 'xtg_actor_restarts_total', 'xtg_dead_letters_total',
      'xtg_placement_moves_total', 'xtg_licence_seat', 'xtg_cluster_nodes', 'xtg_redis_latency_seconds', 'xtg_store_latency_seconds',
      'xtg_webhook_notifications_total', 'xtg_xmpp_link_up', 'xtg_cluster_call_seconds',
    ];
    for (const m of all) for (const name of families) assert.ok(m.has(name), `${name} is exposed`);
    const sum = (sample: string, where: Record<string, string> = {}) => all.reduce((n, m) => n + total(m, sample, where), 0);
    assert.ok(sum('xtg_messages_relayed_total', { direction: 'xmpp_to_teams' }) >= 1);
    assert.ok(sum('xtg_messages_relayed_total', { direction: 'teams_to_xmpp' }) >= 1);
    assert.ok(sum('xtg_message_bytes_total', { direction: 'xmpp_to_teams' }) >= 'traced'.length);
    assert.ok(sum('xtg_relay_latency_seconds_count', { direction: 'xmpp_to_teams' }) >= 1);
    assert.ok(sum('xtg_graph_requests_total') >= 1);
    assert.ok(sum('xtg_store_latency_seconds_count') >= 1);
    assert.ok(sum('xtg_redis_latency_seconds_count', { op: 'heartbeat' }) >= 1);
    assert.ok(sum('xtg_webhook_notifications_total', { outcome: 'accepted' }) >= 1);
    assert.ok(sum('xtg_placement_moves_total', { reason: 'handoff' }) >= 1, 'the join moved keys');
    assert.equal(sum('xtg_licence_seat'), f.nodes.length);
    // Bounded cardinality: never a JID, UPN, user id or chat id as a label value.
    for (const m of all) {
      for (const fam of m.values()) {
        for (const s of fam.samples) {
          for (const v of Object.values(s.labels)) assert.doesNotMatch(v, /@|[0-9a-f]{8}-[0-9a-f]{4}-|19:/u, `${s.name} label ${v}`);
        }
      }
    }
  });

  it('SIGTERM under load: the node hands its actors off and no message is lost or doubled', async () => {
    const alice = f.emulator.user(ALICE_UPN);
    assert.ok(alice);
    // A pair whose owner is not the link holder, so stopping the owner does not also move the link.
    const { sender, owner: ownerId } = await senderAwayFromLink(alice.id);
    const client = await f.client(sender, 'load');
    const texts = Array.from({ length: 40 }, (_, i) => `load ${sender} ${i}`);
    const sending = (async () => {
      for (const [i, t] of texts.entries()) {
        await client.send(xml('message', { to: ALICE, type: 'chat', id: `l${i}` }, xml('body', {}, t), xml('request', { xmlns: NS_RECEIPTS })));
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const owner = f.node(ownerId);
    const code = await owner.process.stop();
    f.retire(owner);
    await sending;
    assert.equal(code, 0, 'a clean exit');
    assert.ok(owner.process.lines.some((l) => l.message === 'actors handed off; leaving the cluster'));
    process.stdout.write(`# SIGTERM under load: node stopped in ${String(owner.process.lines.find((l) => l.message === 'gateway node stopped')?.durationMs)} ms\n`);
    for (let i = 0; i < texts.length; i++) await client.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === `l${i}`, 30_000, `receipt l${i}`);
    const inTeams = teamsTexts().filter((t) => t.startsWith(`load ${sender} `));
    assert.deepEqual(inTeams, texts, 'every message once, in order');
    assert.ok(!client.received.some((el) => el.attrs.type === 'error'), 'no stanza error reached the sender');
  });

  it('after kill -9 of the owner, its pair serves again on another node and the accepted message arrives once', async () => {
    // The conversation is live (after the SIGTERM above, its pair is placed again by its next message).
    await send('k0', 'before the kill');
    await receipt('k0');
    const pair = await eventually(julietPair, 5_000, 'the pair in the directory');
    const owner = f.node(pair.node);
    // Graph fails the first post: the message is accepted into the durable outbox (its post in doubt), then the
    // owner dies; the next node to own the pair looks for it in the chat, then posts it.
    f.emulator.throttle({ method: 'POST', path: '/messages', count: 1, retryAfterSeconds: 0, status: 503 });
    // Only this message's failed attempt counts (an account's first post may have waited for its Teams licence).
    const before = owner.process.lines.length;
    await send('k1', 'accepted before the kill');
    await eventually(() => owner.process.lines.slice(before).find((l) => l.message === 'Teams did not accept the message yet; will retry'), 10_000, 'a failed attempt on the owner');
    const killedAt = Date.now();
    await owner.process.kill();
    f.retire(owner);
    await receipt('k1', 40_000);
    assert.equal(copiesInTeams('accepted before the kill'), 1);
    const moved = await eventually(async () => {
      const p = await julietPair();
      return p && p.node !== owner.id ? p : undefined;
    }, 15_000, 'the pair owned by a live node');
    assert.notEqual(moved.node, owner.id);
    // The conversation goes on both ways.
    await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, 'still there?');
    await juliet.waitFor((el: Element) => el.getChildText('body') === 'still there?', 30_000, 'Teams -> XMPP after the kill');
    await send('k2', 'yes, after the kill');
    await receipt('k2');
    assert.equal(copiesInTeams('yes, after the kill'), 1);
    const status = await f.status();
    assert.ok(!status.nodes.some((n) => n.id === owner.id), 'the dead node left the membership');
    process.stdout.write(`# failover: receipt ${Date.now() - killedAt} ms after kill -9 (lease 2 s)\n`);
  });
});
