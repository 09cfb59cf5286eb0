/** Posts as one JSON batch (src/teams/graph-batch.ts): the request Graph gets, and each post's outcome from its answer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasResponses, postOutcomes, postsBatch } from '../../src/teams/graph-batch.js';

describe('postsBatch', () => {
  it('chains the posts with dependsOn so that Graph runs them in order; a quote goes to replyWithQuote', () => {
    const b = postsBatch('19:a b@thread.v2', [{ html: '<p>one</p>' }, { html: '<p>two</p>', replyToId: '111' }, { html: '<p>three</p>' }]);
    assert.deepEqual(
      b.requests.map((r) => [r.id, r.method, r.url, r.dependsOn?.join(',') ?? '-']),
      [
        ['1', 'POST', '/chats/19%3Aa%20b%40thread.v2/messages', '-'],
        ['2', 'POST', '/chats/19%3Aa%20b%40thread.v2/messages/replyWithQuote', '1'],
        ['3', 'POST', '/chats/19%3Aa%20b%40thread.v2/messages', '2'],
      ],
    );
    assert.deepEqual(b.requests[0]?.body, { body: { contentType: 'html', content: '<p>one</p>' } });
    assert.deepEqual(b.requests[1]?.body, { messageIds: ['111'], replyMessage: { body: { contentType: 'html', content: '<p>two</p>' } } });
    assert.ok(b.requests.every((r) => r.headers['Content-Type'] === 'application/json'), 'a body needs its Content-Type');
  });

  it('refuses an empty batch and one over the 20 Graph takes', () => {
    assert.throws(() => postsBatch('c', []), RangeError);
    assert.throws(() => postsBatch('c', Array.from({ length: 21 }, () => ({ html: 'x' }))), RangeError);
    assert.equal(postsBatch('c', Array.from({ length: 20 }, () => ({ html: 'x' }))).requests.length, 20);
  });
});

describe('postOutcomes', () => {
  const ok = (id: string, messageId: string) => ({ id, status: 201, headers: {}, body: { id: messageId } });
  const fail = (id: string, status: number, code: string, headers: Record<string, string> = {}) => ({ id, status, headers, body: { error: { code, message: `${code} message` } } });

  const table: [string, unknown[], number, string[]][] = [
    ['all created, answered in another order', [ok('2', 'm2'), ok('1', 'm1'), ok('3', 'm3')], 3, ['id m1', 'id m2', 'id m3']],
    [
      'throttled in the middle: its Retry-After, the rest not run (424)',
      [ok('1', 'm1'), fail('2', 429, 'TooManyRequests', { 'Retry-After': '7' }), fail('3', 424, 'FailedDependency')],
      3,
      ['id m1', '429 TooManyRequests transient retry 7000', '424 FailedDependency transient'],
    ],
    ['refused for good', [fail('1', 403, 'Forbidden'), fail('2', 424, 'FailedDependency')], 2, ['403 Forbidden permanent', '424 FailedDependency transient']],
    ['a server error', [fail('1', 503, 'ServiceUnavailable', { 'retry-after': '2' })], 1, ['503 ServiceUnavailable transient retry 2000']],
    ['a response missing', [ok('1', 'm1')], 2, ['id m1', '0 - transient']],
    ['201 without a message id: outcome unknown', [{ id: '1', status: 201, headers: {}, body: {} }], 1, ['0 - transient']],
  ];
  for (const [what, responses, count, expected] of table) {
    it(what, () => {
      const outcomes = postOutcomes({ responses }, count, 'post');
      assert.deepEqual(
        outcomes.map((o) =>
          'id' in o
            ? `id ${o.id}`
            : `${o.error.status} ${o.error.code ?? '-'} ${o.error.transient ? 'transient' : 'permanent'}${o.error.retryAfterMs !== undefined ? ` retry ${o.error.retryAfterMs}` : ''}`,
        ),
        expected,
      );
    });
  }

  it('knows an answer that carries responses (200, or 424 when some were throttled) from an error envelope', () => {
    assert.equal(hasResponses({ responses: [] }), true);
    assert.equal(hasResponses({ error: { code: 'BadRequest' } }), false);
    assert.equal(hasResponses(undefined), false);
  });
});
