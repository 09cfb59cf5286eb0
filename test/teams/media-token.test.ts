import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { deriveMediaKey, encodeMediaToken, verifyMediaToken, type MediaRef } from '../../src/teams/media-token.js';

const KEY = deriveMediaKey('client-secret');
const NOW = Date.UTC(2025, 0, 1);
const REF: MediaRef = { chatId: '19:a_b@unq.gbl.spaces', messageId: '1700000000000', hostedContentId: 'aWQ9eF8w', puppetUserId: 'p-1', expiresAt: NOW + 3_600_000 };

/** Signs an arbitrary payload with the real key (what only a gateway node can do). */
function signed(payload: unknown): string {
  const p = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)).toString('base64url');
  return `${p}.${createHmac('sha256', KEY).update(p).digest('base64url')}`;
}

describe('media link tokens', () => {
  const token = encodeMediaToken(REF, KEY);

  it('round-trips a reference (expiry kept to the second)', () => {
    assert.deepEqual(verifyMediaToken(token, KEY, NOW), { ok: true, ref: REF });
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/u);
  });

  it('derives the same key from the same secret, and another from another secret or purpose', () => {
    assert.deepEqual(deriveMediaKey('client-secret'), KEY);
    assert.notDeepEqual(deriveMediaKey('other-secret'), KEY);
    assert.notDeepEqual(deriveMediaKey('client-secret', 'other purpose'), KEY);
    assert.equal(KEY.length, 32);
  });

  const [payload = '', mac = ''] = token.split('.');
  const flip = (s: string, i: number) => `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
  const table: [string, string, Buffer, number, string][] = [
    ['expired', token, KEY, REF.expiresAt, 'expired'],
    ['long expired', token, KEY, REF.expiresAt + 86_400_000, 'expired'],
    ['another key', token, deriveMediaKey('another'), NOW, 'bad-signature'],
    ['payload altered', `${flip(payload, 5)}.${mac}`, KEY, NOW, 'bad-signature'],
    ['another chat, same mac', `${Buffer.from(JSON.stringify({ c: '19:x@thread.v2', m: REF.messageId, h: REF.hostedContentId, u: REF.puppetUserId, e: 2e9 })).toString('base64url')}.${mac}`, KEY, NOW, 'bad-signature'],
    ['mac altered', `${payload}.${flip(mac, 3)}`, KEY, NOW, 'bad-signature'],
    ['mac truncated', `${payload}.${mac.slice(1)}`, KEY, NOW, 'bad-signature'],
    ['no mac', payload, KEY, NOW, 'malformed'],
    ['empty', '', KEY, NOW, 'malformed'],
    ['not base64url', `${payload}.${mac}!`, KEY, NOW, 'malformed'],
    ['signed but not JSON', signed('nope'), KEY, NOW, 'malformed'],
    ['signed but a field missing', signed({ c: REF.chatId, m: REF.messageId, u: REF.puppetUserId, e: 2e9 }), KEY, NOW, 'malformed'],
    ['signed but expiry not a number', signed({ c: REF.chatId, m: REF.messageId, h: 'h', u: 'u', e: 'never' }), KEY, NOW, 'malformed'],
    ['too long', `${'a'.repeat(5000)}.${mac}`, KEY, NOW, 'malformed'],
  ];
  for (const [name, t, key, now, reason] of table) {
    it(`refuses: ${name}`, () => assert.deepEqual(verifyMediaToken(t, key, now), { ok: false, reason }));
  }
});
