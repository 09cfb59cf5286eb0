/**
 * Conformance of the Graph + Entra ID emulator, exercised through the real client libraries the gateway uses
 * (@azure/identity credentials, @microsoft/microsoft-graph-client with TokenCredentialAuthenticationProvider),
 * and through plain HTTP where the libraries hide what is checked. Needs NODE_EXTRA_CA_CERTS=<dir>/ca.pem and
 * XTG_TEST_TLS_DIR=<dir> (src/sandbox/tls.ts material).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ClientSecretCredential, UsernamePasswordCredential, type TokenCredential } from '@azure/identity';
import { Client, PageIterator, ResponseType, type PageCollection } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { parseNotificationCollection } from '../../src/protocol/graph-notification.js';
import { parseHostedContentUrl } from '../../src/protocol/hosted-content.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { decodeImage, ImageError, testImage } from './graph/image.js';
import { startGraphEmulator, type GraphEmulator } from './graph/index.js';
import { graphError, rejection } from './graph-assertions.js';

const TENANT = '0d5f7a3e-8b1c-4e2a-9f6d-3c4b5a697e80';
const GATEWAY_APP = 'a1b2c3d4-0000-4000-8000-00000000000a';
const GATEWAY_SECRET = 'gateway-secret-value';
/** A public client without ChatMessage.Send. */
const READER_APP = 'a1b2c3d4-0000-4000-8000-00000000000b';
/** A confidential client that does not allow public client flows. */
const CONFIDENTIAL_APP = 'a1b2c3d4-0000-4000-8000-00000000000c';
const ALICE_ID = '11111111-1111-4111-8111-111111111111';
const GROUP_ID = '99999999-9999-4999-8999-999999999999';
/** Whitelisting groups: Alice directly, Bob (and Alice again) through a nested group. */
const WHITELIST_GROUP_ID = '88888888-8888-4888-8888-888888888888';
const PILOTS_GROUP_ID = '77777777-7777-4777-8777-777777777777';
/** A confidential client whose app-only token reads users but not group membership. */
const NO_GROUP_APP = 'a1b2c3d4-0000-4000-8000-00000000000d';
/** A public client whose delegated tokens may edit, delete and react (Chat.ReadWrite) and update one's profile. */
const EDITOR_APP = 'a1b2c3d4-0000-4000-8000-00000000000e';
/** Real photos (the emulator decodes and scales them): Dan's at the largest HD size, red on the left, blue on the right. */
const DAN_JPEG = testImage(648, 648, 'image/jpeg', [220, 30, 30], [30, 30, 220]);
const NEW_JPEG = testImage(100, 100, 'image/jpeg', [20, 160, 20]);
const CLI = fileURLToPath(new URL('./graph/teams-cli.js', import.meta.url));

