/**
 * Several tenants in one Graph emulator (issue 16), kept apart as Entra ID and Graph keep them: one login host and one
 * Graph host for all, each tenant with its own directory, apps, token issuer, stores, subscriptions and limits.
 * Through the real @azure/identity credentials and Graph client, or plain HTTP where the client would hide the answer
 * (it retries 429s) or cannot send what is tested (a forged token). docs/graph-conformance.md, "Tenants", lists each
 * behaviour with its Learn page.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ClientSecretCredential, UsernamePasswordCredential, type TokenCredential } from '@azure/identity';
import { Client } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { DEMO, DEMO_NORTHWIND } from '../../src/sandbox/demo-tenant.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { demoTenantEmulatorOptions, demoTenantsEmulatorOptions } from './graph/demo-tenant.js';
import { startGraphEmulator, type EmulatedApp, type EmulatedTenantOptions, type GraphEmulator } from './graph/index.js';
import { graphError, rejection } from './graph-assertions.js';

const A = '1a2b3c4d-0000-4a00-8000-00000000000a';
const B = '1a2b3c4d-0000-4b00-8000-00000000000b';
/** Registered in A only, and in B only. */
const APP_A = 'aaaa0000-0000-4000-8000-00000000000a';
const APP_B = 'bbbb0000-0000-4000-8000-00000000000b';
/** One multi-tenant app, consented in both tenants with different permissions. */
const MULTI = 'cccc0000-0000-4000-8000-00000000000c';
const MULTI_SECRET = 'multi-secret';
const ANN = '0a000000-0000-4000-8000-0000000000a1';
const AL = '0a000000-0000-4000-8000-0000000000a2';
const BEA = '0b000000-0000-4000-8000-0000000000b1';
const BEN = '0b000000-0000-4000-8000-0000000000b2';
const CLI = fileURLToPath(new URL('./graph/teams-cli.js', import.meta.url));

const GATEWAY_APP_PERMISSIONS = ['User.ReadWrite.All', 'GroupMember.ReadWrite.All', 'Presence.ReadWrite.All', 'Chat.Read.All'];
const GATEWAY_DELEGATED = ['User.Read', 'Chat.Create', 'ChatMessage.Send', 'Chat.ReadWrite', 'Presence.Read.All', 'Presence.ReadWrite'];

