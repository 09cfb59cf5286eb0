/**
 * The Store contract: one suite, run against every implementation (SQLite always, SQL Server when MSSQL_URL is
 * set), so what is tested on SQLite is what runs on SQL Server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { OutboundMessage, Store } from '../../src/store/store.js';

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
      assert.equal(await s.schemaVersion(), 4);
      await s.ping();
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
      assert.deepEqual((await s.pendingOutbound(key)).map((r) => r.stanzaId), ['a', 'b', 'c']);
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

    it('gives writes issued together (one group commit) the results they would have one after the other', async () => {
      const k = { teamsUserId: 'u-group', remoteJid: 'romeo@xmpp.example' };
      // 30 enqueues at once, two of them sharing a dedup key, in a known order.
      const enqueued = await Promise.all(
        Array.from({ length: 30 }, (_, i) => s.enqueueOutbound(msg({ ...k, stanzaId: `g${i}`, dedupKey: i === 7 || i === 9 ? 'g-shared' : `g-${i}` }), 10_000 + i)),
      );
      assert.deepEqual(enqueued.map((e) => e.inserted), enqueued.map((_, i) => i !== 9));
      assert.equal(enqueued[9]?.row.id, enqueued[7]?.row.id, 'the second item with a dedup key gets the first one\'s row');
      const pending = await s.pendingOutbound(k);
      assert.deepEqual(pending.map((r) => r.stanzaId), Array.from({ length: 30 }, (_, i) => `g${i}`).filter((_, i) => i !== 9), 'rows keep the order they were issued in');
      assert.deepEqual(pending.map((r) => r.id), [...pending.map((r) => r.id)].sort((a, b) => a - b));
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
