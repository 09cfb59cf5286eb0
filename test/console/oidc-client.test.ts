/**
 * The console's OpenID Connect client against the Graph emulator's identity endpoints, without a browser: the
 * groups claim decides admin, and what Entra refuses (a wrong PKCE verifier, a code used twice, another redirect
 * URI) and what the client must refuse (another nonce, a forged signature) are refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OidcClient, OidcError, type OidcTransaction } from '../../src/console/oidc-client.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { demoTenantEmulatorOptions } from '../emulators/graph/demo-tenant.js';
import { startGraphEmulator, type GraphEmulator } from '../emulators/graph/index.js';
import { testTlsDir } from '../support/federation.js';

const REDIRECT = 'http://127.0.0.1:9/console/auth/callback';
const ALICE = DEMO.teamsUsers[0];
const BOB = DEMO.teamsUsers[1];

describe('console OpenID Connect client', () => {
  let emulator: GraphEmulator;
  let client: OidcClient;
  let graphAsked = 0;

  before(async () => {
    emulator = await startGraphEmulator({ ...demoTenantEmulatorOptions({ tls: await ensureTlsMaterial(testTlsDir()), redirectUris: [REDIRECT], groupMembershipClaims: 'SecurityGroup' }) });
    client = new OidcClient({
      authorityHost: emulator.url,
      tenantId: DEMO.tenantId,
      clientId: DEMO.clientId,
      clientSecret: DEMO.clientSecret,
      adminGroups: [DEMO.consoleAdminGroup.id],
      groupMemberIds: async () => {
        graphAsked++;
        return [];
      },
    });
  });
  after(async () => emulator?.close());

  /** What a browser does at the authorize endpoint: the sign-in form, then the redirect back with a code. */
  async function authorize(t: { url: string }, upn: string, password: string): Promise<URLSearchParams> {
    const page = new URL(t.url);
    const form = new URLSearchParams(page.searchParams);
    form.set('login', upn);
    form.set('passwd', password);
    const r = await fetch(`${page.origin}${page.pathname}`, { method: 'POST', body: form, redirect: 'manual' });
    assert.equal(r.status, 302, await r.text());
    const back = new URL(r.headers.get('location') ?? '');
    assert.equal(`${back.origin}${back.pathname}`, REDIRECT);
    return back.searchParams;
  }

  it('signs in a member of the admin group by the groups claim, without asking Graph', async () => {
    assert.ok(ALICE);
    const { url, transaction } = await client.begin(REDIRECT);
    const user = await client.complete(await authorize({ url }, ALICE.userPrincipalName, ALICE.password), transaction, REDIRECT);
    assert.equal(user.username, ALICE.userPrincipalName);
    assert.equal(graphAsked, 0);
  });

  it('refuses a user whose groups claim lacks the admin group', async () => {
    assert.ok(BOB);
    const { url, transaction } = await client.begin(REDIRECT);
    await assert.rejects(client.complete(await authorize({ url }, BOB.userPrincipalName, BOB.password), transaction, REDIRECT), (e: unknown) => e instanceof OidcError && e.code === 'oidc-not-admin');
  });

  it('refuses another sign-in’s answer (state), a wrong PKCE verifier, a code used twice and another nonce', async () => {
    assert.ok(ALICE);
    const a = await client.begin(REDIRECT);
    const answer = await authorize(a, ALICE.userPrincipalName, ALICE.password);
    const other: OidcTransaction = { ...a.transaction, state: 'another' };
    await assert.rejects(client.complete(answer, other, REDIRECT), /state differs/u);
    await assert.rejects(client.complete(answer, { ...a.transaction, verifier: 'x'.repeat(43) }, REDIRECT), /AADSTS501481/u);
    await assert.rejects(client.complete(answer, a.transaction, REDIRECT), /AADSTS54005/u, 'the code was spent by the failed redemption');

    const b = await client.begin(REDIRECT);
    const answerB = await authorize(b, ALICE.userPrincipalName, ALICE.password);
    await assert.rejects(client.complete(answerB, { ...b.transaction, nonce: 'not-ours' }, REDIRECT), /nonce/u);
  });

  it('is refused a redirect URI the app does not have, at Entra ID, with no redirect', async () => {
    const { url } = await client.begin('http://127.0.0.1:9/elsewhere');
    const r = await fetch(url, { redirect: 'manual' });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /AADSTS50011/u);
  });
});
