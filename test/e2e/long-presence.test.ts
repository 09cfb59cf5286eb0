/**
 * An XMPP user who stays online stays Available in Teams, for hours, although Graph fades an app's Available
 * presence session after 5 minutes without a call (https://learn.microsoft.com/en-us/graph/api/presence-setpresence,
 * "Timeout, expiration, and keep alive"). Time is scaled down 100 times, in the emulator and in the gateway alike:
 * the session timeout is 3 s instead of 5 minutes and the gateway's keep-alive 2.4 s instead of 240 s, so one
 * scaled hour lasts 36 s. Also: going offline when the session is already gone (clearPresence answers 404) still
 * clears the preferred presence and the status message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UsernamePasswordCredential } from '@azure/identity';
import xml from '@xmpp/xml';
import { puppetPassword, puppetUpn as puppetUpnOf } from '../../src/protocol/puppet-identity.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { COMPONENT, eventually, Federation } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE = `alice.smith@${COMPONENT}`;
const SCALE = 100;
const TIMEOUT_MS = (5 * 60_000) / SCALE;
const KEEP_ALIVE_SECONDS = 240 / SCALE;
/** One scaled hour. */
const HOUR_MS = 3_600_000 / SCALE;

describe('presence kept alive for hours', { timeout: 180_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;
  let puppetUpn: string;

  before(async () => {
    f = await Federation.start({
      emulator: { presenceTimeoutMs: TIMEOUT_MS },
      transform: (c) => {
        ((c.teams as Record<string, unknown>).puppets as Record<string, unknown>).presenceKeepAliveSeconds = KEEP_ALIVE_SECONDS;
      },
    });
    juliet = await f.client('juliet');
    await juliet.sendPresence();
    await juliet.send(xml('presence', { to: ALICE, type: 'subscribe' }));
    await juliet.waitFor((el) => el.name === 'presence' && el.attrs.from === ALICE && el.attrs.type === 'subscribe', 20_000, 'subscribe from Alice');
    await juliet.send(xml('presence', { to: ALICE, type: 'subscribed' }));
    // Her server sends Juliet's current presence to the new subscriber: the gateway shows it in Teams.
    await juliet.sendPresence();
    puppetUpn = puppetUpnOf(`juliet@${DEMO.xmppDomain}`, DEMO.puppetDomain);
    await eventually(() => f.emulator.user(puppetUpn), 20_000, "Juliet's account");
  });
  after(async () => f?.stop());

  const shown = () => {
    const p = f.emulator.presenceOf(puppetUpn);
    return `${p.availability}/${p.activity}`;
  };

  it('keeps an online XMPP user Available/Available in Teams through a scaled hour, at 15 setPresence calls an hour', async () => {
    await eventually(() => (shown() === 'Available/Available' ? true : undefined), 20_000, 'Juliet Available in Teams');
    const start = Date.now();
    const seen = new Set<string>();
    while (Date.now() - start < HOUR_MS) {
      seen.add(shown());
      await new Promise((r) => setTimeout(r, TIMEOUT_MS / 4));
    }
    assert.deepEqual([...seen], ['Available/Available'], 'never AvailableInactive or Away while online');
    const calls = f.emulator.requests().filter((r) => r.path.endsWith('/presence/setPresence') && r.at >= start && r.at < start + HOUR_MS);
    // 3600 s / 240 s = 15 calls an hour per online XMPP user (one more may fall on the edge).
    assert.ok(calls.length >= 14 && calls.length <= 16, `${calls.length} setPresence calls in a scaled hour`);
    assert.ok(calls.every((c) => c.status === 200));
    const metrics = await f.gateway.metrics();
    assert.match(metrics, /xtg_presence_keepalive_total\{outcome="ok"\} (1[4-9]|[2-9]\d)/u);
    assert.match(metrics, /xtg_graph_pacing_limit_per_second\{bucket="presence"\} 40/u);
  });

  it('clears the rest of the update when Juliet goes offline and her session is already gone (clearPresence 404)', async () => {
    await juliet.send(xml('presence', {}, xml('show', {}, 'dnd'), xml('status', {}, 'focus')));
    await eventually(() => {
      const p = f.emulator.presenceOf(puppetUpn);
      return p.availability === 'DoNotDisturb' && p.statusMessage === 'focus' ? true : undefined;
    }, 20_000, 'Juliet in do-not-disturb with her status');
    // The app's session is lost behind the gateway's back (as when it lapsed while the node was down).
    const credential = new UsernamePasswordCredential(DEMO.tenantId, DEMO.clientId, puppetUpn, puppetPassword(DEMO.puppetPasswordSecret, puppetUpn), {
      authorityHost: f.emulator.url,
      disableInstanceDiscovery: true,
    });
    const token = (await credential.getToken(`${f.emulator.url}/.default`)).token;
    const id = f.emulator.user(puppetUpn)?.id ?? '';
    const lost = await fetch(`${f.emulator.url}/v1.0/users/${id}/presence/clearPresence`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId: DEMO.clientId }),
    });
    assert.equal(lost.status, 200);
    const since = Date.now();
    await juliet.send(xml('presence', { type: 'unavailable' }));
    // clearPresence answers 404 (no session); the preferred presence and the status message are cleared all the same.
    await eventually(() => (f.emulator.presenceOf(puppetUpn).statusMessage === undefined ? true : undefined), 20_000, 'her status message cleared');
    assert.equal(f.emulator.presenceOf(puppetUpn).availability, 'Offline');
    const clears = f.emulator.requests().filter((r) => r.path.endsWith('/presence/clearPresence') && r.at >= since);
    assert.deepEqual(
      clears.map((r) => r.status),
      [404],
    );
    const quiet = Date.now();
    await new Promise((r) => setTimeout(r, TIMEOUT_MS * 2));
    assert.equal(f.emulator.requests().filter((r) => r.path.endsWith('/presence/setPresence') && r.at >= quiet).length, 0, 'no keep-alive for a cleared session');
  });
});
