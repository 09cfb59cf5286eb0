/**
 * The inbox processor hands the new messages of one chat that came together to its pair as one actor message
 * ('teams-messages'), and finishes each notification as the pair's outcome says: those relayed are done, the one
 * that must wait is retried (the chat's later ones wait behind it, untouched), and the next round starts from it.
 * The store is real (SQLite in memory) and the notifications carry resource data encrypted as Graph does; the
 * router is the pair, answering as the test says.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { generate } from 'selfsigned';
import type { Outcome, PairMessage } from '../../src/actors/user-pair/messages.js';
import type { ActorRouter } from '../../src/cluster/actor-router.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { EncryptedContent } from '../../src/protocol/graph-notification.js';
import { encryptLikeGraph } from '../support/graph-encryption.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { PairKey, Store } from '../../src/store/store.js';
import { NotificationProcessor } from '../../src/teams/notification-processor.js';
import { ResourceDecrypter } from '../../src/teams/resource-decrypter.js';
import { loadNotificationCertificate, type NotificationCertificate } from '../../src/teams/rich-notifications.js';
import type { SubscriptionManager } from '../../src/teams/subscription-manager.js';
import type { TeamsPort } from '../../src/teams/teams-port.js';

const CHAT = '19:alice_puppet@unq.gbl.spaces';
const PUPPET = { remoteJid: 'juliet@xmpp.example', userId: 'puppet-juliet', upn: 'juliet_xmpp.example@xmpp.contoso.example' };
const KEY: PairKey = { teamsUserId: 'alice-id', remoteJid: PUPPET.remoteJid };

/** Graph's encryption of resource data, to this test's certificate. */
function encrypt(resource: unknown, cert: NotificationCertificate): EncryptedContent {
  return encryptLikeGraph(resource, publicPem, cert);
}

/** The decrypting thread, counting what it is asked to decrypt. */
class CountingDecrypter extends ResourceDecrypter {
  asked = 0;
  override decrypt(...args: Parameters<ResourceDecrypter['decrypt']>): ReturnType<ResourceDecrypter['decrypt']> {
    this.asked++;
    return super.decrypt(...args);
  }
}

/** The certificate's public key, as Graph has it from the subscription. */
let publicPem = '';

