import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { CreatedSubscription, ListedSubscription, SubscriptionApi, SubscriptionCertificate, SubscriptionRequest } from '../../src/teams/graph-teams-adapter.js';
import { CATCH_UP_LOOKBACK_MS, MIN_TOKEN_LIFETIME_MS, SubscriptionManager, presenceIdsOf, presenceResource } from '../../src/teams/subscription-manager.js';
import { TeamsError, type Puppet } from '../../src/teams/teams-port.js';

/**
 * Records calls; behaves as Graph does for the cases under test (ids, expiry echo, 404 for unknown ids, one presence
 * subscription per owner, the certificate a subscription encrypts to).
 */
class RecordingApi implements SubscriptionApi {
  readonly calls: string[] = [];
  readonly live = new Map<string, SubscriptionRequest & { owner: string | undefined; certificateId: string | undefined }>();
  private n = 0;
  async createSubscription(owner: Puppet | undefined, r: SubscriptionRequest): Promise<CreatedSubscription> {
    const rich = r.resourceData ? ` rich:${r.resourceData.certificateId}` : '';
    this.calls.push(`create ${owner?.userId} ${r.resource}${r.lifecycleNotificationUrl ? ' lifecycle' : ''}${rich}`);
    const presence = r.resource.startsWith('/communications/presences');
    if (presence && [...this.live.values()].some((s) => s.owner === owner?.userId && s.resource.startsWith('/communications/presences'))) {
      throw new TeamsError('conflict', 409, 'ExtensionError', false);
    }
    const id = `sub-${++this.n}`;
    this.live.set(id, { ...r, owner: owner?.userId, certificateId: r.resourceData?.certificateId });
    return { id, expiresAt: r.expirationDateTime.getTime(), certificateId: r.resourceData?.certificateId };
  }
  async renewSubscription(_o: Puppet | undefined, id: string, exp: Date): Promise<CreatedSubscription> {
    this.calls.push(`renew ${id}`);
    const s = this.live.get(id);
    if (!s) throw new TeamsError('not found', 404, 'ResourceNotFound', false);
    return { id, expiresAt: exp.getTime(), certificateId: s.certificateId };
  }
  async reauthorizeSubscription(_o: Puppet | undefined, id: string): Promise<void> {
    this.calls.push(`reauthorize ${id}`);
  }
  async deleteSubscription(_o: Puppet | undefined, id: string): Promise<void> {
    this.calls.push(`delete ${id}`);
    this.live.delete(id);
  }
  async updateSubscriptionCertificate(_o: Puppet | undefined, id: string, c: SubscriptionCertificate): Promise<CreatedSubscription> {
    this.calls.push(`certificate ${id} ${c.certificateId}`);
    const s = this.live.get(id);
    if (s) s.certificateId = c.certificateId;
    return { id, expiresAt: 0, certificateId: c.certificateId };
  }
  async listSubscriptions(owner: Puppet | undefined): Promise<ListedSubscription[]> {
    this.calls.push(`list ${owner?.userId}`);
    return [...this.live.entries()].filter(([, s]) => s.owner === owner?.userId).map(([id, r]) => ({ id, resource: r.resource }));
  }
}

const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
const puppet: Puppet = { remoteJid: 'juliet@xmpp.example', userId: 'p1', upn: 'juliet@p.example' };
const romeo: Puppet = { remoteJid: 'romeo@xmpp.example', userId: 'p2', upn: 'romeo@p.example' };
const CERT_A = { certificate: 'MIIB-a', certificateId: 'cert-a' };
const CERT_B = { certificate: 'MIIB-b', certificateId: 'cert-b' };

function setup(now: { t: number }, o: { certificate?: SubscriptionCertificate } = {}) {
  const store = SqliteStore.open(':memory:');
  const api = new RecordingApi();
  const gaps: string[][] = [];
  const m = new SubscriptionManager({
    api,
    store,
    publicUrl: 'https://gw.example/n',
    subscriptionMinutes: 4320,
    renewBeforeMinutes: 10,
    log,
    now: () => now.t,
    certificate: o.certificate,
    presenceGap: (ids) => gaps.push(ids),
  });
  return { store, api, m, gaps };
}

