import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { CachedTokenCredential } from '../../src/teams/token-cache.js';

/** A credential that hands out numbered tokens and counts how often it was asked. */
function counting(lifetimeMs: number, now: () => number): TokenCredential & { asked: number } {
  const c = {
    asked: 0,
    async getToken(): Promise<AccessToken> {
      c.asked++;
      await new Promise((r) => setTimeout(r, 5));
      return { token: `t${c.asked}`, expiresOnTimestamp: now() + lifetimeMs };
    },
  };
  return c;
}

describe('CachedTokenCredential', () => {
  it('asks MSAL once for a burst of requests, and again only shortly before the token expires', async () => {
    let t = 1_000_000;
    const inner = counting(3_600_000, () => t);
    const cached = new CachedTokenCredential(inner, () => t);
    const burst = await Promise.all(Array.from({ length: 20 }, () => cached.getToken('https://graph/.default')));
    assert.deepEqual(new Set(burst.map((x) => x?.token)), new Set(['t1']));
    assert.equal(inner.asked, 1);
    t += 54 * 60_000; // 6 minutes left: still good
    assert.equal((await cached.getToken('https://graph/.default'))?.token, 't1');
    t += 2 * 60_000; // 4 minutes left: refreshed
    assert.equal((await cached.getToken('https://graph/.default'))?.token, 't2');
    assert.equal((await cached.getToken('other/.default'))?.token, 't3', 'another scope has its own token');
  });

  it('refreshes a short-lived token at half its lifetime, and leaves claims challenges to MSAL', async () => {
    let t = 0;
    const inner = counting(60_000, () => t);
    const cached = new CachedTokenCredential(inner, () => t);
    await cached.getToken('s');
    t += 29_000;
    assert.equal((await cached.getToken('s'))?.token, 't1');
    t += 2_000;
    assert.equal((await cached.getToken('s'))?.token, 't2');
    assert.equal((await cached.getToken('s', { claims: '{"access_token":{}}' }))?.token, 't3');
    assert.equal(inner.asked, 3);
  });
});
