/**
 * The emulator's service limits as pure rules (https://learn.microsoft.com/en-us/graph/throttling-limits): which
 * limit each request counts against, the identity costs, and the bucket arithmetic on a fake clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphFault } from './graph/errors.js';
import { documentedServiceLimits, limitsOf, ServiceLimits } from './graph/service-limits.js';

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

  it('sizes the identity bucket by tenant users (S under 50, M to 500, L above)', () => {
    assert.equal(documentedServiceLimits(49).identity?.amount, 3500);
    assert.equal(documentedServiceLimits(50).identity?.amount, 5000);
    assert.equal(documentedServiceLimits(501).identity?.amount, 8000);
  });
});