/** A plain-http webhook on loopback, as the gateway's is in tests: echoes validation tokens, records the rest. */
class Webhook {
  private server: Server | undefined;
  private base = '';
  readonly received = new Map<string, unknown[]>();
  /** Per hook name: statuses to answer notifications with, in order (then 202). */
  readonly script = new Map<string, number[]>();
  /** Hook names whose validation requests are answered without echoing the token. */
  readonly refuseValidation = new Set<string>();
  private waiters: (() => void)[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    const a = this.server.address();
    this.base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  url(name: string): string {
    return `${this.base}/hooks/${name}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', this.base);
      const name = url.pathname.split('/').pop() ?? '';
      const token = url.searchParams.get('validationToken');
      if (token !== null) {
        if (this.refuseValidation.has(name)) res.writeHead(200, { 'content-type': 'text/plain' }).end('not the token');
        else res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(token);
        return;
      }
      const status = this.script.get(name)?.shift() ?? 202;
      if (status >= 200 && status < 300) {
        const list = this.received.get(name) ?? [];
        list.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
        this.received.set(name, list);
        for (const w of this.waiters.splice(0)) w();
      }
      res.writeHead(status).end();
    });
  }

  async waitFor(name: string, count: number, timeoutMs = 5000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    while ((this.received.get(name)?.length ?? 0) < count) {
      if (Date.now() > deadline) throw new Error(`webhook ${name}: expected ${count} notifications, got ${this.received.get(name)?.length ?? 0}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.received.get(name) ?? [];
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    s?.closeAllConnections();
  }
}

async function waitUntil(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Graph + Entra ID emulator conformance', () => {
  let em: GraphEmulator;
  const hooks = new Webhook();
  let opts: { authorityHost: string; disableInstanceDiscovery: boolean };
  let scope: string;
  let appCredential: TokenCredential;
  let app: Client;
  const userClient = (appId: string, upn: string, password: string) =>
    client(new UsernamePasswordCredential(TENANT, appId, upn, password, opts));
  const client = (credential: TokenCredential) =>
    Client.initWithMiddleware({
      authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [scope] }),
      baseUrl: `${em.url}/`,
      customHosts: new Set(['127.0.0.1']),
    });
  const userId = (upn: string) => {
    const u = em.user(upn);
    assert.ok(u, upn);
    return u.id;
  };

  before(async () => {
    const dir = process.env.XTG_TEST_TLS_DIR;
    if (!dir) throw new Error('XTG_TEST_TLS_DIR is not set (and NODE_EXTRA_CA_CERTS must name its ca.pem)');
    const tls = await ensureTlsMaterial(dir);
    await hooks.start();
    em = await startGraphEmulator({
      tls: { key: tls.key, cert: tls.cert },
      tenantId: TENANT,
      verifiedDomains: ['contoso.example', 'xmpp.contoso.example'],
      notificationRetryDelaysMs: [200, 400],
      groups: [
        { id: GROUP_ID, displayName: 'XMPP users' },
        { id: WHITELIST_GROUP_ID, displayName: 'Federation allowed', members: ['alice@contoso.example', PILOTS_GROUP_ID] },
        { id: PILOTS_GROUP_ID, displayName: 'Federation pilots', members: ['bob@contoso.example', ALICE_ID] },
      ],
      apps: [
        {
          clientId: GATEWAY_APP,
          clientSecret: GATEWAY_SECRET,
          allowPublicClient: true,
          applicationPermissions: ['User.ReadWrite.All', 'GroupMember.ReadWrite.All', 'Presence.Read.All', 'Chat.Read.All'],
          delegatedPermissions: ['User.Read', 'Chat.Create', 'ChatMessage.Send', 'Chat.Read', 'Presence.Read.All', 'Presence.ReadWrite'],
        },
        { clientId: READER_APP, allowPublicClient: true, applicationPermissions: [], delegatedPermissions: ['Chat.Create', 'Chat.Read'] },
        { clientId: CONFIDENTIAL_APP, clientSecret: 'other-secret', allowPublicClient: false, applicationPermissions: [], delegatedPermissions: ['Chat.Read'] },
        { clientId: NO_GROUP_APP, clientSecret: 'no-group-secret', allowPublicClient: false, applicationPermissions: ['User.Read.All'], delegatedPermissions: [] },
        {
          clientId: EDITOR_APP,
          allowPublicClient: true,
          applicationPermissions: [],
          delegatedPermissions: ['User.ReadWrite', 'Chat.Create', 'Chat.ReadWrite', 'ChatMessage.Send'],
        },
      ],
      users: [
        { id: ALICE_ID, userPrincipalName: 'alice@contoso.example', displayName: 'Alice Smith', givenName: 'Alice', surname: 'Smith', password: 'Alice-pass-1' },
        { userPrincipalName: 'bob@contoso.example', displayName: 'Bob Jones', password: 'Bob-pass-1' },
        { userPrincipalName: "sean.o'brien@contoso.example", displayName: "Seán O'Brien", password: 'Sean-pass-1' },
        { userPrincipalName: 'carol@contoso.example', displayName: 'Carol White', password: 'Carol-pass-1' },
        {
          userPrincipalName: 'dan@contoso.example',
          displayName: 'Dan Brown',
          password: 'Dan-pass-1',
          jobTitle: 'Engineer',
          department: 'Engineering',
          officeLocation: 'B1 2.04',
          mobilePhone: '+1 555 0100',
          businessPhones: ['+1 555 0101'],
          mail: 'dan@contoso.example',
          photo: DAN_JPEG,
        },
        { userPrincipalName: 'erin@contoso.example', displayName: 'Erin Gray', password: 'Erin-pass-1' },
      ],
    });
    opts = { authorityHost: em.url, disableInstanceDiscovery: true };
    scope = `${em.url}/.default`;
    appCredential = new ClientSecretCredential(TENANT, GATEWAY_APP, GATEWAY_SECRET, opts);
    app = client(appCredential);
  });

  after(async () => {
    await em?.close();
    await hooks.stop();
  });

  describe('identity platform', () => {
    it('issues an app-only token to ClientSecretCredential', async () => {
      const t = await appCredential.getToken(scope);
      assert.ok(t);
      const claims = JSON.parse(Buffer.from(t.token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
      assert.equal(claims.aud, em.url);
      assert.equal(claims.idtyp, 'app');
      assert.equal(claims.appid, GATEWAY_APP);
      assert.equal(claims.tid, TENANT);
      assert.equal(claims.iss, `https://sts.windows.net/${TENANT}/`);
      assert.deepEqual(claims.roles, ['User.ReadWrite.All', 'GroupMember.ReadWrite.All', 'Presence.Read.All', 'Chat.Read.All']);
      assert.ok(t.expiresOnTimestamp > Date.now() + 3500_000);
    });

    it('rejects a wrong client secret with AADSTS7000215', async () => {
      const err = await rejection(new ClientSecretCredential(TENANT, GATEWAY_APP, 'wrong', opts).getToken(scope));
      // @azure/identity 4.x wraps MSAL's ServerError as AuthenticationRequiredError.
      assert.ok(['AuthenticationError', 'AuthenticationRequiredError', 'CredentialUnavailableError'].includes(err.name), err.name);
      assert.match(err.message, /AADSTS7000215/u);
    });

    it('rejects an unknown tenant: discovery answers AADSTS90002, which MSAL reports as endpoints_resolution_error', async () => {
      const other = '00000000-0000-4000-8000-000000000000';
      const r = await fetch(`${em.url}/${other}/v2.0/.well-known/openid-configuration`);
      assert.equal(r.status, 400);
      const body = (await r.json()) as { error: string; error_codes: number[]; error_description: string };
      assert.equal(body.error, 'invalid_tenant');
      assert.deepEqual(body.error_codes, [90002]);
      assert.match(body.error_description, /^AADSTS90002: Tenant '0{8}-0{4}-4000-8000-0{12}' not found\. .* Trace ID: .* Correlation ID: .* Timestamp: /u);
      const err = await rejection(new ClientSecretCredential(other, GATEWAY_APP, GATEWAY_SECRET, opts).getToken(scope));
      assert.equal(err.name, 'CredentialUnavailableError');
      assert.match(err.message, /endpoints_resolution_error/u);
    });

    it('issues a delegated token to UsernamePasswordCredential (ROPC)', async () => {
      const t = await new UsernamePasswordCredential(TENANT, GATEWAY_APP, 'alice@contoso.example', 'Alice-pass-1', opts).getToken(scope);
      const claims = JSON.parse(Buffer.from(t.token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
      assert.equal(claims.oid, ALICE_ID);
      assert.equal(claims.upn, 'alice@contoso.example');
      assert.equal(claims.scp, 'User.Read Chat.Create ChatMessage.Send Chat.Read Presence.Read.All Presence.ReadWrite');
      assert.equal(claims.aud, em.url);
    });

    it('rejects a wrong password with AADSTS50126', async () => {
      const err = await rejection(new UsernamePasswordCredential(TENANT, GATEWAY_APP, 'alice@contoso.example', 'nope', opts).getToken(scope));
      assert.match(err.message, /AADSTS50126/u);
    });

    it('refuses ROPC without a secret when public client flows are not allowed (AADSTS7000218)', async () => {
      const err = await rejection(new UsernamePasswordCredential(TENANT, CONFIDENTIAL_APP, 'alice@contoso.example', 'Alice-pass-1', opts).getToken(scope));
      assert.match(err.message, /AADSTS7000218/u);
    });
  });

  describe('directory through the Graph client', () => {
    it('gets a user by UPN, with $select', async () => {
      const u = (await app.api('/users/alice@contoso.example').select(['id', 'userPrincipalName', 'displayName']).get()) as Record<string, unknown>;
      assert.deepEqual(u, {
        '@odata.context': `${em.url}/v1.0/$metadata#users(id,userPrincipalName,displayName)/$entity`,
        id: ALICE_ID,
        userPrincipalName: 'alice@contoso.example',
        displayName: 'Alice Smith',
      });
      const full = (await app.api(`/users/${ALICE_ID}`).get()) as Record<string, unknown>;
      assert.equal(full.givenName, 'Alice');
      assert.equal(full.jobTitle, null);
      assert.deepEqual(full.businessPhones, []);
    });

    it("finds a user by $filter with an escaped quote", async () => {
      const r = (await app.api('/users').filter("userPrincipalName eq 'sean.o''brien@contoso.example'").get()) as { value: { displayName: string }[] };
      assert.deepEqual(r.value.map((u) => u.displayName), ["Seán O'Brien"]);
    });

    it("answers an unknown user with 404 Request_ResourceNotFound in Graph's error shape", async () => {
      const err = await graphError(app.api('/users/nobody@contoso.example').get());
      assert.equal(err.statusCode, 404);
      assert.equal(err.code, 'Request_ResourceNotFound');
      assert.equal(err.message, "Resource 'nobody@contoso.example' does not exist or one of its queried reference-property objects are not present.");
      assert.ok(err.requestId);
    });

    it('retries a throttled request after Retry-After (the client default RetryHandler)', async () => {
      em.throttle({ method: 'GET', path: '/v1.0/users/bob@contoso.example', count: 1, retryAfterSeconds: 1 });
      const started = Date.now();
      const u = (await app.api('/users/bob@contoso.example').get()) as { userPrincipalName: string };
      assert.equal(u.userPrincipalName, 'bob@contoso.example');
      const seen = em.requests().filter((r) => r.path.startsWith('/v1.0/users/bob@contoso.example'));
      assert.deepEqual(seen.map((r) => r.status), [429, 200]);
      const [first, second] = seen as [(typeof seen)[number], (typeof seen)[number]];
      assert.ok(second.at - first.at >= 950, `retried after ${second.at - first.at} ms`);
      assert.ok(Date.now() - started >= 950);
      assert.equal(first.tokenKind, 'app');
    });

    it('pages GET /users with $top and an absolute @odata.nextLink', async () => {
      const firstPage = (await app.api('/users').top(2).select(['id', 'userPrincipalName']).get()) as PageCollection;
      assert.equal(firstPage.value.length, 2);
      assert.ok(firstPage['@odata.nextLink']?.startsWith(`${em.url}/v1.0/users?`), firstPage['@odata.nextLink']);
      const upns: string[] = [];
      const it = new PageIterator(app, firstPage, (u: { userPrincipalName: string }) => {
        upns.push(u.userPrincipalName);
        return true;
      });
      await it.iterate();
      for (const upn of ['alice@contoso.example', 'bob@contoso.example', "sean.o'brien@contoso.example", 'carol@contoso.example']) assert.ok(upns.includes(upn), upn);
      assert.equal(new Set(upns).size, upns.length);
    });

    it('creates a user (POST /users) who can sign in with ROPC and be added to a group once replicated', async () => {
      const createdAt = Date.now();
      const created = (await app.api('/users').post({
        accountEnabled: true,
        displayName: 'juliet@xmpp.example (XMPP)',
        mailNickname: 'juliet_xmpp.example',
        userPrincipalName: 'juliet_xmpp.example@xmpp.contoso.example',
        companyName: 'xmpp.example',
        passwordPolicies: 'DisablePasswordExpiration',
        passwordProfile: { forceChangePasswordNextSignIn: false, password: 'Xg7!generated-secret' },
      })) as { id: string; userPrincipalName: string };
      assert.equal(created.userPrincipalName, 'juliet_xmpp.example@xmpp.contoso.example');
      // Eventual consistency: the new user reads as 404, and cannot be referenced or sign in, until it has
      // replicated (https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/);
      // the sign-in fails as for an account that does not exist (AADSTS50034).
      const signIn = () => new UsernamePasswordCredential(TENANT, GATEWAY_APP, created.userPrincipalName, 'Xg7!generated-secret', opts).getToken(scope);
      assert.match((await rejection(signIn())).message, /AADSTS50034/u);
      assert.equal((await graphError(app.api(`/users/${created.id}`).get())).statusCode, 404);
      const early = await graphError(app.api(`/groups/${GROUP_ID}/members/$ref`).post({ '@odata.id': `${em.url}/v1.0/directoryObjects/${created.id}` }));
      assert.equal(early.statusCode, 404);
      await waitUntil('the new user has replicated', () => em.user(created.id) !== undefined && Date.now() - createdAt >= 1200, 3000);
      assert.equal(((await app.api(`/users/${created.id}`).select(['id']).get()) as { id: string }).id, created.id);
      assert.ok((await signIn()).token);
      // References name the Graph host of the cloud in use: another host's URL is refused.
      const otherCloud = await graphError(app.api(`/groups/${GROUP_ID}/members/$ref`).post({ '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${created.id}` }));
      assert.equal(otherCloud.statusCode, 400);
      await app.api(`/groups/${GROUP_ID}/members/$ref`).post({ '@odata.id': `${em.url}/v1.0/directoryObjects/${created.id}` });
      assert.deepEqual(em.groupMembers(GROUP_ID), [created.id]);

      const dup = await graphError(
        app.api('/users').post({ accountEnabled: true, displayName: 'x', mailNickname: 'x', userPrincipalName: 'JULIET_xmpp.example@xmpp.contoso.example', passwordProfile: { password: 'Xg7!another-one' } }),
      );
      assert.equal(dup.statusCode, 400);
      assert.equal(dup.code, 'Request_BadRequest');
      assert.equal(dup.message, 'Another object with the same value for property userPrincipalName already exists.');
      const domain = await graphError(
        app.api('/users').post({ accountEnabled: true, displayName: 'x', mailNickname: 'x', userPrincipalName: 'x@elsewhere.example', passwordProfile: { password: 'Xg7!another-one' } }),
      );
      assert.match(domain.message, /verified domain names/u);
      const missing = await graphError(app.api('/users').post({ accountEnabled: true, displayName: 'x', userPrincipalName: 'y@contoso.example', passwordProfile: { password: 'Xg7!another-one' } }));
      assert.match(missing.message, /mailNickname/u);
    });
  });

  describe('group membership through the Graph client', () => {
    const transitive = `/groups/${WHITELIST_GROUP_ID}/transitiveMembers`;
    /** All pages, following @odata.nextLink; returns the items and the page sizes. */
    const allPages = async (first: PageCollection) => {
      const items = [...(first.value as Record<string, unknown>[])];
      const sizes = [first.value.length];
      for (let link = first['@odata.nextLink']; link !== undefined; ) {
        const page = (await app.api(link).get()) as PageCollection;
        items.push(...(page.value as Record<string, unknown>[]));
        sizes.push(page.value.length);
        link = page['@odata.nextLink'];
      }
      return { items, sizes };
    };
    const transitiveUpns = async () => {
      const r = (await app.api(transitive).select(['id', 'userPrincipalName']).get()) as { value: { '@odata.type': string; userPrincipalName?: string }[] };
      return r.value.filter((o) => o['@odata.type'] === '#microsoft.graph.user').map((o) => o.userPrincipalName);
    };

    it('lists transitiveMembers flattened through a nested group, paging with $top=1 via @odata.nextLink', async () => {
      const first = (await app.api(transitive).select(['id', 'displayName', 'userPrincipalName']).top(1).get()) as PageCollection;
      assert.equal(first['@odata.context'], `${em.url}/v1.0/$metadata#directoryObjects(id,displayName,userPrincipalName)`);
      assert.ok(first['@odata.nextLink']?.startsWith(`${em.url}/v1.0/groups/${WHITELIST_GROUP_ID}/transitiveMembers?`), first['@odata.nextLink']);
      const { items, sizes } = await allPages(first);
      assert.deepEqual(sizes, [1, 1, 1]);
      // Alice is a direct member and a member of the nested group: listed once. The nested group is listed too.
      assert.deepEqual(items, [
        { '@odata.type': '#microsoft.graph.user', id: ALICE_ID, displayName: 'Alice Smith', userPrincipalName: 'alice@contoso.example' },
        { '@odata.type': '#microsoft.graph.group', id: PILOTS_GROUP_ID, displayName: 'Federation pilots' },
        { '@odata.type': '#microsoft.graph.user', id: userId('bob@contoso.example'), displayName: 'Bob Jones', userPrincipalName: 'bob@contoso.example' },
      ]);

      const direct = (await app.api(`/groups/${WHITELIST_GROUP_ID}/members`).get()) as { '@odata.context': string; '@odata.nextLink'?: string; value: Record<string, unknown>[] };
      assert.equal(direct['@odata.context'], `${em.url}/v1.0/$metadata#directoryObjects`);
      assert.equal(direct['@odata.nextLink'], undefined);
      assert.deepEqual(direct.value.map((o) => [o['@odata.type'], o.id]), [
        ['#microsoft.graph.user', ALICE_ID],
        ['#microsoft.graph.group', PILOTS_GROUP_ID],
      ]);
      // Without $select: the default user properties.
      assert.equal(direct.value[0]?.givenName, 'Alice');
      assert.deepEqual(direct.value[0]?.businessPhones, []);
    });

    it("answers an unknown group with 404 Request_ResourceNotFound, and a bad $top with 400", async () => {
      const unknown = '00000000-0000-4000-8000-0000000000ff';
      const err = await graphError(app.api(`/groups/${unknown}/transitiveMembers`).get());
      assert.equal(err.statusCode, 404);
      assert.equal(err.code, 'Request_ResourceNotFound');
      assert.equal(err.message, `Resource '${unknown}' does not exist or one of its queried reference-property objects are not present.`);
      const top = await graphError(app.api(transitive).top(1000).get());
      assert.equal(top.statusCode, 400);
    });

    it("refuses a token without a group permission with 403 in Graph's shape", async () => {
      const noGroups = client(new ClientSecretCredential(TENANT, NO_GROUP_APP, 'no-group-secret', opts));
      for (const path of [transitive, `/groups/${WHITELIST_GROUP_ID}/members`]) {
        const err = await graphError(noGroups.api(path).get());
        assert.equal(err.statusCode, 403);
        assert.equal(err.code, 'Authorization_RequestDenied');
        assert.equal(err.message, 'Insufficient privileges to complete the operation.');
        // The client takes requestId and date from the error's innerError.
        assert.ok(err.requestId);
        assert.equal(err.headers?.get('request-id'), err.requestId);
        assert.ok(!Number.isNaN(err.date.getTime()));
      }
      // A delegated token whose scopes include no group permission.
      const alice = userClient(GATEWAY_APP, 'alice@contoso.example', 'Alice-pass-1');
      assert.equal((await graphError(alice.api(transitive).get())).statusCode, 403);
    });

    it('shows membership changes made with addGroupMember/removeGroupMember and the control API on the next GET', async () => {
      assert.deepEqual(await transitiveUpns(), ['alice@contoso.example', 'bob@contoso.example']);
      em.addGroupMember(PILOTS_GROUP_ID, 'carol@contoso.example');
      assert.deepEqual(await transitiveUpns(), ['alice@contoso.example', 'bob@contoso.example', 'carol@contoso.example']);
      em.removeGroupMember(WHITELIST_GROUP_ID, PILOTS_GROUP_ID);
      assert.deepEqual(await transitiveUpns(), ['alice@contoso.example']);
      assert.throws(() => em.addGroupMember(WHITELIST_GROUP_ID, 'nobody@contoso.example'), /no user or group/u);
      assert.throws(() => em.removeGroupMember(WHITELIST_GROUP_ID, 'bob@contoso.example'), /is not a member/u);

      const control = `${em.url}/_emulator/groups/${WHITELIST_GROUP_ID}/members`;
      const added = await fetch(control, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ member: PILOTS_GROUP_ID }) });
      assert.equal(added.status, 200);
      assert.deepEqual(((await added.json()) as { value: string[] }).value, [ALICE_ID, PILOTS_GROUP_ID]);
      assert.deepEqual(await transitiveUpns(), ['alice@contoso.example', 'bob@contoso.example', 'carol@contoso.example']);
      const removed = await fetch(`${em.url}/_emulator/groups/${PILOTS_GROUP_ID}/members/${encodeURIComponent('carol@contoso.example')}`, { method: 'DELETE' });
      assert.equal(removed.status, 200);
      assert.deepEqual(await transitiveUpns(), ['alice@contoso.example', 'bob@contoso.example']);
      assert.deepEqual(em.groupMembers(PILOTS_GROUP_ID), [userId('bob@contoso.example'), ALICE_ID]);
      const duplicate = await fetch(control, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ member: ALICE_ID }) });
      assert.equal(duplicate.status, 400);
      const unknown = await fetch(`${em.url}/_emulator/groups/00000000-0000-4000-8000-0000000000ff/members`, { method: 'POST', body: JSON.stringify({ member: ALICE_ID }) });
      assert.equal(unknown.status, 404);
    });
  });

  describe('permissions', () => {
    it('refuses an app-only token posting a chat message (403 Forbidden)', async () => {
      const alice = userClient(GATEWAY_APP, 'alice@contoso.example', 'Alice-pass-1');
      const chat = (await alice.api('/chats').post({
        chatType: 'oneOnOne',
        members: [ALICE_ID, userId('bob@contoso.example')].map((id) => ({
          '@odata.type': '#microsoft.graph.aadUserConversationMember',
          roles: ['owner'],
          'user@odata.bind': `${em.url}/v1.0/users('${id}')`,
        })),
      })) as { id: string };
      const err = await graphError(app.api(`/chats/${encodeURIComponent(chat.id)}/messages`).post({ body: { contentType: 'text', content: 'hi' } }));
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, 'Forbidden');
      assert.match(err.message, /^Missing role permissions on the request\. API requires one of 'Teamwork\.Migrate\.All'\./u);
    });

    it('refuses a delegated token without ChatMessage.Send', async () => {
      const reader = userClient(READER_APP, 'alice@contoso.example', 'Alice-pass-1');
      const chat = (await reader.api('/chats').post({
        chatType: 'oneOnOne',
        members: ['alice@contoso.example', 'carol@contoso.example'].map((upn) => ({
          '@odata.type': '#microsoft.graph.aadUserConversationMember',
          roles: ['owner'],
          'user@odata.bind': `${em.url}/v1.0/users('${upn}')`,
        })),
      })) as { id: string };
      const err = await graphError(reader.api(`/chats/${encodeURIComponent(chat.id)}/messages`).post({ body: { contentType: 'html', content: '<p>hi</p>' } }));
      assert.equal(err.statusCode, 403);
      assert.equal(err.message, "Missing scope permissions on the request. API requires one of 'ChatMessage.Send, Chat.ReadWrite, Group.ReadWrite.All'. Scopes on the request 'Chat.Create, Chat.Read'.");
    });

    it('refuses a presence subscription with an app-only token', async () => {
      const err = await graphError(
        app.api('/subscriptions').post({
          changeType: 'updated',
          notificationUrl: hooks.url('app-presence'),
          resource: `/communications/presences/${ALICE_ID}`,
          expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString(),
          clientState: 'x',
        }),
      );
      assert.equal(err.statusCode, 403);
    });
  });

  describe('subscriptions and notifications', () => {
    const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

    it('validates the endpoint, then notifies the other member of a new chat message', async () => {
      const bobId = userId('bob@contoso.example');
      const bob = userClient(GATEWAY_APP, 'bob@contoso.example', 'Bob-pass-1');
      const sub = (await bob.api('/subscriptions').post({
        changeType: 'created',
        notificationUrl: hooks.url('bob'),
        lifecycleNotificationUrl: hooks.url('bob-lifecycle'),
        resource: `/users/${bobId}/chats/getAllMessages`,
        expirationDateTime: inMinutes(180),
        clientState: 'bob-state',
      })) as { id: string; creatorId: string; applicationId: string; expirationDateTime: string };
      assert.equal(sub.creatorId, bobId);
      assert.equal(sub.applicationId, GATEWAY_APP);

      const alice = userClient(GATEWAY_APP, 'alice@contoso.example', 'Alice-pass-1');
      const member = (id: string) => ({ '@odata.type': '#microsoft.graph.aadUserConversationMember', roles: ['owner'], 'user@odata.bind': `${em.url}/v1.0/users('${id}')` });
      const chat = (await alice.api('/chats').post({ chatType: 'oneOnOne', members: [member(ALICE_ID), member(bobId)] })) as { id: string; chatType: string };
      assert.equal(chat.id, `19:${[ALICE_ID, bobId].sort().join('_')}@unq.gbl.spaces`);
      const sent = (await alice.api(`/chats/${encodeURIComponent(chat.id)}/messages`).post({ body: { contentType: 'html', content: '<p>Hello Bob</p>' } })) as {
        id: string;
        from: { user: { id: string } };
      };
      assert.equal(sent.from.user.id, ALICE_ID);

      const [collection] = await hooks.waitFor('bob', 1);
      const [n] = parseNotificationCollection(collection);
      assert.ok(n);
      assert.equal(n.subscriptionId, sub.id);
      assert.equal(n.clientState, 'bob-state');
      assert.equal(n.changeType, 'created');
      assert.deepEqual(n.target, { kind: 'chatMessage', chatId: chat.id, messageId: sent.id });
      const item = (collection as { value: Record<string, unknown>[] }).value[0];
      assert.equal(item?.resource, `chats('${chat.id}')/messages('${sent.id}')`);
      assert.equal(item?.tenantId, TENANT);
      assert.equal('validationTokens' in (collection as object), false);

      const read = (await bob.api(`/chats/${encodeURIComponent(chat.id)}/messages/${sent.id}`).get()) as { body: { content: string } };
      assert.equal(read.body.content, '<p>Hello Bob</p>');
    });

    it('refuses a subscription whose endpoint does not echo the validation token', async () => {
      hooks.refuseValidation.add('silent');
      const bob = userClient(GATEWAY_APP, 'bob@contoso.example', 'Bob-pass-1');
      const err = await graphError(
        bob.api('/subscriptions').post({
          changeType: 'created',
          notificationUrl: hooks.url('silent'),
          resource: `/users/${userId('bob@contoso.example')}/chats/getAllMessages`,
          expirationDateTime: inMinutes(30),
          clientState: 'x',
        }),
      );
      assert.equal(err.statusCode, 400);
      assert.match(err.message, /^Subscription validation request failed\./u);
    });

    it('redelivers a notification the webhook answered with 500', async () => {
      hooks.script.set('carol', [500]);
      const carolId = userId('carol@contoso.example');
      const carol = userClient(GATEWAY_APP, 'carol@contoso.example', 'Carol-pass-1');
      const sub = (await carol.api('/subscriptions').post({
        changeType: 'created',
        notificationUrl: hooks.url('carol'),
        resource: `/users/${carolId}/chats/getAllMessages`,
        expirationDateTime: inMinutes(45),
        clientState: 'carol-state',
      })) as { id: string };
      const m = await em.sendAs('alice@contoso.example', 'Carol', 'ping');
      const [collection] = await hooks.waitFor('carol', 1);
      assert.equal(parseNotificationCollection(collection)[0]?.resource, `chats('${m.chatId}')/messages('${m.id}')`);
      const attempts = () => em.deliveries().filter((d) => d.subscriptionId === sub.id);
      await waitUntil('the second attempt completed', () => attempts()[1]?.status !== undefined);
      assert.deepEqual(attempts().map((d) => [d.attempt, d.status]), [
        [1, 500],
        [2, 202],
      ]);
    });

    it('refuses renewing a chat message subscription beyond 4320 minutes, and a presence one beyond 60', async () => {
      const bob = userClient(GATEWAY_APP, 'bob@contoso.example', 'Bob-pass-1');
      const list = (await bob.api('/subscriptions').get()) as { value: { id: string; resource: string }[] };
      const messages = list.value.find((s) => s.resource.endsWith('/chats/getAllMessages'));
      assert.ok(messages);
      const err = await graphError(bob.api(`/subscriptions/${messages.id}`).patch({ expirationDateTime: inMinutes(4330) }));
      assert.equal(err.statusCode, 400);
      assert.equal(err.message, 'Subscription expiration can only be 4320 minutes in the future.');
      const renewed = (await bob.api(`/subscriptions/${messages.id}`).patch({ expirationDateTime: inMinutes(4000) })) as { expirationDateTime: string };
      assert.ok(Date.parse(renewed.expirationDateTime) > Date.now() + 3990 * 60_000);

      const noLifecycle = await graphError(
        bob.api('/subscriptions').post({
          changeType: 'created',
          notificationUrl: hooks.url('bob2'),
          resource: `/users/${userId('bob@contoso.example')}/chats/getAllMessages`,
          expirationDateTime: inMinutes(120),
          clientState: 'x',
        }),
      );
      assert.match(noLifecycle.message, /^lifecycleNotificationUrl is a required property/u);

      const presence = await graphError(
        bob.api('/subscriptions').post({
          changeType: 'updated',
          notificationUrl: hooks.url('bob-presence'),
          resource: `/communications/presences?$filter=id in ('${ALICE_ID}')`,
          expirationDateTime: inMinutes(90),
          clientState: 'x',
        }),
      );
      assert.equal(presence.message, 'Subscription expiration can only be 60 minutes in the future.');
    });

    it("notifies a delegated presence subscription when the watched user's presence changes", async () => {
      const bob = userClient(GATEWAY_APP, 'bob@contoso.example', 'Bob-pass-1');
      await bob.api('/subscriptions').post({
        changeType: 'updated',
        notificationUrl: hooks.url('presence'),
        resource: `/communications/presences?$filter=id in ('${ALICE_ID}','${userId('carol@contoso.example')}')`,
        expirationDateTime: inMinutes(55),
        clientState: 'presence-state',
      });
      em.setPresence('alice@contoso.example', 'Available', 'Available');
      const [collection] = await hooks.waitFor('presence', 1);
      const [n] = parseNotificationCollection(collection);
      assert.deepEqual(n?.target, { kind: 'presence', userId: ALICE_ID });

      // Aggregation: an app session set by Alice's own (delegated) token outranks her client's Available.
      const alice = userClient(GATEWAY_APP, 'alice@contoso.example', 'Alice-pass-1');
      await alice.api(`/users/${ALICE_ID}/presence/setPresence`).post({ sessionId: GATEWAY_APP, availability: 'Busy', activity: 'InACall', expirationDuration: 'PT10M' });
      const p = (await app.api(`/users/${ALICE_ID}/presence`).get()) as { availability: string; activity: string };
      assert.deepEqual([p.availability, p.activity], ['Busy', 'InACall']);
      await hooks.waitFor('presence', 2);
      const wrongSession = await graphError(alice.api(`/users/${ALICE_ID}/presence/setPresence`).post({ sessionId: READER_APP, availability: 'Away', activity: 'Away' }));
      assert.equal(wrongSession.statusCode, 400);
      const notOwn = await graphError(alice.api(`/users/${userId('bob@contoso.example')}/presence/setUserPreferredPresence`).post({ availability: 'Away', activity: 'Away' }));
      assert.equal(notOwn.statusCode, 403);
    });

    it('notifies a /users subscription (app User.Read.All) of profile and photo changes as updated Users/{id}', async () => {
      const reader = client(new ClientSecretCredential(TENANT, NO_GROUP_APP, 'no-group-secret', opts));
      const carolId = userId('carol@contoso.example');
      const sub = (await reader.api('/subscriptions').post({
        changeType: 'updated',
        notificationUrl: hooks.url('users'),
        resource: '/users',
        expirationDateTime: inMinutes(41_000),
        clientState: 'users-state',
      })) as { id: string; resource: string; expirationDateTime: string; lifecycleNotificationUrl: string | null };
      assert.equal(sub.resource, '/users');
      assert.equal(sub.lifecycleNotificationUrl, null, 'no lifecycleNotificationUrl is needed past an hour');
      const aliceSub = (await reader.api('/subscriptions').post({
        changeType: 'updated,deleted',
        notificationUrl: hooks.url('users-alice'),
        resource: `users/${ALICE_ID}`,
        expirationDateTime: inMinutes(60),
        clientState: 'alice-state',
      })) as { id: string };

      const expectUpdated = (collection: unknown, id: string, subscriptionId: string, clientState: string) => {
        const [n] = parseNotificationCollection(collection);
        assert.deepEqual(n?.target, { kind: 'user', userId: id });
        const item = (collection as { value: Record<string, unknown>[] }).value[0] ?? {};
        assert.deepEqual(Object.keys(item).sort(), ['changeType', 'clientState', 'resource', 'resourceData', 'subscriptionExpirationDateTime', 'subscriptionId', 'tenantId']);
        assert.equal(item.subscriptionId, subscriptionId);
        assert.equal(item.changeType, 'updated');
        assert.equal(item.resource, `Users/${id}`);
        assert.deepEqual(item.resourceData, { '@odata.type': '#Microsoft.Graph.User', '@odata.id': `Users/${id}`, id });
        assert.equal(item.clientState, clientState);
        assert.equal(item.tenantId, TENANT);
        assert.match(String(item.subscriptionExpirationDateTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/u);
      };

      em.setPhoto('carol@contoso.example', NEW_JPEG);
      expectUpdated((await hooks.waitFor('users', 1))[0], carolId, sub.id, 'users-state');
      const updated = em.updateUser('carol@contoso.example', { jobTitle: 'Support lead', department: 'Support', businessPhones: ['+1 555 0300'] });
      assert.deepEqual([updated.jobTitle, updated.department, updated.businessPhones], ['Support lead', 'Support', ['+1 555 0300']]);
      expectUpdated((await hooks.waitFor('users', 2))[1], carolId, sub.id, 'users-state');
      const read = (await app.api(`/users/${carolId}`).select(['jobTitle', 'department']).get()) as Record<string, unknown>;
      assert.deepEqual([read.jobTitle, read.department], ['Support lead', 'Support']);
      // Graph's own writes notify too: PATCH /users/{id} and PUT .../photo/$value.
      await app.api(`/users/${carolId}`).patch({ officeLocation: 'C3' });
      await app.api(`/users/${carolId}/photo/$value`).header('Content-Type', 'image/jpeg').put(DAN_JPEG);
      const all = await hooks.waitFor('users', 4);
      for (const c of all.slice(2)) expectUpdated(c, carolId, sub.id, 'users-state');
      em.setPhoto('carol@contoso.example', undefined);
      await hooks.waitFor('users', 5);
      assert.equal(hooks.received.get('users-alice'), undefined, "a /users/{id} subscription is not told of another user's changes");
      em.updateUser(ALICE_ID, { mobilePhone: '+1 555 0400' });
      expectUpdated((await hooks.waitFor('users-alice', 1))[0], ALICE_ID, aliceSub.id, 'alice-state');
      await waitUntil('the /users notifications were delivered', () => em.deliveries().filter((d) => d.subscriptionId === sub.id && d.status === 202).length === 6);

      const tooLong = await graphError(
        reader.api('/subscriptions').post({ changeType: 'updated', notificationUrl: hooks.url('users2'), resource: 'users', expirationDateTime: inMinutes(41_770), clientState: 'x' }),
      );
      assert.equal(tooLong.statusCode, 400);
      assert.equal(tooLong.message, 'Subscription expiration can only be 41760 minutes in the future.');
      const renew = await graphError(reader.api(`/subscriptions/${sub.id}`).patch({ expirationDateTime: inMinutes(41_770) }));
      assert.equal(renew.statusCode, 400);
      const created = await graphError(
        reader.api('/subscriptions').post({ changeType: 'created', notificationUrl: hooks.url('users2'), resource: '/users', expirationDateTime: inMinutes(60), clientState: 'x' }),
      );
      assert.equal(created.statusCode, 400);
      const noPermission = await graphError(
        userClient(READER_APP, 'alice@contoso.example', 'Alice-pass-1')
          .api('/subscriptions')
          .post({ changeType: 'updated', notificationUrl: hooks.url('users2'), resource: '/users', expirationDateTime: inMinutes(60), clientState: 'x' }),
      );
      assert.equal(noPermission.statusCode, 403);
    });
  });

  describe('contact cards: profiles and photos', () => {
    it('serves each documented size at that size in the photo\'s own format, and 404 ImageNotFound without a photo', async () => {
      const danId = userId('dan@contoso.example');
      const meta = (await app.api('/users/dan@contoso.example/photo').get()) as Record<string, unknown>;
      assert.equal(meta['@odata.mediaContentType'], 'image/jpeg');
      assert.match(String(meta['@odata.mediaEtag']), /^"[0-9A-F]{8}"$/u);
      assert.deepEqual([meta.id, meta.width, meta.height], ['648x648', 648, 648]);
      const sized = (await app.api(`/users/${danId}/photos/96x96`).get()) as Record<string, unknown>;
      assert.deepEqual([sized.id, sized.width, sized.height, sized['@odata.mediaEtag']], ['96x96', 96, 96, meta['@odata.mediaEtag']]);
      const all = (await app.api(`/users/${danId}/photos`).get()) as { value: { id: string }[] };
      assert.deepEqual(all.value.map((p) => p.id), ['48x48', '64x64', '96x96', '120x120', '240x240', '360x360', '432x432', '504x504', '648x648']);
      // As the gateway reads it (ResponseType.ARRAYBUFFER): a 96x96 JPEG of the photo, red left, blue right.
      const small = decodeImage(Buffer.from((await app.api(`/users/${danId}/photos/96x96/$value`).responseType(ResponseType.ARRAYBUFFER).get()) as ArrayBuffer));
      assert.deepEqual([small.type, small.width, small.height], ['image/jpeg', 96, 96]);
      assert.ok((small.data[0] as number) > 150 && (small.data[2] as number) < 100, 'left edge red');
      assert.ok((small.data[95 * 4 + 2] as number) > 150 && (small.data[95 * 4] as number) < 100, 'right edge blue');
      // At its own size (the largest, 648x648), the photo as uploaded.
      const token = (await appCredential.getToken(scope))?.token ?? '';
      const raw = await fetch(`${em.url}/v1.0/users/dan@contoso.example/photo/$value`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(raw.status, 200);
      assert.equal(raw.headers.get('content-type'), 'image/jpeg');
      assert.deepEqual(Buffer.from(await raw.arrayBuffer()), DAN_JPEG);
      // The signed-in user's own photo with a delegated token (User.ReadWrite is among Learn's permissions).
      const dan = userClient(EDITOR_APP, 'dan@contoso.example', 'Dan-pass-1');
      assert.equal(((await dan.api('/me/photo').get()) as { id: string }).id, '648x648');

      const none = await graphError(app.api('/users/erin@contoso.example/photo/$value').get());
      assert.equal(none.statusCode, 404);
      assert.equal(none.code, 'ImageNotFound');
      const noneSized = await rejection(app.api('/users/erin@contoso.example/photos/96x96/$value').responseType(ResponseType.ARRAYBUFFER).get());
      assert.equal((noneSized as { statusCode?: unknown }).statusCode, 404);
      assert.equal((await graphError(app.api('/users/erin@contoso.example/photo').get())).statusCode, 404);
      assert.equal((await graphError(app.api(`/users/${danId}/photos/100x100/$value`).get())).statusCode, 404);
      const denied = await graphError(userClient(READER_APP, 'alice@contoso.example', 'Alice-pass-1').api(`/users/${danId}/photo`).get());
      assert.equal(denied.statusCode, 403);
      assert.equal(denied.code, 'Authorization_RequestDenied');
    });

    it('offers only the sizes up to the photo\'s own (Learn: a 504x504 photo, all but 648x648), and keeps a PNG a PNG', async () => {
      const sean = "sean.o'brien@contoso.example";
      const seanId = userId(sean);
      const bytesAt = async (path: string) => Buffer.from((await app.api(`/users/${seanId}/${path}`).responseType(ResponseType.ARRAYBUFFER).get()) as ArrayBuffer);
      try {
        const p504 = testImage(504, 504, 'image/jpeg', [90, 90, 200]);
        em.setPhoto(sean, p504);
        const sizes = ((await app.api(`/users/${seanId}/photos`).get()) as { value: { id: string }[] }).value.map((p) => p.id);
        assert.deepEqual(sizes, ['48x48', '64x64', '96x96', '120x120', '240x240', '360x360', '432x432', '504x504']);
        assert.deepEqual(await bytesAt('photos/504x504/$value'), p504);
        const large = await graphError(app.api(`/users/${seanId}/photos/648x648/$value`).get());
        assert.deepEqual([large.statusCode, large.code], [404, 'ImageNotFound']);
        assert.equal((await graphError(app.api(`/users/${seanId}/photos/648x648`).get())).statusCode, 404);
        assert.equal(((await app.api(`/users/${seanId}/photo`).get()) as { id: string }).id, '504x504');

        // Not square: measured by its shorter side (150), so 120x120 is the largest; a PNG is served as a PNG.
        em.setPhoto(sean, testImage(200, 150, 'image/png', [250, 250, 0], [0, 250, 250]));
        const meta = (await app.api(`/users/${seanId}/photo`).get()) as Record<string, unknown>;
        assert.deepEqual([meta.id, meta.width, meta.height, meta['@odata.mediaContentType']], ['120x120', 120, 120, 'image/png']);
        const whole = decodeImage(await bytesAt('photo/$value'));
        assert.deepEqual([whole.type, whole.width, whole.height], ['image/png', 120, 120]);
        const tiny = decodeImage(await bytesAt('photos/48x48/$value'));
        assert.deepEqual([tiny.type, tiny.width, tiny.height], ['image/png', 48, 48]);
        assert.equal((await graphError(app.api(`/users/${seanId}/photos/240x240/$value`).get())).statusCode, 404);

        // What the emulator cannot decode is refused, through Graph (400) and through its own API.
        const notAPhoto = await graphError(app.api(`/users/${seanId}/photo/$value`).header('Content-Type', 'image/jpeg').put(Buffer.from('ffd8ffe000104a46494600ffd9', 'hex')));
        assert.equal(notAPhoto.statusCode, 400);
        assert.match(notAPhoto.message, /cannot be decoded/u);
        assert.throws(() => em.setPhoto(sean, Buffer.from('GIF89a')), ImageError);
        assert.equal(((await app.api(`/users/${seanId}/photo`).get()) as { id: string }).id, '120x120', 'the photo before stays');
      } finally {
        em.setPhoto(sean, undefined);
      }
    });

    it('returns the contact card properties with $select and updates them with PATCH /users/{id}', async () => {
      const select = ['displayName', 'jobTitle', 'department', 'officeLocation', 'mobilePhone', 'businessPhones', 'mail'];
      const dan = (await app.api('/users/dan@contoso.example').select(select).get()) as Record<string, unknown>;
      assert.deepEqual(dan, {
        '@odata.context': `${em.url}/v1.0/$metadata#users(${select.join(',')})/$entity`,
        displayName: 'Dan Brown',
        jobTitle: 'Engineer',
        department: 'Engineering',
        officeLocation: 'B1 2.04',
        mobilePhone: '+1 555 0100',
        businessPhones: ['+1 555 0101'],
        mail: 'dan@contoso.example',
      });
      const patched = await app.api('/users/erin@contoso.example').patch({ department: 'Sales', officeLocation: 'B2', mobilePhone: '+1 555 0200', businessPhones: ['+1 555 0201'], aboutMe: 'Hi' });
      assert.equal(patched, undefined, '204 No Content');
      const erin = (await app.api('/users/erin@contoso.example').select(['department', 'officeLocation', 'mobilePhone', 'businessPhones', 'aboutMe', 'jobTitle']).get()) as Record<string, unknown>;
      assert.deepEqual([erin.department, erin.officeLocation, erin.mobilePhone, erin.businessPhones, erin.aboutMe, erin.jobTitle], ['Sales', 'B2', '+1 555 0200', ['+1 555 0201'], 'Hi', null]);
      const twoPhones = await graphError(app.api('/users/erin@contoso.example').patch({ businessPhones: ['1', '2'] }));
      assert.equal(twoPhones.statusCode, 400);
      assert.equal(twoPhones.code, 'Request_BadRequest');
      assert.equal((await graphError(app.api('/users/erin@contoso.example').patch({ displayName: null }))).statusCode, 400);
      assert.equal((await graphError(app.api('/users/erin@contoso.example').patch({ id: 'x' }))).statusCode, 400);

      // Delegated User.ReadWrite: one's own profile only.
      const erinClient = userClient(EDITOR_APP, 'erin@contoso.example', 'Erin-pass-1');
      await erinClient.api('/me').patch({ jobTitle: 'Account manager' });
      assert.equal(em.user('erin@contoso.example')?.jobTitle, 'Account manager');
      const other = await graphError(erinClient.api('/users/dan@contoso.example').patch({ jobTitle: 'Intern' }));
      assert.equal(other.statusCode, 403);
      assert.equal(other.code, 'Authorization_RequestDenied');
      assert.equal(em.user('dan@contoso.example')?.jobTitle, 'Engineer');
    });

    it('stores a photo PUT to .../photo/$value (own with User.ReadWrite, anyone with app User.ReadWrite.All)', async () => {
      const erinClient = userClient(EDITOR_APP, 'erin@contoso.example', 'Erin-pass-1');
      await erinClient.api('/me/photo/$value').header('Content-Type', 'image/jpeg').put(NEW_JPEG);
      const bytes = (await app.api('/users/erin@contoso.example/photos/48x48/$value').responseType(ResponseType.ARRAYBUFFER).get()) as ArrayBuffer;
      const scaled = decodeImage(Buffer.from(bytes));
      assert.deepEqual([scaled.type, scaled.width, scaled.height], ['image/jpeg', 48, 48]);
      assert.ok((scaled.data[1] as number) > 120, 'the same green');
      assert.deepEqual(em.user('erin@contoso.example')?.photo, NEW_JPEG);
      const notOwn = await graphError(erinClient.api('/users/dan@contoso.example/photo/$value').header('Content-Type', 'image/jpeg').put(NEW_JPEG));
      assert.equal(notOwn.statusCode, 403);
      const notImage = await graphError(erinClient.api('/me/photo/$value').header('Content-Type', 'text/plain').put(Buffer.from('hello')));
      assert.equal(notImage.statusCode, 400);

      const before = ((await app.api('/users/dan@contoso.example/photo').get()) as Record<string, unknown>)['@odata.mediaEtag'];
      await app.api('/users/dan@contoso.example/photo/$value').header('Content-Type', 'image/jpeg').put(NEW_JPEG);
      const after = ((await app.api('/users/dan@contoso.example/photo').get()) as Record<string, unknown>)['@odata.mediaEtag'];
      assert.notEqual(after, before);
      em.setPhoto('dan@contoso.example', DAN_JPEG);
      assert.equal(((await app.api('/users/dan@contoso.example/photo').get()) as Record<string, unknown>)['@odata.mediaEtag'], before);
      em.setPhoto('erin@contoso.example', undefined);
      assert.equal((await graphError(app.api('/users/erin@contoso.example/photo/$value').get())).statusCode, 404);
    });
  });

  describe('message edits, deletes, reactions and quotes', () => {
    const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
    const member = (id: string) => ({ '@odata.type': '#microsoft.graph.aadUserConversationMember', roles: ['owner'], 'user@odata.bind': `${em.url}/v1.0/users('${id}')` });
    let dan: Client;
    let erin: Client;
    let chatId: string;
    let messagePath: (id: string) => string;
    const changes = async (hook: string, count: number) =>
      (await hooks.waitFor(hook, count)).flatMap((c) => parseNotificationCollection(c)).map((n) => [n.changeType, n.target.kind === 'chatMessage' ? n.target.messageId : '']);

    before(async () => {
      dan = userClient(EDITOR_APP, 'dan@contoso.example', 'Dan-pass-1');
      erin = userClient(EDITOR_APP, 'erin@contoso.example', 'Erin-pass-1');
      const chat = (await dan.api('/chats').post({ chatType: 'oneOnOne', members: [member(userId('dan@contoso.example')), member(userId('erin@contoso.example'))] })) as { id: string };
      chatId = chat.id;
      messagePath = (id) => `/chats/${encodeURIComponent(chatId)}/messages/${id}`;
      // Erin watches the chat for every change, and all her chats for created and updated only.
      await erin.api('/subscriptions').post({
        changeType: 'created,updated,deleted',
        notificationUrl: hooks.url('erin-chat'),
        resource: `/chats/${chatId}/messages`,
        expirationDateTime: inMinutes(30),
        clientState: 'erin-chat',
      });
      await erin.api('/subscriptions').post({
        changeType: 'created,updated',
        notificationUrl: hooks.url('erin-cu'),
        resource: `/users/${userId('erin@contoso.example')}/chats/getAllMessages`,
        expirationDateTime: inMinutes(30),
        clientState: 'erin-cu',
      });
    });

    it('refuses a change type chat messages do not have', async () => {
      const err = await graphError(
        erin.api('/subscriptions').post({ changeType: 'created,moved', notificationUrl: hooks.url('x'), resource: `/chats/${chatId}/messages`, expirationDateTime: inMinutes(30) }),
      );
      assert.equal(err.statusCode, 400);
    });

    it('lets the sender edit its message (204, lastEditedDateTime) and notifies updated; refuses another member', async () => {
      const sent = (await dan.api(`/chats/${encodeURIComponent(chatId)}/messages`).post({ body: { contentType: 'text', content: 'hello Erin' } })) as { id: string; lastModifiedDateTime: string };
      assert.deepEqual(await changes('erin-chat', 1), [['created', sent.id]]);
      const edited = await dan.api(messagePath(sent.id)).patch({ body: { contentType: 'html', content: '<p>hello Erin, edited</p>' } });
      assert.equal(edited, undefined, '204 No Content');
      const read = (await erin.api(messagePath(sent.id)).get()) as Record<string, unknown> & { body: { content: string } };
      assert.equal(read.body.content, '<p>hello Erin, edited</p>');
      assert.ok(typeof read.lastEditedDateTime === 'string' && Date.parse(read.lastEditedDateTime) >= Date.parse(sent.lastModifiedDateTime));
      assert.equal(read.lastModifiedDateTime, read.lastEditedDateTime);
      assert.deepEqual((await changes('erin-chat', 2))[1], ['updated', sent.id]);
      assert.deepEqual((await changes('erin-cu', 2)).map((c) => c[0]), ['created', 'updated']);

      const notSender = await graphError(erin.api(messagePath(sent.id)).patch({ body: { contentType: 'text', content: 'hijacked' } }));
      assert.equal(notSender.statusCode, 403);
      assert.equal(notSender.code, 'Forbidden');
      const noScope = await graphError(userClient(GATEWAY_APP, 'dan@contoso.example', 'Dan-pass-1').api(messagePath(sent.id)).patch({ body: { content: 'x' } }));
      assert.equal(noScope.statusCode, 403);
      assert.match(noScope.message, /API requires one of 'Chat\.ReadWrite'/u);
      assert.equal(em.chatsOf('dan@contoso.example').find((c) => c.id === chatId)?.messages.find((m) => m.id === sent.id)?.body.content, '<p>hello Erin, edited</p>');
    });

    it('sets and unsets a reaction (one of a type per user) and notifies updated', async () => {
      const sent = (await dan.api(`/chats/${encodeURIComponent(chatId)}/messages`).post({ body: { content: 'react to this' } })) as { id: string };
      const before = (await hooks.waitFor('erin-chat', 3)).length;
      assert.equal(await erin.api(`${messagePath(sent.id)}/setReaction`).post({ reactionType: '👍' }), undefined);
      await erin.api(`${messagePath(sent.id)}/setReaction`).post({ reactionType: '👍' });
      await dan.api(`${messagePath(sent.id)}/setReaction`).post({ reactionType: '❤️' });
      const read = (await dan.api(messagePath(sent.id)).get()) as { reactions: Record<string, unknown>[]; lastEditedDateTime: unknown; messageHistory: { actions: string }[] };
      assert.equal(read.reactions.length, 2);
      const [thumb] = read.reactions as [Record<string, unknown> & { user: { user: Record<string, unknown> } }];
      assert.equal(thumb.reactionType, '👍');
      assert.equal(thumb.displayName, 'Like');
      assert.ok(typeof thumb.createdDateTime === 'string');
      assert.deepEqual([thumb.user.user.id, thumb.user.user.displayName, thumb.user.user.userIdentityType], [userId('erin@contoso.example'), 'Erin Gray', 'aadUser']);
      assert.equal(read.lastEditedDateTime, null, 'a reaction is not an edit');
      assert.deepEqual(read.messageHistory.map((h) => h.actions), ['reactionAdded', 'reactionAdded']);
      const notified = await changes('erin-chat', before + 2);
      assert.deepEqual(notified.slice(before), [
        ['updated', sent.id],
        ['updated', sent.id],
      ]);
      await erin.api(`${messagePath(sent.id)}/unsetReaction`).post({ reactionType: '👍' });
      const after = (await dan.api(messagePath(sent.id)).get()) as { reactions: { reactionType: string }[] };
      assert.deepEqual(after.reactions.map((r) => r.reactionType), ['❤️']);
      const bad = await graphError(erin.api(`${messagePath(sent.id)}/setReaction`).post({ reactionType: 'thumbsup' }));
      assert.equal(bad.statusCode, 400);
      // setReaction takes "a Unicode emoji" (https://learn.microsoft.com/en-us/graph/api/chatmessage-setreaction): the
      // classic names are only what Graph returns when reading older reactions.
      const legacy = await graphError(erin.api(`${messagePath(sent.id)}/setReaction`).post({ reactionType: 'like' }));
      assert.equal(legacy.statusCode, 400);
      const appOnly = await graphError(app.api(`${messagePath(sent.id)}/setReaction`).post({ reactionType: '👍' }));
      assert.equal(appOnly.statusCode, 403);
    });

    it('soft-deletes (sender only): GET shows deletedDateTime and an empty body, deleted is notified; undoSoftDelete restores', async () => {
      const sent = (await dan.api(`/chats/${encodeURIComponent(chatId)}/messages`).post({ body: { content: 'oops' } })) as { id: string };
      // So far each subscription got: 2 (edit test) + 4 (reaction test: created, three reaction changes) + this created.
      const seen = 7;
      const cuSeen = 7;
      await hooks.waitFor('erin-chat', seen);
      await hooks.waitFor('erin-cu', cuSeen);
      // Learn documents softDelete at /users/{userId}/chats/{chatId}/messages/{id}/softDelete only.
      const deletePath = (upn: string) => `/users/${userId(upn)}/chats/${encodeURIComponent(chatId)}/messages/${sent.id}/softDelete`;
      const undocumented = await graphError(dan.api(`${messagePath(sent.id)}/softDelete`).post({}));
      assert.equal(undocumented.statusCode, 400);
      const notSender = await graphError(erin.api(deletePath('erin@contoso.example')).post({}));
      assert.equal(notSender.statusCode, 403);
      assert.equal(await dan.api(deletePath('dan@contoso.example')).post({}), undefined, '204 No Content');
      const read = (await erin.api(messagePath(sent.id)).get()) as { deletedDateTime: string | null; body: { content: string }; lastModifiedDateTime: string };
      assert.ok(read.deletedDateTime && !Number.isNaN(Date.parse(read.deletedDateTime)));
      assert.equal(read.body.content, '');
      const listed = (await erin.api(`/chats/${encodeURIComponent(chatId)}/messages`).get()) as { value: { id: string; deletedDateTime: string | null }[] };
      assert.equal(listed.value.find((m) => m.id === sent.id)?.deletedDateTime, read.deletedDateTime);
      assert.deepEqual((await changes('erin-chat', seen + 1)).at(-1), ['deleted', sent.id]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(hooks.received.get('erin-cu')?.length, cuSeen, 'a created,updated subscription is not told of the delete');
      assert.equal(em.chatsOf('erin@contoso.example').find((c) => c.id === chatId)?.messages.find((m) => m.id === sent.id)?.deletedDateTime, read.deletedDateTime);

      // Learn's path for chats: /users/{userId}/chats/{chatId}/messages/{id}/undoSoftDelete.
      await dan.api(`/users/${userId('dan@contoso.example')}/chats/${encodeURIComponent(chatId)}/messages/${sent.id}/undoSoftDelete`).post({});
      const restored = (await erin.api(messagePath(sent.id)).get()) as { deletedDateTime: string | null; body: { content: string } };
      assert.deepEqual([restored.deletedDateTime, restored.body.content], [null, 'oops']);
      assert.deepEqual((await changes('erin-chat', seen + 2)).at(-1), ['updated', sent.id]);
      const appOnly = await graphError(app.api(deletePath('dan@contoso.example')).post({}));
      assert.equal(appOnly.statusCode, 403);
    });

    it('stores a messageReference attachment (quote) and answers replyWithQuote', async () => {
      const original = (await dan.api(`/chats/${encodeURIComponent(chatId)}/messages`).post({ body: { content: 'quote me' } })) as { id: string };
      const reference = {
        id: original.id,
        contentType: 'messageReference',
        content: JSON.stringify({ messageId: original.id, messagePreview: 'quote me', messageSender: { user: { id: userId('dan@contoso.example'), displayName: 'Dan Brown', userIdentityType: 'aadUser' } } }),
      };
      const reply = (await erin.api(`/chats/${encodeURIComponent(chatId)}/messages`).post({
        body: { contentType: 'html', content: `<attachment id="${original.id}"></attachment><p>quoted</p>` },
        attachments: [reference],
      })) as { id: string; attachments: { id: string; contentType: string; content: string }[] };
      assert.deepEqual(reply.attachments.map((a) => [a.id, a.contentType, a.content]), [[original.id, 'messageReference', reference.content]]);
      const read = (await dan.api(messagePath(reply.id)).get()) as { attachments: { contentType: string }[] };
      assert.equal(read.attachments[0]?.contentType, 'messageReference');
      const untagged = await graphError(erin.api(`/chats/${encodeURIComponent(chatId)}/messages`).post({ body: { contentType: 'html', content: '<p>no tag</p>' }, attachments: [reference] }));
      assert.equal(untagged.statusCode, 400);

      const quoted = (await erin.api(`/chats/${encodeURIComponent(chatId)}/messages/replyWithQuote`).post({ messageIds: [original.id], replyMessage: { body: { content: 'agreed' } } })) as {
        body: { contentType: string; content: string };
        attachments: { id: string; contentType: string; content: string }[];
      };
      assert.equal(quoted.body.contentType, 'html');
      assert.match(quoted.body.content, new RegExp(`<attachment id="${original.id}"></attachment>\\nagreed`, 'u'));
      const ref = JSON.parse(quoted.attachments[0]?.content ?? '{}') as { messageId: string; messagePreview: string; messageSender: { user: { id: string } } };
      assert.deepEqual([quoted.attachments[0]?.contentType, ref.messageId, ref.messagePreview, ref.messageSender.user.id], ['messageReference', original.id, 'quote me', userId('dan@contoso.example')]);
      assert.equal(em.chatsOf('erin@contoso.example').find((c) => c.id === chatId)?.messages.at(-1)?.attachments[0]?.contentType, 'messageReference');
    });

    it('stamps a burst of messages with the time each was created; their ids stay distinct and increasing', async () => {
      // Ids are creation milliseconds, bumped to stay unique: 300 messages in a few milliseconds run the ids ahead
      // of the clock, never createdDateTime (what a relay's latency is measured from).
      const before = Date.now();
      const burst = await Promise.all(Array.from({ length: 300 }, (_, i) => em.sendAs('dan@contoso.example', 'erin@contoso.example', `burst ${i}`)));
      const after = Date.now();
      const ids = burst.map((m) => Number(m.id));
      assert.ok(ids.every((id, i) => i === 0 || id > (ids[i - 1] as number)), 'ids increase');
      const created = burst.map((m) => Date.parse(m.createdDateTime));
      assert.ok(created.every((t) => t >= before && t <= after), `createdDateTime within ${before}..${after}: ${created[0]}..${created.at(-1)}`);
      assert.ok((ids.at(-1) as number) > after || after - before >= 300, 'the burst ran the ids ahead of the clock (or took 300 ms)');
    });

    it('acts as Teams users through the emulator API, the control API and the CLI', async () => {
      const m = await em.sendAs('dan@contoso.example', 'erin@contoso.example', 'from the API');
      const edited = await em.editAs('dan@contoso.example', undefined, m.id, 'from the API, edited');
      assert.ok(edited.lastEditedDateTime);
      await assert.rejects(em.editAs('erin@contoso.example', chatId, m.id, 'not mine'), /only its sender/u);
      const reacted = await em.reactAs('erin@contoso.example', 'Dan', m.id, '❤️');
      assert.deepEqual(reacted.reactions.map((r) => [r.reactionType, r.user.displayName]), [['❤️', 'Erin Gray']]);
      await em.unreactAs('erin@contoso.example', chatId, m.id, '❤️');
      const control = (path: string, method: string, body?: unknown) =>
        fetch(`${em.url}/_emulator/users/${encodeURIComponent('erin@contoso.example')}/messages/${m.id}${path}`, {
          method,
          ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
        });
      const viaControl = await control('/reactions', 'POST', { reactionType: '😆' });
      assert.equal(viaControl.status, 200);
      assert.deepEqual(((await viaControl.json()) as { reactions: { reactionType: string }[] }).reactions.map((r) => r.reactionType), ['😆']);
      assert.equal((await control(`/reactions/${encodeURIComponent('😆')}`, 'DELETE')).status, 200);
      assert.equal((await control('', 'PATCH', { text: 'not mine' })).status, 400);

      const run = promisify(execFile);
      const env = { ...process.env, XTG_EMULATOR_URL: em.url };
      await run(process.execPath, [CLI, 'react', 'erin@contoso.example', m.id, '👍'], { env });
      await run(process.execPath, [CLI, 'edit', 'dan@contoso.example', m.id, 'edited', 'by', 'the', 'CLI'], { env });
      const deletable = await em.sendAs('dan@contoso.example', 'erin@contoso.example', 'short-lived');
      await run(process.execPath, [CLI, 'delete', '--chat', 'erin@contoso.example', 'dan@contoso.example', deletable.id], { env });
      const out = (await run(process.execPath, [CLI, 'chats', 'erin@contoso.example'], { env })).stdout;
      assert.match(out, new RegExp(`#${m.id} \\S+ \\S+ Dan Brown: edited by the CLI \\(edited\\) \\[👍 Erin Gray\\]\\n`, 'u'));
      assert.match(out, new RegExp(`#${deletable.id} \\S+ \\S+ Dan Brown: short-lived \\(deleted\\)\\n`, 'u'));
      const quote = em.chatsOf('erin@contoso.example').find((c) => c.id === chatId)?.messages.find((x) => x.attachments.length > 0);
      assert.ok(quote && out.includes(`(quotes #${JSON.parse(quote.attachments[0]?.content ?? '{}').messageId as string})`));
      const refused = await rejection(run(process.execPath, [CLI, 'delete', 'erin@contoso.example', m.id], { env }));
      assert.equal((refused as { code?: unknown }).code, 1);
    });
  });

  describe('inline images (hosted contents)', () => {
    const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001', 'hex');
    it('serves a message image to chat members and to an app with Chat.Read.All, as its Learn pages show it', async () => {
      const m = await em.sendAs('dan@contoso.example', 'carol@contoso.example', 'see this', { images: [{ contentType: 'image/png', bytes: PNG }] });
      const src = /<img src="([^"]+)"/u.exec(m.body.content)?.[1] ?? '';
      const ref = parseHostedContentUrl(src);
      assert.ok(ref && ref.chatId === m.chatId && ref.messageId === m.id, src);
      const base = `/chats/${encodeURIComponent(m.chatId)}/messages/${m.id}/hostedContents`;
      const carol = userClient(EDITOR_APP, 'carol@contoso.example', 'Carol-pass-1');
      const list = (await carol.api(base).get()) as { value: { id: string; contentBytes: unknown; contentType: unknown }[] };
      assert.deepEqual(list.value, [{ id: ref.hostedContentId, contentBytes: null, contentType: null }]);
      const one = (await carol.api(`${base}/${ref.hostedContentId}`).get()) as Record<string, unknown>;
      assert.equal(one.id, ref.hostedContentId);
      for (const reader of [carol, app]) {
        const raw = (await reader.api(`${base}/${ref.hostedContentId}/$value`).responseType(ResponseType.RAW).get()) as Response;
        assert.equal(raw.status, 200);
        assert.equal(raw.headers.get('content-type'), 'image/png');
        assert.deepEqual(Buffer.from(await raw.arrayBuffer()), PNG);
      }
      const erin = userClient(EDITOR_APP, 'erin@contoso.example', 'Erin-pass-1');
      assert.equal((await graphError(erin.api(`${base}/${ref.hostedContentId}/$value`).get())).statusCode, 403, 'not a member');
      assert.equal((await graphError(carol.api(`${base}/bm9uZQ/$value`).get())).statusCode, 404);
    });
  });

  describe('teams CLI', () => {
    it('sends as a user and prints the chat', async () => {
      const run = promisify(execFile);
      const env = { ...process.env, XTG_EMULATOR_URL: em.url };
      const sent = await run(process.execPath, [CLI, 'send', '--html', 'bob@contoso.example', 'Carol', '<b>Hi</b> &amp; bye'], { env });
      assert.match(sent.stdout, /^sent message \d+ in chat 19:/u);
      const chats = await run(process.execPath, [CLI, 'chats', 'carol@contoso.example'], { env });
      assert.match(chats.stdout, /\d{2}:\d{2}:\d{2} Bob Jones: Hi & bye\n/u);
      const bad = await rejection(run(process.execPath, [CLI, 'presence', 'nobody-here'], { env }));
      assert.equal((bad as { code?: unknown }).code, 1);
    });
  });
});
