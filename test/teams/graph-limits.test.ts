/** The gateway's own reading of Graph's limits (src/teams/graph-limits.ts): which bucket paces each request. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { costOf, costOfBatch, documentedLimits } from '../../src/teams/graph-limits.js';

describe('Graph limit buckets (gateway pacing)', () => {
  const table: [string, string, string, string][] = [
    ['POST', '/v1.0/chats/19:x/messages', '', 'chatMessagePost:1'],
    ['POST', '/v1.0/chats/19:x/messages/replyWithQuote', '', 'chatMessagePost:1'],
    ['GET', '/v1.0/chats/19:x/messages', '?$top=50', 'chatMessageGet:1'],
    ['GET', '/v1.0/chats/19:x/messages/1/hostedContents/h/$value', '', 'chatMessageGet:1'],
    ['PATCH', '/v1.0/chats/19:x/messages/1', '', 'teamsOther:1'],
    ['GET', '/v1.0/chats/19:x', '', 'teamsGet:1'],
    ['POST', '/v1.0/users/u/chats/19:x/messages/1/softDelete', '', 'teamsOther:1'],
    ['POST', '/v1.0/users/u/presence/clearPresence', '', 'presence:1'],
    ['GET', '/v1.0/users/u/presence', '', 'presence:1'],
    ['GET', '/v1.0/users/alice@contoso.example', '?$select=id,displayName', 'identity:1'],
    ['GET', '/v1.0/users', '?$filter=x&$select=id', 'identity:1'],
    ['GET', '/v1.0/groups/g/transitiveMembers', '?$select=id&$top=999', 'identity:4'],
    ['POST', '/v1.0/groups/g/members/$ref', '', 'identity:1,identityWrite:1'],
    ['PUT', '/v1.0/users/u/photo/$value', '', 'identity:1,identityWrite:1'],
    ['POST', '/v1.0/subscriptions', '', 'other:1'],
  ];
  for (const [method, path, query, expected] of table) {
    it(`${method} ${path}${query} -> ${expected}`, () => {
      assert.equal(
        costOf(method, path, query)
          .draws.map((d) => `${d.bucket}:${d.units}`)
          .join(','),
        expected,
      );
    });
  }
  it('takes the documented figures (Teams 20/20/30/30 rps, presence 1,500 per 30 s, identity by tenant size)', () => {
    const l = documentedLimits('small');
    assert.deepEqual([l.chatMessagePost.amount, l.chatMessageGet.amount, l.teamsGet.amount, l.teamsOther.amount], [20, 20, 30, 30]);
    assert.deepEqual([l.presence.amount, l.presence.windowMs], [1500, 30_000]);
    assert.equal(l.identity.amount, 3500);
    assert.equal(documentedLimits('large').identity.amount, 8000);
  });
});

describe('the cost of a JSON batch: the sum of its requests (json-batching, "evaluated individually")', () => {
  const batch = (...requests: { method: string; url: string }[]) => JSON.stringify({ requests: requests.map((r, i) => ({ id: String(i + 1), ...r })) });
  const table: [string, string, string][] = [
    ['ten posts', batch(...Array.from({ length: 10 }, () => ({ method: 'POST', url: '/chats/19:x/messages' }))), 'chatMessagePost:10'],
    ['posts and a quote', batch({ method: 'POST', url: '/chats/19:x/messages' }, { method: 'POST', url: '/chats/19:x/messages/replyWithQuote' }), 'chatMessagePost:2'],
    ['mixed buckets', batch({ method: 'POST', url: '/chats/19:x/messages' }, { method: 'GET', url: 'users?$select=id' }, { method: 'GET', url: '/users/u/presence' }), 'chatMessagePost:1,identity:1,presence:1'],
    ['not JSON', '{', 'other:1'],
    ['no requests', '{}', 'other:1'],
  ];
  for (const [what, body, expected] of table) {
    it(`${what} -> ${expected}`, () => {
      assert.equal(
        costOfBatch(body)
          .draws.map((d) => `${d.bucket}:${d.units}`)
          .join(','),
        expected,
      );
    });
  }
});
