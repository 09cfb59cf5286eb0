import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { AdminServer } from '../../src/observability/admin-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { policyAdminApi } from '../../src/policy/admin-api.js';
import { PolicyService } from '../../src/policy/policy-service.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('the /admin API', () => {
  const store = SqliteStore.open(':memory:');
  const policy = new PolicyService({
    config: { domains: ['xmpp.example'], users: ['*'], groups: [], pairing: [], groupRefreshSeconds: 300, reloadSeconds: 10 },
    store,
    teams: { groupMemberIds: async () => [] }, // no group rules in this test
    log,
  });
  const withApi = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    metrics: new Metrics({ defaultMetrics: false }),
    checks: {},
    log,
    api: policyAdminApi('s3cret-token', policy, store, { perDomain: 500, total: () => undefined }),
  });
  const withoutApi = new AdminServer({ host: '127.0.0.1', port: 0, metrics: new Metrics({ defaultMetrics: false }), checks: {}, log });
  const call = (server: AdminServer, method: string, path: string, body?: unknown, token = 's3cret-token', actor = 'ops-alice') =>
    fetch(`http://127.0.0.1:${server.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'x-admin-actor': actor, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  before(async () => {
    await withApi.start();
    await withoutApi.start();
  });
  after(async () => {
    await withApi.stop();
    await withoutApi.stop();
    await store.close();
  });

  it('is off without a configured token, and refuses a wrong token', async () => {
    assert.equal((await call(withoutApi, 'GET', '/admin/whitelist')).status, 404);
    assert.equal((await call(withApi, 'GET', '/admin/whitelist', undefined, 'wrong')).status, 401);
  });

  it('changes the whitelist at run time, applies it at once, and audit-logs the actor', async () => {
    assert.equal(policy.domainAllowed('partner.example'), false);
    const add = await call(withApi, 'POST', '/admin/whitelist', { op: 'add', kind: 'domain', value: 'Partner.Example' });
    assert.equal(add.status, 200);
    assert.deepEqual(await add.json(), { changed: true });
    assert.equal(policy.domainAllowed('partner.example'), true);
    const list = (await (await call(withApi, 'GET', '/admin/whitelist')).json()) as { entries: { source: string; kind: string; value: string }[] };
    assert.deepEqual(list.entries.filter((e) => e.kind === 'domain').map((e) => `${e.source}:${e.value}`), ['config:xmpp.example', 'store:partner.example']);
    const audit = (await (await call(withApi, 'GET', '/admin/audit?limit=5')).json()) as { entries: { actor: string; action: string; subject: string }[] };
    assert.deepEqual(audit.entries[0], { ...audit.entries[0], actor: 'ops-alice', action: 'whitelist.add', subject: 'domain:partner.example' });
  });

  it('refuses malformed changes with a clear error', async () => {
    const badKind = await call(withApi, 'POST', '/admin/whitelist', { op: 'add', kind: 'planet', value: 'x' });
    assert.equal(badKind.status, 400);
    const badDomain = await call(withApi, 'POST', '/admin/whitelist', { op: 'add', kind: 'domain', value: 'not a domain' });
    assert.equal(badDomain.status, 400);
    assert.match(((await badDomain.json()) as { error: string }).error, /not a domain rule/u);
  });

  it('refuses a token of another length as any wrong token, and writes the actor without control characters', async () => {
    for (const wrong of ['', 's3cret-toke', 's3cret-token-and-more', 'S3CRET-TOKEN']) assert.equal((await call(withApi, 'GET', '/admin/whitelist', undefined, wrong)).status, 401);
    const add = await call(withApi, 'POST', '/admin/whitelist', { op: 'add', kind: 'domain', value: 'ally.example' }, 's3cret-token', 'mallory\u0085\u009b (forged)');
    assert.equal(add.status, 200);
    const audit = (await (await call(withApi, 'GET', '/admin/audit?limit=1')).json()) as { entries: { actor: string }[] };
    assert.equal(audit.entries[0]?.actor, 'mallory (forged)');
  });

  it('shows the Teams accounts per remote domain and their limits (issue 12)', async () => {
    await store.putPuppet({ remoteJid: 'a@partner.example', userId: 'p1', upn: 'a.x@p.example' });
    await store.putPuppet({ remoteJid: 'b@partner.example', userId: 'p2', upn: 'b.x@p.example' });
    const view = await (await call(withApi, 'GET', '/admin/accounts')).json();
    assert.deepEqual(view, { perDomainLimit: 500, totalLimit: null, domains: [{ domain: 'partner.example', accounts: 2 }] });
  });
});
