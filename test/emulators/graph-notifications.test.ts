/**
 * Conformance of the Graph emulator's change-notification delivery, as Learn documents it (each case cites its
 * page; docs/graph-conformance.md, section "Change notifications", lists them):
 * - webhook delivery: timeout, slow answers, throttling, dropping, retries, batching
 *   (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks);
 * - notifications with resource data: encryption, validation tokens, certificate rotation
 *   (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data);
 * - one presence subscription per user and application
 *   (https://learn.microsoft.com/en-us/graph/changenotifications-for-presence);
 * - lifecycle notifications (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events).
 * Subscriptions are made through the real Graph client and @azure/identity; the webhook is a plain loopback
 * server whose answers each test scripts. Timings are shortened where a test says so.
 */
import assert from 'node:assert/strict';
import { constants, createDecipheriv, createHmac, createPrivateKey, createPublicKey, createVerify, privateDecrypt, type JsonWebKey } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ClientSecretCredential, UsernamePasswordCredential, type TokenCredential } from '@azure/identity';
import { Client } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { generate } from 'selfsigned';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { startGraphEmulator, type DeliveryTimings, type GraphEmulator, type GraphEmulatorOptions } from './graph/index.js';
import { DEFAULT_DELIVERY } from './graph/notifier.js';
import { graphError } from './graph-assertions.js';

const TENANT = '0d5f7a3e-8b1c-4e2a-9f6d-3c4b5a697e80';
const APP = 'a1b2c3d4-0000-4000-8000-00000000000a';
const SECRET = 'gateway-secret-value';
const ALICE_ID = '11111111-1111-4111-8111-111111111111';

interface Hook {
  /** Each request's body, in arrival order. */
  readonly bodies: Record<string, unknown>[];
  /** Per request: how long to wait before answering, and with what status (default: at once, 202). */
  readonly answers: { delayMs?: number; status?: number }[];
}

/** A loopback webhook: echoes validation tokens; answers notifications as scripted per path. */
class Webhook {
  private server: Server | undefined;
  private base = '';
  private readonly hooks = new Map<string, Hook>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    const a = this.server.address();
    this.base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  hook(name: string): Hook {
    let h = this.hooks.get(name);
    if (!h) {
      h = { bodies: [], answers: [] };
      this.hooks.set(name, h);
    }
    return h;
  }

