/** Console session cookies, CSRF tokens, the same-origin check and the audit CSV (issue 18). */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { csvRow } from '../../src/console/csv.js';
import { checkSameOrigin, SignInThrottle } from '../../src/console/http-security.js';
import { deriveSessionKey, Revocations, SessionCodec } from '../../src/console/session.js';

const who = { actor: 'token:olga', name: 'olga', via: 'token' as const };

describe('console sessions', () => {
  const codec = new SessionCodec(deriveSessionKey('cluster secret'));

  it('reads back what it issued, until it expires; another key or a changed byte is refused', () => {
    const { session, cookie } = codec.issue(who, 1_000, 60_000);
    assert.deepEqual(codec.read(cookie, 2_000), session);
    assert.equal(codec.read(cookie, 61_000), undefined);
    assert.equal(new SessionCodec(deriveSessionKey('other secret')).read(cookie, 2_000), undefined);
    const [body, mac] = cookie.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ ...session, actor: 'token:mallory' })).toString('base64url');
    assert.equal(codec.read(`${forged}.${mac}`, 2_000), undefined);
    assert.equal(codec.read(`${body}.${mac.slice(0, -2)}AA`, 2_000), undefined);
    assert.equal(codec.read('x'.repeat(5000), 2_000), undefined);
  });

  it('derives one CSRF token per session', () => {
    const a = codec.issue(who, 0, 60_000).session;
    const b = codec.issue(who, 0, 60_000).session;
    assert.equal(codec.csrfMatches(a, codec.csrfToken(a)), true);
    assert.equal(codec.csrfMatches(a, codec.csrfToken(b)), false);
    assert.equal(codec.csrfMatches(a, undefined), false);
  });

  it('revokes a session on sign-out (here, without Redis)', async () => {
    const r = new Revocations(undefined, 'x:');
    const { session } = codec.issue(who, 0, 60_000);
    assert.equal(await r.isRevoked(session), false);
    await r.revoke(session, 1);
    assert.equal(await r.isRevoked(session), true);
  });
});

describe('the same-origin check', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  it('takes the console origin, refuses another, and falls back to Sec-Fetch-Site', () => {
    assert.equal(checkSameOrigin(req({ origin: 'http://127.0.0.1:9464' }), 'http://127.0.0.1:9464').ok, true);
    assert.equal(checkSameOrigin(req({ origin: 'http://127.0.0.1:8000' }), 'http://127.0.0.1:9464').ok, false);
    assert.equal(checkSameOrigin(req({ origin: 'null' }), 'http://127.0.0.1:9464').ok, false);
    assert.equal(checkSameOrigin(req({ 'sec-fetch-site': 'cross-site' }), 'http://127.0.0.1:9464').ok, false);
    assert.equal(checkSameOrigin(req({ 'sec-fetch-site': 'same-origin' }), 'http://127.0.0.1:9464').ok, true);
  });

  it('throttles failed sign-ins per address and minute', () => {
    const t = new SignInThrottle(2);
    t.failed('a', 0);
    t.failed('a', 1);
    assert.equal(t.allowed('a', 2), false);
    assert.equal(t.allowed('b', 2), true);
    assert.equal(t.allowed('a', 60_001), true);
  });
});

describe('audit CSV', () => {
  it('quotes what needs quoting and defuses formulas', () => {
    assert.equal(csvRow([1, 'a,b', 'say "hi"', undefined]), '1,"a,b","say ""hi""",\r\n');
    assert.equal(csvRow(['=HYPERLINK("x")', '+1', '-2', '@SUM(A1)', 'fine']), `"'=HYPERLINK(""x"")",'+1,'-2,'@SUM(A1),fine\r\n`);
  });
});
