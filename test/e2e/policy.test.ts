/**
 * Whitelisting and throttling end to end (issue 4): a second XMPP domain on the same Prosody is not whitelisted;
 * Teams users are listed by UPN and by Entra group; limits come from Redis-backed buckets.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const NS_DISCO = 'http://jabber.org/protocol/disco#info';
const NS_RECEIPTS = 'urn:xmpp:receipts';
const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const BOB_UPN = 'bob.jones@contoso.example';
const EVE_UPN = 'eve.internal@contoso.example';

const errorOf = (el: Element) => el.getChild('error');
const errorXml = (el: Element) => errorOf(el)?.toString() ?? '(none)';

describe('whitelisting and throttling', { timeout: 180_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;
  let romeo: TestXmppClient;
  let mallory: TestXmppClient;
  let n = 0;
  const msg = (c: TestXmppClient, to: string, body: string, receipt = false) => {
    const id = `m${++n}`;
    void c.send(xml('message', { to, type: 'chat', id }, xml('body', {}, body), receipt ? xml('request', { xmlns: NS_RECEIPTS }) : null));
    return id;
  };
  const answer = (c: TestXmppClient, id: string) => c.waitFor((el) => el.attrs.id === id && el.attrs.type === 'error', 10_000, `error for ${id}`);
  /** Sends until the outcome (receipt or error) satisfies `want`: for changes that apply within a reload period. */
  const until = async (c: TestXmppClient, to: string, want: (outcome: Element) => boolean, what: string) =>
    eventually(async () => {
      const id = msg(c, to, `probe ${n}`, true);
      const outcome = await c
        .waitFor((el) => el.attrs.id === id || el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 3_000, what)
        .catch(() => undefined);
      return outcome && want(outcome) ? outcome : undefined;
    }, 20_000, what);
  const refusedWith = (condition: string) => (el: Element) => el.attrs.type === 'error' && el.getChild('error')?.getChild(condition) !== undefined;
  const receipted = (el: Element) => el.getChild('received', NS_RECEIPTS) !== undefined;
  const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args, '--config', f.configPath], { encoding: 'utf8' });

  before(async () => {
    f = await Federation.start({
      redis: true,
      policy: {
        domains: [XMPP_DOMAIN],
        users: [ALICE_UPN, "sean.o'brien@contoso.example", 'dave@fabrikam.example'],
        groups: [DEMO.liaisonGroup.id],
        groupRefreshSeconds: 1,
        reloadSeconds: 1,
      },
      throttle: { onExceeded: 'refuse', pair: { messagesPerSecond: 1, messageBurst: 3 } },
    });
    juliet = await f.client('juliet');
    romeo = await f.client('romeo');
    mallory = await f.client('mallory');
    for (const c of [juliet, romeo, mallory]) await c.sendPresence();
  });
  after(async () => f?.stop());

  it('refuses a non-whitelisted domain identically for existing and nonexistent users, without asking Graph', async () => {
    // The whitelisted group's members are re-read every second (groupRefreshSeconds: 1) whatever the stanzas do:
    // those reads are not about the stranger.
    const aboutStanzas = () => f.emulator.requests().filter((r) => !r.path.includes('/groups/'));
    const graphBefore = aboutStanzas().length;
    const toAlice = await answer(mallory, msg(mallory, ALICE, 'hello?'));
    const toNobody = await answer(mallory, msg(mallory, `nobody@${COMPONENT}`, 'hello?'));
    assert.ok(errorOf(toAlice)?.getChild('service-unavailable'), errorXml(toAlice));
    assert.equal(errorXml(toAlice), errorXml(toNobody));
    const discoAlice = await mallory.iq(ALICE, 'get', xml('query', { xmlns: NS_DISCO }));
    const discoNobody = await mallory.iq(`nobody@${COMPONENT}`, 'get', xml('query', { xmlns: NS_DISCO }));
    assert.equal(discoAlice.attrs.type, 'error');
    assert.equal(errorXml(discoAlice), errorXml(discoNobody));
    await mallory.send(xml('presence', { to: ALICE, type: 'subscribe' }));
    const sub = await mallory.waitFor((el) => el.name === 'presence' && el.attrs.type === 'error', 10_000, 'subscribe error');
    assert.ok(errorOf(sub)?.getChild('service-unavailable'));
    const asked = aboutStanzas().slice(graphBefore);
    assert.deepEqual(asked.map((r) => `${r.method} ${r.path}`), [], 'no Graph request for a stranger');
    assert.equal(f.emulator.chatsOf(ALICE_UPN).length, 0);
  });

  it('shows Teams users outside the whitelist as nonexistent, and tells them in Teams when they write', async () => {
    const toEve = await answer(juliet, msg(juliet, `eve.internal@${COMPONENT}`, 'hi Eve'));
    const toNobody = await answer(juliet, msg(juliet, `nobody@${COMPONENT}`, 'hi'));
    assert.ok(errorOf(toEve)?.getChild('item-not-found'));
    assert.equal(errorXml(toEve), errorXml(toNobody));
    // Juliet's account exists once she wrote to a listed user; Eve finds it in Teams and writes to it.
    const id = msg(juliet, ALICE, 'hello Alice', true);
    await juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 20_000, 'receipt');
    await f.emulator.sendAs(EVE_UPN, `juliet@${XMPP_DOMAIN}`, 'hi Juliet, from Eve');
    const notice = await eventually(
      () => f.emulator.chatsOf(EVE_UPN).flatMap((c) => c.messages).find((m) => m.body.content.includes('not enabled')),
      20_000,
      "the notice in Eve's chat",
    );
    assert.match(notice.body.content, /XMPP gateway/u);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(juliet.received.some((el) => el.getChildText('body') === 'hi Juliet, from Eve'), false);
  });

  it('follows Entra group membership: a member federates, and stops when removed from the group', async () => {
    const id = msg(juliet, `bob.jones@${COMPONENT}`, 'hi Bob', true);
    await juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 20_000, 'receipt from Bob');
    f.emulator.removeGroupMember(DEMO.liaisonGroup.id, BOB_UPN);
    await until(juliet, `bob.jones@${COMPONENT}`, refusedWith('item-not-found'), 'Bob refused after leaving the group');
    f.emulator.addGroupMember(DEMO.liaisonGroup.id, BOB_UPN);
    await until(juliet, `bob.jones@${COMPONENT}`, receipted, 'Bob federating again after rejoining');
  });

  it('applies a whitelist change made with the CLI without a restart, and audit-logs it', async () => {
    const add = cli('whitelist', 'add', 'domain', DEMO.strangerDomain, '--actor', 'ops-tester');
    assert.equal(add.status, 0, add.stderr);
    await until(mallory, ALICE, receipted, 'accepted after the whitelist change');
    const remove = cli('whitelist', 'remove', 'domain', DEMO.strangerDomain, '--actor', 'ops-tester');
    assert.equal(remove.status, 0, remove.stderr);
    await until(mallory, ALICE, refusedWith('service-unavailable'), 'refused after removal');
    const audit = cli('audit');
    assert.match(audit.stdout, /ops-tester\twhitelist\.remove\tdomain:stranger\.example/u);
    assert.match(audit.stdout, /ops-tester\twhitelist\.add\tdomain:stranger\.example/u);
    const bad = cli('whitelist', 'add', 'domain', 'Not A Domain!');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a domain rule/u);
  });

  it('limits a flood from one user while another user is served at full speed', async () => {
    await new Promise((r) => setTimeout(r, 3000)); // let Juliet's and Romeo's buckets refill
    const flood = Array.from({ length: 12 }, (_, i) => msg(juliet, ALICE, `flood ${i}`, true));
    const romeoIds = Array.from({ length: 3 }, (_, i) => msg(romeo, ALICE, `romeo ${i}`, true));
    for (const id of romeoIds) await romeo.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 20_000, `Romeo's receipt ${id}`);
    const outcomes = await Promise.all(
      flood.map((id) =>
        juliet.waitFor((el) => el.attrs.id === id || el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 20_000, `outcome of ${id}`),
      ),
    );
    const refused = outcomes.filter((el) => el.attrs.type === 'error');
    const accepted = outcomes.length - refused.length;
    assert.ok(accepted >= 3 && accepted <= 5, `accepted ${accepted} of 12 with a burst of 3 at 1/s`);
    for (const el of refused) {
      assert.ok(el.getChild('error')?.getChild('resource-constraint'), el.toString());
      assert.equal(el.getChild('error')?.attrs.type, 'wait');
    }
    const metrics = await f.gateway.metrics();
    assert.match(metrics, /xtg_throttled_total\{direction="xmpp_to_teams",scope="pair",outcome="refused"\} [1-9]/u);
    assert.match(metrics, /xtg_policy_refusals_total\{direction="xmpp_to_teams",reason="domain"\} [1-9]/u);
  });
});

