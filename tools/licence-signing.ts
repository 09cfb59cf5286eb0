/**
 * The vendor's side of licensing: making a signing key pair and signing licence terms (Ed25519 over the canonical
 * JSON of the terms). This is not part of the gateway: it lives in tools/, outside the release image and the npm
 * package (see docs/licensing.md); nodes only verify (src/cluster/licence.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { LICENCE_FORMAT, LicenceKeyError, canonicalJson, checkTerms, keyIdOf, plainTerms, type LicenceFile, type LicenceTerms } from '../src/cluster/licence.js';

export function generateKeyPair(): { publicKeyPem: string; privateKeyPem: string; keyId: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey, keyId: keyIdOf(publicKey) };
}

/** Signs terms; throws TypeError if they would not pass a node's checks, LicenceKeyError for an unusable key. */
export function signLicence(terms: LicenceTerms, privateKeyPem: string): LicenceFile {
  const checked = checkTerms(terms);
  if (!checked.ok) throw new TypeError(`cannot sign: ${checked.detail}`);
  if (/-----BEGIN PUBLIC KEY-----/u.test(privateKeyPem)) throw new LicenceKeyError('the signing key is a public key; sign with the private key (licence-signing.key)');
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (err) {
    throw new LicenceKeyError(`the signing key is not a PEM private key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new LicenceKeyError(`the signing key is of type ${key.asymmetricKeyType ?? 'unknown'}; licences are signed with Ed25519`);
  const plain = plainTerms(checked.terms);
  const signature = sign(null, Buffer.from(canonicalJson(plain)), key).toString('base64');
  return { format: LICENCE_FORMAT, terms: plain, keyId: keyIdOf(createPublicKey(key)), signature };
}
