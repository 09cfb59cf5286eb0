/**
 * How many rich notifications a node decrypts per second (src/teams/resource-decrypter.ts), with 1, 2, ... threads up
 * to the machine's cores, nothing else running: the RSA-OAEP unwrap of each notification's key (Graph uses a fresh
 * key for every item) bounds a node's Teams -> XMPP rate, and this shows how far more threads move that bound. It
 * prints, per thread count, notifications decrypted per second and the process CPU per notification (every thread).
 *
 *   node dist/bench/decrypt.bench.js [--notifications 4000]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { generate } from 'selfsigned';
import { encryptLikeGraph } from '../test/support/graph-encryption.js';
import { defaultDecryptThreads, ResourceDecrypter } from '../src/teams/resource-decrypter.js';
import { loadNotificationCertificate } from '../src/teams/rich-notifications.js';

const { values: args } = parseArgs({ options: { notifications: { type: 'string', default: '4000' } } });
const N = Number(args.notifications);
if (!Number.isInteger(N) || N < 1) {
  console.error(`--notifications ${args.notifications}: expected a positive whole number`);
  process.exit(2);
}

const pems = await generate([{ name: 'commonName', value: 'bench-decrypt' }], { keySize: 2048, algorithm: 'sha256' });
const cert = loadNotificationCertificate('bench-decrypt', pems.cert, pems.private);
const certificates = new Map([[cert.id, cert]]);
// A chat message as Graph's rich notification carries it: about the size of the relay benchmark's.
const contents = Array.from({ length: N }, (_, i) =>
  JSON.stringify(encryptLikeGraph({ id: `${1_700_000_000_000 + i}`, messageType: 'message', body: { contentType: 'text', content: `message ${i} over the lazy dog` } }, pems.public, cert)),
);

console.log(`rich notifications decrypted (${N} each, RSA 2,048-bit; ${availableParallelism()} cores, a node's default: ${defaultDecryptThreads()} thread(s)):`);
for (let threads = 1; threads <= availableParallelism(); threads++) {
  const d = new ResourceDecrypter(undefined, threads);
  // Warm-up: the threads start, the key is imported into each.
  await Promise.all(contents.slice(0, 64 * threads).map((c) => d.decrypt(c, certificates)));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results = await Promise.all(contents.map((c) => d.decrypt(c, certificates)));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await d.close();
  const failed = results.filter((r) => !r.ok).length;
  if (failed > 0) throw new Error(`${failed} of ${N} notifications did not decrypt`);
  console.log(`  ${threads} thread(s): ${((N / ms) * 1000).toFixed(0)} notifications/s, ${((cpu.user + cpu.system) / 1000 / N).toFixed(3)} ms of CPU each`);
}
