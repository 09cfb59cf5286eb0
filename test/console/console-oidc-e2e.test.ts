/**
 * Console sign-in with Entra ID (issue 18) in Chromium: the authorization code flow with PKCE against the Graph
 * emulator's identity endpoints, a gateway node configured with console.oidc, admins by group membership read
 * from Graph (the app registration emits no groups claim here; test/console/oidc-client.test.ts covers the claim).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { launchBrowser, seriousA11yViolations, type TestBrowser } from '../support/browser.js';
import { Federation } from '../support/federation.js';

const ALICE = DEMO.teamsUsers[0];
const EVE = DEMO.teamsUsers[4];

describe('console sign-in with Entra ID', { timeout: 180_000 }, () => {
  let f: Federation;
  let browser: TestBrowser;
  let base: string;

  before(async () => {
    f = await Federation.start({ consoleOidc: { groupClaims: false } });
    base = `http://127.0.0.1:${f.ports.admin}`;
    browser = await launchBrowser({ ignoreHTTPSErrors: true });
  });
  after(async () => {
    await browser?.close();
    await f?.stop();
  });

  const signIn = async (page: Page, upn: string, password: string) => {
    await page.goto(`${base}/console/overview`);
    await page.waitForURL(/\/console\/sign-in/u);
    assert.equal(await page.getByLabel('Admin token').count(), 0, 'no token sign-in without admin.token');
    await page.getByRole('link', { name: 'Sign in with Entra ID' }).click();
    await page.waitForURL((u) => u.origin === f.emulator.url);
    const authorize = new URL(page.url());
    assert.equal(authorize.pathname, `/${DEMO.tenantId}/oauth2/v2.0/authorize`, 'the tenant, not /common');
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(authorize.searchParams.get('nonce'));
    await page.getByLabel('Email, phone, or Skype').fill(upn);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  it('signs in a member of the admin group', async () => {
    assert.ok(ALICE);
    const page = await browser.page();
    await signIn(page, ALICE.userPrincipalName, ALICE.password);
    await page.waitForURL(/\/console\/overview/u);
    await page.getByText(`Signed in as ${ALICE.displayName}`).waitFor();
    const audit = (await (await page.request.get(`${base}/console/api/audit?action=console.sign-in`)).json()) as { entries: { actor: string; detail: string }[] };
    assert.equal(audit.entries[0]?.actor, ALICE.userPrincipalName);
    assert.match(audit.entries[0]?.detail ?? '', /^Entra ID \(oid /u);
    const token = f.emulator.requests().filter((r) => r.path.endsWith('/oauth2/v2.0/token') && r.status === 200);
    assert.ok(token.length > 0);
    await page.close();
  });

  it('refuses a user outside the admin group, and shows why', async () => {
    assert.ok(EVE);
    await browser.context.clearCookies();
    const page = await browser.page();
    await signIn(page, EVE.userPrincipalName, EVE.password);
    await page.waitForURL(/notice=oidc-not-admin/u);
    await page.getByRole('alert').filter({ hasText: 'not in an admin group' }).waitFor();
    assert.deepEqual(await seriousA11yViolations(page), []);
    assert.equal((await page.request.get(`${base}/console/api/session`)).status(), 401);
    await page.close();
  });

  it("keeps the user at Entra ID's page on a wrong password", async () => {
    assert.ok(ALICE);
    await browser.context.clearCookies();
    const page = await browser.page();
    await signIn(page, ALICE.userPrincipalName, 'wrong-password');
    await page.getByRole('alert').filter({ hasText: 'AADSTS50126' }).waitFor();
    assert.equal(new URL(page.url()).origin, f.emulator.url);
    await page.close();
  });
});
