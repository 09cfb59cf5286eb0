/**
 * Graph's encryption of a rich notification's resource data, for tests of the gateway's decryption
 * (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#decrypting-resource-data-from-change-notifications):
 * a fresh 32-byte key, AES-256-CBC with the key's first 16 bytes as IV, HMAC-SHA256 of the encrypted bytes, the key
 * RSA-OAEP (SHA-1) to the subscriber's certificate.
 */
import { constants, createCipheriv, createHmac, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import type { EncryptedContent } from '../../src/protocol/graph-notification.js';

export function encryptLikeGraph(resource: unknown, publicKey: KeyObject | string, cert: { readonly id: string; readonly thumbprint?: string }): EncryptedContent {
  const key = randomBytes(32);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  const data = Buffer.concat([cipher.update(Buffer.from(JSON.stringify(resource))), cipher.final()]);
  return {
    data: data.toString('base64'),
    dataSignature: createHmac('sha256', key).update(data).digest('base64'),
    dataKey: publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, key).toString('base64'),
    encryptionCertificateId: cert.id,
    encryptionCertificateThumbprint: cert.thumbprint,
  };
}
