import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { CreatedSubscription, ListedSubscription, SubscriptionApi, SubscriptionCertificate, SubscriptionRequest } from '../../src/teams/graph-teams-adapter.js';
import { SubscriptionManager, presenceResource } from '../../src/teams/subscription-manager.js';
import { TeamsError, type Puppet } from '../../src/teams/teams-port.js';

/** Records calls; behaves as Graph does for the cases under test (ids, expiry echo, 404 for unknown ids). */
class RecordingApi implements SubscriptionApi {
  readonly calls: string[] = [];
  readonly live = new Map<string, SubscriptionRequest>();
  private n = 0;
  async createSubscription(owner: Puppet | undefined, r: SubscriptionRequest): Promise<CreatedSubscription> {
    const id = `sub-${++this.n}`;
    this.calls.push(`create ${owner?.userId} ${r.resource} ${r.lifecycleNotificationUrl ? 'lifecycle' : 'no-lifecycle'}`);
    this.live.set(id, r);
    return { id, expiresAt: r.expirationDateTime.getTime() };
  }
  async renewSubscription(_o: Puppet | undefined, id: string, exp: Date): Promise<CreatedSubscription> {
    this.calls.push(`renew ${id}`);
    if (!this.live.has(id)) throw new TeamsError('not found', 404, 'ResourceNotFound', false);
    return { id, expiresAt: exp.getTime() };
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
    return { id, expiresAt: 0, certificateId: c.certificateId };
  }
  async listSubscriptions(): Promise<ListedSubscription[]> {
    this.calls.push('list');
    return [...this.live.entries()].map(([id, r]) => ({ id, resource: r.resource }));
  }
}

const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
const puppet: Puppet = { remoteJid: 'juliet@xmpp.example', userId: 'p1', upn: 'juliet@p.example' };

function setup(now: { t: number }) {
  const store = SqliteStore.open(':memory:');
  const api = new RecordingApi();
  const m = new SubscriptionManager({ api, store, publicUrl: 'https://gw.example/n', subscriptionMinutes: 4320, renewBeforeMinutes: 10, log, now: () => now.t });
  return { store, api, m };
}

describe('Graph subscription upkeep', () => {
  it('creates one message subscription per XMPP user account, with lifecycle notifications past one hour', async () => {
    const now = { t: 1_000_000 };
    const { api, m, store } = setup(now);
    await Promise.all([m.ensureMessages(puppet), m.ensureMessages(puppet)]);
    assert.deepEqual(api.calls, ['create p1 /users/p1/chats/getAllMessages lifecycle']);
    const [s] = await store.subscriptions();
    assert.equal(s?.expiresAt, now.t + 4320 * 60_000);
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
    assert.deepEqual(api.calls.slice(2), ['renew sub-1', 'create p1 /users/p1/chats/getAllMessages lifecycle']);
    assert.deepEqual((await store.subscriptions()).map((s) => s.id), ['sub-2']);
  });

  it('keeps one presence subscription per account covering exactly the watched users (max 60 minutes)', async () => {
    const now = { t: 1_000_000 };
    const { api, m, store } = setup(now);
    await m.syncPresence(puppet, ['u2']);
    await m.syncPresence(puppet, ['u2']);
    await m.syncPresence(puppet, ['u2', 'u1']);
    await m.syncPresence(puppet, []);
    assert.deepEqual(api.calls, [
      `create p1 ${presenceResource(['u2'])} no-lifecycle`,
      'delete sub-1',
      `create p1 ${presenceResource(['u1', 'u2'])} no-lifecycle`,
      'delete sub-2',
    ]);
    assert.equal(presenceResource(['u1', 'u2']), "/communications/presences?$filter=id in ('u1','u2')");
    assert.equal((await store.subscriptions()).length, 0);
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

  it('answers lifecycle events: reauthorize, re-create after removal, resync after missed', async () => {
    const now = { t: 1_000_000 };
    const { api, m, store } = setup(now);
    await store.putPuppet(puppet);
    await m.ensureMessages(puppet);
    assert.equal(await m.onLifecycle('sub-1', 'reauthorizationRequired'), false);
    assert.equal(await m.onLifecycle('sub-1', 'subscriptionRemoved'), true);
    assert.equal(await m.onLifecycle('sub-2', 'missed'), true);
    assert.deepEqual(api.calls.slice(1), ['reauthorize sub-1', 'create p1 /users/p1/chats/getAllMessages lifecycle']);
  });
});
