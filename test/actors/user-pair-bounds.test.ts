/**
 * What one pair lets a partner user cost (issue 12 findings 5 and 13), on the real pair actor, a real store and
 * the real Graph adapter against the emulator: a presence makes no account; one JID cannot grow the pair's memory
 * by changing resource; a pair nobody uses is forgotten with its subscriptions.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Element } from '@xmpp/xml';
import { UserPairActor, type PairDeps, type PairMessage } from '../../src/actors/user-pair-actor.js';
import { pairKey } from '../../src/actors/actor-keys.js';
import { refusalLogBudget } from '../../src/observability/log-budget.js';
import { createLogger } from '../../src/observability/logger.js';
import { Throttler } from '../../src/policy/throttle.js';
import { parseInbound, type InboundPresence } from '../../src/protocol/stanza.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { Directory } from '../../src/teams/directory.js';
import { PresenceKeeper } from '../../src/teams/presence-keeper.js';
import { XmppRequestError, type XmppPort } from '../../src/xmpp/component-link.js';
import xml from '@xmpp/xml';
import { startDemoGraph, type DemoGraph } from '../support/demo-graph.js';
import { eventually } from '../support/federation.js';

const REMOTE = 'mallory@partner.example';
const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

class RecordingXmpp implements XmppPort {
  readonly sent: Element[] = [];
  readonly requests: Element[] = [];
  async send(stanza: Element): Promise<void> {
    this.sent.push(stanza);
  }
  isOnline(): boolean {
    return true;
  }
  async request(iq: Element): Promise<Element> {
    this.requests.push(iq);
    throw new XmppRequestError('no vCard here', 'service-unavailable');
  }
}

describe('a pair under a partner user', { timeout: 60_000 }, () => {
  let g: DemoGraph;
  let store: SqliteStore;
  let xmpp: RecordingXmpp;
  let actor: UserPairActor;
  let aliceId: string;

  const presenceFrom = (resource: string, attrs: Record<string, string> = {}, ...children: Element[]): InboundPresence =>
    parseInbound(xml('presence', { from: `${REMOTE}/${resource}`, to: `alice.smith@${DEMO.componentDomain}`, ...attrs }, ...children), { maxBodyBytes: 1000 }) as InboundPresence;
  const tell = (m: PairMessage) => actor.receive(m, { correlationId: 'c' });
  const graphSince = (n: number) => g.emulator.requests().slice(n).filter((r) => r.path.startsWith('/v1.0/'));

  before(async () => {
    g = await startDemoGraph();
    aliceId = (g.emulator.user('alice.smith@contoso.example') as { id: string }).id;
  });
  after(async () => g?.close());

  beforeEach(async () => {
    store = SqliteStore.open(':memory:');
    xmpp = new RecordingXmpp();
    const deps: PairDeps = {
      store,
      teams: g.teams,
      presenceKeeper: new PresenceKeeper(g.teams, { sessionMinutes: 60, keepAliveMs: 240_000 }, g.metrics, log),
      directory: new Directory({ teams: g.teams, book: { defaultUpnDomain: DEMO.teamsDomain }, componentDomain: DEMO.componentDomain, puppetUpnDomain: DEMO.puppetDomain }),
      xmpp,
      subscriptions: { puppetReady: async () => undefined, presenceInterestChanged: async () => undefined },
      policy: { verdict: () => ({ allowed: true }) },
      avatarHash: async () => undefined,
      throttle: new Throttler({ pair: {}, user: {}, domain: {}, queueDepth: 1 }, g.metrics),
      metrics: g.metrics,
      refusalLog: refusalLogBudget(log),
      settings: {
        componentDomain: DEMO.componentDomain,
        maxTeamsHtmlBytes: 28_000,
        maxResources: 4,
        outboxMaxAttempts: 3,
        outboxBackoffInitialMs: 100,
        outboxBackoffMaxMs: 1_000,
        onRateExceeded: 'refuse',
        maxThrottleDelayMs: 1_000,
        longMessages: 'refuse',
      },
      now: Date.now,
    };
    const key = pairKey({ teamsUserId: aliceId, remoteJid: REMOTE });
    actor = new UserPairActor({ kind: 'user-pair', key, log }, deps, () => undefined);
    await actor.activate();
  });

  it('a presence alone makes no account, asks Graph nothing and sends no vCard request', async () => {
    const since = g.emulator.requests().length;
    await tell({ type: 'xmpp-presence', presence: presenceFrom('desk', {}, xml('show', {}, 'away')) });
    await tell({ type: 'xmpp-presence', presence: presenceFrom('phone') });
    assert.deepEqual(graphSince(since).map((r) => `${r.method} ${r.path}`), []);
    assert.equal(await store.getPuppet(REMOTE), undefined);
    assert.deepEqual(xmpp.requests, []);
  });

  it('keeps the presence of at most maxResources resources of one JID', async () => {
    await store.putPuppet(await g.teams.ensurePuppet(REMOTE));
    const puppet = await store.getPuppet(REMOTE);
    assert.ok(puppet);
    // A new account gets its Teams licence from the puppet group a moment after joining it (group-based licensing).
    await eventually(async () => (await g.teams.setPuppetPresence(puppet, { session: { availability: 'Available', activity: 'Available' }, preferred: null, statusMessage: undefined }, 60).then(() => true, () => undefined)), 10_000, 'the account licensed');
    for (let i = 0; i < 4; i++) await tell({ type: 'xmpp-presence', presence: presenceFrom(`r${i}`, {}, xml('show', {}, 'away')) });
    assert.equal(g.emulator.presenceOf(puppet.userId).availability, 'Away');
    // A fifth resource would make the aggregate Do not disturb: it is not kept.
    for (let i = 4; i < 1_000; i++) await tell({ type: 'xmpp-presence', presence: presenceFrom(`r${i}`, {}, xml('show', {}, 'dnd'), xml('priority', {}, '100')) });
    assert.equal(g.emulator.presenceOf(puppet.userId).availability, 'Away');
    // Once one goes offline, a new one takes its place.
    await tell({ type: 'xmpp-presence', presence: presenceFrom('r0', { type: 'unavailable' }) });
    await tell({ type: 'xmpp-presence', presence: presenceFrom('new', {}, xml('show', {}, 'dnd'), xml('priority', {}, '100')) });
    assert.equal(g.emulator.presenceOf(puppet.userId).availability, 'DoNotDisturb');
  });

  it('forgets a pair: its subscriptions end as RFC 6121 cancels them, and its row goes', async () => {
    await store.updatePair({ teamsUserId: aliceId, remoteJid: REMOTE }, { subFrom: true, subTo: true });
    await actor.activate();
    await tell({ type: 'forget' });
    assert.deepEqual(
      xmpp.sent.map((s) => `${s.attrs.type} ${s.attrs.from} -> ${s.attrs.to}`),
      [`unsubscribed alice.smith@${DEMO.componentDomain} -> ${REMOTE}`, `unsubscribe alice.smith@${DEMO.componentDomain} -> ${REMOTE}`],
    );
    assert.equal(await store.getPair({ teamsUserId: aliceId, remoteJid: REMOTE }), undefined);
  });
});
