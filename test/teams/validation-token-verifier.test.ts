/**
 * The validation-token verifier (src/teams/validation-token-verifier.ts): a token that passed is not verified
 * again on every request, yet it is still refused once it expires, and once the identity platform stops publishing
 * the key that signed it. The OpenID metadata and key set are served by a fetch given to the verifier.
 */
import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { NOTIFICATION_PUBLISHER_APP_ID, TOKEN_CLOCK_SKEW_SECONDS } from '../../src/teams/rich-notifications.js';
import { KEYS_MAX_AGE_MS, ValidationTokenVerifier } from '../../src/teams/validation-token-verifier.js';

const TENANT = '0d5f7a3e-8b1c-4e2a-9f6d-3c4b5a697e80';
const CLIENT = 'a1b2c3d4-0000-4000-8000-00000000000a';
const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('validation-token verifier', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const start = 1_800_000_000_000;
  const exp = start / 1000 + 3600;
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ typ: 'JWT', alg: 'RS256', kid: 'k1' })}.${b64({ aud: CLIENT, iss: `https://sts.windows.net/${TENANT}/`, nbf: start / 1000 - 60, exp, appid: NOTIFICATION_PUBLISHER_APP_ID })}`;
  const token = `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;

  function verifier(published: () => boolean, clock: { now: number }): ValidationTokenVerifier {
    const serve = (url: string): Response =>
      url.endsWith('/openid-configuration')
        ? Response.json({ jwks_uri: 'https://login.test/keys' })
        : Response.json({ keys: published() ? [{ kty: 'RSA', use: 'sig', kid: 'k1', n: jwk.n, e: jwk.e }] : [] });
    return new ValidationTokenVerifier({ authorityHost: 'https://login.test', tenantId: TENANT, clientId: CLIENT, log, now: () => clock.now, fetch: async (url) => serve(String(url)) });
  }

  it('accepts a token until it expires (exp plus the tolerated skew), even after it passed before', async () => {
    const clock = { now: start };
    const v = verifier(() => true, clock);
    assert.deepEqual(await v.verify([token]), { ok: true });
    clock.now = (exp + TOKEN_CLOCK_SKEW_SECONDS - 1) * 1000;
    assert.deepEqual(await v.verify([token]), { ok: true });
    clock.now = (exp + TOKEN_CLOCK_SKEW_SECONDS) * 1000;
    assert.deepEqual(await v.verify([token]), { ok: false, reason: 'expired' });
  });

  it('refuses a token that passed once its signing key is no longer published', async () => {
    const clock = { now: start };
    let published = true;
    const v = verifier(() => published, clock);
    assert.deepEqual(await v.verify([token]), { ok: true });
    published = false;
    clock.now = start + KEYS_MAX_AGE_MS + 1;
    assert.deepEqual(await v.verify([token]), { ok: false, reason: 'signed with an unknown key' });
  });
});
