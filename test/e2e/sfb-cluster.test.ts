/**
 * Issue 17 in a cluster: two gateway nodes are the two computers of the SfB trusted application pool (the emulator's
 * static route resolves to both and fails over, as a pool FQDN does). The node owning an IM session's pair is killed
 * (SIGKILL) mid-session; the session goes on both ways through the other node, from the dialog in the store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml, { type Element } from '@xmpp/xml';
import { ClusterFederation } from '../support/cluster-federation.js';
import { COMPONENT, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';
import type { SfbEmulator } from '../emulators/sfb/index.js';

const CAROL = `carol@${COMPONENT}`;
const KEY = 'sfb-pair:sip:carol@contoso.example|juliet@xmpp.example';
const NS_RECEIPTS = 'urn:xmpp:receipts';

describe('SfB through a cluster', { timeout: 240_000 }, () => {
  let f: ClusterFederation;
  let emu: SfbEmulator;
  let juliet: TestXmppClient;
  const inbox = () => emu.user('carol').inbox.filter((m) => m.kind === 'message').map((m) => m.text);
  const send = async (id: string, body: string) => {
    const receipt = juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 40_000, `receipt ${id}`);
    await juliet.send(xml('message', { to: CAROL, type: 'chat', id }, xml('body', {}, body), xml('request', { xmlns: NS_RECEIPTS })));
    await receipt;
  };

  before(async () => {
    f = await ClusterFederation.start({ nodes: 2, maxNodes: 2, leaseSeconds: 2, sfb: true });
    emu = f.sfb?.emulator as SfbEmulator;
    juliet = await f.client('juliet');
    await juliet.sendPresence();
  });
  after(async () => f?.stop());

  it('a node dying mid-session: the IM session continues both ways on the other node, nothing lost or doubled', async () => {
    await send('c1', 'hello from the cluster');
    const ownerId = await eventually(() => f.ownerOf(KEY), 10_000, 'the SfB pair in the directory');
    const owner = f.node(ownerId);
    assert.equal((await fetch(`${emu.controlUrl}/_emulator/users/carol/messages`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example', text: 'reply before the kill' }) }).then((r) => r.json()) as { status: number }).status, 200);
    await juliet.waitFor((el: Element) => el.getChildText('body') === 'reply before the kill', 10_000, 'SfB -> XMPP before the kill');
    const sessionsBefore = emu.frontEnd.openSessions(emu.user('carol')).length;
    const killedAt = Date.now();
    await owner.process.kill();
    f.retire(owner);
    // XMPP -> SfB: the message is accepted by the surviving node and goes into the same SIP dialog (no new INVITE).
    await send('c2', 'after the kill');
    assert.deepEqual(inbox().filter((t) => t === 'after the kill'), ['after the kill']);
    assert.equal(emu.frontEnd.openSessions(emu.user('carol')).length, sessionsBefore, 'the same session, continued from the store');
    // SfB -> XMPP: the pool fails over to the surviving computer for the in-dialog MESSAGE.
    const r = (await fetch(`${emu.controlUrl}/_emulator/users/carol/messages`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example', text: 'reply after the kill' }) }).then((x) => x.json())) as { status: number };
    assert.equal(r.status, 200);
    await juliet.waitFor((el: Element) => el.getChildText('body') === 'reply after the kill', 20_000, 'SfB -> XMPP after the kill');
    const moved = await eventually(async () => {
      const o = await f.ownerOf(KEY);
      return o && o !== ownerId ? o : undefined;
    }, 15_000, 'the pair on the live node');
    assert.notEqual(moved, ownerId);
    assert.deepEqual(emu.frontEnd.violations, []);
    process.stdout.write(`# SfB failover: session continued ${Date.now() - killedAt} ms after kill -9 (lease 2 s)\n`);
  });
});