  url(name: string): string {
    this.hook(name);
    return `${this.base}/hooks/${name}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', this.base);
    const token = url.searchParams.get('validationToken');
    if (token !== null) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(token);
      return;
    }
    const h = this.hook(url.pathname.split('/').pop() ?? '');
    h.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
    const a = h.answers.shift() ?? {};
    if (a.delayMs) await new Promise((resolve) => setTimeout(resolve, a.delayMs));
    if (!res.destroyed) res.writeHead(a.status ?? 202).end();
  }

  async stop(): Promise<void> {
    const s = this.server;
    s?.closeAllConnections();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

async function waitUntil(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const items = (h: Hook) => h.bodies.flatMap((b) => b.value as Record<string, unknown>[]);
const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

/** An emulator with the gateway's app and a few users; `delivery` shortens Learn's timings for one test. */
async function emulator(delivery: Partial<DeliveryTimings> = {}, extra: Partial<GraphEmulatorOptions> = {}): Promise<GraphEmulator> {
  const dir = process.env.XTG_TEST_TLS_DIR;
  if (!dir) throw new Error('run with npm test (XTG_TEST_TLS_DIR)');
  const tls = await ensureTlsMaterial(dir);
  return startGraphEmulator({
    tls: { key: tls.key, cert: tls.cert },
    tenantId: TENANT,
    verifiedDomains: ['contoso.example'],
    delivery,
    apps: [
      {
        clientId: APP,
        clientSecret: SECRET,
        allowPublicClient: true,
        applicationPermissions: ['User.Read.All'],
        delegatedPermissions: ['User.Read', 'Chat.Create', 'ChatMessage.Send', 'Chat.Read', 'Presence.Read.All'],
      },
    ],
    users: [
      { id: ALICE_ID, userPrincipalName: 'alice@contoso.example', displayName: 'Alice Smith', password: 'Alice-pass-1' },
      { userPrincipalName: 'bob@contoso.example', displayName: 'Bob Jones', password: 'Bob-pass-1' },
      { userPrincipalName: 'carol@contoso.example', displayName: 'Carol White', password: 'Carol-pass-1' },
    ],
    ...extra,
  });
}

function graph(em: GraphEmulator, credential: TokenCredential): Client {
  return Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [`${em.url}/.default`] }),
    baseUrl: `${em.url}/`,
    customHosts: new Set(['127.0.0.1']),
  });
}
const userClient = (em: GraphEmulator, upn: string, password: string) =>
  graph(em, new UsernamePasswordCredential(TENANT, APP, upn, password, { authorityHost: em.url, disableInstanceDiscovery: true }));
const appClient = (em: GraphEmulator) => graph(em, new ClientSecretCredential(TENANT, APP, SECRET, { authorityHost: em.url, disableInstanceDiscovery: true }));
const idOf = (em: GraphEmulator, upn: string) => em.user(upn)?.id ?? assert.fail(upn);

/** Bob's subscription to the messages of his chats. */
async function subscribeBob(em: GraphEmulator, url: string, extra: Record<string, unknown> = {}): Promise<{ id: string } & Record<string, unknown>> {
  return (await userClient(em, 'bob@contoso.example', 'Bob-pass-1')
    .api('/subscriptions')
    .post({
      changeType: 'created,updated',
      notificationUrl: url,
      lifecycleNotificationUrl: url,
      resource: `/users/${idOf(em, 'bob@contoso.example')}/chats/getAllMessages`,
      expirationDateTime: inMinutes(55),
      clientState: 'bob-state',
      ...extra,
    })) as { id: string } & Record<string, unknown>;
}

describe('Graph emulator: change-notification delivery (change-notifications-delivery-webhooks)', () => {
  const hooks = new Webhook();
  before(() => hooks.start());
  after(() => hooks.stop());

  it("has Learn's timings by default: 3 s timeout, slow over 2,900 ms, judged after 100, throttled at 10%, dropped at 15%, 10-minute delay and window, 4 hours of retries", () => {
    assert.deepEqual(
      { ...DEFAULT_DELIVERY, retryDelaysMs: undefined, maxItemsPerPost: undefined, maxConcurrentPosts: undefined },
      {
        timeoutMs: 3000,
        slowMs: 2900,
        evaluateAfter: 100,
        throttlePercent: 10,
        dropPercent: 15,
        throttleDelayMs: 600_000,
        windowMs: 600_000,
        retryForMs: 14_400_000,
        retryDelaysMs: undefined,
        maxItemsPerPost: undefined,
        maxConcurrentPosts: undefined,
      },
    );
  });

  it('throttles an endpoint with 10% slow answers (delay), drops at 15%, and forgets after the window', async () => {
    // Shortened: slow over 100 ms (instead of 2,900), judged after 20 notifications (100), a 1.5 s delay and a 4 s
    // window (10 minutes each); one notification per POST so that each answer counts once.
    const em = await emulator({ slowMs: 100, timeoutMs: 1000, evaluateAfter: 20, throttleDelayMs: 1500, windowMs: 4000, maxItemsPerPost: 1, maxConcurrentPosts: 1 });
    try {
      const url = hooks.url('slow');
      const h = hooks.hook('slow');
      await subscribeBob(em, url);
      const send = async (n: number) => {
        for (let i = 0; i < n; i++) await em.sendAs('alice@contoso.example', 'bob@contoso.example', `m${items(h).length + i}`);
      };
      // 20 notifications, 2 of them slow (10%): the endpoint is throttled.
      h.answers.push({}, {}, { delayMs: 150 }, { delayMs: 150 });
      await send(20);
      await waitUntil('20 notifications delivered', () => items(h).length === 20);
      await waitUntil('the last answer counted', () => em.endpointHealth(url).received === 20);
      assert.deepEqual(em.endpointHealth(url), { url, received: 20, slow: 2, state: 'throttled' });
      const t0 = Date.now();
      await send(1);
      await waitUntil('the delayed notification delivered', () => items(h).length === 21, 5000);
      assert.ok(Date.now() - t0 >= 1400, `delayed by the throttle (${Date.now() - t0} ms)`);
      // Two more slow answers: 4 slow of 23 (17%) -> dropping.
      h.answers.push({ delayMs: 150 }, { delayMs: 150 });
      await send(2);
      await waitUntil('the slow ones answered', () => em.endpointHealth(url).received === 23, 5000);
      assert.equal(em.endpointHealth(url).state, 'dropping');
      const before = em.deliveries().length;
      await send(1);
      const dropped = em.deliveries().slice(before);
      assert.equal(dropped.length, 1);
      assert.match(dropped[0]?.dropped ?? '', /15%/u);
      // The counts are flushed every window: the endpoint is judged afresh.
      await new Promise((resolve) => setTimeout(resolve, 4100));
      assert.deepEqual(em.endpointHealth(url), { url, received: 0, slow: 0, state: 'normal' });
      await send(1);
      await waitUntil('delivered again at once', () => items(h).length === 24, 1000);
    } finally {
      await em.close();
    }
  });

  it('counts an answer after the timeout as a failure, retries, and discards the notification after the retry window', async () => {
    // Shortened: a 300 ms timeout (3 s), retries every 200 ms for 1.6 s (4 hours).
    const em = await emulator({ timeoutMs: 300, slowMs: 290, retryDelaysMs: [200], retryForMs: 1600 });
    try {
      const url = hooks.url('timeout');
      const h = hooks.hook('timeout');
      for (let i = 0; i < 10; i++) h.answers.push({ delayMs: 400 });
      const sub = await subscribeBob(em, url);
      await em.sendAs('alice@contoso.example', 'bob@contoso.example', 'too slow');
      await waitUntil('the notification was discarded', () => em.deliveries().some((d) => d.subscriptionId === sub.id && d.dropped !== undefined), 5000);
      const tries = em.deliveries().filter((d) => d.subscriptionId === sub.id && d.dropped === undefined);
      assert.ok(tries.length >= 3, `${tries.length} tries`);
      for (const t of tries) {
        assert.equal(t.error, 'no response within 300 ms');
        assert.equal(t.slow, true);
      }
      assert.deepEqual(tries.map((t) => t.attempt), tries.map((_, i) => i + 1));
    } finally {
      await em.close();
    }
  });

  it('sends the notifications waiting for one URL together, in one POST', async () => {
    const em = await emulator();
    try {
      const url = hooks.url('batch');
      const h = hooks.hook('batch');
      h.answers.push({ delayMs: 300 });
      await subscribeBob(em, url);
      await em.sendAs('alice@contoso.example', 'bob@contoso.example', 'first');
      await waitUntil('the first POST arrived', () => h.bodies.length === 1);
      for (let i = 0; i < 5; i++) await em.sendAs('alice@contoso.example', 'bob@contoso.example', `queued ${i}`);
      await waitUntil('all delivered', () => items(h).length === 6);
      assert.deepEqual(h.bodies.map((b) => (b.value as unknown[]).length), [1, 5]);
    } finally {
      await em.close();
    }
  });
});

/** Learn's decryption steps, written out here independently of the gateway's code. */
function decrypt(content: Record<string, string>, privateKeyPem: string): unknown {
  const key = privateDecrypt({ key: createPrivateKey(privateKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(content.dataKey ?? '', 'base64'));
  const data = Buffer.from(content.data ?? '', 'base64');
  assert.equal(createHmac('sha256', key).update(data).digest('base64'), content.dataSignature, 'HMAC-SHA256 of the encrypted data');
  const d = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
  return JSON.parse(Buffer.concat([d.update(data), d.final()]).toString('utf8'));
}

describe('Graph emulator: notifications with resource data (change-notifications-with-resource-data)', () => {
  const hooks = new Webhook();
  let em: GraphEmulator;
  let certA: { cert: string; private: string };
  let certB: { cert: string; private: string };
  const base64 = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/gu, '');
  before(async () => {
    await hooks.start();
    em = await emulator();
    certA = await generate([{ name: 'commonName', value: 'xtg notifications A' }], { keySize: 2048 });
    certB = await generate([{ name: 'commonName', value: 'xtg notifications B' }], { keySize: 2048 });
  });
  after(async () => {
    await em.close();
    await hooks.stop();
  });

  it('refuses includeResourceData without a certificate, with a weak key, or on /users', async () => {
    const noCert = await graphError(subscribeBob(em, hooks.url('x'), { includeResourceData: true, encryptionCertificateId: 'a' }));
    assert.equal(noCert.statusCode, 400);
    assert.match(noCert.message, /encryptionCertificate/u);
    const weak = await generate([{ name: 'commonName', value: 'weak' }], { keySize: 1024 });
    const small = await graphError(subscribeBob(em, hooks.url('x'), { includeResourceData: true, encryptionCertificate: base64(weak.cert), encryptionCertificateId: 'w' }));
    assert.match(small.message, /2048 to 4096 bits/u);
    const users = await graphError(
      appClient(em).api('/subscriptions').post({
        changeType: 'updated',
        notificationUrl: hooks.url('x'),
        resource: '/users',
        expirationDateTime: inMinutes(60),
        clientState: 'x',
        includeResourceData: true,
        encryptionCertificate: base64(certA.cert),
        encryptionCertificateId: 'A',
      }),
    );
    assert.equal(users.statusCode, 400);
  });

  it('encrypts a new chat message to the certificate, and adds a validation token of the publisher for the app', async () => {
    const h = hooks.hook('rich');
    const sub = await subscribeBob(em, hooks.url('rich'), { includeResourceData: true, encryptionCertificate: base64(certA.cert), encryptionCertificateId: 'cert-A' });
    assert.equal(sub.includeResourceData, true);
    assert.equal(sub.encryptionCertificateId, 'cert-A');
    const sent = await em.sendAs('alice@contoso.example', 'bob@contoso.example', 'Grüße <b>rich</b>');
    await waitUntil('delivered', () => items(h).length === 1);
    const body = h.bodies[0] as { value: Record<string, unknown>[]; validationTokens: string[] };
    const item = body.value[0] as Record<string, unknown> & { encryptedContent: Record<string, string>; resourceData: Record<string, unknown> };
    assert.equal(item.encryptedContent.encryptionCertificateId, 'cert-A');
    assert.match(item.encryptedContent.encryptionCertificateThumbprint ?? '', /^[0-9A-F]{40}$/u);
    assert.equal(item.resourceData.id, sent.id);
    const message = decrypt(item.encryptedContent, certA.private) as { id: string; body: { content: string }; from: { user: { id: string } } };
    // The full resource, as GET returns it.
    const read = (await userClient(em, 'bob@contoso.example', 'Bob-pass-1').api(`/chats/${encodeURIComponent(sent.chatId)}/messages/${sent.id}`).get()) as Record<string, unknown>;
    delete read['@odata.context'];
    assert.deepEqual({ ...(message as unknown as Record<string, unknown>), '@odata.type': undefined, '@odata.id': undefined }, { ...read, '@odata.type': undefined, '@odata.id': undefined });
    assert.equal(message.from.user.id, ALICE_ID);

    // The validation token: signed with a key of the OpenID metadata's jwks_uri; aud = the app, iss = the tenant's
    // v1 issuer, appid = the publisher.
    assert.equal(body.validationTokens.length, 1);
    const [h64, p64, s64] = (body.validationTokens[0] as string).split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h64, 'base64url').toString()) as { alg: string; kid: string };
    const claims = JSON.parse(Buffer.from(p64, 'base64url').toString()) as Record<string, unknown>;
    const meta = (await (await fetch(`${em.url}/${TENANT}/v2.0/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    const jwks = (await (await fetch(meta.jwks_uri)).json()) as { keys: (JsonWebKey & { kid: string })[] };
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk, 'the signing key is published');
    assert.equal(header.alg, 'RS256');
    assert.ok(createVerify('RSA-SHA256').update(`${h64}.${p64}`).verify(createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s64, 'base64url')));
    assert.equal(claims.aud, APP);
    assert.equal(claims.iss, `https://sts.windows.net/${TENANT}/`);
    assert.equal(claims.appid, '0bf30f3b-4a52-48df-9a82-234910c4a086');
    assert.equal(claims.tid, TENANT);
    assert.ok((claims.exp as number) > Date.now() / 1000 + 3600);
  });

  it('uses the certificate a PATCH rotated to for the notifications after it', async () => {
    const h = hooks.hook('rich');
    const sub = (em.subscriptions().find((s) => s.notificationUrl === hooks.url('rich')) ?? assert.fail('subscription')) as { id: string };
    const bob = userClient(em, 'bob@contoso.example', 'Bob-pass-1');
    const patched = (await bob.api(`/subscriptions/${sub.id}`).patch({ encryptionCertificate: base64(certB.cert), encryptionCertificateId: 'cert-B' })) as Record<string, unknown>;
    assert.equal(patched.encryptionCertificateId, 'cert-B');
    await em.sendAs('alice@contoso.example', 'bob@contoso.example', 'after the rotation');
    await waitUntil('delivered', () => items(h).length === 2);
    const content = (items(h)[1] as { encryptedContent: Record<string, string> }).encryptedContent;
    assert.equal(content.encryptionCertificateId, 'cert-B');
    assert.equal((decrypt(content, certB.private) as { body: { content: string } }).body.content, 'after the rotation');
  });

  it('encrypts presence (availability, activity) for a presence subscription with resource data', async () => {
    const h = hooks.hook('rich-presence');
    await userClient(em, 'carol@contoso.example', 'Carol-pass-1')
      .api('/subscriptions')
      .post({
        changeType: 'updated',
        notificationUrl: hooks.url('rich-presence'),
        lifecycleNotificationUrl: hooks.url('rich-presence'),
        resource: `/communications/presences?$filter=id in ('${ALICE_ID}')`,
        expirationDateTime: inMinutes(55),
        clientState: 'carol-state',
        includeResourceData: true,
        encryptionCertificate: base64(certA.cert),
        encryptionCertificateId: 'cert-A',
      });
    em.setPresence('alice@contoso.example', 'Busy', 'InACall');
    await waitUntil('delivered', () => items(h).length === 1);
    const item = items(h)[0] as { encryptedContent: Record<string, string>; resource: string };
    assert.equal(item.resource, `communications/presences/${ALICE_ID}`);
    const p = decrypt(item.encryptedContent, certA.private) as Record<string, unknown>;
    assert.deepEqual([p.id, p.availability, p.activity, p['@odata.type']], [ALICE_ID, 'Busy', 'InACall', '#microsoft.graph.presence']);
  });
});

