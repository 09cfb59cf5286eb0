/**
 * The webhook is on the public internet (DESIGN.md decision 9): what a stranger's POST can cost is bounded before
 * it is spent (issue 12, items 3 and 14). Each case drives the real listener over HTTP with a real SQLite store,
 * counting store lookups and log lines.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { MAX_VALIDATION_TOKEN_CHARS, WebhookServer } from '../../src/teams/webhook-server.js';
import { countingStore } from '../support/counting-store.js';
import { freePort } from '../support/ports.js';

const TENANT = '0d5f7a3e-8b1c-4e2a-9f6d-3c4b5a697e80';
const MAX_ITEMS = 1000;

describe('webhook under hostile input', () => {
  const store = SqliteStore.open(':memory:');
  const counts = { lookups: 0 };
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'info',
    nodeId: 't',
    stream: new Writable({
      write: (c: Buffer, _e, cb) => {
        for (const l of c.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  });
  let server: WebhookServer;
  let url: string;
  let recorded = 0;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}/graph/notifications`;
    server = new WebhookServer({
      listen: `127.0.0.1:${port}`,
      publicUrl: url,
      tls: undefined,
      store: countingStore(store, counts),
      log,
      metrics: new Metrics({ defaultMetrics: false }),
      onRecorded: () => recorded++,
      tenantId: TENANT,
      maxNotificationsPerRequest: MAX_ITEMS,
    });
    await server.start();
    await store.saveSubscription({ id: 'sub-1', purpose: 'messages:p1', resource: '/users/p1/chats/getAllMessages', changeType: 'created', ownerUserId: 'p1', clientState: 'right-secret', expiresAt: Date.now() + 3_600_000 });
  });
  after(async () => {
    await server.stop();
    await store.close();
  });
  beforeEach(() => {
    counts.lookups = 0;
    lines.length = 0;
  });

  const post = (body: string, path = url) => fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const item = (o: Record<string, unknown>) => ({ subscriptionId: 'sub-1', clientState: 'right-secret', changeType: 'created', resource: "chats('19:a_b@unq.gbl.spaces')/messages('m')", tenantId: TENANT, ...o });
  const pending = async () => (await store.dueNotifications(Date.now() + 1, 1000)).map((n) => n.dedupKey);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  it('refuses a body of 23,000 made-up subscription ids at once: no store lookup, one log line', async () => {
    // The reported attack: a 977 KB body of short items, each naming another subscription.
    const items = Array.from({ length: 23_000 }, (_, i) => `{"subscriptionId":"s${i}","resource":"r"}`);
    const body = `{"value":[${items.join(',')}]}`;
    assert.ok(body.length > 900_000 && body.length < 1_000_000, `body of ${body.length} bytes`);
    const r = await post(body);
    await settle();
    assert.equal(r.status, 413);
    assert.equal(counts.lookups, 0, 'store lookups');
    assert.equal(lines.length, 1, `one log line, got ${JSON.stringify(lines.slice(0, 3))}`);
    assert.equal(lines[0]?.items, 23_000);
  });

  it('looks a subscription up once for many requests and rejects a batch in which no item authenticates', async () => {
    const body = JSON.stringify({ value: Array.from({ length: MAX_ITEMS }, (_, i) => item({ clientState: 'guessed', resource: `chats('c')/messages('m${i}')` })) });
    const r = await post(body);
    await settle();
    assert.equal(r.status, 403);
    assert.equal(lines.length, 1, 'one summary line');
    assert.equal(lines[0]?.badClientState, MAX_ITEMS);
    // The record read for the first request serves the next (subscription-cache.ts).
    assert.equal((await post(body)).status, 403);
    assert.equal(counts.lookups, 1, 'one lookup for the one subscription named, over two requests');
    assert.deepEqual(await pending(), []);
  });

  it('made-up subscription ids within the cap cost one lookup each and one log line', async () => {
    const body = JSON.stringify({ value: Array.from({ length: MAX_ITEMS }, (_, i) => item({ subscriptionId: `made-up-${i % 10}` })) });
    const r = await post(body);
    await settle();
    assert.equal(r.status, 403);
    assert.equal(counts.lookups, 10);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.unknownSubscription, MAX_ITEMS);
  });

  it('commits the authentic items of a mixed batch, ignores the rest, and logs one summary line', async () => {
    const before = recorded;
    const body = JSON.stringify({
      value: [
        item({ resource: "chats('c')/messages('good-1')" }),
        item({ resource: "chats('c')/messages('good-2')" }),
        item({ resource: "chats('c')/messages('forged')", clientState: 'nope' }),
        item({ resource: "chats('c')/messages('unknown')", subscriptionId: 'nope' }),
        item({ resource: "chats('c')/messages('other-tenant')", tenantId: '11111111-2222-4333-8444-555555555555' }),
        item({ resource: "chats('c')/messages('no-tenant')", tenantId: undefined }),
      ],
    });
    const r = await post(body);
    await settle();
    assert.equal(r.status, 202);
    assert.deepEqual(await pending(), ['created:good-1/c', 'created:good-2/c']);
    assert.equal(recorded, before + 1, 'processing is kicked once per request');
    assert.equal(lines.length, 1);
    assert.deepEqual(
      { accepted: lines[0]?.accepted, badClientState: lines[0]?.badClientState, unknownSubscription: lines[0]?.unknownSubscription, wrongTenant: lines[0]?.wrongTenant },
      { accepted: 2, badClientState: 1, unknownSubscription: 1, wrongTenant: 2 },
    );
  });

  it('rejects a batch whose only items come from another tenant', async () => {
    const r = await post(JSON.stringify({ value: [item({ resource: "chats('c')/messages('x')", tenantId: '11111111-2222-4333-8444-555555555555' })] }));
    assert.equal(r.status, 403);
  });

  it('records a replayed lifecycle notice once', async () => {
    const notice = JSON.stringify({
      value: [{ subscriptionId: 'sub-1', subscriptionExpirationDateTime: '2030-01-01T00:00:00.0000000Z', tenantId: TENANT, clientState: 'right-secret', lifecycleEvent: 'reauthorizationRequired' }],
    });
    const lifecycle = url.replace('/graph/notifications', '/graph/notifications/lifecycle');
    for (let i = 0; i < 5; i++) assert.equal((await post(notice, lifecycle)).status, 202);
    const rows = (await store.dueNotifications(Date.now() + 1, 1000)).filter((n) => n.kind === 'lifecycle');
    assert.equal(rows.length, 1, 'one lifecycle row for five identical notices');
  });

  it('echoes a validation token as text/plain with nosniff, and refuses an overlong one', async () => {
    const token = 'Validation: Testing client application reachability for subscription Request-Id: 3f6c <script>';
    const r = await fetch(`${url}?validationToken=${encodeURIComponent(token)}`, { method: 'POST' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/u);
    assert.equal(await r.text(), token);
    const long = await fetch(`${url}?validationToken=${'a'.repeat(MAX_VALIDATION_TOKEN_CHARS + 1)}`, { method: 'POST' });
    assert.equal(long.status, 400);
    assert.equal(long.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(await long.text(), '');
  });
});
