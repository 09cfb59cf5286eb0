/**
 * The pure crypto of rich notifications (src/teams/rich-notifications.ts), table-tested against encryptions and
 * tokens made here with node:crypto, following the steps of
 * https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data.
 */
import assert from 'node:assert/strict';
import { constants, createCipheriv, createHmac, createSign, generateKeyPairSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { generate } from 'selfsigned';
import type { EncryptedContent } from '../../src/protocol/graph-notification.js';
import {
  CertificateError,
  decryptResourceData,
  loadNotificationCertificate,
  NOTIFICATION_PUBLISHER_APP_ID,
  verifyValidationToken,
  type JwkSet,
  type NotificationCertificate,
} from '../../src/teams/rich-notifications.js';

const TENANT = '0d5f7a3e-8b1c-4e2a-9f6d-3c4b5a697e80';
const CLIENT = 'a1b2c3d4-0000-4000-8000-00000000000a';

async function certificate(bits = 2048): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: 'xtg notifications' }], { keySize: bits, algorithm: 'sha256' });
  return { cert: pems.cert, key: pems.private };
}

/** Learn's encryption, step by step: fresh 32-byte key, AES-256-CBC (IV = key[0..16]), HMAC-SHA256, RSA-OAEP-SHA1. */
function encrypt(resource: unknown, publicKey: KeyObject | string, id: string, o: { keyBytes?: Buffer; plaintext?: Buffer } = {}): EncryptedContent {
  const key = o.keyBytes ?? randomBytes(32);
  const aesKey = key.length === 32 ? key : randomBytes(32);
  const cipher = createCipheriv('aes-256-cbc', aesKey, aesKey.subarray(0, 16));
  const data = Buffer.concat([cipher.update(o.plaintext ?? Buffer.from(JSON.stringify(resource))), cipher.final()]);
  return {
    data: data.toString('base64'),
    dataSignature: createHmac('sha256', key).update(data).digest('base64'),
    dataKey: publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, key).toString('base64'),
    encryptionCertificateId: id,
    encryptionCertificateThumbprint: undefined,
  };
}

describe('rich notifications: certificates', () => {
  it('loads a 2048-bit RSA certificate with its key, with Base64 DER and the SHA-1 thumbprint', async () => {
    const { cert, key } = await certificate();
    const c = loadNotificationCertificate('xtg-1', cert, key);
    assert.equal(c.id, 'xtg-1');
    assert.match(c.thumbprint, /^[0-9A-F]{40}$/u);
    assert.ok(Buffer.from(c.certificateBase64, 'base64').length > 500);
  });
  it('refuses a 1024-bit key, a key of another certificate, and an overlong id', async () => {
    const small = await certificate(1024);
    assert.throws(() => loadNotificationCertificate('small', small.cert, small.key), (e: Error) => e instanceof CertificateError && /2048 to 4096 bits/u.test(e.message));
    const a = await certificate();
    const b = await certificate();
    assert.throws(() => loadNotificationCertificate('mixed', a.cert, b.key), /does not match/u);
    assert.throws(() => loadNotificationCertificate('x'.repeat(129), a.cert, a.key), /1 to 128/u);
    assert.throws(() => loadNotificationCertificate('bad', 'not a cert', a.key), /not a PEM X\.509/u);
  });
});

