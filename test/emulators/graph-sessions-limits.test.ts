/**
 * The Graph emulator as Graph really is (issue 13): presence sessions that 404 when cleared twice and fade when not
 * kept alive, service limits answered with 429 and Retry-After, new users that read as 404, cannot sign in or be
 * subscribed to, and lack a Teams licence for a while, certificate credentials, MSAL's instance discovery, and the organization's domains. Each test cites
 * the Learn page it pins (docs/graph-conformance.md lists them). Through the real @azure/identity credentials and
 * Graph client, or plain HTTP where the client would hide the answer (it retries 429s by itself).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClientCertificateCredential, ClientSecretCredential, UsernamePasswordCredential, type TokenCredential } from '@azure/identity';
import { createDefaultHttpClient, type PipelineRequest } from '@azure/core-rest-pipeline';
import { Client } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { generate } from 'selfsigned';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { startGraphEmulator, type GraphEmulator } from './graph/index.js';
import { graphError } from './graph-assertions.js';

const TENANT = '4f1c2a7e-3b9d-4c6e-8a15-0d2e7f9b6c31';
const APP = 'c0ffee00-0000-4000-8000-000000000001';
const SECRET = 'app-secret';
const PUPPETS_GROUP = '6a3e0c1d-2b4f-4e5a-9c8d-7f1e2d3c4b5a';
/** Scaled down from Learn's 5 minutes so that the two fading steps show within a second or two. */
const PRESENCE_TIMEOUT_MS = 600;
const REPLICATION_MS = 400;
const LICENCE_MS = 800;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Graph emulator: sessions, limits, consistency and sign-in as Graph has them', () => {
  let em: GraphEmulator;
  let dir: string;
  let tls: { key: string; cert: string };
  let opts: { authorityHost: string; disableInstanceDiscovery: boolean };
  let scope: string;
  let app: Client;
  let appToken: string;
  const client = (credential: TokenCredential) =>
    Client.initWithMiddleware({ authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [scope] }), baseUrl: `${em.url}/`, customHosts: new Set(['127.0.0.1']) });
  const userId = (upn: string) => em.user(upn)?.id as string;

  before(async () => {
    const tlsDir = process.env.XTG_TEST_TLS_DIR;
    if (!tlsDir) throw new Error('XTG_TEST_TLS_DIR is not set');
    const m = await ensureTlsMaterial(tlsDir);
    tls = { key: m.key, cert: m.cert };
    dir = await mkdtemp(join(tmpdir(), 'xtg-graph-limits-'));
    em = await startGraphEmulator({
      tls,
      tenantId: TENANT,
      verifiedDomains: ['contoso.example', 'xmpp.contoso.example', 'federated.example'],
      federatedDomains: ['federated.example'],
      presenceTimeoutMs: PRESENCE_TIMEOUT_MS,
      userReplicationMs: REPLICATION_MS,
      licenceAssignmentMs: LICENCE_MS,
      groups: [{ id: PUPPETS_GROUP, displayName: 'XMPP users', licensed: true }],
      apps: [
        {
          clientId: APP,
          clientSecret: SECRET,
          allowPublicClient: true,
          applicationPermissions: ['User.ReadWrite.All', 'GroupMember.ReadWrite.All', 'Presence.Read.All'],
          delegatedPermissions: ['User.Read', 'Chat.Create', 'ChatMessage.Send', 'Chat.ReadWrite', 'Presence.ReadWrite'],
          certificates: [m.cert],
        },
      ],
      users: [
        { userPrincipalName: 'alice@contoso.example', displayName: 'Alice', password: 'Alice-pass-1' },
        { userPrincipalName: 'bob@contoso.example', displayName: 'Bob', password: 'Bob-pass-1' },
        { userPrincipalName: 'nolicence@contoso.example', displayName: 'No Licence', password: 'None-pass-1', licensed: false },
      ],
    });
    opts = { authorityHost: em.url, disableInstanceDiscovery: true };
    scope = `${em.url}/.default`;
    const credential = new ClientSecretCredential(TENANT, APP, SECRET, opts);
    app = client(credential);
    appToken = (await credential.getToken(scope)).token;
  });

  after(async () => {
    await em?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('presence sessions (https://learn.microsoft.com/en-us/graph/api/presence-setpresence)', () => {
    let alice: Client;
    before(() => {
      alice = client(new UsernamePasswordCredential(TENANT, APP, 'alice@contoso.example', 'Alice-pass-1', opts));
    });

    it('answers clearPresence with 404 when the app has no session (presence-clearpresence)', async () => {
      const path = `/users/${userId('alice@contoso.example')}/presence`;
      const none = await graphError(alice.api(`${path}/clearPresence`).post({ sessionId: APP }));
      assert.equal(none.statusCode, 404);
      await alice.api(`${path}/setPresence`).post({ sessionId: APP, availability: 'Away', activity: 'Away', expirationDuration: 'PT5M' });
      await alice.api(`${path}/clearPresence`).post({ sessionId: APP });
      assert.equal(em.presenceOf('alice@contoso.example').availability, 'Offline');
      assert.equal((await graphError(alice.api(`${path}/clearPresence`).post({ sessionId: APP }))).statusCode, 404);
    });

    it('fades an Available session to Available/AvailableInactive after one timeout, Away/Away after two; setPresence keeps it', async () => {
      const path = `/users/${userId('alice@contoso.example')}/presence/setPresence`;
      const set = () => alice.api(path).post({ sessionId: APP, availability: 'Available', activity: 'Available', expirationDuration: 'PT1H' });
      await set();
      const shown = () => {
        const p = em.presenceOf('alice@contoso.example');
        return `${p.availability}/${p.activity}`;
      };
      assert.equal(shown(), 'Available/Available');
      // Kept alive: a call within every timeout keeps it Available.
      for (let i = 0; i < 3; i++) {
        await sleep(PRESENCE_TIMEOUT_MS * 0.6);
        await set();
      }
      assert.equal(shown(), 'Available/Available');
      await sleep(PRESENCE_TIMEOUT_MS + 100);
      assert.equal(shown(), 'Available/AvailableInactive');
      await sleep(PRESENCE_TIMEOUT_MS);
      assert.equal(shown(), 'Away/Away');
      // An Away session does not time out ("can time out if the availability is Available"), it only expires.
      await alice.api(path).post({ sessionId: APP, availability: 'Away', activity: 'Away', expirationDuration: 'PT1H' });
      await sleep(PRESENCE_TIMEOUT_MS * 2 + 100);
      assert.equal(shown(), 'Away/Away');
    });
  });

  describe('service limits (https://learn.microsoft.com/en-us/graph/throttling-limits)', () => {
    it('answers the 21st chat message POST within a second with 429 and Retry-After (20 rps per app per tenant)', async () => {
      const bob = new UsernamePasswordCredential(TENANT, APP, 'bob@contoso.example', 'Bob-pass-1', opts);
      const bobClient = client(bob);
      const member = (id: string) => ({ '@odata.type': '#microsoft.graph.aadUserConversationMember', roles: ['owner'], 'user@odata.bind': `${em.url}/v1.0/users('${id}')` });
      const chat = (await bobClient.api('/chats').post({ chatType: 'oneOnOne', members: [member(userId('bob@contoso.example')), member(userId('alice@contoso.example'))] })) as { id: string };
      const token = (await bob.getToken(scope)).token;
      // Plain HTTP: the Graph client would retry the 429s by itself.
      const post = () =>
        fetch(`${em.url}/v1.0/chats/${encodeURIComponent(chat.id)}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ body: { content: 'hi' } }),
        });
      const started = performance.now();
      const answers = await Promise.all(Array.from({ length: 60 }, post));
      const elapsedMs = performance.now() - started;
      const statuses = answers.map((r) => r.status);
      // 20 at once, plus what the bucket refilled (20 per second) while the requests were being answered: on a
      // loaded machine that takes a while, so the bound follows the time it took.
      const accepted = statuses.filter((s) => s === 201).length;
      assert.ok(accepted >= 20 && accepted <= 20 + Math.ceil((elapsedMs * 20) / 1000), `${statuses.join(',')} in ${elapsedMs.toFixed(0)} ms`);
      const refused = answers.filter((r) => r.status === 429);
      assert.ok(refused.length > 0, `none refused in ${elapsedMs.toFixed(0)} ms`);
      assert.equal(refused.length, 60 - accepted);
      assert.ok(Number(refused[0]?.headers.get('retry-after')) >= 1);
      assert.equal(((await refused[0]?.json()) as { error: { code: string } }).error.code, 'TooManyRequests');
      assert.equal(em.throttledByLimits().chatMessagePost, refused.length);
      await sleep(1100);
      assert.equal((await post()).status, 201, 'the bucket refills at 20 per second');
    });
  });

  describe('JSON batching (https://learn.microsoft.com/en-us/graph/json-batching)', () => {
    let token: string;
    let chatId: string;
    before(async () => {
      const bob = new UsernamePasswordCredential(TENANT, APP, 'bob@contoso.example', 'Bob-pass-1', opts);
      const member = (id: string) => ({ '@odata.type': '#microsoft.graph.aadUserConversationMember', roles: ['owner'], 'user@odata.bind': `${em.url}/v1.0/users('${id}')` });
      chatId = ((await client(bob).api('/chats').post({ chatType: 'oneOnOne', members: [member(userId('bob@contoso.example')), member(userId('alice@contoso.example'))] })) as { id: string }).id;
      token = (await bob.getToken(scope)).token;
    });
    type Answer = { status: number; body: { responses?: { id: string; status: number; headers: Record<string, string>; body?: { id?: string; error?: { code: string } } }[]; error?: { code: string; message: string } } };
    const batch = async (requests: unknown[]): Promise<Answer> => {
      const r = await fetch(`${em.url}/v1.0/$batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ requests }),
      });
      return { status: r.status, body: (await r.json()) as Answer['body'] };
    };
    const post = (id: string, text: string, after?: string) => ({
      id,
      method: 'POST',
      url: `/chats/${encodeURIComponent(chatId)}/messages`,
      headers: { 'Content-Type': 'application/json' },
      body: { body: { contentType: 'text', content: text } },
      ...(after ? { dependsOn: [after] } : {}),
    });
    const chain = (n: number, tag: string) => Array.from({ length: n }, (_, i) => post(String(i + 1), `${tag} ${i + 1}`, i > 0 ? String(i) : undefined));

    it('runs a chain of 20 posts in order, answering each by id (not necessarily in request order)', async () => {
      await sleep(1100); // the 20 rps bucket full again after the test before
      const a = await batch(chain(20, 'chained'));
      assert.equal(a.status, 200);
      const responses = a.body.responses ?? [];
      assert.equal(responses.length, 20);
      assert.notDeepEqual(responses.map((r) => r.id), chain(20, '').map((r) => r.id), 'responses come in another order than the requests');
      const byId = new Map(responses.map((r) => [r.id, r]));
      assert.ok([...byId.values()].every((r) => r.status === 201), JSON.stringify(responses.map((r) => r.status)));
      const page = (await (await fetch(`${em.url}/v1.0/chats/${encodeURIComponent(chatId)}/messages?$top=20`, { headers: { authorization: `Bearer ${token}` } })).json()) as { value: { id: string; body: { content: string } }[] };
      // Newest first: the chain's last post is the newest.
      assert.deepEqual(page.value.map((m) => m.body.content).reverse(), Array.from({ length: 20 }, (_, i) => `chained ${i + 1}`));
      assert.deepEqual(page.value.map((m) => m.id).reverse(), Array.from({ length: 20 }, (_, i) => byId.get(String(i + 1))?.body?.id));
    });

    it('throttles each request of a batch on its own (429 with Retry-After); in a chain the ones after it fail with 424', async () => {
      const started = performance.now();
      const a = await batch(chain(20, 'over the limit'));
      const elapsedMs = performance.now() - started;
      assert.equal(a.status, 200);
      const statuses = Array.from({ length: 20 }, (_, i) => a.body.responses?.find((r) => r.id === String(i + 1)));
      const accepted = statuses.findIndex((r) => r?.status !== 201);
      // The bucket was drawn by the batch before: only what refilled meanwhile (20 per second) goes through.
      assert.ok(accepted >= 0 && accepted <= Math.ceil(((elapsedMs + 200) * 20) / 1000), statuses.map((r) => r?.status).join(','));
      const throttled = statuses[accepted];
      assert.equal(throttled?.status, 429);
      assert.equal(throttled?.body?.error?.code, 'TooManyRequests');
      assert.ok(Number(Object.entries(throttled?.headers ?? {}).find(([k]) => k.toLowerCase() === 'retry-after')?.[1]) >= 1);
      assert.deepEqual(
        statuses.slice(accepted + 1).map((r) => r?.status),
        Array.from({ length: 19 - accepted }, () => 424),
      );
    });

    it('runs a parallel batch request by request: one failing does not fail the others', async () => {
      const a = await batch([
        { id: 'me', method: 'GET', url: '/me' },
        { id: 'chat', method: 'GET', url: `/chats/${encodeURIComponent(chatId)}` },
        { id: 'nowhere', method: 'GET', url: '/chats/19:nowhere@unq.gbl.spaces/messages' },
      ]);
      assert.equal(a.status, 200);
      assert.equal(a.body.responses?.find((r) => r.id === 'me')?.status, 200);
      assert.equal(a.body.responses?.find((r) => r.id === 'chat')?.status, 200);
      const nowhere = a.body.responses?.find((r) => r.id === 'nowhere');
      assert.ok(nowhere && nowhere.status >= 400 && nowhere.status < 500 && nowhere.body?.error?.code, JSON.stringify(nowhere));
    });

    it('refuses a malformed batch as a whole with 400: over 20 requests, repeated ids, mixed sequencing, a body without Content-Type', async () => {
      const refused = async (requests: unknown[], why: string) => {
        const a = await batch(requests);
        assert.equal(a.status, 400, why);
        assert.equal(a.body.error?.code, 'BadRequest', why);
      };
      const get = (id: string) => ({ id, method: 'GET', url: '/organization' });
      await refused(Array.from({ length: 21 }, (_, i) => get(String(i + 1))), '21 requests');
      await refused([get('a'), get('A')], 'ids differ only in case');
      await refused([get('1'), get('2'), { ...get('3'), dependsOn: ['1'] }], 'neither fully sequential nor fully parallel');
      await refused([{ id: '1', method: 'POST', url: `/chats/${encodeURIComponent(chatId)}/messages`, body: { body: { content: 'x' } } }], 'a body without Content-Type');
      await refused([], 'no requests');
    });
  });

  describe('eventual consistency and licences', () => {
    it('reads a new user as 404 until it replicates, and refuses its Teams calls until its group licence is active', async () => {
      const created = (await app.api('/users').post({
        accountEnabled: true,
        displayName: 'romeo@xmpp.example (XMPP)',
        mailNickname: 'romeo_xmpp.example',
        userPrincipalName: 'romeo_xmpp.example@xmpp.contoso.example',
        passwordProfile: { forceChangePasswordNextSignIn: false, password: 'Xg7!romeo-secret' },
      })) as { id: string; userPrincipalName: string };
      const createdAt = Date.now();
      assert.equal((await graphError(app.api(`/users/${created.id}`).get())).statusCode, 404);
      await sleep(Math.max(0, createdAt + REPLICATION_MS + 50 - Date.now()));
      assert.equal(((await app.api(`/users/${created.id}`).get()) as { id: string }).id, created.id);
      // No licence yet: Teams refuses the account (https://learn.microsoft.com/en-us/microsoftteams/user-access).
      const romeo = client(new UsernamePasswordCredential(TENANT, APP, created.userPrincipalName, 'Xg7!romeo-secret', opts));
      const member = (id: string) => ({ '@odata.type': '#microsoft.graph.aadUserConversationMember', roles: ['owner'], 'user@odata.bind': `${em.url}/v1.0/users('${id}')` });
      const chat = () => romeo.api('/chats').post({ chatType: 'oneOnOne', members: [member(created.id), member(userId('alice@contoso.example'))] });
      const refused = await graphError(chat());
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.message, 'Failed to get license information for the user. Ensure user has a valid Office365 license assigned to them.');
      assert.deepEqual(((await app.api(`/users/${created.id}/licenseDetails`).get()) as { value: unknown[] }).value, []);
      // Group-based licensing (https://learn.microsoft.com/en-us/entra/identity/users/licensing-groups-assign) takes a while.
      await app.api(`/groups/${PUPPETS_GROUP}/members/$ref`).post({ '@odata.id': `${em.url}/v1.0/directoryObjects/${created.id}` });
      const joinedAt = Date.now();
      assert.equal((await graphError(chat())).statusCode, 403, 'still pending right after joining the group');
      await sleep(Math.max(0, joinedAt + LICENCE_MS + 50 - Date.now()));
      assert.ok(((await chat()) as { id: string }).id);
      const details = (await app.api(`/users/${created.id}/licenseDetails`).get()) as { value: { servicePlans: { servicePlanName: string; provisioningStatus: string }[] }[] };
      assert.deepEqual(details.value[0]?.servicePlans.map((p) => [p.servicePlanName, p.provisioningStatus]), [['TEAMS1', 'Success']]);
    });

    it('refuses a new user ROPC sign-in (AADSTS50034) and subscriptions to it (404 ExtensionError) until it replicates', async () => {
      // A webhook that answers Graph's validation handshake, for the subscription that succeeds.
      const hook = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(new URL(req.url ?? '/', 'http://x').searchParams.get('validationToken') ?? ''));
      await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
      try {
        const address = hook.address();
        const notificationUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
        const created = (await app.api('/users').post({
          accountEnabled: true,
          displayName: 'tybalt@xmpp.example (XMPP)',
          mailNickname: 'tybalt_xmpp.example',
          userPrincipalName: 'tybalt_xmpp.example@xmpp.contoso.example',
          passwordProfile: { forceChangePasswordNextSignIn: false, password: 'Xg7!tybalt-secret' },
        })) as { id: string; userPrincipalName: string };
        const createdAt = Date.now();
        const signIn = () => new UsernamePasswordCredential(TENANT, APP, created.userPrincipalName, 'Xg7!tybalt-secret', opts).getToken(scope);
        const subscribe = () =>
          app.api('/subscriptions').post({ changeType: 'updated', notificationUrl, resource: `/users/${created.id}`, expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString() }) as Promise<{ id: string }>;
        await assert.rejects(signIn(), /AADSTS50034: The user account \{EmailHidden\} does not exist in the .* directory/u);
        const early = await graphError(subscribe());
        assert.deepEqual([early.statusCode, early.code], [404, 'ExtensionError']);
        assert.equal(early.message, `Operation: Create; Exception: [Status Code: NotFound; Reason: The requested user '${created.id}@${TENANT}' is invalid.]`);
        await sleep(Math.max(0, createdAt + REPLICATION_MS + 50 - Date.now()));
        assert.ok((await signIn()).token);
        assert.ok((await subscribe()).id);
      } finally {
        await new Promise<void>((resolve) => hook.close(() => resolve()));
      }
    });

    it('refuses presence changes for a user without a licence', async () => {
      const nobody = client(new UsernamePasswordCredential(TENANT, APP, 'nolicence@contoso.example', 'None-pass-1', opts));
      const e = await graphError(
        nobody.api(`/users/${userId('nolicence@contoso.example')}/presence/setPresence`).post({ sessionId: APP, availability: 'Available', activity: 'Available' }),
      );
      assert.equal(e.statusCode, 403);
      assert.match(e.message, /Failed to get license information/u);
    });
  });

  describe('sign-in (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials)', () => {
    it('accepts a client_assertion signed with a registered certificate, and refuses an unknown one (AADSTS700027)', async () => {
      const pem = join(dir, 'app.pem');
      await writeFile(pem, `${tls.cert}\n${tls.key}`);
      const token = await new ClientCertificateCredential(TENANT, APP, { certificatePath: pem }, opts).getToken(scope);
      const claims = JSON.parse(Buffer.from(token.token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { appid: string; roles: string[] };
      assert.equal(claims.appid, APP);
      assert.ok(claims.roles.includes('User.ReadWrite.All'));

      const other = await generate([{ name: 'commonName', value: 'not registered' }], { keySize: 2048, algorithm: 'sha256' });
      const otherPem = join(dir, 'other.pem');
      await writeFile(otherPem, `${other.cert}\n${other.private}`);
      await assert.rejects(new ClientCertificateCredential(TENANT, APP, { certificatePath: otherPem }, opts).getToken(scope), /AADSTS700027/u);
    });

    it("serves MSAL's instance discovery (its production default) for the emulator's host", async () => {
      // MSAL asks login.microsoftonline.com; the test's HTTP client routes that request to the emulator.
      const base = createDefaultHttpClient();
      const seen: string[] = [];
      const httpClient = {
        sendRequest: (request: PipelineRequest) => {
          if (request.url.startsWith('https://login.microsoftonline.com/')) {
            seen.push(new URL(request.url).pathname);
            request.url = request.url.replace('https://login.microsoftonline.com', em.url);
          }
          return base.sendRequest(request);
        },
      };
      const credential = new ClientSecretCredential(TENANT, APP, SECRET, { authorityHost: em.url, httpClient });
      assert.ok((await credential.getToken(scope)).token);
      assert.deepEqual(seen, ['/common/discovery/instance']);
      const unknown = await fetch(`${em.url}/common/discovery/instance?api-version=1.1&authorization_endpoint=https://elsewhere.example/${TENANT}/oauth2/v2.0/authorize`);
      assert.equal(unknown.status, 400);
      assert.equal(((await unknown.json()) as { error: string }).error, 'invalid_instance');
    });
  });

  describe('organization (https://learn.microsoft.com/en-us/graph/api/organization-get)', () => {
    it("lists the verified domains with their type, readable with a member's User.Read", async () => {
      const alice = client(new UsernamePasswordCredential(TENANT, APP, 'alice@contoso.example', 'Alice-pass-1', opts));
      const org = (await alice.api('/organization').get()) as { value: { verifiedDomains: { name: string; type: string }[] }[] };
      const domains = Object.fromEntries(org.value[0]?.verifiedDomains.map((d) => [d.name, d.type]) ?? []);
      assert.deepEqual(domains, { 'contoso.example': 'Managed', 'xmpp.contoso.example': 'Managed', 'federated.example': 'Federated' });
      const denied = await fetch(`${em.url}/v1.0/organization`, { headers: { authorization: `Bearer ${appToken}` } });
      assert.equal(denied.status, 403, 'the app holds no Organization.Read.All');
    });
  });
});