function tenant(id: string, domain: string, ownApp: string, multiRoles: string[], users: [string, string, string][]): EmulatedTenantOptions {
  const multi: EmulatedApp = { clientId: MULTI, clientSecret: MULTI_SECRET, allowPublicClient: true, applicationPermissions: multiRoles, delegatedPermissions: ['User.Read', 'ChatMessage.Send', 'Chat.Read'] };
  return {
    tenantId: id,
    displayName: domain,
    verifiedDomains: [domain],
    apps: [{ clientId: ownApp, clientSecret: `${ownApp}-secret`, allowPublicClient: true, applicationPermissions: GATEWAY_APP_PERMISSIONS, delegatedPermissions: GATEWAY_DELEGATED }, multi],
    users: users.map(([uid, name, password]) => ({ id: uid, userPrincipalName: `${name}@${domain}`, displayName: name, password })),
    // Posting limits stretched to a 10-minute window so that nothing refills during a test (Learn: 20 per second).
    serviceLimits: { chatMessagePost: { amount: 20, windowMs: 600_000 } },
  };
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

/** A webhook on loopback that answers the validation handshake and records notifications. */
class Hook {
  private server: Server | undefined;
  url = '';
  readonly items: Record<string, unknown>[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const token = new URL(req.url ?? '/', 'http://x').searchParams.get('validationToken');
        if (token !== null) {
          res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
          return;
        }
        this.items.push(...((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { value: Record<string, unknown>[] }).value));
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const a = this.server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hook`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    s?.closeAllConnections();
  }
}

describe('Graph emulator: several tenants, kept apart as Entra ID and Graph keep them', () => {
  let em: GraphEmulator;
  const hook = new Hook();
  let opts: { authorityHost: string; disableInstanceDiscovery: boolean };
  let scope: string;
  const graph = (credential: TokenCredential) =>
    Client.initWithMiddleware({ authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [scope] }), baseUrl: `${em.url}/`, customHosts: new Set(['127.0.0.1']) });
  const appIn = (tenantId: string, clientId: string, secret: string) => new ClientSecretCredential(tenantId, clientId, secret, opts);
  const userIn = (tenantId: string, clientId: string, upn: string, password: string) => new UsernamePasswordCredential(tenantId, clientId, upn, password, opts);
  let tls: { key: string; cert: string };

  before(async () => {
    const dir = process.env.XTG_TEST_TLS_DIR;
    if (!dir) throw new Error('XTG_TEST_TLS_DIR is not set (npm test sets it)');
    const m = await ensureTlsMaterial(dir);
    tls = { key: m.key, cert: m.cert };
    await hook.start();
    em = await startGraphEmulator({
      tls,
      tenants: [
        tenant(A, 'a.example', APP_A, ['User.Read.All'], [
          [ANN, 'ann', 'Ann-pass-1'],
          [AL, 'al', 'Al-pass-1'],
        ]),
        tenant(B, 'b.example', APP_B, ['User.Read.All', 'Presence.Read.All'], [
          [BEA, 'bea', 'Bea-pass-1'],
          [BEN, 'ben', 'Ben-pass-1'],
        ]),
      ],
      // Scaled down with the per-tenant posting limit (Learn: 200 per second across all tenants, 10 x 20).
      serviceLimitsAcrossTenants: { chatMessagePost: { amount: 30, windowMs: 600_000 } },
    });
    opts = { authorityHost: em.url, disableInstanceDiscovery: true };
    scope = `${em.url}/.default`;
  });

  after(async () => {
    await em?.close();
    await hook.stop();
  });

  it("serves each tenant's own OpenID metadata and issuer, with the same signing keys, from one host", async () => {
    const meta = async (t: string) => (await (await fetch(`${em.url}/${t}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, string>;
    const [a, b] = [await meta(A), await meta(B)];
    assert.deepEqual([a.issuer, b.issuer], [`${em.url}/${A}/v2.0`, `${em.url}/${B}/v2.0`]);
    assert.deepEqual([a.token_endpoint, b.jwks_uri], [`${em.url}/${A}/oauth2/v2.0/token`, `${em.url}/${B}/discovery/v2.0/keys`]);
    const keys = async (uri: string) => ((await (await fetch(uri)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    assert.deepEqual(await keys(a.jwks_uri as string), await keys(b.jwks_uri as string));
    const unknown = await fetch(`${em.url}/00000000-0000-4000-8000-000000000000/v2.0/.well-known/openid-configuration`);
    assert.equal(unknown.status, 400);
    assert.match(((await unknown.json()) as { error_description: string }).error_description, /^AADSTS90002:/u);
    assert.deepEqual(em.tenants, [A, B]);
  });

  it('refuses a client id the tenant in the token URL does not have (AADSTS700016), and a user of another tenant (AADSTS50034)', async () => {
    const wrongTenant = await rejection(appIn(B, APP_A, `${APP_A}-secret`).getToken(scope));
    assert.match(wrongTenant.message, /AADSTS700016: Application with identifier 'aaaa0000-0000-4000-8000-00000000000a' was not found in the directory '1a2b3c4d-0000-4b00-8000-00000000000b'/u);
    const otherUser = await rejection(userIn(A, APP_A, 'bea@b.example', 'Bea-pass-1').getToken(scope));
    assert.match(otherUser.message, /AADSTS50034/u);
    assert.ok((await userIn(B, APP_B, 'bea@b.example', 'Bea-pass-1').getToken(scope)).token);
  });

  it('gives a multi-tenant app a token per tenant, with that tenant\'s consent, valid in that tenant only', async () => {
    const tokenA = (await appIn(A, MULTI, MULTI_SECRET).getToken(scope)).token;
    const tokenB = (await appIn(B, MULTI, MULTI_SECRET).getToken(scope)).token;
    const [ca, cb] = [claimsOf(tokenA), claimsOf(tokenB)];
    assert.deepEqual([ca.tid, ca.iss, ca.appid, ca.roles], [A, `https://sts.windows.net/${A}/`, MULTI, ['User.Read.All']]);
    assert.deepEqual([cb.tid, cb.iss, cb.appid, cb.roles], [B, `https://sts.windows.net/${B}/`, MULTI, ['User.Read.All', 'Presence.Read.All']]);
    assert.notEqual(ca.oid, cb.oid, 'one service principal per tenant');
    const inA = graph(appIn(A, MULTI, MULTI_SECRET));
    const inB = graph(appIn(B, MULTI, MULTI_SECRET));
    assert.equal(((await inA.api(`/users/${ANN}`).get()) as { userPrincipalName: string }).userPrincipalName, 'ann@a.example');
    assert.equal(((await inB.api('/users/bea@b.example').get()) as { id: string }).id, BEA);
    for (const path of [`/users/${BEA}`, '/users/bea@b.example']) {
      const e = await graphError(inA.api(path).get());
      assert.deepEqual([e.statusCode, e.code], [404, 'Request_ResourceNotFound'], path);
    }
    assert.equal((await graphError(inB.api(`/users/${ANN}`).get())).statusCode, 404);
    const listed = ((await inB.api('/users').get()) as { value: { id: string }[] }).value.map((u) => u.id).sort();
    assert.deepEqual(listed, [BEA, BEN]);
    // Consent is per tenant: B granted presence, A did not.
    assert.equal(((await inB.api(`/users/${BEA}/presence`).get()) as { id: string }).id, BEA);
    assert.equal((await graphError(inA.api(`/users/${ANN}/presence`).get())).statusCode, 403);
    const crossed = em.requests().filter((r) => r.foreignTenantId !== undefined);
    assert.deepEqual(
      crossed.map((r) => [r.tenantId, r.foreignTenantId, r.status]),
      [
        [A, B, 404],
        [A, B, 404],
        [B, A, 404],
      ],
    );
  });

  it("finds none of another tenant's users, chats, presence or subscriptions with a token of this one", async () => {
    const before = em.requests().length;
    // Tenant B: a chat between Bea and Ben, and its app's subscription to its users' changes.
    const bea = graph(userIn(B, APP_B, 'bea@b.example', 'Bea-pass-1'));
    const member = (id: string) => ({ '@odata.type': '#microsoft.graph.aadUserConversationMember', roles: ['owner'], 'user@odata.bind': `${em.url}/v1.0/users('${id}')` });
    const chat = (await bea.api('/chats').post({ chatType: 'oneOnOne', members: [member(BEA), member(BEN)] })) as { id: string; tenantId: string };
    assert.equal(chat.tenantId, B);
    await bea.api(`/chats/${encodeURIComponent(chat.id)}/messages`).post({ body: { content: 'in B only' } });
    const appB = graph(appIn(B, APP_B, `${APP_B}-secret`));
    const sub = (await appB.api('/subscriptions').post({
      changeType: 'updated',
      notificationUrl: hook.url,
      resource: '/users',
      expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString(),
      clientState: 'b',
    })) as { id: string };

    // Tenant A's gateway app and user, with every permission needed: each answer is Graph's "not found".
    const appA = graph(appIn(A, APP_A, `${APP_A}-secret`));
    const ann = graph(userIn(A, APP_A, 'ann@a.example', 'Ann-pass-1'));
    assert.deepEqual([(await graphError(ann.api(`/chats/${encodeURIComponent(chat.id)}`).get())).statusCode], [404]);
    assert.equal((await graphError(ann.api(`/chats/${encodeURIComponent(chat.id)}/messages`).post({ body: { content: 'from A' } }))).statusCode, 404);
    assert.equal((await graphError(ann.api('/chats').post({ chatType: 'oneOnOne', members: [member(ANN), member(BEA)] }))).statusCode, 404);
    assert.equal((await graphError(appA.api(`/users/${BEA}`).patch({ jobTitle: 'changed from A' }))).statusCode, 404);
    assert.equal((await graphError(appA.api(`/users/${BEA}/presence`).get())).statusCode, 404);
    assert.equal((await graphError(appA.api(`/users/${BEA}/presence/setPresence`).post({ sessionId: APP_A, availability: 'Busy', activity: 'InACall' }))).statusCode, 404);
    const many = (await appA.api('/communications/getPresencesByUserId').post({ ids: [BEA] })) as { value: { availability: string }[] };
    assert.equal(many.value[0]?.availability, 'PresenceUnknown');
    const onSub = () => appA.api(`/subscriptions/${sub.id}`);
    for (const call of [() => onSub().get(), () => onSub().patch({ expirationDateTime: new Date(Date.now() + 40 * 60_000).toISOString() }), () => onSub().delete()]) {
      const e = await graphError(call());
      assert.deepEqual([e.statusCode, e.code], [404, 'ResourceNotFound']);
    }
    const subscribe = await graphError(
      appA.api('/subscriptions').post({ changeType: 'created', notificationUrl: hook.url, resource: `/users/${BEA}/chats/getAllMessages`, expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString() }),
    );
    assert.deepEqual([subscribe.statusCode, subscribe.code], [404, 'ExtensionError']);

    // B is as it was, and every crossing request was one of A's naming B's objects.
    const b = em.tenant('b.example');
    assert.equal(b.user(BEA)?.jobTitle, undefined);
    assert.equal(b.presenceOf('bea@b.example').availability, 'Offline');
    assert.deepEqual(b.subscriptions().map((s) => s.id), [sub.id]);
    assert.deepEqual(b.chatsOf('bea@b.example')[0]?.messages.map((m) => m.body.content), ['in B only']);
    const crossed = em.requests().slice(before).filter((r) => r.foreignTenantId !== undefined);
    assert.equal(crossed.length, 11);
    assert.ok(crossed.every((r) => r.tenantId === A && r.foreignTenantId === B && r.status >= 400 === (r.path !== '/v1.0/communications/getPresencesByUserId')));
  });

  it('refuses a token edited to name another tenant, and one issued for another audience (401 InvalidAuthenticationToken)', async () => {
    const token = (await appIn(A, APP_A, `${APP_A}-secret`).getToken(scope)).token;
    const [header, , signature] = token.split('.') as [string, string, string];
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claimsOf(token), tid: B, iss: `https://sts.windows.net/${B}/` })).toString('base64url')}.${signature}`;
    const refused = await fetch(`${em.url}/v1.0/users/${BEA}`, { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(refused.status, 401);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    assert.deepEqual([error.code, error.message], ['InvalidAuthenticationToken', 'Access token validation failure.']);
    // A token for the global cloud's Graph (its audience) is not a token for this Graph host.
    const otherAudience = (await appIn(A, APP_A, `${APP_A}-secret`).getToken('https://graph.microsoft.com/.default')).token;
    assert.equal(claimsOf(otherAudience).aud, 'https://graph.microsoft.com');
    const wrong = await fetch(`${em.url}/v1.0/users/${ANN}`, { headers: { authorization: `Bearer ${otherAudience}` } });
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: { message: string } }).error.message, 'Access token validation failure. Invalid audience.');
  });

  it("notifies each tenant's subscriptions of that tenant's changes only, named with its tenantId", async () => {
    const appA = graph(appIn(A, APP_A, `${APP_A}-secret`));
    const subA = (await appA.api('/subscriptions').post({
      changeType: 'updated',
      notificationUrl: hook.url,
      resource: '/users',
      expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString(),
      clientState: 'a',
    })) as { id: string };
    const seen = hook.items.length;
    em.tenant(B).updateUser('ben@b.example', { jobTitle: 'Notified in B' });
    em.updateUser('al@a.example', { jobTitle: 'Notified in A' });
    const deadline = Date.now() + 5000;
    while (hook.items.length < seen + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const fresh = hook.items.slice(seen).map((i) => [i.clientState, i.tenantId, i.resource]);
    assert.deepEqual(
      fresh.sort(),
      [
        ['a', A, `Users/${AL}`],
        ['b', B, `Users/${BEN}`],
      ],
    );
    // The emulator records a delivery once it has read the webhook's answer, a moment after the items arrived.
    while (!em.deliveries().some((d) => d.subscriptionId === subA.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(em.tenant(B).deliveries().every((d) => d.tenantId === B));
    assert.ok(em.deliveries().some((d) => d.subscriptionId === subA.id) && em.deliveries().every((d) => d.tenantId === A));
  });

  it('limits chat posts per app per tenant and per app across all tenants, and not another app', async () => {
    const chatA = (await em.sendAs('ann@a.example', 'al@a.example', 'start')).chatId;
    const chatB = (await em.tenant(B).sendAs('bea@b.example', 'ben@b.example', 'start')).chatId;
    const tokenOf = async (t: string, app: string, upn: string, password: string) => (await userIn(t, app, upn, password).getToken(scope)).token;
    const [annMulti, beaMulti, beaOwn] = [await tokenOf(A, MULTI, 'ann@a.example', 'Ann-pass-1'), await tokenOf(B, MULTI, 'bea@b.example', 'Bea-pass-1'), await tokenOf(B, APP_B, 'bea@b.example', 'Bea-pass-1')];
    // Plain HTTP: the Graph client would retry the 429s by itself.
    const post = (token: string, chat: string) =>
      fetch(`${em.url}/v1.0/chats/${encodeURIComponent(chat)}/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ body: { content: 'hi' } }) });
    const statuses = async (n: number, token: string, chat: string) => (await Promise.all(Array.from({ length: n }, () => post(token, chat)))).map((r) => r.status);
    assert.deepEqual(await statuses(20, annMulti, chatA), Array(20).fill(201));
    const overA = await post(annMulti, chatA);
    assert.equal(overA.status, 429);
    assert.match(((await overA.json()) as { error: { message: string } }).error.message, /per app per tenant/u);
    // The same app in B has its own 20, but only 10 left of its 30 across tenants.
    assert.deepEqual(await statuses(10, beaMulti, chatB), Array(10).fill(201));
    const overAll = await post(beaMulti, chatB);
    assert.equal(overAll.status, 429);
    assert.ok(Number(overAll.headers.get('retry-after')) >= 1);
    assert.match(((await overAll.json()) as { error: { message: string } }).error.message, /per app across all tenants/u);
    // Another app in B is not held back.
    assert.equal((await post(beaOwn, chatB)).status, 201);
    assert.deepEqual(em.throttledByLimits(), { chatMessagePost: 1 });
    assert.deepEqual(em.tenant(B).throttledByLimits(), { 'app:chatMessagePost': 1 });
  });

  it('lets the control API, the teams CLI and the emulator methods name a tenant, the first by default', async () => {
    const control = async (path: string, init?: RequestInit) => fetch(`${em.url}/_emulator/${path}`, init);
    const tenants = (await (await control('tenants')).json()) as { value: { tenantId: string; verifiedDomains: string[] }[] };
    assert.deepEqual(tenants.value.map((t) => [t.tenantId, t.verifiedDomains]), [
      [A, ['a.example']],
      [B, ['b.example']],
    ]);
    const upns = async (q: string) => ((await (await control(`users${q}`)).json()) as { value: { userPrincipalName: string }[] }).value.map((u) => u.userPrincipalName);
    assert.deepEqual(await upns(''), ['ann@a.example', 'al@a.example']);
    assert.deepEqual(await upns(`?tenant=${B}`), ['bea@b.example', 'ben@b.example']);
    assert.deepEqual(await upns('?tenant=B.EXAMPLE'), ['bea@b.example', 'ben@b.example']);
    assert.equal((await control('users?tenant=c.example')).status, 404);
    const sent = await control('users/ben/messages?tenant=b.example', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 'bea', text: 'over the control API' }) });
    assert.equal(sent.status, 201);
    assert.equal((await control('users/ben/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 'bea', text: 'x' }) })).status, 400, 'no Ben in the first tenant');

    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, [CLI, '--emulator', em.url, ...args], { env: { ...process.env, XTG_EMULATOR_TENANT: '' } }).then((r) => r.stdout);
    assert.match(await cli('tenants'), new RegExp(`^${A}\\ta\\.example\\ta\\.example\\n${B}\\tb\\.example\\tb\\.example\\n$`, 'u'));
    await cli('--tenant', 'b.example', 'send', 'bea', 'ben', 'from', 'the', 'CLI');
    assert.match(await cli('--tenant', B, 'chats', 'ben'), /bea: from the CLI/u);
    assert.match(await cli('users'), /^ann@a\.example/u);
    const unknown = await rejection(cli('--tenant', 'nowhere.example', 'users'));
    assert.match(String((unknown as { stderr?: string }).stderr), /no tenant 'nowhere\.example'/u);

    assert.equal(em.tenantId, A);
    assert.equal(em.tenant('b.example').tenantId, B);
    assert.throws(() => em.tenant('c.example'), /no tenant 'c\.example'/u);
    assert.ok(em.tenant(B).requests().length > 0 && em.tenant(B).requests().every((r) => r.tenantId === B));
  });

  it('refuses tenants Entra would not allow: a domain verified twice, an app with other credentials in another tenant', async () => {
    const base = (id: string, domain: string, secret: string): EmulatedTenantOptions => ({
      tenantId: id,
      verifiedDomains: [domain],
      apps: [{ clientId: MULTI, clientSecret: secret, allowPublicClient: false, applicationPermissions: [], delegatedPermissions: [] }],
      users: [],
    });
    await assert.rejects(startGraphEmulator({ tls, tenants: [base(A, 'a.example', 's'), base(B, 'A.example', 's')] }), /domain A\.example is verified in tenant .* and in tenant/u);
    await assert.rejects(startGraphEmulator({ tls, tenants: [base(A, 'a.example', 's'), base(B, 'b.example', 'other')] }), /app cccc0000-0000-4000-8000-00000000000c has other credentials/u);
    await assert.rejects(startGraphEmulator({ tls, tenants: [base(A, 'a.example', 's'), base(A, 'b.example', 's')] }), /duplicate tenant/u);
  });
});

