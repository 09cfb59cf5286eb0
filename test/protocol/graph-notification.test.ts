import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotificationFormatError, parseNotificationCollection, parseResource } from '../../src/protocol/graph-notification.js';

describe('Graph change notification resources', () => {
  const table: [string, ReturnType<typeof parseResource>][] = [
    ["chats('19:a_b@unq.gbl.spaces')/messages('1700000000000')", { kind: 'chatMessage', chatId: '19:a_b@unq.gbl.spaces', messageId: '1700000000000' }],
    ['chats/19:a_b@unq.gbl.spaces/messages/17', { kind: 'chatMessage', chatId: '19:a_b@unq.gbl.spaces', messageId: '17' }],
    ["users('u1')/chats('c1')/messages('m1')", { kind: 'chatMessage', chatId: 'c1', messageId: 'm1' }],
    ["communications/presences('5a1b')", { kind: 'presence', userId: '5a1b' }],
    ['/users/5a1b/presence', { kind: 'presence', userId: '5a1b' }],
    ['Users/8a2b-11', { kind: 'user', userId: '8a2b-11' }],
    ['/teams/x/channels/y', { kind: 'unknown', resource: '/teams/x/channels/y' }],
    // URL-encoded ids are decoded (a bad escape is kept as sent), a doubled quote is one; names match in any case;
    // leading slashes are skipped.
    ["chats('19%3Aa_b%40unq.gbl.spaces')/messages('17')", { kind: 'chatMessage', chatId: '19:a_b@unq.gbl.spaces', messageId: '17' }],
    ["chats('c%ZZ')/messages('m1')", { kind: 'chatMessage', chatId: 'c%ZZ', messageId: 'm1' }],
    ["//Chats('c1')/MESSAGES('m1')", { kind: 'chatMessage', chatId: 'c1', messageId: 'm1' }],
    ["chats('c1')/messages('it''s')", { kind: 'chatMessage', chatId: 'c1', messageId: "it's" }],
    // Not key segments: a name with other characters, a quote missing, an empty id.
    ["chats1('c1')/messages('m1')", { kind: 'unknown', resource: "chats1('c1')/messages('m1')" }],
    ["chats(c1')/messages('m1')", { kind: 'unknown', resource: "chats(c1')/messages('m1')" }],
    ["chats(')/messages('m1')", { kind: 'unknown', resource: "chats(')/messages('m1')" }],
    ["chats('')/messages('m1')", { kind: 'unknown', resource: "chats('')/messages('m1')" }],
  ];
  for (const [resource, expected] of table) it(resource, () => assert.deepEqual(parseResource(resource), expected));
});

describe('notification collections', () => {
  it('parses change and lifecycle notifications', () => {
    const items = parseNotificationCollection({
      value: [
        { subscriptionId: 's1', clientState: 'cs', changeType: 'created', resource: "chats('c')/messages('m')" },
        { subscriptionId: 's2', clientState: 'cs', lifecycleEvent: 'reauthorizationRequired' },
      ],
    });
    assert.equal(items[0]?.target.kind, 'chatMessage');
    assert.equal(items[1]?.lifecycleEvent, 'reauthorizationRequired');
  });
  for (const bad of [null, {}, { value: 'x' }, { value: [1] }, { value: [{ clientState: 'x' }] }, { value: [{ subscriptionId: 's' }] }]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseNotificationCollection(bad), NotificationFormatError));
  }
});
