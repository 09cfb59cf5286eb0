/**
 * Notifications with resource data ("rich notifications"): the gateway's side of
 * https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data. Pure functions over keys the
 * caller supplies; table-tested in test/teams/rich-notifications.test.ts.
 * - Decryption ("Decrypting resource data"): the certificate is chosen by encryptionCertificateId; dataKey is the
 *   symmetric key encrypted with RSA OAEP (SHA-1); the HMAC-SHA256 of the encrypted bytes under that key must equal
 *   dataSignature before anything is decrypted ("If they don't match, assume the payload has been tampered with and
 *   don't decrypt it"); the data is AES-CBC with PKCS7 padding, the IV being the key's first 16 bytes.
 * - Validation tokens ("How to validate"): each JWT in validationTokens must be unexpired, signed (RS256) by one of
 *   the identity platform's published keys, issued by https://sts.windows.net/{tenant}/ for this app (aud = the
 *   client id), and by the change-notification publisher (appid 0bf30f3b-4a52-48df-9a82-234910c4a086).
 * Encryption gives confidentiality only (anyone holding the public certificate can encrypt to it): authenticity
 * comes from the clientState and the validation tokens, checked before anything is committed
 * (notification-intake.ts).
 */
import { X509Certificate, constants, createDecipheriv, createHash, createHmac, createPublicKey, createVerify, privateDecrypt, timingSafeEqual, type JsonWebKey, type KeyObject, createPrivateKey } from 'node:crypto';
import type { EncryptedContent } from '../protocol/graph-notification.js';
import type { TokenVerdict } from './notification-intake.js';

/** The app id of Microsoft Graph's change-notification publisher (Learn: "Example JWT token"). */
export const NOTIFICATION_PUBLISHER_APP_ID = '0bf30f3b-4a52-48df-9a82-234910c4a086';
/** Clock skew tolerated on a validation token's exp and nbf. */
export const TOKEN_CLOCK_SKEW_SECONDS = 300;
/** Graph sends one validation token per app and tenant; a collection with more than this is not Graph's. */
export const MAX_VALIDATION_TOKENS = 10;
/** A JWT longer than this is not a validation token (they are a few hundred bytes to 2 KB). */
const MAX_TOKEN_CHARS = 16_384;

/** One of the gateway's encryption certificates, with its private key. */
export interface NotificationCertificate {
  /** encryptionCertificateId: the gateway's own name for it (at most 128 characters). */
  readonly id: string;
  /** encryptionCertificate: Base64 DER of the X.509 certificate (public key only). */
  readonly certificateBase64: string;
  readonly privateKey: KeyObject;
  /** SHA-1 thumbprint, upper-case hex (what Graph sends as encryptionCertificateThumbprint). */
  readonly thumbprint: string;
}

export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

/**
 * A certificate and its key as configured: an RSA key of 2,048 to 4,096 bits ("Managing encryption keys"), the
 * key matching the certificate. Throws {@link CertificateError} naming what is wrong.
 */