describe('rich notifications: decryption', () => {
  let current: NotificationCertificate;
  let other: NotificationCertificate;
  let certs: Map<string, NotificationCertificate>;
  let currentPem: string;
  let otherPem: string;
  before(async () => {
    const a = await certificate();
    const b = await certificate();
    current = loadNotificationCertificate('new', a.cert, a.key);
    other = loadNotificationCertificate('old', b.cert, b.key);
    currentPem = a.cert;
    otherPem = b.cert;
    certs = new Map([
      ['new', current],
      ['old', other],
    ]);
  });
  const message = { id: '1700000000000', body: { contentType: 'html', content: '<p>Grüße 👋</p>' } };

  it('decrypts with the certificate the notification names (old and new during a rotation)', () => {
    assert.deepEqual(decryptResourceData(encrypt(message, currentPem, 'new'), certs), { ok: true, resource: message, certificateId: 'new' });
    assert.deepEqual(decryptResourceData(encrypt(message, otherPem, 'old'), certs), { ok: true, resource: message, certificateId: 'old' });
  });

  const cases: [string, () => EncryptedContent, string][] = [
    ['a certificate id the gateway does not have', () => encrypt(message, currentPem, 'retired'), 'unknown-certificate'],
    ['a data key encrypted to another certificate', () => encrypt(message, otherPem, 'new'), 'bad-data-key'],
    ['a data key that is not 32 bytes', () => encrypt(message, currentPem, 'new', { keyBytes: randomBytes(16) }), 'bad-data-key'],
    [
      'data changed after signing',
      () => {
        const c = encrypt(message, currentPem, 'new');
        const bytes = Buffer.from(c.data, 'base64');
        bytes[0] = (bytes[0] as number) ^ 1;
        return { ...c, data: bytes.toString('base64') };
      },
      'bad-signature',
    ],
    ['a signature of other data', () => ({ ...encrypt(message, currentPem, 'new'), dataSignature: encrypt(message, currentPem, 'new').dataSignature }), 'bad-signature'],
    ['signed data that is not JSON', () => encrypt(undefined, currentPem, 'new', { plaintext: Buffer.from('<html>') }), 'bad-data'],
  ];
  for (const [name, content, reason] of cases) {
    it(`refuses ${name}`, () => assert.deepEqual(decryptResourceData(content(), certs), { ok: false, reason }));
  }
});

describe('rich notifications: validation tokens', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const keys: JwkSet = { keys: [{ kty: 'RSA', use: 'sig', kid: 'k1', n: jwk.n, e: jwk.e }] };
  const now = 1_800_000_000;
  const good = {
    aud: CLIENT,
    iss: `https://sts.windows.net/${TENANT}/`,
    iat: now - 60,
    nbf: now - 60,
    exp: now + 8 * 3600,
    appid: NOTIFICATION_PUBLISHER_APP_ID,
    appidacr: '2',
    tid: TENANT,
    ver: '1.0',
  };
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = (claims: Record<string, unknown>, header: Record<string, unknown> = { typ: 'JWT', alg: 'RS256', kid: 'k1' }, key: KeyObject = privateKey) => {
    const input = `${b64(header)}.${b64(claims)}`;
    return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
  };
  const expect = { tenantId: TENANT, clientId: CLIENT, nowSeconds: now };

  it('accepts a token of the change-notification publisher for this app and tenant', () => {
    assert.deepEqual(verifyValidationToken(jwt(good), keys, expect), { ok: true });
  });
  const cases: [string, () => string, string][] = [
    ['an expired token', () => jwt({ ...good, exp: now - 301 }), 'expired'],
    ['a token not valid yet', () => jwt({ ...good, nbf: now + 301 }), 'not yet valid'],
    ['another issuer', () => jwt({ ...good, iss: 'https://sts.windows.net/11111111-2222-4333-8444-555555555555/' }), 'wrong issuer'],
    ['another audience (app)', () => jwt({ ...good, aud: 'b1b2c3d4-0000-4000-8000-00000000000b' }), 'issued for another app'],
    ['another publisher (appid)', () => jwt({ ...good, appid: CLIENT }), 'not issued by the change-notification publisher'],
    ['a key not in the metadata', () => jwt(good, { alg: 'RS256', kid: 'k2' }), 'signed with an unknown key'],
    ['a stranger key claiming a known kid', () => jwt(good, undefined, stranger.privateKey), 'bad signature'],
    ['alg none', () => `${b64({ alg: 'none', kid: 'k1' })}.${b64(good)}.`, 'algorithm none is not RS256'],
    [
      'changed claims',
      () => {
        const [h, , s] = jwt(good).split('.');
        return `${h}.${b64({ ...good, aud: 'x' })}.${s}`;
      },
      'bad signature',
    ],
    ['something that is not a JWT', () => 'eyJub3QiOiJhIHRva2VuIn0', 'not a JWT'],
  ];
  for (const [name, token, reason] of cases) {
    it(`refuses ${name}`, () => assert.deepEqual(verifyValidationToken(token(), keys, expect), { ok: false, reason }));
  }
});
