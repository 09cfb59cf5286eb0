/**
 * The node's photo service and its bounds: the fetch of an SfB card's web address (against a real HTTP server on
 * loopback), the cache, the memory of misses, and the photo server's answers (against a real HTTPS server).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import xml, { type Element } from '@xmpp/xml';
import { createLogger } from '../../../src/observability/logger.js';
import { PhotoCache, RecentMisses } from '../../../src/sfb/photos/photo-cache.js';
import { fetchPhoto, PhotoFetchError } from '../../../src/sfb/photos/photo-fetcher.js';
import { PhotoServer } from '../../../src/sfb/photos/photo-server.js';
import { SfbPhotos } from '../../../src/sfb/photos/sfb-photos.js';
import { avatarHash } from '../../../src/protocol/vcard.js';
import { testIdentity } from '../support.js';

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(200, 7)]);
const log = createLogger({ level: 'error', nodeId: 'test' });

describe('PhotoCache and RecentMisses', () => {
  it('keeps at most its bytes, the least recently used going first', () => {
    const c = new PhotoCache(250);
    const p = (n: number) => ({ type: 'image/png', bytes: Buffer.alloc(n) });
    c.set('a', p(100));
    c.set('b', p(100));
    assert.ok(c.get('a')); // a is now the most recent
    c.set('c', p(100));
    assert.equal(c.get('b'), undefined);
    assert.ok(c.get('a') && c.get('c'));
    assert.equal(c.size, 200);
    c.set('huge', p(251));
    assert.equal(c.get('huge'), undefined, 'a photo larger than the whole cache is not kept');
  });
  it('forgets a miss after its time, and keeps at most maxEntries', () => {
    let now = 0;
    const m = new RecentMisses(1000, 2, () => now);
    m.add('x');
    m.add('y');
    m.add('z');
    assert.equal(m.has('x'), false, 'the oldest went');
    assert.equal(m.has('z'), true);
    now = 1001;
    assert.equal(m.has('z'), false);
  });
});

describe('fetching an SfB card photo from its web address', () => {
  let server: Server;
  let base = '';
  let hits = 0;
  before(async () => {
    server = createServer((req, res) => {
      hits++;
      const routes: Record<string, () => void> = {
        '/carol.png': () => res.writeHead(200, { 'Content-Type': 'image/png' }).end(PNG),
        '/moved': () => res.writeHead(302, { Location: '/carol.png' }).end(),
        '/loop': () => res.writeHead(302, { Location: '/loop' }).end(),
        '/page': () => res.writeHead(200, { 'Content-Type': 'image/png' }).end('<html>intranet</html>'),
        '/big': () => res.writeHead(200, { 'Content-Type': 'image/png' }).end(Buffer.concat([PNG, Buffer.alloc(5000)])),
        // No Content-Length: the limit is counted while reading.
        '/chunked': () => {
          res.writeHead(200, { 'Content-Type': 'image/png' });
          res.write(PNG);
          res.end(Buffer.alloc(5000));
        },
        '/slow': () => setTimeout(() => res.writeHead(200).end(PNG), 2_000),
        '/gone': () => res.writeHead(404).end(),
        '/down': () => res.writeHead(503).end(),
      };
      (routes[req.url ?? ''] ?? (() => res.writeHead(404).end()))();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const o = { maxBytes: 1024, timeoutMs: 500 };
  it('reads an image, following a redirect', async () => {
    assert.deepEqual(await fetchPhoto(`${base}/carol.png`, o), { type: 'image/png', bytes: PNG });
    assert.deepEqual(await fetchPhoto(`${base}/moved`, o), { type: 'image/png', bytes: PNG });
  });
  const refused: [string, string, boolean][] = [
    ['/page', 'not a JPEG, PNG or GIF image', false],
    ['/big', 'over 1024', false],
    ['/chunked', 'over 1024', false],
    ['/loop', 'redirects', false],
    ['/gone', 'HTTP 404', false],
    ['/down', 'HTTP 503', true],
    ['/slow', 'no answer in 500 ms', true],
  ];
  for (const [path, message, transient] of refused) {
    it(`refuses ${path} (${message})`, async () => {
      await assert.rejects(fetchPhoto(`${base}${path}`, o), (e: unknown) => e instanceof PhotoFetchError && e.message.includes(message) && e.transient === transient);
    });
  }
  it('refuses what is not http(s)', async () => {
    await assert.rejects(fetchPhoto('file:///etc/passwd', o), PhotoFetchError);
    await assert.rejects(fetchPhoto('not a url', o), PhotoFetchError);
  });
  it('fetches a card photo once for all who show it, and does not ask again for one that failed', async () => {
    const photos = new SfbPhotos({ maxBytes: 1024, fetchTimeoutMs: 500, cacheBytes: 1 << 20, ca: undefined, publicUrl: () => undefined, readVcard: async () => undefined, log });
    hits = 0;
    const ref = { url: `${base}/carol.png`, hash: 'h1', type: 'default' };
    const [a, b] = await Promise.all([photos.ofSfbCard(ref, log), photos.ofSfbCard(ref, log)]);
    assert.deepEqual(a, { type: 'image/png', bytes: PNG });
    assert.deepEqual(b, a);
    assert.deepEqual(await photos.ofSfbCard(ref, log), a);
    assert.equal(hits, 1);
    const bad = { url: `${base}/page`, hash: 'h2', type: 'default' };
    assert.equal(await photos.ofSfbCard(bad, log), undefined);
    assert.equal(await photos.ofSfbCard(bad, log), undefined);
    assert.equal(hits, 2, 'the miss is remembered');
    assert.equal(await photos.ofSfbCard({ url: undefined, hash: 'h3', type: 'enterprise' }, log), undefined);
  });
});

describe('the photo server (XMPP users\' photos for SfB clients)', () => {
  let server: PhotoServer;
  let photos: SfbPhotos;
  let vcardReads = 0;
  const vcards = new Map<string, Element>();
  let ca = '';
  before(async () => {
    const id = await testIdentity('photos.gw.example');
    ca = id.ca;
    photos = new SfbPhotos({
      maxBytes: 1024,
      fetchTimeoutMs: 500,
      cacheBytes: 1 << 20,
      ca: undefined,
      publicUrl: () => `https://photos.gw.example:${server.port}`,
      readVcard: async (jid) => {
        vcardReads++;
        return vcards.get(jid);
      },
      log,
      maxVcardReadsPerMinute: 4,
    });
    server = new PhotoServer({ host: '127.0.0.1', port: 0, cert: id.cert, key: id.key, photos, log });
    await server.start();
  });
  after(() => server.stop());
  const get = async (url: string, method = 'GET') => {
    const u = new URL(url);
    const { request } = await import('node:https');
    return new Promise<{ status: number; type: string | undefined; body: Buffer }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: Number(u.port), path: u.pathname, method, servername: 'photos.gw.example', ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  };
  it('serves a published photo at the address its contactCard gives', async () => {
    const ref = photos.publishXmpp('juliet@xmpp.example', { type: 'image/jpeg', bytes: PNG });
    assert.ok(ref?.url);
    assert.equal(ref.hash, avatarHash({ type: 'image/png', bytes: PNG }));
    const r = await get(ref.url);
    assert.equal(r.status, 200);
    assert.equal(r.type, 'image/png', 'the type the bytes show, not the one the vCard claims');
    assert.deepEqual(r.body, PNG);
    assert.equal((await get(ref.url, 'POST')).status, 405);
  });
  it('does not publish what is no image or too large', () => {
    assert.equal(photos.publishXmpp('juliet@xmpp.example', { type: 'image/png', bytes: Buffer.from('<svg/>') }), undefined);
    assert.equal(photos.publishXmpp('juliet@xmpp.example', { type: 'image/png', bytes: Buffer.concat([PNG, Buffer.alloc(2000)]) }), undefined);
  });
  it('a photo another node published is read from the vCard, only while the vCard still holds that image', async () => {
    const sha1 = avatarHash({ type: 'image/png', bytes: PNG });
    vcards.set('romeo@xmpp.example', xml('vCard', { xmlns: 'vcard-temp' }, xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, PNG.toString('base64')))));
    const base = `https://photos.gw.example:${server.port}/sfb/photos/romeo%40xmpp.example`;
    const r = await get(`${base}/${sha1}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, PNG);
    vcardReads = 0;
    assert.equal((await get(`${base}/${'0'.repeat(40)}`)).status, 404, 'an older photo');
    assert.equal((await get(`${base}/${'0'.repeat(40)}`)).status, 404);
    assert.equal(vcardReads, 1, 'a miss is not asked of the XMPP server again');
    assert.equal((await get(`https://photos.gw.example:${server.port}/etc/passwd`)).status, 404);
  });
  it('caps the vCard reads unknown addresses cause (503, nothing asked of the XMPP server)', async () => {
    const statuses: number[] = [];
    vcardReads = 0;
    for (let i = 0; i < 4; i++) statuses.push((await get(`https://photos.gw.example:${server.port}/sfb/photos/user${i}%40elsewhere.example/${'1'.repeat(40)}`)).status);
    assert.deepEqual(statuses, [404, 404, 503, 503], 'two reads were left of the four this minute');
    assert.equal(vcardReads, 2);
  });
});