export function loadNotificationCertificate(id: string, certPem: string, keyPem: string): NotificationCertificate {
  if (id === '' || id.length > 128) throw new CertificateError(`certificate id '${id}': 1 to 128 characters`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new CertificateError(`certificate '${id}': not a PEM X.509 certificate (${(err as Error).message})`);
  }
  const bits = x509.publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (x509.publicKey.asymmetricKeyType !== 'rsa' || bits < 2048 || bits > 4096) {
    throw new CertificateError(`certificate '${id}': Graph needs an RSA key of 2048 to 4096 bits (this one: ${x509.publicKey.asymmetricKeyType ?? '?'} ${bits} bits)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertificateError(`certificate '${id}': the key file is not a PEM private key (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new CertificateError(`certificate '${id}': the private key does not match the certificate`);
  return { id, certificateBase64: x509.raw.toString('base64'), privateKey, thumbprint: createHash('sha1').update(x509.raw).digest('hex').toUpperCase() };
}

export type DecryptFailure = 'unknown-certificate' | 'bad-data-key' | 'bad-signature' | 'bad-data';
export type DecryptResult = { readonly ok: true; readonly resource: unknown; readonly certificateId: string } | { readonly ok: false; readonly reason: DecryptFailure };
export type DecryptedText = { readonly ok: true; readonly text: string; readonly certificateId: string } | { readonly ok: false; readonly reason: DecryptFailure };

/** Decrypts one notification's resource data with the certificate it names. */
export function decryptResourceData(content: EncryptedContent, certificates: ReadonlyMap<string, NotificationCertificate>): DecryptResult {
  return parseDecrypted(decryptResourceText(content, certificates));
}

/** The resource of decrypted text (JSON); bad-data when it is not JSON. */
export function parseDecrypted(d: DecryptedText): DecryptResult {
  if (!d.ok) return d;
  try {
    return { ok: true, resource: JSON.parse(d.text) as unknown, certificateId: d.certificateId };
  } catch {
    return { ok: false, reason: 'bad-data' };
  }
}

/** Decrypts one notification's content as the inbox recorded it (JSON); content that is not JSON cannot be (bad-data). */
export function decryptRecorded(content: string, certificates: ReadonlyMap<string, NotificationCertificate>): DecryptedText {
  let parsed: EncryptedContent;
  try {
    parsed = JSON.parse(content) as EncryptedContent;
  } catch {
    return { ok: false, reason: 'bad-data' };
  }
  return decryptResourceText(parsed, certificates);
}

/** {@link decryptResourceData} up to the JSON text (what a decrypting thread hands back: a string is cheap to pass). */
export function decryptResourceText(content: EncryptedContent, certificates: ReadonlyMap<string, NotificationCertificate>): DecryptedText {
  const cert = certificates.get(content.encryptionCertificateId);
  if (!cert) return { ok: false, reason: 'unknown-certificate' };
  let key: Buffer;
  try {
    key = privateDecrypt({ key: cert.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(content.dataKey, 'base64'));
  } catch {
    return { ok: false, reason: 'bad-data-key' };
  }
  if (key.length !== 32) return { ok: false, reason: 'bad-data-key' };
  const data = Buffer.from(content.data, 'base64');
  const expected = createHmac('sha256', key).update(data).digest();
  const given = Buffer.from(content.dataSignature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad-signature' };
  try {
    const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
    return { ok: true, text: Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8'), certificateId: cert.id };
  } catch {
    return { ok: false, reason: 'bad-data' };
  }
}

/** A JSON Web Key Set as the OpenID metadata's jwks_uri serves it. */
export interface JwkSet {
  readonly keys: readonly (JsonWebKey & { kid?: string })[];
}

export interface TokenExpectations {
  readonly tenantId: string;
  /** The gateway's app registration (client) id: the token's audience. */
  readonly clientId: string;
  /** Epoch seconds. */
  readonly nowSeconds: number;
}

function part(s: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The kid a token's header names, to find its key (undefined for a token that is not a JWT). */
export function tokenKeyId(token: string): string | undefined {
  const h = part(token.split('.')[0] ?? '');
  return typeof h?.kid === 'string' ? h.kid : undefined;
}

/**
 * Until when (epoch ms) a token that passed {@link verifyValidationToken} stays valid: its exp plus the tolerated
 * skew, the same bound that check applies. Undefined for a token without a numeric exp (never valid).
 */
export function tokenValidUntilMs(token: string): number | undefined {
  const claims = part(token.split('.')[1] ?? '');
  return typeof claims?.exp === 'number' ? (claims.exp + TOKEN_CLOCK_SKEW_SECONDS) * 1000 : undefined;
}

/** Checks one validation token against the signing keys and what this gateway expects. */
export function verifyValidationToken(token: string, keys: JwkSet, e: TokenExpectations): TokenVerdict {
  if (token.length > MAX_TOKEN_CHARS) return { ok: false, reason: 'token too long' };
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'not a JWT' };
  const [h, p, sig] = parts as [string, string, string];
  const header = part(h);
  const claims = part(p);
  if (!header || !claims) return { ok: false, reason: 'not a JWT' };
  if (header.alg !== 'RS256') return { ok: false, reason: `algorithm ${String(header.alg)} is not RS256` };
  const jwk = keys.keys.find((k) => k.kid !== undefined && k.kid === header.kid);
  if (!jwk) return { ok: false, reason: 'signed with an unknown key' };
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e } as JsonWebKey, format: 'jwk' });
  } catch {
    return { ok: false, reason: 'unusable signing key' };
  }
  if (!createVerify('RSA-SHA256').update(`${h}.${p}`).verify(publicKey, Buffer.from(sig, 'base64url'))) return { ok: false, reason: 'bad signature' };
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  if (exp === undefined || exp + TOKEN_CLOCK_SKEW_SECONDS <= e.nowSeconds) return { ok: false, reason: 'expired' };
  if (typeof claims.nbf === 'number' && claims.nbf - TOKEN_CLOCK_SKEW_SECONDS > e.nowSeconds) return { ok: false, reason: 'not yet valid' };
  if (claims.iss !== `https://sts.windows.net/${e.tenantId}/`) return { ok: false, reason: 'wrong issuer' };
  if (claims.aud !== e.clientId) return { ok: false, reason: 'issued for another app' };
  if (claims.appid !== NOTIFICATION_PUBLISHER_APP_ID) return { ok: false, reason: 'not issued by the change-notification publisher' };
  return { ok: true };
}
