/**
 * The machine's speed at the one step of Teams -> XMPP that no gateway can skip: the RSA-OAEP (SHA-1) unwrap of a
 * rich notification's key with a 2,048-bit private key, which Graph asks for every notification ("Always assume
 * that the symmetric key is different for each item",
 * https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#decrypting-resource-data-from-change-notifications).
 * On a shared machine its cost moves by a fifth within the hour, and the node's CPU per message with it: measured
 * just before a timed run, it says how much of that run's figure is this step and how much the gateway's own.
 */
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

let keys: { privateKey: KeyObject; sealed: Buffer[] } | undefined;

/** CPU milliseconds of one unwrap on this thread (the median of `rounds` rounds of `ops` unwraps). */
export function rsaUnwrapMs(ops = 100, rounds = 3): number {
  if (!keys) {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sealed = Array.from({ length: ops }, () => publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, randomBytes(32)));
    keys = { privateKey, sealed };
  }
  const k = keys;
  const each = Array.from({ length: rounds }, () => {
    const t0 = process.cpuUsage();
    for (const c of k.sealed) privateDecrypt({ key: k.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, c);
    const t = process.cpuUsage(t0);
    return (t.user + t.system) / 1000 / k.sealed.length;
  });
  return each.sort((a, b) => a - b)[Math.floor(rounds / 2)] as number;
}
