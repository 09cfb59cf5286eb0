/**
 * The thread that decrypts rich notifications' resource data (resource-decrypter.ts): the RSA-OAEP unwrap of each
 * notification's dataKey is the costliest step of Teams -> XMPP (about 0.3 ms of CPU each with a 2,048-bit key, and
 * Graph uses a fresh key for every item), so it runs here, beside the event loop that reads the XMPP link and the
 * webhook. Strings go both ways (the encrypted content as recorded, the decrypted JSON): they are cheap to pass
 * between threads, objects are not. The function it runs is the pure one table-tested in
 * test/teams/rich-notifications.test.ts.
 */
import { parentPort } from 'node:worker_threads';
import { decryptRecorded, type DecryptedText, type NotificationCertificate } from './rich-notifications.js';

/**
 * Event loop -> decrypter: a set of certificates (sent once: a key cloned into this thread again would be imported
 * into OpenSSL again), or encrypted contents (JSON, as the inbox holds them), each with the set it may use.
 */
export type ToDecrypter =
  | { readonly kind: 'certificates'; readonly set: number; readonly certificates: readonly NotificationCertificate[] }
  | { readonly kind: 'batch'; readonly id: number; readonly items: readonly { readonly content: string; readonly set: number }[] };

/** Decrypter -> event loop: one result per item, in order. */
export interface DecryptedBatch {
  readonly id: number;
  readonly results: readonly DecryptedText[];
}

const port = parentPort;
const sets = new Map<number, ReadonlyMap<string, NotificationCertificate>>();
const none: ReadonlyMap<string, NotificationCertificate> = new Map();
port?.on('message', (m: ToDecrypter) => {
  if (m.kind === 'certificates') {
    sets.set(m.set, new Map(m.certificates.map((c) => [c.id, c])));
    return;
  }
  const results = m.items.map((item) => decryptRecorded(item.content, sets.get(item.set) ?? none));
  port.postMessage({ id: m.id, results } satisfies DecryptedBatch);
});
