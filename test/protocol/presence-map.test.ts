import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TEAMS_ACTIVITY,
  TEAMS_AVAILABILITY,
  aggregateResources,
  presenceTableMarkdown,
  teamsToXmpp,
  xmppToTeams,
} from '../../src/protocol/presence-map.js';
import { readFileSync } from 'node:fs';

describe('Teams -> XMPP presence', () => {
  const table: [string, string, string | undefined, boolean, string][] = [
    ['Available', 'Available', undefined, true, 'Available'],
    ['AvailableIdle', 'Available', 'away', true, 'Available'],
    ['Away', 'Away', 'away', true, 'Away'],
    ['BeRightBack', 'BeRightBack', 'away', true, 'Be right back'],
    ['Busy', 'InACall', 'dnd', true, 'In a call'],
    ['Busy', 'InAMeeting', 'dnd', true, 'In a meeting'],
    ['BusyIdle', 'Busy', 'dnd', true, 'Busy'],
    ['DoNotDisturb', 'Presenting', 'dnd', true, 'Presenting'],
    ['Away', 'OutOfOffice', 'xa', true, 'Out of office'],
    ['Offline', 'OffWork', undefined, false, 'Off work'],
    ['PresenceUnknown', 'PresenceUnknown', undefined, false, 'Presence unknown'],
  ];
  for (const [availability, activity, show, available, status] of table) {
    it(`${availability}/${activity} -> ${available ? (show ?? 'available') : 'unavailable'}`, () => {
      const x = teamsToXmpp({ availability, activity });
      assert.equal(x.available, available);
      assert.equal(x.show, show);
      assert.equal(x.status, status);
    });
  }
  it('maps every documented availability and activity', () => {
    for (const availability of TEAMS_AVAILABILITY) {
      for (const activity of TEAMS_ACTIVITY) {
        const x = teamsToXmpp({ availability, activity });
        assert.ok(x.status && !x.status.includes('undefined'), `${availability}/${activity}`);
      }
    }
  });
  it('appends the status message and keeps unknown values visible', () => {
    assert.equal(teamsToXmpp({ availability: 'Busy', activity: 'Busy', statusMessage: 'On site' }).status, 'Busy: On site');
    const unknown = teamsToXmpp({ availability: 'Teleporting', activity: 'Beaming' });
    assert.equal(unknown.available, false);
    assert.equal(unknown.status, 'Beaming');
  });
});

describe('XMPP -> Teams presence', () => {
  it('uses only documented setPresence combinations, and preferred presence for dnd', () => {
    assert.deepEqual(xmppToTeams({ available: true }).session, { availability: 'Available', activity: 'Available' });
    assert.deepEqual(xmppToTeams({ available: true, show: 'chat' }).session, { availability: 'Available', activity: 'Available' });
    assert.deepEqual(xmppToTeams({ available: true, show: 'away' }).session, { availability: 'Away', activity: 'Away' });
    assert.deepEqual(xmppToTeams({ available: true, show: 'xa' }).session, { availability: 'Away', activity: 'Away' });
    assert.deepEqual(xmppToTeams({ available: true, show: 'dnd' }).preferred, { availability: 'DoNotDisturb', activity: 'DoNotDisturb' });
    assert.deepEqual(xmppToTeams({ available: false, status: 'bye' }), { session: null, preferred: null, statusMessage: 'bye' });
  });
  it('aggregates resources by priority, then by availability (RFC 6121 §4.7.2.3)', () => {
    const r = (resource: string, priority: number, show?: 'away' | 'dnd' | 'chat') => ({ resource, priority, available: true, show, status: resource });
    assert.equal(aggregateResources([r('phone', 0, 'away'), r('desk', 5, 'dnd')]).status, 'desk');
    assert.equal(aggregateResources([r('phone', 1, 'away'), r('desk', 1)]).status, 'desk');
    assert.deepEqual(aggregateResources([]), { available: false });
  });
});

describe('presence mapping documentation', () => {
  it('the README carries the table generated from the code', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(presenceTableMarkdown()), 'README presence table is out of date: paste presenceTableMarkdown() output');
  });
});
