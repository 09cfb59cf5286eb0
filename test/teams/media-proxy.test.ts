import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { HostedContentStream } from '../../src/teams/graph-teams-adapter.js';
import { MediaProxy, mediaUrlPrefix } from '../../src/teams/media-proxy.js';
import { deriveMediaKey } from '../../src/teams/media-token.js';
import { TeamsError, type Puppet } from '../../src/teams/teams-port.js';
import { WebhookServer } from '../../src/teams/webhook-server.js';
import { freePort } from '../support/ports.js';

const lines: string[] = [];
const log = createLogger({ level: 'info', nodeId: 't', stream: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) });
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const PUPPET: Puppet = { remoteJid: 'juliet@xmpp.example', userId: 'p-1', upn: 'juliet@puppets.example' };

function stream(bytes: Buffer, contentType: string, declare = true): HostedContentStream {
  return {
    contentType,
    contentLength: declare ? bytes.length : undefined,
    body: new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 4) c.enqueue(bytes.subarray(i, i + 4));
        c.close();
      },
    }),
  };
}

describe('media proxy on the webhook listener', () => {
  const store = SqliteStore.open(':memory:');
  let server: WebhookServer;
  let publicUrl: string;
  let proxy: MediaProxy;
  let now = Date.UTC(2025, 0, 1);
  const asked: string[] = [];
  let answer: (hid: string) => Promise<HostedContentStream>;
  before(async () => {
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}/graph/notifications`;
    proxy = new MediaProxy({
      publicUrl,
      key: deriveMediaKey('secret'),
      linkHours: 24,
      maxBytes: 32,
      puppetByUserId: async (id) => (id === PUPPET.userId ? PUPPET : undefined),
      source: {
        openHostedContent: (p, chatId, messageId, hid) => {
          asked.push(`${p.upn} ${chatId} ${messageId} ${hid}`);
          return answer(hid);
        },
      },
      log,
      now: () => now,
    });
    server = new WebhookServer({ listen: `127.0.0.1:${port}`, publicUrl, tls: undefined, store, log, metrics: new Metrics({ defaultMetrics: false }), onRecorded: () => undefined, media: proxy });
    await server.start();
  });
  after(async () => {
    await server.stop();
    await store.close();
  });
  const ref = { chatId: '19:a_b@unq.gbl.spaces', messageId: '17', hostedContentId: 'h1' };

  it('links under <publicUrl>/media/', () => {
    assert.equal(mediaUrlPrefix('https://gw.example/graph/notifications/'), 'https://gw.example/graph/notifications/media/');
    assert.ok(proxy.link(ref, PUPPET.userId).startsWith(`${publicUrl}/media/`));
  });

  it("streams the bytes with Graph's content type, read as the link's XMPP user account", async () => {
    answer = async () => stream(PNG, 'image/png');
    const r = await fetch(proxy.link(ref, PUPPET.userId));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/png');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.match(r.headers.get('content-security-policy') ?? '', /sandbox/u);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), PNG);
    assert.deepEqual(asked.at(-1), 'juliet@puppets.example 19:a_b@unq.gbl.spaces 17 h1');
  });

  it('answers 403 to a forged or altered token and 410 to an expired one, without asking Graph', async () => {
    const link = proxy.link(ref, PUPPET.userId);
    const before = asked.length;
    const dot = link.lastIndexOf('.');
    const tampered = `${link.slice(0, dot + 1)}${link[dot + 1] === 'A' ? 'B' : 'A'}${link.slice(dot + 2)}`;
    for (const bad of [tampered, `${link.slice(0, link.lastIndexOf('/') + 1)}garbage`, `${link}x`]) {
      const r = await fetch(bad);
      assert.equal(r.status, 403, bad);
      assert.equal(await r.text(), '');
    }
    now += 25 * 3_600_000;
    try {
      assert.equal((await fetch(link)).status, 410);
    } finally {
      now -= 25 * 3_600_000;
    }
    assert.equal(asked.length, before);
    assert.equal((await fetch(link, { method: 'POST' })).status, 405);
  });

  it('answers 502 to a Graph failure and to an image over the size limit, logging why but never the token', async () => {
    lines.length = 0;
    answer = async () => {
      throw new TeamsError('read a Teams inline image: NotFound gone', 404, 'NotFound', false);
    };
    const link = proxy.link(ref, PUPPET.userId);
    const r = await fetch(link);
    assert.equal(r.status, 502);
    assert.equal(await r.text(), '');
    answer = async () => stream(Buffer.alloc(64), 'image/png');
    assert.equal((await fetch(proxy.link(ref, PUPPET.userId))).status, 502);
    // Without a declared length, the transfer is cut once over the limit.
    answer = async () => stream(Buffer.alloc(64), 'image/png', false);
    await assert.rejects(async () => Buffer.from(await (await fetch(proxy.link(ref, PUPPET.userId))).arrayBuffer()));
    assert.equal((await fetch(proxy.link(ref, 'unknown-user'))).status, 502);
    const logged = lines.join('');
    assert.match(logged, /NotFound gone/u);
    assert.match(logged, /larger than 32 bytes/u);
    assert.ok(!logged.includes(link.slice(link.lastIndexOf('/') + 1)), 'the token is not logged');
  });

  it('replaces a content type that is not a plain type/subtype', async () => {
    answer = async () => stream(PNG, 'text/html\r\nx: y');
    const r = await fetch(proxy.link(ref, PUPPET.userId));
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    await r.arrayBuffer();
  });

  it('serves one link at most 30 times an hour, then 429 without asking Graph (issue 12)', async () => {
    answer = async () => stream(PNG, 'image/png');
    const link = proxy.link({ ...ref, hostedContentId: 'h-often' }, PUPPET.userId);
    for (let i = 0; i < 30; i++) assert.equal((await fetch(link).then(async (r) => (await r.arrayBuffer(), r))).status, 200);
    const askedBefore = asked.length;
    const over = await fetch(link);
    assert.equal(over.status, 429);
    assert.equal(over.headers.get('retry-after'), '3600');
    assert.equal(asked.length, askedBefore);
    now += 3_600_000;
    assert.equal((await fetch(link).then(async (r) => (await r.arrayBuffer(), r))).status, 200, 'the next hour it is served again');
  });

  it('logs a flood of refused links within a budget', async () => {
    const before = lines.filter((l) => l.includes('media link refused')).length;
    await Promise.all(Array.from({ length: 200 }, (_, i) => fetch(`${publicUrl}/media/forged${i}.x`).then((r) => r.arrayBuffer())));
    const logged = lines.filter((l) => l.includes('media link refused')).length - before;
    assert.ok(logged <= 20, `${logged} lines`);
  });
});