describe('Teams -> XMPP over the rate limit', { timeout: 120_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;
  before(async () => {
    f = await Federation.start({ throttle: { pair: { messagesPerSecond: 0.2, messageBurst: 2 }, maxDelaySeconds: 1 } });
    juliet = await f.client('juliet');
    await juliet.sendPresence();
    // Juliet's account must exist before Alice can write to it.
    await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'hello' }, xml('body', {}, 'hello'), xml('request', { xmlns: NS_RECEIPTS })));
    await juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === 'hello', 20_000, 'receipt');
  });
  after(async () => f?.stop());

  it('delays within the bound, then tells the Teams user instead of dropping silently', async () => {
    await new Promise((r) => setTimeout(r, 5000)); // the pair's bucket refills after Juliet's hello
    const texts = Array.from({ length: 5 }, (_, i) => `from Alice ${i}`);
    for (const t of texts) await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, t);
    const notices = await eventually(() => {
      const n = f.emulator.chatsOf(ALICE_UPN).flatMap((c) => c.messages).filter((m) => m.body.content.includes('too many messages'));
      const relayed = texts.filter((t) => juliet.received.some((el) => el.getChildText('body') === t));
      return relayed.length + n.length === texts.length ? { n, relayed } : undefined;
    }, 30_000, 'every message relayed or answered with a notice');
    assert.ok(notices.relayed.length >= 2 && notices.relayed.length < 5, `relayed ${notices.relayed.length}`);
    assert.equal(notices.n.length, 5 - notices.relayed.length);
    assert.match(await f.gateway.metrics(), /xtg_throttled_total\{direction="teams_to_xmpp",scope="pair",outcome="timed_out"\} [1-9]/u);
  });
});