describe('Graph emulator: one presence subscription per user and application (changenotifications-for-presence)', () => {
  const hooks = new Webhook();
  let em: GraphEmulator;
  before(async () => {
    await hooks.start();
    em = await emulator();
  });
  after(async () => {
    await em.close();
    await hooks.stop();
  });

  it('refuses a second presence subscription of the same user and app with 409, as Graph does; another user may have one', async () => {
    const presence = (c: Client, ids: string[]) =>
      c.api('/subscriptions').post({
        changeType: 'updated',
        notificationUrl: hooks.url('p'),
        resource: `/communications/presences?$filter=id in (${ids.map((i) => `'${i}'`).join(',')})`,
        expirationDateTime: inMinutes(50),
        clientState: 'p',
      }) as Promise<{ id: string }>;
    const bob = userClient(em, 'bob@contoso.example', 'Bob-pass-1');
    const first = await presence(bob, [ALICE_ID]);
    const err = await graphError(presence(bob, [idOf(em, 'carol@contoso.example')]));
    assert.equal(err.statusCode, 409);
    assert.equal(err.code, 'ExtensionError');
    assert.equal(err.message, 'Operation: Create; Exception: [Status Code: Conflict; Reason: A subscripton already exists. It must be deleted before a another can be made.]');
    await presence(userClient(em, 'carol@contoso.example', 'Carol-pass-1'), [ALICE_ID]);
    await bob.api(`/subscriptions/${first.id}`).delete();
    await presence(bob, [idOf(em, 'carol@contoso.example')]);
  });
});

