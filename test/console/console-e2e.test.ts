/**
 * The operator console end to end (issue 18), in Debian's Chromium driven by playwright-core: a real gateway node
 * (CLI, real config) with real Prosody, Redis and the Graph emulator. Sign-in with the admin token (from the
 * keyboard), a relay counted live, a domain added from the page letting a stranger through, a dead letter retried
 * and delivered, the refusals (wrong token, missing CSRF token, another origin), axe-core on every page, and the
 * pages still useful with Redis down.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { Page } from 'playwright-core';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { launchBrowser, seriousA11yViolations, type TestBrowser } from '../support/browser.js';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import { freePort } from '../support/ports.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const TOKEN = 'console-test-admin-token';
const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_RECEIPTS = 'urn:xmpp:receipts';
const receiptFor = (id: string) => (el: Element) => el.name === 'message' && el.getChild('received', NS_RECEIPTS)?.attrs.id === id;
const errorFor = (id: string) => (el: Element) => el.attrs.id === id && el.attrs.type === 'error';
const aliceHas = (f: Federation, text: string) => f.emulator.chatsOf(ALICE_UPN).some((c) => c.messages.some((m) => m.body.content === text));

describe('operator console in a browser', { timeout: 240_000 }, () => {
  let f: Federation;
  let browser: TestBrowser;
  let page: Page;
  let base: string;
  let juliet: TestXmppClient;
  let mallory: TestXmppClient;
  let n = 0;
  const send = async (c: TestXmppClient, body: string) => {
    const id = `c${++n}`;
    await c.send(xml('message', { to: ALICE, type: 'chat', id }, xml('body', {}, body), xml('request', { xmlns: NS_RECEIPTS })));
    return id;
  };
  const statNumber = async (key: string) => Number((await page.locator(`[data-stat="${key}"]`).first().textContent())?.replace(/\D/gu, '') ?? 'NaN');
  const noSeriousViolations = async () => {
    const v = await seriousA11yViolations(page);
    assert.deepEqual(v.map((x) => `${x.id}: ${x.help} (${x.nodes.map((nd) => nd.target.join(' ')).join('; ')})`), [], `axe on ${page.url()}`);
  };

  before(async () => {
    f = await Federation.start({
      redis: true,
      adminToken: TOKEN,
      keepBodies: true,
      policy: { domains: [XMPP_DOMAIN], users: ['*'], reloadSeconds: 1 },
    });
    base = `http://127.0.0.1:${f.ports.admin}`;
    juliet = await f.client('juliet');
    mallory = await f.client('mallory');
    for (const c of [juliet, mallory]) await c.sendPresence();
    browser = await launchBrowser();
    page = await browser.page();
  });
  after(async () => {
    await browser?.close();
    await f?.stop();
  });

  it('sends a visitor without a session to the sign-in page, refuses a wrong token, and signs in from the keyboard', async () => {
    await page.goto(`${base}/console/overview`);
    await page.waitForURL(/\/console\/sign-in/u);
    await noSeriousViolations();
    await page.getByLabel('Your name (for the audit log)').fill('Ops Olga');
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'Wrong admin token' }).waitFor();
    const csp = (await page.request.get(`${base}/console/sign-in`)).headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/u);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/u);

    // Keyboard only: the first Tab lands in the name field, the next in the token field, Enter submits.
    await page.goto(`${base}/console/sign-in`);
    await page.keyboard.press('Tab');
    await page.keyboard.type('Ops Olga');
    await page.keyboard.press('Tab');
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/overview/u);
    await page.getByText('Signed in as').waitFor();
    const cookie = (await browser.context.cookies(base)).find((c) => c.name === 'xtg_console');
    assert.ok(cookie, 'session cookie');
    assert.deepEqual([cookie.httpOnly, cookie.sameSite], [true, 'Strict']);
    const html = await (await page.request.get(`${base}/console/overview`)).text();
    assert.ok(!html.includes(TOKEN), 'no secret in a page');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/u, 'no inline script');
  });

  it('shows every check on the overview and counts a message relayed over XMPP without a reload', async () => {
    // Each node reports its checks every 5 s: the one taken while the node was starting gives way to a fresh one.
    for (const check of ['xmpp', 'graph', 'store', 'redis', 'licence']) {
      await eventually(async () => (/: OK$/u.test((await page.locator(`[data-check="${check}"]`).first().textContent()) ?? '') ? true : undefined), 15_000, `${check} OK`);
    }
    await page.getByText(/^Live · updated/u).waitFor();
    const before = await statNumber('xmpp-to-teams');
    const id = await send(juliet, 'counted by the console');
    await juliet.waitFor(receiptFor(id), 20_000, 'receipt');
    await eventually(async () => ((await statNumber('xmpp-to-teams')) === before + 1 ? true : undefined), 15_000, 'the relay counted on the page');
    assert.ok((await statNumber('xmpp-to-teams-minute')) >= 1);
    await noSeriousViolations();
  });

  it("adds a domain from the federation page, and a stranger's message goes through", async () => {
    const refused = await send(mallory, 'hello from a stranger');
    await mallory.waitFor(errorFor(refused), 10_000, 'refusal');
    await page.getByRole('link', { name: 'Federation' }).click();
    await page.waitForURL(/\/console\/federation/u);
    await page.getByRole('heading', { name: 'Remote XMPP domains' }).waitFor();
    await noSeriousViolations();
    await page.getByLabel('Kind').selectOption('domain');
    await page.getByLabel('Value').fill(DEMO.strangerDomain);
    await page.getByLabel('Reason (audited)').fill('pilot with stranger.example, CHG-1234');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('status').filter({ hasText: `Added domain ${DEMO.strangerDomain}` }).waitFor();
    await page.getByRole('cell', { name: DEMO.strangerDomain, exact: true }).waitFor();
    const id = await send(mallory, 'hello again, now whitelisted');
    await mallory.waitFor(receiptFor(id), 20_000, "the stranger's receipt");
    assert.ok(aliceHas(f, 'hello again, now whitelisted'));

    // Who are the users of that domain now?
    await page.getByRole('button', { name: `Users of ${DEMO.strangerDomain}` }).click();
    await page.getByRole('cell', { name: `mallory@${DEMO.strangerDomain}` }).waitFor();

    // The refusal before it is on the refusals page, by domain (written by the node every 10 s).
    await page.getByRole('link', { name: 'Dead letters and refusals' }).click();
    await eventually(
      async () => {
        await page.reload();
        return (await page.getByRole('cell', { name: 'domain not whitelisted' }).count()) > 0 ? true : undefined;
      },
      30_000,
      'the refusal by domain',
    );
    assert.equal(await page.getByRole('row').filter({ hasText: DEMO.strangerDomain }).filter({ hasText: 'domain not whitelisted' }).count(), 1);
  });

  it('retries a dead letter from the page, and it is delivered', async () => {
    f.emulator.refuse({ method: 'POST', path: /\/chats\/[^/]+\/messages$/u, count: 1 });
    const id = await send(juliet, 'refused once, then retried');
    await juliet.waitFor(errorFor(id), 20_000, 'the dead-letter error');
    await page.reload();
    const retry = page.getByRole('button', { name: /^Retry outbox dead letter/u }).first();
    await retry.waitFor();
    await noSeriousViolations();
    await page.getByText('refused once, then retried').count(); // the kept text is in a closed <details>
    await retry.click();
    await page.getByRole('status').filter({ hasText: 'is queued again' }).waitFor();
    await juliet.waitFor(receiptFor(id), 20_000, 'the receipt after the retry');
    assert.ok(aliceHas(f, 'refused once, then retried'));
    await page.getByText('No dead letters.').waitFor();
  });

  it('finds the changes in the audit log and exports them as CSV', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Contains').fill('chg-1234');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('status').filter({ hasText: '1 entry shown' }).waitFor();
    assert.equal(await page.getByRole('cell', { name: 'token:Ops Olga' }).count(), 1);
    await noSeriousViolations();
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Export as CSV' }).click();
    const csv = await (await download).createReadStream().then(async (s) => {
      let out = '';
      for await (const chunk of s) out += String(chunk);
      return out;
    });
    const lines = csv.trim().split('\r\n');
    assert.equal(lines[0], 'id,time (UTC),actor,action,subject,detail');
    assert.equal(lines.length, 2, csv);
    assert.match(lines[1] ?? '', /,token:Ops Olga,whitelist\.add,domain:stranger\.example,"?pilot with stranger\.example, CHG-1234"?$/u);
    // The whole log holds the sign-in and the retry too.
    const all = await page.request.get(`${base}/console/api/audit?action=dead-letter.`);
    assert.equal(((await all.json()) as { entries: unknown[] }).entries.length, 1);
  });

  it('refuses a change without the CSRF token, and one from another origin even with it', async () => {
    const session = (await (await page.request.get(`${base}/console/api/session`)).json()) as { csrfToken: string };
    const change = { op: 'add', kind: 'domain', value: 'evil.example', reason: 'should not happen' };
    const noCsrf = await page.evaluate(async (body) => {
      const r = await fetch('/console/api/federation', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { error?: string } };
    }, change);
    assert.equal(noCsrf.status, 403);
    assert.match(noCsrf.body.error ?? '', /CSRF/u);

    // A page of another origin (same host, another port: the session cookie is sent, SameSite does not stop it).
    const attackerPort = await freePort();
    const attacker: Server = createServer((_, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end(
        `<form method="post" action="${base}/console/api/federation" enctype="text/plain"><input name='{"op":"add","kind":"domain","value":"evil.example","reason":"x","pad":"' value='"}'><button>go</button></form>`,
      ),
    );
    await new Promise<void>((r) => attacker.listen(attackerPort, '127.0.0.1', () => r()));
    try {
      const other = await browser.page();
      await other.goto(`http://127.0.0.1:${attackerPort}/`);
      const answer = other.waitForResponse((r) => r.url().endsWith('/console/api/federation'));
      await other.getByRole('button', { name: 'go' }).click();
      assert.equal((await answer).status(), 403);
      await other.close();
    } finally {
      attacker.close();
    }
    // Even with the CSRF token, a request whose Origin is another site is refused.
    const cookies = (await browser.context.cookies(base)).map((c) => `${c.name}=${c.value}`).join('; ');
    const forged = await fetch(`${base}/console/api/federation`, {
      method: 'POST',
      headers: { cookie: cookies, origin: `http://127.0.0.1:${attackerPort}`, 'x-csrf-token': session.csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify(change),
    });
    assert.equal(forged.status, 403);
    assert.match(((await forged.json()) as { error: string }).error, /cross-origin/u);
    const wrongToken = await fetch(`${base}/console/api/session`, { headers: { cookie: 'xtg_console=forged.value' } });
    assert.equal(wrongToken.status, 401);
    const entries = ((await (await page.request.get(`${base}/console/api/federation`)).json()) as { entries: { value: string }[] }).entries;
    assert.ok(!entries.some((e) => e.value === 'evil.example'), 'nothing was added');
  });

  it('shows the cluster, and with Redis down still renders both pages with the problem named', async () => {
    await page.goto(`${base}/console/cluster`);
    await page.locator('[data-serving]').first().waitFor();
    assert.equal(await page.locator('[data-serving]').first().textContent(), 'yes');
    await noSeriousViolations();
    await f.stopRedis();
    try {
      await page.goto(`${base}/console/overview`);
      await page.getByRole('alert').filter({ hasText: 'cannot read the cluster from Redis' }).first().waitFor({ timeout: 20_000 });
      await eventually(async () => (/Redis: /u.test((await page.locator('[data-check="redis"]').first().textContent()) ?? '') && !/OK/u.test((await page.locator('[data-check="redis"]').first().textContent()) ?? '') ? true : undefined), 20_000, 'the Redis check failing');
      await page.goto(`${base}/console/cluster`);
      await page.getByRole('alert').filter({ hasText: 'cannot read the cluster from Redis' }).first().waitFor({ timeout: 20_000 });
      await page.locator('[data-node]').first().waitFor();
    } finally {
      await f.startRedis();
    }
  });

  it('signs out: the session no longer works, on any request', async () => {
    await page.goto(`${base}/console/overview`);
    const cookies = (await browser.context.cookies(base)).map((c) => `${c.name}=${c.value}`).join('; ');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/notice=signed-out/u);
    const replay = await fetch(`${base}/console/api/session`, { headers: { cookie: cookies } });
    assert.equal(replay.status, 401, 'a copied cookie is revoked');
  });
});
