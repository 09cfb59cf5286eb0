/**
 * The decrypting threads (src/teams/resource-decrypter.ts, decrypt-worker.ts): the resource data of many
 * notifications, of two tenants' certificates, is decrypted off the event loop, spread over two threads, with the
 * same results as the pure function gives, each to its own notification; a damaged item fails alone; and once a
 * thread is gone (closed, or dead in the middle of a batch) decryption goes on inline, nothing lost, and the log
 * says so.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import { generate } from 'selfsigned';
import type { EncryptedContent } from '../../src/protocol/graph-notification.js';
import { createLogger } from '../../src/observability/logger.js';
import { encryptLikeGraph } from '../support/graph-encryption.js';
import { defaultDecryptThreads, ResourceDecrypter } from '../../src/teams/resource-decrypter.js';
import { decryptResourceData, loadNotificationCertificate, type NotificationCertificate } from '../../src/teams/rich-notifications.js';

interface Tenant {
  readonly cert: NotificationCertificate;
  readonly publicPem: string;
  readonly certificates: ReadonlyMap<string, NotificationCertificate>;
}

async function tenant(id: string): Promise<Tenant> {
  const pems = await generate([{ name: 'commonName', value: id }], { keySize: 2048, algorithm: 'sha256' });
  const cert = loadNotificationCertificate(id, pems.cert, pems.private);
  return { cert, publicPem: pems.public, certificates: new Map([[cert.id, cert]]) };
}

function encrypt(resource: unknown, t: Tenant): EncryptedContent {
  return encryptLikeGraph(resource, t.publicPem, t.cert);
}

/** The threads a decrypter started (its private list). */
function threadsOf(d: ResourceDecrypter): { worker: Worker }[] {
  return (d as unknown as { threads: { worker: Worker }[] }).threads;
}

describe('ResourceDecrypter: rich notifications decrypted on their own threads', () => {
  let a: Tenant;
  let b: Tenant;
  // Two threads: a burst of 50 is four slices, and the second starts the second thread.
  const decrypter = new ResourceDecrypter(undefined, 2);
  before(async () => {
    [a, b] = await Promise.all([tenant('contoso-1'), tenant('northwind-1')]);
  });
  after(() => decrypter.close());

  it('decrypts 50 notifications of two tenants on two threads as the pure function does; a tampered one fails alone', async () => {
    const contents = Array.from({ length: 50 }, (_, i) => {
      const c = encrypt({ id: `m${i}`, body: { content: `text ${i}` } }, i % 2 === 0 ? a : b);
      // The 7th was tampered with on the way: its signature no longer matches.
      return i === 7 ? { ...c, dataSignature: createHmac('sha256', randomBytes(32)).update('x').digest('base64') } : c;
    });
    const certsOf = (i: number) => (i % 2 === 0 ? a : b).certificates;
    const results = await Promise.all(contents.map((c, i) => decrypter.decrypt(JSON.stringify(c), certsOf(i))));
    assert.deepEqual(results, contents.map((c, i) => decryptResourceData(c, certsOf(i))));
    assert.equal(threadsOf(decrypter).length, 2);
    assert.deepEqual(results[7], { ok: false, reason: 'bad-signature' });
    assert.deepEqual(results[8], { ok: true, resource: { id: 'm8', body: { content: 'text 8' } }, certificateId: 'contoso-1' });
    // One tenant's certificate does not open another tenant's notification.
    assert.deepEqual(await decrypter.decrypt(JSON.stringify(contents[0]), b.certificates), { ok: false, reason: 'unknown-certificate' });
  });

  it('says what is wrong with content that is not JSON, and with none of the certificates configured', async () => {
    assert.deepEqual(await decrypter.decrypt('{not json', a.certificates), { ok: false, reason: 'bad-data' });
    assert.deepEqual(await decrypter.decrypt(JSON.stringify(encrypt({ id: 'x' }, a)), new Map()), { ok: false, reason: 'unknown-certificate' });
  });

  it('goes on decrypting, inline, once its thread is closed', async () => {
    const other = new ResourceDecrypter();
    const c = encrypt({ id: 'late' }, a);
    const pending = other.decrypt(JSON.stringify(c), a.certificates);
    await other.close();
    assert.deepEqual(await pending, { ok: true, resource: { id: 'late' }, certificateId: 'contoso-1' });
    assert.deepEqual(await other.decrypt(JSON.stringify(c), a.certificates), { ok: true, resource: { id: 'late' }, certificateId: 'contoso-1' });
  });

  it('decrypts inline what its threads had when one of them died, and says so in the log', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', nodeId: 't', stream: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(String(c)), cb()) }) });
    const dying = new ResourceDecrypter(log, 2);
    const contents = Array.from({ length: 40 }, (_, i) => encrypt({ id: `d${i}` }, a));
    const pending = contents.map((c) => dying.decrypt(JSON.stringify(c), a.certificates));
    // The slices are handed to both threads at the end of this turn; the second is killed right after.
    await new Promise((r) => setImmediate(r));
    assert.equal(threadsOf(dying).length, 2);
    await threadsOf(dying)[1]?.worker.terminate();
    assert.deepEqual(
      (await Promise.all(pending)).map((r) => (r.ok ? (r.resource as { id: string }).id : r.reason)),
      contents.map((_, i) => `d${i}`),
    );
    assert.ok(lines.some((l) => l.includes('rich notifications are decrypted on the event loop')), lines.join(''));
    assert.deepEqual(await dying.decrypt(JSON.stringify(contents[0]), a.certificates), { ok: true, resource: { id: 'd0' }, certificateId: 'contoso-1' });
    await dying.close();
  });
});

describe('defaultDecryptThreads: one per core but the event loop\'s, from one to four', () => {
  for (const [cores, threads] of [[1, 1], [2, 1], [3, 2], [4, 3], [5, 4], [64, 4]] as const) {
    it(`${cores} core(s): ${threads} thread(s)`, () => assert.equal(defaultDecryptThreads(cores), threads));
  }
});
