/**
 * The console of a two-node cluster (issue 18), in Chromium: one node's pages show both nodes (from Redis), and
 * draining the other node from the Cluster page hands its actors over while messages keep flowing; resume brings
 * it back. Real gateway processes sharing Redis, Prosody and the Graph emulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { Page } from 'playwright-core';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { ClusterFederation } from '../support/cluster-federation.js';
import { COMPONENT, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const TOKEN = 'cluster-console-token';
const NS_RECEIPTS = 'urn:xmpp:receipts';
const TEAMS = ['alice.smith', 'bob.jones', 'dave\\40fabrikam.example'];
const receiptFor = (id: string) => (el: Element) => el.name === 'message' && el.getChild('received', NS_RECEIPTS)?.attrs.id === id;

describe('console of a cluster: every node shows all, drain from the page', { timeout: 240_000 }, () => {
  let f: ClusterFederation;
  let browser: TestBrowser;
  let page: Page;
  let clients: TestXmppClient[];
  let n = 0;
  /** One message from each XMPP user to each Teams user: six pairs, spread over the nodes. */
  const everyPair = async () => {
    const ids: [TestXmppClient, string][] = [];
    for (const c of clients) {
      for (const t of TEAMS) {
        const id = `k${++n}`;
        await c.send(xml('message', { to: `${t}@${COMPONENT}`, type: 'chat', id }, xml('body', {}, `message ${id}`), xml('request', { xmlns: NS_RECEIPTS })));
        ids.push([c, id]);
      }
    }
    for (const [c, id] of ids) await c.waitFor(receiptFor(id), 30_000, `receipt ${id}`);
  };

  before(async () => {
    f = await ClusterFederation.start({ nodes: 2, adminToken: TOKEN });
    clients = [await f.client('juliet'), await f.client('romeo')];
    for (const c of clients) await c.sendPresence();
    await everyPair();
    browser = await launchBrowser();
    page = await browser.page();
    const base = `http://127.0.0.1:${f.node('node1').ports.admin}`;
    await page.goto(`${base}/console/sign-in`);
    await page.getByLabel('Your name (for the audit log)').fill('Ops Olga');
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/console\/overview/u);
  });
  after(async () => {
    await browser?.close();
    await f?.stop();
  });

  it("shows both nodes and their checks on one node's pages", async () => {
    await page.locator('[data-node="node2"]').waitFor();
    await page.locator('[data-node="node1"]').waitFor();
    await page.goto(page.url().replace('/overview', '/cluster'));
    await page.locator('[data-serving="node2"]').waitFor();
    assert.equal(await page.locator('[data-serving="node2"]').textContent(), 'yes');
  });

  it('drains the other node from the Cluster page: it stops serving, its actors move, messages still flow; resume', async () => {
    await eventually(async () => ((await f.ownedKeys('node2')).length > 0 ? true : undefined), 10_000, 'node2 owns some actors');
    await page.getByLabel('Node', { exact: true }).selectOption('node2');
    await page.getByLabel('Reason (audited)').fill('patching node2');
    await page.getByRole('button', { name: 'Drain (hand off its actors)' }).click();
    await page.getByRole('status').filter({ hasText: 'Drain of node2 asked' }).waitFor();
    await eventually(async () => ((await page.locator('[data-serving="node2"]').textContent()) === 'no' ? true : undefined), 20_000, 'node2 shown not serving, live');
    await page.getByRole('cell', { name: 'drained by token:Ops Olga' }).waitFor();
    await eventually(async () => ((await f.ownedKeys('node2')).length === 0 ? true : undefined), 20_000, "node2's actors handed off");
    await everyPair();
    assert.deepEqual(await f.ownedKeys('node2'), [], 'nothing new placed on a drained node');

    await page.getByLabel('Node', { exact: true }).selectOption('node2');
    await page.getByLabel('Reason (audited)').fill('patched');
    await page.getByRole('button', { name: 'Resume' }).click();
    await eventually(async () => ((await page.locator('[data-serving="node2"]').textContent()) === 'yes' ? true : undefined), 20_000, 'node2 serving again');
    const audit = (await (await page.request.get(page.url().replace('/console/cluster', '/console/api/audit?action=cluster.'))).json()) as { entries: { action: string; subject: string; detail: string }[] };
    assert.deepEqual(audit.entries.map((e) => [e.action, e.subject, e.detail]), [
      ['cluster.resume', 'node:node2', 'patched'],
      ['cluster.drain', 'node:node2', 'patching node2'],
    ]);
  });
});
