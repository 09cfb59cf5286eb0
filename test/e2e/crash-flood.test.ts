/**
 * Accept on arrival (DESIGN.md decision 4, issue 15): a message is accepted the moment the node reads it off the
 * XMPP link, so a node killed mid-flood loses only what was still in its socket. One node, 600 messages XMPP ->
 * Teams with receipts requested while 300 go Teams -> XMPP, `kill -9` after the 150th receipt, then a restart:
 * every XMPP message gets its receipt (or an error) and is in Teams once, and every Teams message reaches XMPP.
 * Before accept on arrival, the messages still waiting in memory behind their pair's Graph post got neither.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_RECEIPTS = 'urn:xmpp:receipts';
const TO_TEAMS = 600;
const TO_XMPP = 300;
const KILL_AFTER = 150;

describe('crash mid-flood', { timeout: 240_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;

  before(async () => {
    // Graph's pacing is lifted (as in the relay benchmark) so that the flood is still arriving when the node dies.
    f = await Federation.start({ throttle: { graphRequestsPerSecond: 100_000 }, notificationRetryDelaysMs: [500, 1000, 2000, 4000, 8000] });
    juliet = await f.client('juliet');
    await juliet.sendPresence();
    await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'warm' }, xml('body', {}, 'warm-up'), xml('request', { xmlns: NS_RECEIPTS })));
    await juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === 'warm', 30_000, 'warm-up receipt');
  });
  after(async () => f?.stop());

  it('loses nothing that reached the node: every message is answered and relayed once after a restart', async (t) => {
    const answered = new Set<string>();
    const errors = new Map<string, string>();
    const fromTeams = new Map<string, string[]>();
    const count = (el: Element): void => {
      if (el.name !== 'message') return;
      const r = el.getChild('received', NS_RECEIPTS)?.attrs.id;
      if (typeof r === 'string' && r.startsWith('flood-')) answered.add(r);
      else if (el.attrs.type === 'error' && String(el.attrs.id).startsWith('flood-')) {
        answered.add(String(el.attrs.id));
        errors.set(String(el.attrs.id), el.getChild('error')?.toString() ?? '');
      } else {
        const body = el.getChildText('body');
        if (body?.startsWith('from teams ')) fromTeams.set(body, [...(fromTeams.get(body) ?? []), String(el.attrs.id)]);
      }
    };
    let seen = 0;
    const poll = setInterval(() => {
      for (; seen < juliet.received.length; seen++) count(juliet.received[seen] as Element);
    }, 20);
    try {
      const sends: Promise<void>[] = [];
      for (let i = 0; i < TO_TEAMS; i++) {
        sends.push(juliet.send(xml('message', { to: ALICE, type: 'chat', id: `flood-${i}` }, xml('body', {}, `flood ${i}`), xml('request', { xmlns: NS_RECEIPTS }))));
      }
      const teams = Array.from({ length: TO_XMPP }, (_, i) => f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, `from teams ${i}`));
      await Promise.all([...sends, ...teams]);
      await eventually(() => (answered.size >= KILL_AFTER ? true : undefined), 60_000, `${KILL_AFTER} receipts`);
      const metrics = await f.gateway.metrics();
      const acceptedAtKill = /xtg_messages_accepted_total\{direction="xmpp_to_teams"\} (\d+)/u.exec(metrics)?.[1] ?? '?';
      const readAtKill = /xtg_xmpp_stanzas_received_total\{stanza="message"\} (\d+)/u.exec(metrics)?.[1] ?? '?';
      await f.gateway.kill();
      const atKill = answered.size;
      await f.restartGateway('stop');
      // Each pair drains its outbox in order after the restart; Graph redelivers what was not acknowledged.
      await eventually(() => (answered.size === TO_TEAMS && fromTeams.size === TO_XMPP ? true : undefined), 90_000, 'every message answered').catch(() => undefined);
      const unanswered = Array.from({ length: TO_TEAMS }, (_, i) => `flood-${i}`).filter((id) => !answered.has(id));
      if (process.env.XTG_DEBUG_CRASH_FLOOD) for (const l of f.gateway.lines.filter((x) => x.level !== 'debug' || /outbox|earlier|accepted|drain/u.test(String(x.message)))) t.diagnostic(JSON.stringify(l).slice(0, 400));
      t.diagnostic(`messages read off the link at the kill: ${readAtKill}; accepted (committed): ${acceptedAtKill}; receipts or errors at the kill: ${atKill}; after the restart: ${answered.size} of ${TO_TEAMS}; neither: ${unanswered.length}; errors: ${errors.size}; from Teams delivered: ${fromTeams.size} of ${TO_XMPP}`);
      assert.deepEqual(unanswered, [], 'messages that reached the node got neither a receipt nor an error');
      assert.deepEqual([...errors.values()], [], 'no message is refused');
      const inTeams = new Map<string, number>();
      for (const chat of f.emulator.chatsOf(ALICE_UPN)) {
        for (const m of chat.messages) inTeams.set(m.body.content, (inTeams.get(m.body.content) ?? 0) + 1);
      }
      const copies = Array.from({ length: TO_TEAMS }, (_, i) => [...inTeams.entries()].filter(([content]) => content.includes(`flood ${i}<`) || content.endsWith(`flood ${i}`)).reduce((n, [, c]) => n + c, 0));
      assert.deepEqual(copies.map((c, i) => [i, c]).filter(([, c]) => c !== 1), [], 'each message is in Teams exactly once');
      assert.equal(fromTeams.size, TO_XMPP, 'every Teams message reached XMPP');
      // At least once: a stanza sent just before the kill may come again after the restart, with the same id, so
      // that the client can recognise it (XEP-0359 ids are the Teams message ids).
      for (const [body, ids] of fromTeams) assert.equal(new Set(ids).size, 1, `${body}: copies carry different ids`);
    } finally {
      clearInterval(poll);
    }
  });
});
