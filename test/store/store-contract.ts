/**
 * The Store contract: one suite, run against every implementation (SQLite always, SQL Server when MSSQL_URL is
 * set), so what is tested on SQLite is what runs on SQL Server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { OutboundMessage, Store } from '../../src/store/store.js';
import { MIGRATIONS } from '../../src/store/migrations.js';

export function defineStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let s: Store;
    before(async () => {
      s = await open();
    });
    after(async () => {
      await s?.close();
    });

    const key = { teamsUserId: 'u-alice', remoteJid: 'juliet@xmpp.example' };
    const msg = (over: Partial<OutboundMessage> = {}): OutboundMessage => ({
      ...key,
      dedupKey: undefined,
      sender: 'juliet@xmpp.example/balcony',
      stanzaId: 's1',
      receiptRequested: true,
      body: 'Grüße 👋 <b>',
      ...over,
    });

    it('is migrated to the latest schema version', async () => {
      assert.equal(await s.schemaVersion(), Math.max(...MIGRATIONS.map((m) => m.version)));
      await s.ping();
    });

    it('belongs to the first tenant that claims it, and says so to any other (issue 16)', async () => {
      assert.equal(await s.claimTenant('contoso'), 'contoso');
      assert.equal(await s.claimTenant('contoso'), 'contoso');
      assert.equal(await s.claimTenant('northwind'), 'contoso');
    });

    it('stores puppets and finds them by JID and by user id', async () => {
      await s.putPuppet({ remoteJid: 'juliet@xmpp.example', userId: 'p-1', upn: 'juliet.x@p.example' });
      await s.putPuppet({ remoteJid: 'romeo@xmpp.example', userId: 'p-2', upn: 'romeo.x@p.example' });
      assert.deepEqual(await s.getPuppet('juliet@xmpp.example'), { remoteJid: 'juliet@xmpp.example', userId: 'p-1', upn: 'juliet.x@p.example' });
      assert.equal((await s.getPuppetByUserId('p-2'))?.remoteJid, 'romeo@xmpp.example');
      assert.equal(await s.getPuppet('nobody@x'), undefined);
      assert.deepEqual((await s.puppets()).map((p) => p.userId), ['p-1', 'p-2']);
    });

    it('creates and updates pairs partially, and finds them by chat, user and remote JID', async () => {
      const p0 = await s.updatePair(key, {});
      assert.deepEqual(p0, { ...key, chatId: undefined, subFrom: false, subTo: false, subToPending: false });
      await s.updatePair(key, { chatId: '19:c1', subFrom: true });
      const p = await s.updatePair(key, { subToPending: true });
      assert.deepEqual(p, { ...key, chatId: '19:c1', subFrom: true, subTo: false, subToPending: true });
      assert.deepEqual(await s.findPairByChat('19:c1'), p);
      await s.updatePair({ teamsUserId: 'u-bob', remoteJid: 'juliet@xmpp.example' }, { subTo: true });
      assert.equal((await s.pairsOfTeamsUser('u-alice')).length, 1);
      assert.equal((await s.pairsOfRemote('juliet@xmpp.example')).length, 2);
      assert.deepEqual(await s.watchedTeamsUsers(), ['u-alice']);
      assert.deepEqual((await s.pairsWithSubTo()).map((x) => x.teamsUserId), ['u-bob']);
    });

    it('enqueues outbound messages once per dedup key, in order, and tracks delivery', async () => {
      const a = await s.enqueueOutbound(msg({ dedupKey: 'k1', stanzaId: 'a' }), 1000);
      const again = await s.enqueueOutbound(msg({ dedupKey: 'k1', stanzaId: 'a' }), 1001);
      assert.equal(a.inserted, true);
      assert.equal(again.inserted, false);
      assert.equal(again.row.id, a.row.id);
      assert.equal((await s.findOutbound('k1'))?.id, a.row.id);
      assert.equal(await s.findOutbound('unknown'), undefined);
      const b = await s.enqueueOutbound(msg({ stanzaId: 'b' }), 1002);
      const c = await s.enqueueOutbound(msg({ stanzaId: 'c', replyToTeamsId: 'tm-0' }), 1003);
      assert.equal(c.row.replyToTeamsId, 'tm-0');
      assert.equal(b.row.replyToTeamsId, undefined);
      assert.equal(a.row.origin, undefined);
      assert.deepEqual((await s.pendingOutbound(key)).map((r) => r.stanzaId), ['a', 'b', 'c']);
      // What a pair actor has not taken in yet: above an id, oldest first, at most a limit.
      assert.deepEqual((await s.pendingOutbound(key, { afterId: a.row.id, limit: 1 })).map((r) => r.stanzaId), ['b']);
      assert.deepEqual((await s.pendingOutbound(key, { afterId: a.row.id, limit: 10 })).map((r) => r.stanzaId), ['b', 'c']);
      assert.deepEqual(await s.pendingOutbound(key, { afterId: c.row.id, limit: 10 }), []);
      assert.equal(a.row.body, 'Grüße 👋 <b>');
      assert.equal(a.row.sendingSince, undefined);

      assert.equal(a.row.createdAt, 1000);
      assert.equal(await s.markOutboundSending(key, 2000), c.row.id);
      await s.markOutboundSending(key, 2500); // the first mark's time is kept
      assert.equal((await s.pendingOutbound(key))[0]?.sendingSince, 2000);
      await s.markOutboundRetry(a.row.id, 'HTTP 503', 5000);
      const retried = (await s.pendingOutbound(key))[0];
      assert.deepEqual([retried?.attempts, retried?.nextAttemptAt, retried?.lastError, retried?.sendingSince], [1, 5000, 'HTTP 503', 2000]);
      assert.deepEqual(await s.pairsWithDueOutbound(4999, 10), [{ teamsUserId: key.teamsUserId, remoteJid: key.remoteJid }]); // b and c are due
      await s.markOutboundDelivered(a.row.id, 'tm-1', 6000);
      await s.markOutboundDead(b.row.id, 'rejected', 6001);
      assert.deepEqual((await s.pendingOutbound(key)).map((r) => r.stanzaId), ['c']);
      const delivered = await s.enqueueOutbound(msg({ dedupKey: 'k1' }), 7000);
      assert.deepEqual([delivered.inserted, delivered.row.state, delivered.row.teamsMessageId, delivered.row.body, delivered.row.sendingSince], [false, 'delivered', 'tm-1', '', undefined]);
      await s.markOutboundDelivered(c.row.id, 'tm-2', 6002);
      assert.deepEqual(await s.pairsWithDueOutbound(Number.MAX_SAFE_INTEGER, 10), []);
    });

    it('marks every pending row of a pair as sending in one write, and only rows not marked yet', async () => {
      const other = { teamsUserId: 'u-mark', remoteJid: 'romeo@xmpp.example' };
      assert.equal(await s.markOutboundSending(other, 100), 0);
      const a = await s.enqueueOutbound(msg({ ...other, stanzaId: 'a' }), 110);
      const b = await s.enqueueOutbound(msg({ ...other, stanzaId: 'b' }), 120);
      assert.equal(await s.markOutboundSending(other, 200), b.row.id);
      const c = await s.enqueueOutbound(msg({ ...other, stanzaId: 'c' }), 210);
      assert.equal(await s.markOutboundSending(other, 300), c.row.id);
      assert.deepEqual((await s.pendingOutbound(other)).map((r) => [r.stanzaId, r.sendingSince, r.createdAt]), [['a', 200, 110], ['b', 200, 120], ['c', 300, 210]]);
      assert.deepEqual((await s.pendingOutbound(key)).map((r) => r.sendingSince), [], 'other pairs are untouched');
      assert.deepEqual([a.row.sendingSince, b.row.sendingSince], [undefined, undefined]);
    });

    it('records each notification once by dedup key and hands out due ones in order', async () => {
      const n = (dedupKey: string) => ({ dedupKey, kind: 'chatMessage' as const, subscriptionId: 'sub', resource: `chats('c')/messages('${dedupKey}')`, changeType: 'created', detail: undefined });
      assert.equal(await s.recordNotification(n('m1'), 100), true);
      assert.equal(await s.recordNotification(n('m1'), 101), false);
      assert.equal(await s.recordNotification(n('m2'), 102), true);
      const due = await s.dueNotifications(200, 10);
      assert.deepEqual(due.map((r) => r.dedupKey), ['m1', 'm2']);
      assert.deepEqual((await s.dueNotifications(200, 10, due[0]!.id)).map((r) => r.dedupKey), ['m2'], 'the page after m1');
      await s.markNotificationRetry(due[0]!.id, 'link down', 500);
      assert.deepEqual((await s.dueNotifications(200, 10)).map((r) => r.dedupKey), ['m2']);
      await s.markNotificationDone(due[1]!.id, 300);
      await s.markNotificationDead(due[0]!.id, 'gave up', 600);
      assert.deepEqual(await s.dueNotifications(Number.MAX_SAFE_INTEGER, 10), []);
      assert.equal(await s.recordNotification(n('m1'), 700), false, 'a redelivery after processing is still a duplicate');
    });

    it('remembers relayed message ids once', async () => {
      assert.equal(await s.recordRelayed({ chatId: 'c', teamsMessageId: 'm', direction: 'teams_to_xmpp', xmppId: 'm' }, 100), true);
      assert.equal(await s.recordRelayed({ chatId: 'c', teamsMessageId: 'm', direction: 'teams_to_xmpp', xmppId: 'm' }, 101), false);
      assert.equal((await s.findRelayed('c', 'm'))?.direction, 'teams_to_xmpp');
      assert.equal(await s.findRelayed('c', 'other'), undefined);
      await s.recordRelayed({ chatId: 'c', teamsMessageId: 'm2', direction: 'xmpp_to_teams', xmppId: 'x-1' }, 102);
      assert.equal((await s.findRelayedByXmppId('c', 'x-1'))?.teamsMessageId, 'm2');
      assert.equal(await s.findRelayedByXmppId('other-chat', 'x-1'), undefined);
    });

    it('keeps one Graph subscription per purpose', async () => {
      const sub = { id: 's1', purpose: 'messages:p-1', resource: '/users/p-1/chats/getAllMessages', changeType: 'created', ownerUserId: 'p-1', clientState: 'cs', expiresAt: 10 };
      await s.saveSubscription(sub);
      await s.saveSubscription({ ...sub, expiresAt: 20 });
      assert.equal((await s.findSubscription('s1'))?.expiresAt, 20);
      await s.saveSubscription({ ...sub, id: 's2' });
      assert.deepEqual((await s.subscriptions()).map((x) => x.id), ['s2']);
      await s.deleteSubscription('s2');
      assert.deepEqual(await s.subscriptions(), []);
    });

    it('prunes finished rows and old relayed ids, and nothing pending', async () => {
      const pending = await s.enqueueOutbound(msg({ stanzaId: 'pending' }), 1);
      const r = await s.prune({ delivered: Number.MAX_SAFE_INTEGER, dead: Number.MAX_SAFE_INTEGER, relayed: Number.MAX_SAFE_INTEGER });
      assert.equal(r.outbox, 3, JSON.stringify(r)); // a delivered, b dead, c delivered
      assert.equal(r.inbox, 2);
      assert.equal(r.relayed, 2);
      assert.deepEqual((await s.pendingOutbound(key)).map((x) => x.id), [pending.row.id]);
      assert.equal((await s.enqueueOutbound(msg({ dedupKey: 'k1' }), 2)).inserted, true, 'a pruned dedup key is forgotten');
    });

    it('hands out due rows without their encrypted resource data, read by id when needed', async () => {
      const encrypted = JSON.stringify({ data: 'AAAA', dataKey: 'BBBB', dataSignature: 'CCCC', encryptionCertificateId: 'cert-1' });
      const rows = [
        { dedupKey: 'enc-rich', kind: 'chatMessage' as const, resource: "chats('c')/messages('1')", detail: encrypted },
        { dedupKey: 'enc-presence', kind: 'presence' as const, resource: "communications/presences('u')", detail: encrypted },
        { dedupKey: 'enc-plain', kind: 'chatMessage' as const, resource: "chats('c')/messages('2')", detail: undefined },
        { dedupKey: 'enc-life', kind: 'lifecycle' as const, resource: 'chats', detail: 'missed' },
        // A resend's schedule is JSON too, and is not resource data: it comes with the row.
        { dedupKey: 'enc-again', kind: 'resend' as const, resource: "chats('c')/messages('3')", detail: '{"bounces":1}' },
      ];
      for (const r of rows) assert.equal(await s.recordNotification({ ...r, subscriptionId: 'sub', changeType: 'created' }, 100), true);
      const due = await s.dueInboxRows(200, 10);
      assert.deepEqual(
        due.map((r) => [r.dedupKey, r.encrypted, r.detail]),
        [
          ['enc-rich', true, undefined],
          ['enc-presence', true, undefined],
          ['enc-plain', false, undefined],
          ['enc-life', false, 'missed'],
          ['enc-again', false, '{"bounces":1}'],
        ],
      );
      assert.deepEqual((await s.dueNotifications(200, 10)).map((r) => r.id), due.map((r) => r.id), 'the same rows as dueNotifications, in order');
      assert.deepEqual((await s.dueInboxRows(200, 10, due[1]!.id)).map((r) => r.dedupKey), ['enc-plain', 'enc-life', 'enc-again'], 'the page after the second');
      const [rich, presence, basic] = due;
      const details = await s.notificationDetails([rich!.id, basic!.id, presence!.id, 999_999]);
      assert.deepEqual([...details.entries()].sort(([a], [b]) => a - b), [[rich!.id, encrypted], [presence!.id, encrypted]], 'a row without a detail, or gone, is missing');
      assert.deepEqual(await s.notificationDetails([]), new Map());
      await s.markNotificationDone(rich!.id, 300);
      assert.equal((await s.notificationDetails([rich!.id])).size, 0, 'a processed row keeps no content');
      assert.deepEqual((await s.dueInboxRows(200, 10)).map((r) => r.dedupKey), ['enc-presence', 'enc-plain', 'enc-life', 'enc-again']);
      for (const r of due.slice(1)) await s.markNotificationDone(r.id, 300);
    });

    it('tells which messages of a chat were relayed, many in one query', async () => {
      await s.recordRelayed({ chatId: 'among', teamsMessageId: '1700000000001', direction: 'xmpp_to_teams', xmppId: 'a' }, 100);
      await s.recordRelayed({ chatId: 'among', teamsMessageId: '1700000000003', direction: 'teams_to_xmpp', xmppId: 'c' }, 100);
      await s.recordRelayed({ chatId: 'elsewhere', teamsMessageId: '1700000000002', direction: 'xmpp_to_teams', xmppId: 'b' }, 100);
      const ids = ['1700000000001', '1700000000002', '1700000000003', '1700000000004'];
      assert.deepEqual([...(await s.relayedAmong('among', ids))].sort(), ['1700000000001', '1700000000003']);
      assert.deepEqual([...(await s.relayedAmong('elsewhere', ids))], ['1700000000002']);
      assert.equal((await s.relayedAmong('among', [])).size, 0);
    });

    it('finds a relayed message by its XMPP id whether or not that is its Teams id, the latest first', async () => {
      await s.recordRelayed({ chatId: 'cx', teamsMessageId: '1700000000001', direction: 'teams_to_xmpp', xmppId: '1700000000001' }, 100);
      await s.recordRelayed({ chatId: 'cx', teamsMessageId: '1700000000002', direction: 'xmpp_to_teams', xmppId: 'client-7' }, 101);
      await s.recordRelayed({ chatId: 'cx', teamsMessageId: '1700000000003', direction: 'teams_to_xmpp', xmppId: undefined }, 102);
      assert.equal((await s.findRelayedByXmppId('cx', '1700000000001'))?.direction, 'teams_to_xmpp');
      assert.equal((await s.findRelayedByXmppId('cx', 'client-7'))?.teamsMessageId, '1700000000002');
      assert.equal(await s.findRelayedByXmppId('cx', '1700000000003'), undefined, 'relayed without an XMPP id');
      assert.equal(await s.findRelayedByXmppId('other', '1700000000001'), undefined);
      // An XMPP client may use any id, even one that is a Teams id of the chat: the latest relayed with it wins.
      await s.recordRelayed({ chatId: 'cx', teamsMessageId: '1700000000004', direction: 'xmpp_to_teams', xmppId: '1700000000001' }, 103);
      assert.equal((await s.findRelayedByXmppId('cx', '1700000000001'))?.teamsMessageId, '1700000000004');
    });

    it('holds a scheduled notification until it is due, once per dedup key', async () => {
      const n = { dedupKey: 'later-1', kind: 'chatMessage' as const, subscriptionId: '', resource: "chats('c')/messages('m')", changeType: 'resend', detail: '{"x":1}' };
      assert.equal(await s.scheduleNotification(n, 5_000, 1_000), true);
      assert.equal(await s.scheduleNotification(n, 9_000, 1_001), false, 'the same key again is a duplicate');
      assert.deepEqual((await s.dueNotifications(4_999, 10)).filter((r) => r.dedupKey === 'later-1'), []);
      const due = (await s.dueNotifications(5_000, 10)).filter((r) => r.dedupKey === 'later-1');
      assert.deepEqual(due.map((r) => [r.changeType, r.detail, r.nextAttemptAt]), [['resend', '{"x":1}', 5_000]]);
      await s.markNotificationDone(due[0]!.id, 5_001);
    });

    it('keeps the whitelist, the audit log and the licence seat history', async () => {
      await s.putWhitelistEntry({ kind: 'domain', value: '*.partner.example', addedAt: 1, addedBy: 'admin' });
      await s.putWhitelistEntry({ kind: 'domain', value: '*.partner.example', addedAt: 2, addedBy: 'admin' });
      await s.putWhitelistEntry({ kind: 'user', value: 'alice@contoso.com', addedAt: 3, addedBy: 'admin' });
      assert.deepEqual((await s.whitelist()).map((e) => `${e.kind}:${e.value}`), ['domain:*.partner.example', 'user:alice@contoso.com']);
      assert.equal(await s.deleteWhitelistEntry('user', 'alice@contoso.com'), true);
      assert.equal(await s.deleteWhitelistEntry('user', 'alice@contoso.com'), false);
      await s.appendAudit({ at: 1, actor: 'admin', action: 'whitelist.add', subject: 'domain:*.partner.example', detail: undefined });
      await s.appendAudit({ at: 2, actor: 'admin', action: 'whitelist.remove', subject: 'user:alice@contoso.com', detail: 'left the project' });
      assert.deepEqual((await s.auditLog(10)).map((e) => e.action), ['whitelist.remove', 'whitelist.add']);
      await s.recordSeatEvent({ at: 1, nodeId: 'n1', licenceId: 'L1', event: 'claimed' });
      await s.recordSeatEvent({ at: 2, nodeId: 'n1', licenceId: 'L1', event: 'released' });
      assert.deepEqual((await s.seatHistory(1)).map((e) => e.event), ['released']);
    });

    // ---- Operator console (issue 18) ----

    it('lists dead letters newest first, retries them as fresh rows and discards them', async () => {
      const other = { teamsUserId: 'u-dl', remoteJid: 'romeo@dl.example' };
      const x = await s.enqueueOutbound({ ...msg(), ...other, stanzaId: 'dl-1', body: 'kept?' }, 10_000);
      await s.markOutboundRetry(x.row.id, 'HTTP 503', 10_001);
      await s.markOutboundDead(x.row.id, 'HTTP 403 Forbidden', 10_002);
      await s.recordNotification({ dedupKey: 'dl-n', kind: 'chatMessage', subscriptionId: 'sub', resource: "chats('c9')/messages('m9')", changeType: 'created', detail: undefined }, 10_003);
      const n = (await s.dueNotifications(10_003, 100)).find((r) => r.dedupKey === 'dl-n');
      assert.ok(n);
      await s.markNotificationDead(n.id, 'chat not found', 10_004);

      const dead = await s.deadLetters({ limit: 10 });
      const mine = dead.filter((d) => (d.queue === 'outbox' && d.id === x.row.id) || (d.queue === 'inbox' && d.id === n.id));
      assert.deepEqual(mine.map((d) => [d.queue, d.at, d.attempts, d.lastError]), [['inbox', 10_004, 1, 'chat not found'], ['outbox', 10_002, 2, 'HTTP 403 Forbidden']]);
      const out = mine[1];
      assert.ok(out?.queue === 'outbox');
      assert.deepEqual([out.remoteJid, out.sender, out.stanzaId, out.body], [other.remoteJid, 'juliet@xmpp.example/balcony', 'dl-1', undefined], 'the body is erased (keepBodies off)');
      assert.deepEqual((await s.deadLetters({ queue: 'inbox', limit: 10 })).map((d) => d.queue), ['inbox']);
      assert.deepEqual(await s.deadLetters({ queue: 'outbox', beforeId: x.row.id, limit: 10 }).then((r) => r.some((d) => d.id === x.row.id)), false);

      assert.deepEqual(await s.retryDeadLetter({ queue: 'outbox', id: x.row.id }, 11_000), { retried: false, reason: 'no-body' });
      assert.deepEqual(await s.retryDeadLetter({ queue: 'outbox', id: 999_999 }, 11_000), { retried: false, reason: 'not-found' });
      assert.deepEqual(await s.retryDeadLetter({ queue: 'inbox', id: n.id }, 11_000), { retried: true, pair: undefined });
      assert.deepEqual(await s.retryDeadLetter({ queue: 'inbox', id: n.id }, 11_001), { retried: false, reason: 'not-dead' });
      const again = (await s.dueNotifications(11_000, 100)).find((r) => r.id === n.id);
      assert.deepEqual([again?.state, again?.attempts, again?.nextAttemptAt], ['pending', 0, 11_000]);

      assert.equal(await s.discardDeadLetter({ queue: 'outbox', id: x.row.id }), true);
      assert.equal(await s.discardDeadLetter({ queue: 'outbox', id: x.row.id }), false);
      assert.equal(await s.discardDeadLetter({ queue: 'inbox', id: n.id }), false, 'a pending row is not a dead letter');
      await s.markNotificationDone(n.id, 11_002);
    });

    it('searches the audit log by text, actor, action prefix and time, and pages by id', async () => {
      const base = 50_000;
      await s.appendAudit({ at: base + 1, actor: 'token:Ops Olga', action: 'console.sign-in', subject: 'console', detail: undefined });
      await s.appendAudit({ at: base + 2, actor: 'alice@contoso.example', action: 'whitelist.add', subject: 'domain:partner_100%.example', detail: 'Ticket CHG-42' });
      await s.appendAudit({ at: base + 3, actor: 'alice@contoso.example', action: 'dead-letter.retry', subject: 'outbox:7', detail: undefined });
      const since = { from: base, limit: 10 };
      assert.deepEqual((await s.searchAudit({ ...since, text: 'chg-42' })).map((e) => e.action), ['whitelist.add'], 'case-insensitive, in detail');
      assert.deepEqual((await s.searchAudit({ ...since, text: '_100%' })).map((e) => e.action), ['whitelist.add'], 'LIKE wildcards are literal');
      assert.deepEqual((await s.searchAudit({ ...since, text: '1_0' })).length, 0);
      assert.deepEqual((await s.searchAudit({ ...since, actor: 'alice@contoso.example' })).map((e) => e.action), ['dead-letter.retry', 'whitelist.add']);
      assert.deepEqual((await s.searchAudit({ ...since, action: 'whitelist.' })).map((e) => e.action), ['whitelist.add']);
      assert.deepEqual((await s.searchAudit({ ...since, action: 'whitelist' })).length, 0, 'without a dot, the action is exact');
      assert.deepEqual((await s.searchAudit({ from: base + 2, to: base + 3, limit: 10 })).map((e) => e.at), [base + 2]);
      const page1 = await s.searchAudit({ ...since, limit: 2 });
      assert.deepEqual(page1.map((e) => e.at), [base + 3, base + 2]);
      const page2 = await s.searchAudit({ ...since, limit: 2, beforeId: page1[1]?.id });
      assert.deepEqual(page2.map((e) => e.at), [base + 1]);
    });

    it('adds up refusal tallies per minute and domain, and forgets old minutes', async () => {
      const m = 60_000;
      await s.addRefusalCounts(
        [
          { minute: 10 * m, domain: 'stranger.example', direction: 'xmpp_to_teams', reason: 'domain', count: 3 },
          { minute: 11 * m, domain: 'stranger.example', direction: 'xmpp_to_teams', reason: 'domain', count: 2 },
          { minute: 11 * m, domain: 'partner.example', direction: 'xmpp_to_teams', reason: 'throttle:pair:refused', count: 1 },
        ],
        0,
      );
      await s.addRefusalCounts([{ minute: 11 * m, domain: 'stranger.example', direction: 'xmpp_to_teams', reason: 'domain', count: 4 }], 0);
      assert.deepEqual(await s.refusalTotals(10 * m, 10), [
        { domain: 'stranger.example', direction: 'xmpp_to_teams', reason: 'domain', count: 9, lastMinute: 11 * m },
        { domain: 'partner.example', direction: 'xmpp_to_teams', reason: 'throttle:pair:refused', count: 1, lastMinute: 11 * m },
      ]);
      assert.equal((await s.refusalTotals(11 * m, 10))[0]?.count, 6);
      await s.addRefusalCounts([], 11 * m);
      assert.equal((await s.refusalTotals(0, 10))[0]?.count, 6, 'minute 10 was dropped');
    });

    it("lists a remote domain's users with their Teams partners and last activity", async () => {
      await s.updatePair({ teamsUserId: 'u-1', remoteJid: 'ann@far.example' }, { subFrom: true });
      await s.updatePair({ teamsUserId: 'u-2', remoteJid: 'ann@far.example' }, {});
      await s.updatePair({ teamsUserId: 'u-1', remoteJid: 'ben@far.example' }, {});
      await s.updatePair({ teamsUserId: 'u-1', remoteJid: 'cat@notfar.example' }, {});
      await s.enqueueOutbound({ ...msg(), teamsUserId: 'u-1', remoteJid: 'ben@far.example', stanzaId: 'late' }, Date.now() + 60_000);
      const users = await s.remoteUsersOfDomain('far.example', 10);
      assert.deepEqual(
        users.map((u) => [u.remoteJid, u.teamsPartners, u.subscribed]),
        [
          ['ben@far.example', 1, false],
          ['ann@far.example', 2, true],
        ],
      );
      assert.ok((users[0]?.lastActivityAt ?? 0) > Date.now(), 'the message accepted counts as activity');
      assert.deepEqual((await s.remoteUsersOfDomain('far.example', 1)).length, 1);
    });

    // ---- Skype for Business pairs (issue 17) ----
    it('keeps SfB pair states by (SIP address, JID), replaces them, and pages their keys in order', async () => {
      const a = { sfbUri: 'sip:carol@contoso.example', remoteJid: 'juliet@xmpp.example' };
      const b = { sfbUri: 'sip:carol@contoso.example', remoteJid: 'romeo@xmpp.example' };
      const c = { sfbUri: 'sip:dan@contoso.example', remoteJid: 'juliet@xmpp.example' };
      assert.equal(await s.getSfbPairState(a), undefined);
      await s.putSfbPairState(c, '{"v":1}', 1);
      await s.putSfbPairState(a, '{"v":1}', 1);
      await s.putSfbPairState(b, '{"big":"' + 'x'.repeat(10_000) + '"}', 2);
      await s.putSfbPairState(a, '{"v":2}', 3);
      assert.equal(await s.getSfbPairState(a), '{"v":2}');
      assert.equal((await s.getSfbPairState(b))?.length, 10_010);
      assert.deepEqual(await s.sfbPairKeys(undefined, 2), [a, b]);
      assert.deepEqual(await s.sfbPairKeys(b, 2), [c]);
      assert.deepEqual(await s.sfbPairKeys(c, 2), []);
    });

    // ---- Webhook intake and presence watching (issue 13: webhook) --------------------------------------------
    it('records a webhook batch in one call, in order, each key once', async () => {
      const n = (dedupKey: string) => ({ dedupKey, kind: 'chatMessage' as const, subscriptionId: 'sub', resource: `chats('c')/messages('${dedupKey}')`, changeType: 'created', detail: undefined });
      assert.deepEqual(await s.recordNotifications([], 100), []);
      assert.deepEqual(await s.recordNotifications([n('b1'), n('b2'), n('b1'), n('b3')], 100), [true, true, false, true]);
      assert.deepEqual(await s.recordNotifications([n('b3'), n('b4')], 101), [false, true]);
      const due = (await s.dueNotifications(200, 100)).map((r) => r.dedupKey).filter((k) => k.startsWith('b'));
      assert.deepEqual(due, ['b1', 'b2', 'b3', 'b4']);
    });

    it('lists who watches whose presence: pairs with subFrom, by the XMPP user account', async () => {
      await s.putPuppet({ remoteJid: 'w1@xmpp.example', userId: 'pw1', upn: 'w1@p.example' });
      await s.putPuppet({ remoteJid: 'w2@xmpp.example', userId: 'pw2', upn: 'w2@p.example' });
      await s.updatePair({ teamsUserId: 'tw-alice', remoteJid: 'w1@xmpp.example' }, { subFrom: true });
      await s.updatePair({ teamsUserId: 'tw-alice', remoteJid: 'w2@xmpp.example' }, { subFrom: true });
      await s.updatePair({ teamsUserId: 'tw-bob', remoteJid: 'w2@xmpp.example' }, { subFrom: false, subTo: true });
      await s.updatePair({ teamsUserId: 'tw-carol', remoteJid: 'nobody@xmpp.example' }, { subFrom: true });
      const watches = (await s.presenceWatchers()).filter((w) => w.teamsUserId.startsWith('tw-'));
      assert.deepEqual(watches, [
        { teamsUserId: 'tw-alice', puppetUserId: 'pw1' },
        { teamsUserId: 'tw-alice', puppetUserId: 'pw2' },
      ]);
    });

    // ---- hostile input (issue 12): accounts per remote domain, pairs nobody uses ----

    it('counts accounts per remote domain', async () => {
      // Other cases of this suite store accounts too: the counts are taken relative to what is there.
      const total = await s.countPuppets();
      await s.putPuppet({ remoteJid: 'a@counted.example', userId: 'p-10', upn: 'a.x@p.example' });
      await s.putPuppet({ remoteJid: 'b@counted.example', userId: 'p-11', upn: 'b.x@p.example' });
      await s.putPuppet({ remoteJid: 'c@sub.counted.example', userId: 'p-12', upn: 'c.x@p.example' });
      assert.equal(await s.countPuppets('counted.example'), 2);
      assert.equal(await s.countPuppets('sub.counted.example'), 1);
      assert.equal(await s.countPuppets('example'), 0, 'a domain, not a suffix');
      assert.equal(await s.countPuppets(), total + 3);
      const perDomain = await s.puppetsPerDomain();
      assert.deepEqual(perDomain.filter((d) => d.domain.endsWith('counted.example')), [
        { domain: 'counted.example', accounts: 2 },
        { domain: 'sub.counted.example', accounts: 1 },
      ]);
      assert.equal(perDomain.reduce((n, d) => n + d.accounts, 0), total + 3);
    });

    it('finds pairs unused since a time, except those with messages pending, and deletes them', async () => {
      const old = { teamsUserId: 'u-old', remoteJid: 'x@partner.example' };
      const used = { teamsUserId: 'u-used', remoteJid: 'x@partner.example' };
      await s.updatePair(old, { subFrom: true });
      await s.updatePair(used, {});
      await s.touchPair(old, 1_000);
      await s.touchPair(used, 1_000);
      await s.touchPair(used, 5_000);
      await s.touchPair(key, 1_000); // has a pending outbox row (prune test above)
      assert.deepEqual((await s.unusedPairs(2_000, 10)).map((p) => p.teamsUserId), ['u-old']);
      await s.deletePair(old);
      assert.equal(await s.getPair(old), undefined);
      assert.deepEqual(await s.unusedPairs(2_000, 10), []);
      assert.equal((await s.getPair(key))?.teamsUserId, key.teamsUserId);
    });

    const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    it('gives writes issued together (one group commit) the results they would have one after the other', async () => {
      const k = { teamsUserId: 'u-group', remoteJid: 'romeo@xmpp.example' };
      // 30 enqueues at once, two of them sharing a dedup key, in a known order.
      const enqueued = await Promise.all(
        Array.from({ length: 30 }, (_, i) => s.enqueueOutbound(msg({ ...k, stanzaId: `g${i}`, dedupKey: i === 7 || i === 9 ? 'g-shared' : `g-${i}`, origin: { correlationId: `gc-${i}`, traceparent: i % 2 ? TRACEPARENT : undefined } }), 10_000 + i)),
      );
      assert.deepEqual(enqueued.map((e) => e.inserted), enqueued.map((_, i) => i !== 9));
      assert.equal(enqueued[9]?.row.id, enqueued[7]?.row.id, 'the second item with a dedup key gets the first one\'s row');
      const pending = await s.pendingOutbound(k);
      assert.deepEqual(pending.map((r) => r.stanzaId), Array.from({ length: 30 }, (_, i) => `g${i}`).filter((_, i) => i !== 9), 'rows keep the order they were issued in');
      assert.deepEqual(pending.map((r) => r.id), [...pending.map((r) => r.id)].sort((a, b) => a - b));
      // The correlation id and trace each message came with, for whoever delivers it later.
      const n0 = (r: (typeof pending)[number]) => Number(r.stanzaId?.slice(1));
      assert.deepEqual(pending.map((r) => r.origin), pending.map((r) => ({ correlationId: `gc-${n0(r)}`, traceparent: n0(r) % 2 ? TRACEPARENT : undefined })), 'each row keeps its own origin');
      // Their outcomes together: delivered and relayed, one relayed id twice.
      const relayed = await Promise.all([
        ...pending.slice(0, 10).map((r) => s.markOutboundDelivered(r.id, `gt-${r.id}`, 20_000)),
        ...pending.slice(0, 10).map((r) => s.recordRelayed({ chatId: 'g-chat', teamsMessageId: `gt-${r.id}`, direction: 'xmpp_to_teams', xmppId: r.stanzaId }, 20_000)),
        s.recordRelayed({ chatId: 'g-chat', teamsMessageId: `gt-${pending[0]?.id}`, direction: 'xmpp_to_teams', xmppId: undefined }, 20_001),
      ]);
      assert.deepEqual(relayed.slice(10), [...Array.from({ length: 10 }, () => true), false]);
      assert.equal((await s.pendingOutbound(k)).length, 19);
      assert.equal((await s.findRelayed('g-chat', `gt-${pending[3]?.id}`))?.xmppId, 'g3');
      // Notifications recorded together, one twice, then done together.
      const n = (d: string) => ({ dedupKey: d, kind: 'chatMessage' as const, subscriptionId: 'g-sub', resource: `chats('g')/messages('${d}')`, changeType: 'created', detail: undefined });
      const recorded = await Promise.all(['gn1', 'gn2', 'gn1', 'gn3'].map((d, i) => s.recordNotification(n(d), 30_000 + i)));
      assert.deepEqual(recorded, [true, true, false, true]);
      const due = (await s.dueNotifications(40_000, 100)).filter((r) => r.subscriptionId === 'g-sub');
      assert.deepEqual(due.map((r) => r.dedupKey), ['gn1', 'gn2', 'gn3']);
      await Promise.all(due.map((r) => s.markNotificationDone(r.id, 40_000)));
      assert.deepEqual((await s.dueNotifications(50_000, 100)).filter((r) => r.subscriptionId === 'g-sub'), []);
    });
  });
}