describe('Graph subscription upkeep', () => {
  it('creates one message subscription per XMPP user account, always with a lifecycle URL', async () => {
    const now = { t: 1_000_000 };
    const { api, m, store } = setup(now);
    await Promise.all([m.ensureMessages(puppet), m.ensureMessages(puppet)]);
    assert.deepEqual(api.calls, ['create p1 /users/p1/chats/getAllMessages lifecycle']);
    const [s] = await store.subscriptions();
    assert.equal(s?.expiresAt, now.t + 4320 * 60_000);
  });

  it('asks for resource data (rich notifications) on message and presence subscriptions when a certificate is configured, never on users', async () => {
    const now = { t: 1_000_000 };
    const { api, m, store } = setup(now, { certificate: CERT_A });
    await store.putPuppet(puppet);
    await store.updatePair({ teamsUserId: 'alice', remoteJid: puppet.remoteJid }, { subFrom: true });
    await m.ensureMessages(puppet);
    await m.syncPresence();
    await m.ensureUsers();
    assert.deepEqual(api.calls, [
      'create p1 /users/p1/chats/getAllMessages lifecycle rich:cert-a',
      `create p1 ${presenceResource(['alice'])} lifecycle rich:cert-a`,
      'create undefined /users lifecycle',
    ]);
  });

  it('renews only what is about to expire, and re-creates a subscription Graph lost', async () => {
    const now = { t: 1_000_000 };
    const { api, m, store } = setup(now);
    await store.putPuppet(puppet);
    await m.ensureMessages(puppet);
    await m.renewDue();
    assert.equal(api.calls.filter((c) => c.startsWith('renew')).length, 0);
    now.t += (4320 - 5) * 60_000;
    await m.renewDue();
    assert.deepEqual(api.calls.slice(1), ['renew sub-1']);
    api.live.clear(); // Graph dropped it
    now.t += (4320 - 5) * 60_000;
    await m.renewDue();
    assert.deepEqual(api.calls.slice(2), ['renew sub-1', 'create p1 /users/p1/chats/getAllMessages lifecycle', 'delete sub-1']);
    assert.deepEqual((await store.subscriptions()).map((s) => s.id), ['sub-2']);
  });

  it('rotates certificates: at renewal, and at once when a notification used an older one; a subscription without resource data is replaced', async () => {
    const now = { t: 1_000_000 };
    const old = setup(now, { certificate: CERT_A });
    await old.store.putPuppet(puppet);
    await old.m.ensureMessages(puppet);
    // The operator puts certificate B first: a node with the same store and Graph.
    const m = new SubscriptionManager({ api: old.api, store: old.store, publicUrl: 'https://gw.example/n', subscriptionMinutes: 4320, renewBeforeMinutes: 10, log, now: () => now.t, certificate: CERT_B });
    await m.rotateCertificate('sub-1');
    await m.rotateCertificate('sub-1'); // once per node
    assert.deepEqual(old.api.calls.slice(1), ['certificate sub-1 cert-b']);
    old.api.calls.length = 0;
    const third = new SubscriptionManager({ api: old.api, store: old.store, publicUrl: 'https://gw.example/n', subscriptionMinutes: 4320, renewBeforeMinutes: 10, log, now: () => now.t, certificate: CERT_A });
    now.t += (4320 - 5) * 60_000;
    await third.renewDue();
    assert.deepEqual(old.api.calls, ['renew sub-1', 'certificate sub-1 cert-a']);

    // Made without resource data (before certificates were configured): replaced at renewal, the new one first.
    const basic = setup(now);
    await basic.store.putPuppet(puppet);
    await basic.m.ensureMessages(puppet);
    const rich = new SubscriptionManager({ api: basic.api, store: basic.store, publicUrl: 'https://gw.example/n', subscriptionMinutes: 4320, renewBeforeMinutes: 10, log, now: () => now.t, certificate: CERT_A });
    now.t += (4320 - 5) * 60_000;
    await rich.renewDue();
    assert.deepEqual(basic.api.calls.slice(1), ['renew sub-1', 'create p1 /users/p1/chats/getAllMessages lifecycle rich:cert-a', 'delete sub-1']);
  });

  it('carries each watched Teams user in one presence subscription, whoever watches her; moves her when her carrier stops watching', async () => {
    const now = { t: 1_000_000 };
    const { api, m, store, gaps } = setup(now);
    await store.putPuppet(puppet);
    await store.putPuppet(romeo);
    await store.updatePair({ teamsUserId: 'alice', remoteJid: puppet.remoteJid }, { subFrom: true });
    await store.updatePair({ teamsUserId: 'alice', remoteJid: romeo.remoteJid }, { subFrom: true });
    await store.updatePair({ teamsUserId: 'bob', remoteJid: romeo.remoteJid }, { subFrom: true });
    await Promise.all([m.syncPresence(), m.syncPresence(), m.syncPresence()]);
    assert.deepEqual(api.calls, [`create p1 ${presenceResource(['alice'])} lifecycle`, `create p2 ${presenceResource(['bob'])} lifecycle`]);
    await m.syncPresence();
    assert.equal(api.calls.length, 2, 'nothing changes when nothing changed');
    // Juliet (p1) stops watching Alice: Romeo's subscription carries her.
    await store.updatePair({ teamsUserId: 'alice', remoteJid: puppet.remoteJid }, { subFrom: false });
    await m.syncPresence();
    assert.deepEqual(api.calls.slice(2), ['delete sub-1', 'delete sub-2', `create p2 ${presenceResource(['alice', 'bob'])} lifecycle`]);
    assert.deepEqual(gaps, [['bob']], "Bob's presence is read again: his subscription was re-created");
    assert.equal(presenceResource(['u1', 'u2']), "/communications/presences?$filter=id in ('u1','u2')");
    assert.deepEqual(presenceIdsOf(presenceResource(['u1', 'u2'])), ['u1', 'u2']);
    assert.deepEqual(presenceIdsOf(presenceResource(['u1'])), ['u1']);
  });

  it('deletes a presence subscription Graph has but the store lost when Graph refuses a second one (409)', async () => {
    const now = { t: 1_000_000 };
    const { api, m, store } = setup(now);
    await store.putPuppet(puppet);
    await api.createSubscription(puppet, {
      resource: presenceResource(['zed']),
      changeType: 'updated',
      notificationUrl: 'x',
      lifecycleNotificationUrl: undefined,
      clientState: 'lost',
      expirationDateTime: new Date(now.t + 3_600_000),
    });
    api.calls.length = 0;
    await store.updatePair({ teamsUserId: 'alice', remoteJid: puppet.remoteJid }, { subFrom: true });
    await m.syncPresence();
    assert.deepEqual(api.calls, [`create p1 ${presenceResource(['alice'])} lifecycle`, 'list p1', 'delete sub-1', `create p1 ${presenceResource(['alice'])} lifecycle`]);
    assert.deepEqual((await store.subscriptions()).map((s) => s.id), ['sub-2']);
  });

  it("keeps one application subscription to the tenant's user profiles", async () => {
    const now = { t: 1_000_000 };
    const { api, m, store } = setup(now);
    await m.ensureUsers();
    await m.ensureUsers();
    assert.deepEqual(api.calls, ['create undefined /users lifecycle']);
    const [s] = await store.subscriptions();
    assert.deepEqual([s?.purpose, s?.ownerUserId, s?.changeType], ['users:tenant', undefined, 'updated']);
    assert.equal(s?.expiresAt, now.t + 4320 * 60_000); // the configured lifetime, under the users maximum
  });

  it('answers lifecycle events, and says when changes may have been missed and since when', async () => {
    const now = { t: 10_000_000 };
    const { api, m, store } = setup(now);
    await store.putPuppet(puppet);
    await m.ensureMessages(puppet);
    const created = now.t;
    now.t += 45 * 60_000;
    assert.deepEqual(await m.onLifecycle('sub-1', 'reauthorizationRequired'), { missed: false });
    // Not reauthorized for longer than a token lives (a node was down): delivery may have paused.
    now.t += MIN_TOKEN_LIFETIME_MS;
    const reauthorizedAt = now.t - MIN_TOKEN_LIFETIME_MS;
    assert.deepEqual(await m.onLifecycle('sub-1', 'reauthorizationRequired'), { missed: true, since: reauthorizedAt, kind: 'messages', ownerUserId: 'p1', presenceOf: [] });
    assert.ok(reauthorizedAt > created);
    const removed = await m.onLifecycle('sub-1', 'subscriptionRemoved');
    assert.equal(removed.missed, true);
    assert.deepEqual((await store.subscriptions()).map((s) => s.id), ['sub-2']);
    assert.equal((await m.onLifecycle('sub-2', 'missed')).missed, true);
    assert.deepEqual(api.calls.slice(1), ['reauthorize sub-1', 'reauthorize sub-1', 'create p1 /users/p1/chats/getAllMessages lifecycle']);
    // A node that restarted does not know when it last authorized: it catches up.
    const fresh = new SubscriptionManager({ api, store, publicUrl: 'https://gw.example/n', subscriptionMinutes: 4320, renewBeforeMinutes: 10, log, now: () => now.t });
    assert.deepEqual(await fresh.onLifecycle('sub-2', 'reauthorizationRequired'), { missed: true, since: now.t - CATCH_UP_LOOKBACK_MS, kind: 'messages', ownerUserId: 'p1', presenceOf: [] });
  });
});