describe('Graph emulator: lifecycle notifications happen by themselves (change-notifications-lifecycle-events)', () => {
  const hooks = new Webhook();
  before(() => hooks.start());
  after(() => hooks.stop());

  it('challenges before the token expires, pauses delivery when it has, resumes on reauthorize (204), and removes a subscription left paused', async () => {
    // Shortened: 4-second tokens (3599 s), challenges from 3 s before expiry every 0.5 s (15 and 5 minutes),
    // removal after 2.5 s paused (1 hour).
    const em = await emulator({}, { tokenLifetimeSeconds: 4, lifecycle: { reauthorizationLeadMs: 3000, reauthorizationIntervalMs: 500, removeAfterPausedMs: 2500 } });
    try {
      const changes = hooks.hook('lc-changes');
      const lifecycle = hooks.hook('lc-lifecycle');
      const credential = new UsernamePasswordCredential(TENANT, APP, 'bob@contoso.example', 'Bob-pass-1', { authorityHost: em.url, disableInstanceDiscovery: true });
      const bob = graph(em, credential);
      const sub = (await bob.api('/subscriptions').post({
        changeType: 'created',
        notificationUrl: hooks.url('lc-changes'),
        lifecycleNotificationUrl: hooks.url('lc-lifecycle'),
        resource: `/users/${idOf(em, 'bob@contoso.example')}/chats/getAllMessages`,
        expirationDateTime: inMinutes(120),
        clientState: 'lc',
      })) as { id: string };
      await waitUntil('a reauthorizationRequired challenge', () => items(lifecycle).some((i) => i.lifecycleEvent === 'reauthorizationRequired'), 5000);
      const challenge = items(lifecycle)[0] as Record<string, unknown>;
      assert.deepEqual(
        { subscriptionId: challenge.subscriptionId, clientState: challenge.clientState, tenantId: challenge.tenantId },
        { subscriptionId: sub.id, clientState: 'lc', tenantId: TENANT },
      );
      await em.sendAs('alice@contoso.example', 'bob@contoso.example', 'before the pause');
      await waitUntil('delivered before the pause', () => items(changes).length === 1);

      // Not reauthorized: once the token expired, changes are not delivered (lost, as Learn says).
      await new Promise((resolve) => setTimeout(resolve, 4200));
      const lost = await em.sendAs('alice@contoso.example', 'bob@contoso.example', 'during the pause');
      assert.ok(em.deliveries().some((d) => d.subscriptionId === sub.id && /paused/u.test(d.dropped ?? '')), 'dropped while paused');
      assert.equal(items(changes).some((i) => String(i.resource).includes(lost.id)), false);

      const token = await credential.getToken(`${em.url}/.default`);
      const r = await fetch(`${em.url}/v1.0/subscriptions/${sub.id}/reauthorize`, { method: 'POST', headers: { authorization: `Bearer ${token.token}` } });
      assert.equal(r.status, 204);
      await em.sendAs('alice@contoso.example', 'bob@contoso.example', 'after reauthorizing');
      await waitUntil('delivered again', () => items(changes).length === 2);

      // Left paused again: removed, with subscriptionRemoved.
      await waitUntil('subscriptionRemoved', () => items(lifecycle).some((i) => i.lifecycleEvent === 'subscriptionRemoved'), 10_000);
      assert.equal(em.subscriptions().some((s) => s.id === sub.id), false);
    } finally {
      await em.close();
    }
  });
});
