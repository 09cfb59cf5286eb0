/**
 * Notifications with resource data ("rich notifications"), as
 * https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data documents them:
 * - the subscriber's encryptionCertificate is a Base64 X.509 certificate holding an RSA key of 2,048 to 4,096 bits
 *   ("Managing encryption keys"); Graph does not check who issued it;
 * - each notification's resource is encrypted with a fresh 32-byte symmetric key ("Always assume that the
 *   symmetric key is different for each item"): AES in CBC mode with PKCS7 padding, the IV being the key's first
 *   16 bytes; `dataKey` is that key encrypted with the certificate's public key with OAEP padding (SHA-1, as .NET's
 *   RSACryptoServiceProvider.Decrypt(fOAEP: true) and Java's OAEPWithSHA1AndMGF1Padding of the page's samples);
 *   `dataSignature` is the HMAC-SHA256, keyed with the symmetric key, of the encrypted bytes; all three Base64;
 * - `encryptionCertificateId` is the subscriber's own id for the certificate, `encryptionCertificateThumbprint`
 *   its SHA-1 thumbprint (hex, as Windows shows thumbprints);
 * - the collection carries `validationTokens`: JWTs from the Microsoft identity platform, "aud" the subscribing
 *   app, "iss" https://sts.windows.net/{tenant}/, "appid" 0bf30f3b-4a52-48df-9a82-234910c4a086 (the change
 *   notification publisher), signed with the keys of the OpenID metadata ("How to validate", "Example JWT token").
 */
import { X509Certificate, constants, createCipheriv, createHash, createHmac, publicEncrypt, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { faults } from './errors.js';
import type { JwtSigner } from './jwt.js';

/** The app id Graph's change-notification publisher signs validation tokens as. */
export const NOTIFICATION_PUBLISHER_APP_ID = '0bf30f3b-4a52-48df-9a82-234910c4a086';
/** Lifetime of a validation token; Learn's example token lives 8 hours 5 minutes (exp - iat = 29,100 s). */
const VALIDATION_TOKEN_SECONDS = 29_100;
/** A cached validation token is replaced this long before it expires. */
const VALIDATION_TOKEN_RENEW_SECONDS = 3600;

/** A subscriber's encryption certificate, as given in encryptionCertificate. */
export interface EncryptionCertificate {
  readonly id: string;
  readonly publicKey: KeyObject;
  readonly thumbprint: string;
  /** As the subscriber sent it. */
  readonly base64: string;
}

/**
 * Checks encryptionCertificate and encryptionCertificateId as Graph does when a subscription is created or
 * updated; 400 with Graph's error shape otherwise.
 */
export function parseEncryptionCertificate(certificate: unknown, id: unknown): EncryptionCertificate {
  if (typeof certificate !== 'string' || certificate === '') {
    throw faults.badRequest("The 'encryptionCertificate' property is required when 'includeResourceData' is true.");
  }
  if (typeof id !== 'string' || id === '') throw faults.badRequest("The 'encryptionCertificateId' property is required when 'includeResourceData' is true.");
  if (id.length > 128) throw faults.badRequest("The 'encryptionCertificateId' property can be up to 128 characters.");
  let x509: X509Certificate;
  try {
    const der = Buffer.from(certificate.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/gu, ''), 'base64');
    x509 = new X509Certificate(der);
  } catch {
    throw faults.badRequest("The 'encryptionCertificate' property is not a Base64-encoded X.509 certificate.");
  }
  const key = x509.publicKey;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < 2048 || bits > 4096) {
    throw faults.badRequest('The encryption certificate must hold an RSA key of 2048 to 4096 bits.');
  }
  return { id, publicKey: key, thumbprint: createHash('sha1').update(x509.raw).digest('hex').toUpperCase(), base64: certificate };
}

/** encryptedContent of one notification (https://learn.microsoft.com/en-us/graph/api/resources/changenotificationencryptedcontent). */
export function encryptResource(resource: unknown, cert: EncryptionCertificate): Record<string, string> {
  const key = randomBytes(32);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  const data = Buffer.concat([cipher.update(JSON.stringify(resource), 'utf8'), cipher.final()]);
  return {
    data: data.toString('base64'),
    dataSignature: createHmac('sha256', key).update(data).digest('base64'),
    dataKey: publicEncrypt({ key: cert.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, key).toString('base64'),
    encryptionCertificateId: cert.id,
    encryptionCertificateThumbprint: cert.thumbprint,
  };
}

/** The validation tokens Graph adds to collections with resource data, one per subscribing app (cached). */
export class ValidationTokens {
  private readonly cache = new Map<string, { token: string; exp: number }>();

  constructor(
    private readonly signer: JwtSigner,
    private readonly tenantId: string,
    private readonly now: () => number = Date.now,
  ) {}

  for(appId: string): string {
    const nowSeconds = Math.floor(this.now() / 1000);
    const cached = this.cache.get(appId);
    if (cached && cached.exp - VALIDATION_TOKEN_RENEW_SECONDS > nowSeconds) return cached.token;
    const iss = `https://sts.windows.net/${this.tenantId}/`;
    const exp = nowSeconds + VALIDATION_TOKEN_SECONDS;
    const token = this.signer.sign({
      aud: appId,
      iss,
      iat: nowSeconds,
      nbf: nowSeconds,
      exp,
      aio: randomBytes(24).toString('base64'),
      appid: NOTIFICATION_PUBLISHER_APP_ID,
      appidacr: '2',
      idp: iss,
      tid: this.tenantId,
      uti: randomUUID().replace(/-/gu, '').slice(0, 22),
      ver: '1.0',
    });
    this.cache.set(appId, { token, exp });
    return token;
  }
}
