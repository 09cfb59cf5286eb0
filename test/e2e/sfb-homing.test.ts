/**
 * Issue 17, homing by lookup: one SIP domain (contoso.example) shared by users still on SfB Server and users moved
 * to Teams, a migration in progress. Nobody is listed in sfb.users: the gateway asks the pool (sfb.lookup.domains).
 * Real Prosody, the SfB emulator (its Teams users homed online, as in a hybrid) and the Graph emulator; one
 * federation for the file. sfb.lookup.timeoutSeconds is 1 so the timed-out lookup below costs one second.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml, { type Element } from '@xmpp/xml';
import { COMPONENT, Federation, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';
import type { SfbEmulator } from '../emulators/sfb/index.js';
import { ALICE, NS, chatsWith } from '../support/scenarios/common.js';

const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const condition = (el: Element) => el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;

describe('SfB: homing by lookup in a domain shared with Teams', { timeout: 120_000 }, () => {
  let f: Federation;
  let emu: SfbEmulator;
  let juliet: TestXmppClient;
  /** The presence fetches the pool has answered (or been sent), as its trace shows. */
  const fetches = () => emu.frontEnd.trace.filter((t) => t.dir === 'in' && t.method === 'SUBSCRIBE').length;

  before(async () => {
    f = await Federation.start({
      sfb: {},
      transform: (c) => {
        const sfb = c.sfb as Record<string, unknown>;
        sfb.users = [];
        sfb.lookup = { domains: ['contoso.example'], timeoutSeconds: 1 };
      },
    });
    emu = f.sfb as SfbEmulator;
    juliet = await f.client('juliet');
    await juliet.sendPresence();
  });
  after(async () => {
    if (f) process.stdout.write(f.gateway.errorReport('gateway'));
    await f?.stop();
  });

  /** Sends a chat message with a receipt request; resolves with the receipt or the error, whichever comes. */
  async function send(to: string, id: string, body: string): Promise<Element> {
    const answer = juliet.waitFor((el) => el.name === 'message' && ((el.attrs.type === 'error' && el.attrs.id === id) || el.getChild('received', NS.receipts)?.attrs.id === id), 20_000, `answer to ${id}`);
    await juliet.send(xml('message', { to, type: 'chat', id }, xml('body', {}, body), xml('request', { xmlns: NS.receipts })));
    return answer;
  }

  it('one component domain, two homes: Carol is reached on SfB, Alice on Teams, each asked of the pool once', async () => {
    const before = fetches();
    const carol = await send(`carol@${COMPONENT}`, 'h1', 'to Carol, on SfB');
    assert.equal(carol.attrs.type, undefined, `a receipt, not ${condition(carol) ?? 'an error'}`);
    assert.equal(emu.user('carol').inbox.filter((m) => m.kind === 'message').at(-1)?.text, 'to Carol, on SfB');
    const alice = await send(ALICE, 'h2', 'to Alice, on Teams');
    assert.equal(alice.attrs.type, undefined, `a receipt, not ${condition(alice) ?? 'an error'}`);
    assert.match(chatsWith(f, juliet.bare)[0]?.messages.at(-1)?.body.content ?? '', /to Alice, on Teams/u);
    assert.equal(fetches() - before, 2, 'one lookup each');
    // Both answers are remembered: the next messages cost no lookup and land on the same sides.
    assert.equal((await send(`carol@${COMPONENT}`, 'h3', 'again, Carol')).attrs.type, undefined);
    assert.equal((await send(ALICE, 'h4', 'again, Alice')).attrs.type, undefined);
    assert.equal(fetches() - before, 2, 'cached');
  });

  it('an address nobody has gets <item-not-found/>', async () => {
    const err = await send(`nobody.at.all@${COMPONENT}`, 'h5', 'hello?');
    assert.equal(err.attrs.type, 'error');
    assert.equal(condition(err), 'item-not-found');
  });

  it('a lookup the pool fails (503) or never answers gets a temporary error, is not remembered, and the next one succeeds', async () => {
    const arm = (subscribe: unknown) => fetch(`${emu.controlUrl}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ subscribe, count: 1 }) });
    for (const [fault, id] of [[503, 'h6'], ['silent', 'h7']] as const) {
      await arm(fault);
      const err = await send(`dan@${COMPONENT}`, id, `lost to a ${fault}`);
      assert.equal(condition(err), 'remote-server-timeout', `${fault}: ${err.toString()}`);
      assert.equal(err.getChild('error')?.attrs.type, 'wait');
    }
    assert.equal((await send(`dan@${COMPONENT}`, 'h8', 'Dan, this time')).attrs.type, undefined);
    await eventually(() => emu.user('dan').inbox.some((m) => m.text === 'Dan, this time') || undefined, 10_000, 'delivered to Dan on SfB');
    assert.equal(emu.user('dan').inbox.some((m) => m.text?.startsWith('lost to')), false, 'the refused messages were not sent');
  });

  it('SfB -> XMPP: a request from the pool from a user of the lookup domain is accepted, and proves her home', async () => {
    // Erin signs in (the demo pool has her signed out).
    await fetch(`${emu.controlUrl}/_emulator/users/erin/devices`, { method: 'PATCH', body: JSON.stringify({ count: 1 }) });
    const before = fetches();
    const r = (await (await fetch(`${emu.controlUrl}/_emulator/users/erin/messages`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example', text: 'Erin here' }) })).json()) as { status: number };
    assert.equal(r.status, 200);
    await juliet.waitFor((el) => el.attrs.from?.split('/')[0] === `erin@${COMPONENT}` && el.getChildText('body') === 'Erin here', 10_000, 'Erin on XMPP');
    // The reply goes to her on SfB at once, without a lookup.
    assert.equal((await send(`erin@${COMPONENT}`, 'h9', 'hi Erin')).attrs.type, undefined);
    assert.equal(emu.user('erin').inbox.filter((m) => m.kind === 'message').at(-1)?.text, 'hi Erin');
    assert.equal(fetches(), before, 'no lookup: her request proved where she is homed');
  });
});
