/**
 * The emulator's service limits as pure rules (https://learn.microsoft.com/en-us/graph/throttling-limits): which
 * limit each request counts against, the identity costs, and the bucket arithmetic on a fake clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphFault } from './graph/errors.js';
import { documentedAcrossTenantLimits, documentedServiceLimits, documentedTenantLimits, LimitChain, LimitFault, limitsOf, ServiceLimits } from './graph/service-limits.js';

const q = (s = '') => new URLSearchParams(s);

describe('Graph service limits (emulator)', () => {
  const table: [string, string, string, string][] = [
    ['POST', '/v1.0/chats/19:x/messages', '', 'chatMessagePost:1'],
    ['POST', '/v1.0/chats/19:x/messages/replyWithQuote', '', 'chatMessagePost:1'],
    ['GET', '/v1.0/chats/19:x/messages/1', '', 'chatMessageGet:1'],
    ['GET', '/v1.0/chats/19:x/members', '', 'teamsGet:1'],
    ['POST', '/v1.0/chats', '', 'teamsOther:1'],
    ['POST', '/v1.0/users/u/chats/19:x/messages/1/softDelete', '', 'teamsOther:1'],
    ['POST', '/v1.0/users/u/presence/setPresence', '', 'presence:1'],
    ['GET', '/v1.0/users/u/presence', '', 'presence:1'],
    ['POST', '/v1.0/communications/getPresencesByUserId', '', 'presence:1'],
    ['GET', '/v1.0/users', '', 'identity:2'],
    ['GET', '/v1.0/users', '$select=id&$top=5', 'identity:1'],
    ['GET', '/v1.0/users/u', '$select=id', 'identity:1'],
    ['GET', '/v1.0/groups/g/transitiveMembers', '$select=id&$top=999', 'identity:4'],
    ['POST', '/v1.0/users', '', 'identity:1,identityWrite:1'],
    ['POST', '/v1.0/subscriptions', '', ''],
  ];
  for (const [method, path, query, expected] of table) {
    it(`${method} ${path}${query ? `?${query}` : ''} -> ${expected || 'no service limit'}`, () => {
      assert.equal(
        limitsOf(method, path, q(query))
          .map((l) => `${l.name}:${l.units}`)
          .join(','),
        expected,
      );
    });
  }

  it('holds one window of presence (1,500 per 30 s) and refills at 50 per second', () => {
    let now = 0;
    const limits = new ServiceLimits(documentedServiceLimits(10), () => now);
    for (let i = 0; i < 1500; i++) limits.check('app', 'GET', '/v1.0/users/u/presence', q());
    assert.throws(
      () => limits.check('app', 'GET', '/v1.0/users/u/presence', q()),
      (e: unknown) => e instanceof GraphFault && e.status === 429 && e.headers['Retry-After'] === '1',
    );
    now = 1000;
    for (let i = 0; i < 50; i++) limits.check('app', 'GET', '/v1.0/users/u/presence', q());
    assert.throws(() => limits.check('app', 'GET', '/v1.0/users/u/presence', q()), GraphFault);
    // Limits are per application.
    limits.check('other-app', 'GET', '/v1.0/users/u/presence', q());
  });

  it("has the page's figures per app across all tenants and per tenant for all apps", () => {
    const across = documentedAcrossTenantLimits();
    assert.deepEqual(
      [across.chatMessagePost, across.chatMessageGet, across.teamsGet, across.teamsOther, across.identity, across.identityWrite, across.any].map((r) => r && `${r.amount}/${r.windowMs}`),
      ['200/1000', '200/1000', '1500/1000', '300/1000', '150000/20000', '70000/300000', '130000/10000'],
    );
    assert.equal(across.presence, undefined, 'presence is limited per app per tenant only');
    assert.deepEqual(documentedTenantLimits(), { identityWrite: { amount: 18_000, windowMs: 300_000 } });
  });

  it('checks every scope before taking from any, and counts a refusal under its scope', () => {
    const now = 0;
    const across = new ServiceLimits({ chatMessagePost: { amount: 3, windowMs: 1000 } }, () => now, 'app');
    const tenant = () => new ServiceLimits({ identityWrite: { amount: 2, windowMs: 1000 } }, () => now, 'tenant');
    const inA = new LimitChain([new ServiceLimits({ chatMessagePost: { amount: 2, windowMs: 1000 } }, () => now), tenant(), across]);
    const inB = new LimitChain([new ServiceLimits({ chatMessagePost: { amount: 2, windowMs: 1000 } }, () => now), tenant(), across]);
    const post = (c: LimitChain, app = 'app') => c.check(app, 'POST', '/v1.0/chats/19:x/messages', q());
    post(inA);
    post(inA);
    assert.throws(() => post(inA), (e: unknown) => e instanceof LimitFault && e.key === 'chatMessagePost');
    post(inB);
    // B's own bucket has one left, but the app has used its 3 across tenants; nothing is taken from B's bucket.
    assert.throws(() => post(inB), (e: unknown) => e instanceof LimitFault && e.key === 'app:chatMessagePost' && /per app across all tenants/u.test(e.message));
    post(inB, 'other-app');
    // Identity writes per tenant are shared by every app of the tenant.
    inA.check('app', 'POST', '/v1.0/users', q());
    inA.check('other-app', 'PATCH', '/v1.0/users/u', q());
    assert.throws(() => inA.check('third-app', 'POST', '/v1.0/users', q()), (e: unknown) => e instanceof LimitFault && e.key === 'tenant:identityWrite');
    assert.deepEqual(Object.fromEntries(inA.refused), { chatMessagePost: 1, 'tenant:identityWrite': 1 });
    assert.deepEqual(Object.fromEntries(inB.refused), { 'app:chatMessagePost': 1 });
  });

  it('sizes the identity bucket by tenant users (S under 50, M to 500, L above)', () => {
    assert.equal(documentedServiceLimits(49).identity?.amount, 3500);
    assert.equal(documentedServiceLimits(50).identity?.amount, 5000);
    assert.equal(documentedServiceLimits(501).identity?.amount, 8000);
  });
});