describe('NotificationProcessor: new messages of a chat go to their pair together', () => {
  const store = SqliteStore.open(':memory:');
  let cert: NotificationCertificate;
  let now = Date.now();
  const calls: PairMessage[] = [];
  let answers: Outcome[] = [];
  const router = {
    pair: async (key: PairKey, message: PairMessage): Promise<Outcome> => {
      assert.deepEqual([key.teamsUserId, key.remoteJid], [KEY.teamsUserId, KEY.remoteJid]);
      calls.push(message);
      return answers.shift() ?? { status: 'done' };
    },
  } as unknown as ActorRouter;
  let processor: NotificationProcessor;
  const decrypter = new CountingDecrypter();
  // As in a cluster (teams-side.ts): the store says which messages were relayed already.
  let relayedAmong = (chatId: string, ids: readonly string[]): Promise<ReadonlySet<string>> => store.relayedAmong(chatId, ids);
  // The inbox rows whose encrypted content the processor read (it reads due rows without it).
  let contentRead: number[] = [];
  const spiedStore: Store = Object.assign(Object.create(store) as Store, {
    notificationDetails: (ids: readonly number[]) => {
      contentRead.push(...ids);
      return store.notificationDetails(ids);
    },
  });

  before(async () => {
    const pems = await generate([{ name: 'commonName', value: 'xtg notifications' }], { keySize: 2048, algorithm: 'sha256' });
    publicPem = pems.public;
    cert = loadNotificationCertificate('n-1', pems.cert, pems.private);
    await store.putPuppet(PUPPET);
    await store.saveSubscription({ id: 'sub-1', purpose: `messages:${PUPPET.userId}`, resource: `/users/${PUPPET.userId}/chats/getAllMessages`, changeType: 'created', ownerUserId: PUPPET.userId, clientState: 's', expiresAt: now + 3_600_000 });
    await store.updatePair(KEY, { chatId: CHAT });
    processor = new NotificationProcessor({
      store: spiedStore,
      teams: {} as TeamsPort,
      router,
      subscriptions: { rotateCertificate: async () => undefined } as unknown as SubscriptionManager,
      catchUp: async () => undefined,
      certificates: new Map([[cert.id, cert]]),
      currentCertificateId: cert.id,
      decrypter,
      profileChanged: () => undefined,
      log: createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (_c, _e, cb) => cb() }) }),
      metrics: new Metrics({ defaultMetrics: false }),
      maxAttempts: 5,
      backoffInitialMs: 1000,
      backoffMaxMs: 60_000,
      pollIntervalMs: 60_000,
      now: () => now,
      relayedAmong: (chatId, messageIds) => relayedAmong(chatId, messageIds),
    });
  });
  after(async () => {
    await processor.stop();
    await decrypter.close();
    store.close();
  });

  const settled = async () => {
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 10));
      if ((processor as unknown as { running?: Promise<void> }).running === undefined) return;
    }
    throw new Error('the processor did not settle');
  };
  const notifications = (ids: readonly string[]) =>
    ids.map((id) => ({
      dedupKey: `sub-1|${id}`,
      kind: 'chatMessage' as const,
      subscriptionId: 'sub-1',
      resource: `chats('${CHAT}')/messages('${id}')`,
      changeType: 'created',
      detail: JSON.stringify(encrypt({ id, messageType: 'message', from: { user: { id: KEY.teamsUserId } }, body: { contentType: 'text', content: `text ${id}` } }, cert)),
    }));
  const states = async () => {
    const due = await store.dueNotifications(now + 10 * 60_000, 100);
    return due.map((r) => `${r.resource.split('/').pop()}:${r.attempts}`);
  };

  it('relays five notifications of one chat in one actor message; a retry at the third holds it and the two after it', async () => {
    const ids = ['m1', 'm2', 'm3', 'm4', 'm5'];
    await store.recordNotifications(notifications(ids), now);
    // The pair relays two, then the XMPP link is down.
    answers = [{ status: 'retry', reason: 'the XMPP link is down', finished: 2 }];
    processor.kick();
    await settled();
    assert.equal(calls.length, 1, 'one actor message for the five');
    const first = calls[0];
    assert.equal(first?.type, 'teams-messages');
    assert.deepEqual(first?.type === 'teams-messages' ? first.messages.map((m) => [m.messageId, m.message?.content]) : [], ids.map((id) => [id, `text ${id}`]));
    // m1 and m2 are done; m3 waits for its retry (one attempt); m4 and m5 wait behind it, untouched.
    assert.deepEqual(await states(), [`messages('m3'):1`, `messages('m4'):0`, `messages('m5'):0`]);

    // Its retry is due: the rest go together again, from m3.
    now += 2_000;
    processor.kick();
    await settled();
    assert.equal(calls.length, 2);
    const second = calls[1];
    assert.deepEqual(second?.type === 'teams-messages' ? second.messages.map((m) => m.messageId) : [], ['m3', 'm4', 'm5']);
    assert.deepEqual(await states(), []);
  });

  it('decrypts each notification once: those whose decryption started on arrival (prefetch) are not decrypted again', async () => {
    const ids = ['p1', 'p2', 'p3', 'p4'];
    const recorded = notifications(ids);
    await store.recordNotifications(recorded, now);
    const asked = decrypter.asked;
    processor.prefetch(recorded);
    assert.equal(decrypter.asked - asked, ids.length, 'the four start decrypting on arrival');
    contentRead = [];
    processor.kick();
    await settled();
    assert.equal(decrypter.asked - asked, ids.length, 'processing takes their results instead of decrypting them again');
    assert.deepEqual(contentRead, [], 'nor reads their encrypted content again');
    const last = calls.at(-1);
    assert.deepEqual(last?.type === 'teams-messages' ? last.messages.map((m) => [m.messageId, m.message?.content]) : [], ids.map((id) => [id, `text ${id}`]));
    assert.deepEqual(await states(), []);
  });
  it('in a cluster, finishes a new message relayed already (another node\'s post) without decrypting it or asking its pair', async () => {
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5'];
    // Another node posted r2 and r4; their relayed ids committed after the webhook recorded the notifications.
    for (const id of ['r2', 'r4']) await store.recordRelayed({ chatId: CHAT, teamsMessageId: id, direction: 'xmpp_to_teams', xmppId: `x-${id}` }, now);
    const recorded = notifications(ids);
    await store.recordNotifications(recorded, now);
    // r2's decryption started on arrival, before its post's relayed id committed.
    processor.prefetch(recorded.slice(1, 2));
    const asked = decrypter.asked;
    const before = calls.length;
    contentRead = [];
    processor.kick();
    await settled();
    assert.equal(contentRead.length, 3, 'the encrypted content of the others is read, in one read');
    const relayedToPair = calls.slice(before).flatMap((m) => (m.type === 'teams-messages' ? m.messages.map((x) => x.messageId) : m.type === 'teams-message' ? [m.messageId] : []));
    assert.deepEqual(relayedToPair, ['r1', 'r3', 'r5'], 'the pair gets the others, in order');
    assert.equal(decrypter.asked - asked, 3, 'only the others are decrypted');
    assert.deepEqual(await states(), [], 'every notification is done');
  });
  it('relays as before when the store cannot say which messages were relayed already', async () => {
    const ids = ['f1', 'f2', 'f3'];
    await store.recordRelayed({ chatId: CHAT, teamsMessageId: 'f2', direction: 'xmpp_to_teams', xmppId: 'x-f2' }, now);
    await store.recordNotifications(notifications(ids), now);
    relayedAmong = async () => {
      throw new Error('the store is unreachable');
    };
    const before = calls.length;
    processor.kick();
    await settled();
    relayedAmong = (chatId, messageIds) => store.relayedAmong(chatId, messageIds);
    const last = calls.slice(before).at(-1);
    assert.deepEqual(last?.type === 'teams-messages' ? last.messages.map((m) => m.messageId) : [], ids, 'the pair gets all three (and checks each itself)');
    assert.deepEqual(await states(), []);
  });
});