describe('Graph emulator: the two demo tenants (Contoso and Northwind) in one server', () => {
  it("starts both from demoTenantsEmulatorOptions, each with its own app, domains, users and groups, the first one's unchanged", async () => {
    const dir = process.env.XTG_TEST_TLS_DIR;
    if (!dir) throw new Error('XTG_TEST_TLS_DIR is not set (npm test sets it)');
    const em = await startGraphEmulator(demoTenantsEmulatorOptions({ tls: await ensureTlsMaterial(dir) }));
    try {
      assert.deepEqual(em.tenants, [DEMO.tenantId, DEMO_NORTHWIND.tenantId]);
      const single = demoTenantEmulatorOptions({ tls: { key: '', cert: '' } });
      assert.deepEqual([single.tenantId, single.apps[0]?.clientId, single.verifiedDomains], [DEMO.tenantId, DEMO.clientId, ['contoso.example', 'fabrikam.example', 'xmpp.contoso.example']]);
      const opts = { authorityHost: em.url, disableInstanceDiscovery: true };
      const scope = `${em.url}/.default`;
      const token = (await new ClientSecretCredential(DEMO_NORTHWIND.tenantId, DEMO_NORTHWIND.clientId, DEMO_NORTHWIND.clientSecret, opts).getToken(scope)).token;
      assert.deepEqual([claimsOf(token).tid, claimsOf(token).roles], [DEMO_NORTHWIND.tenantId, [...DEMO_NORTHWIND.applicationPermissions]]);
      await assert.rejects(new ClientSecretCredential(DEMO_NORTHWIND.tenantId, DEMO.clientId, DEMO.clientSecret, opts).getToken(scope), /AADSTS700016/u);
      const northwind = em.tenant(DEMO_NORTHWIND.teamsDomain);
      assert.deepEqual(northwind.verifiedDomains, [DEMO_NORTHWIND.teamsDomain, DEMO_NORTHWIND.puppetDomain]);
      assert.deepEqual(northwind.groupMembers(DEMO_NORTHWIND.liaisonGroup.id), [northwind.user('ken.thompson@northwind.example')?.id]);
      assert.deepEqual(northwind.groupMembers(DEMO_NORTHWIND.puppetGroup.id), []);
      assert.equal(em.tenant(DEMO.tenantId).groupMembers(DEMO_NORTHWIND.puppetGroup.id), undefined);
      const grace = Client.initWithMiddleware({
        authProvider: new TokenCredentialAuthenticationProvider(new UsernamePasswordCredential(DEMO_NORTHWIND.tenantId, DEMO_NORTHWIND.clientId, 'grace.hopper@northwind.example', 'Grace-pass-1', opts), { scopes: [scope] }),
        baseUrl: `${em.url}/`,
        customHosts: new Set(['127.0.0.1']),
      });
      const org = (await grace.api('/organization').get()) as { value: { id: string; displayName: string; verifiedDomains: { name: string }[] }[] };
      assert.deepEqual([org.value[0]?.id, org.value[0]?.displayName, org.value[0]?.verifiedDomains.map((d) => d.name)], [DEMO_NORTHWIND.tenantId, 'Northwind Traders', ['northwind.example', 'xmpp.northwind.example']]);
      const contosoUser = await fetch(`${em.url}/v1.0/users/alice.smith@contoso.example`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(contosoUser.status, 404, "Northwind's app does not find Contoso's users");
    } finally {
      await em.close();
    }
  });
});
