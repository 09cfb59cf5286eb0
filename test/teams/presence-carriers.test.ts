import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignCarriers } from '../../src/teams/presence-carriers.js';

type Case = {
  name: string;
  watchers: Record<string, string[]>;
  current: Record<string, string[]>;
  capacity?: number;
  /** Every account that has or gets a subscription; [] for one whose subscription goes. */
  assignment: Record<string, string[]>;
  changed: string[];
  uncarried?: string[];
};

const cases: Case[] = [
  { name: 'a watched user is carried by her watcher', watchers: { alice: ['p1'] }, current: {}, assignment: { p1: ['alice'] }, changed: ['p1'] },
  {
    name: 'a user watched by several XMPP users is carried once',
    watchers: { alice: ['p2', 'p1', 'p3'] },
    current: {},
    assignment: { p1: ['alice'] },
    changed: ['p1'],
  },
  {
    name: 'a new watcher changes nothing: her carrier keeps her',
    watchers: { alice: ['p1', 'p2'] },
    current: { p2: ['alice'] },
    assignment: { p2: ['alice'] },
    changed: [],
  },
  {
    name: 'when her carrier stops watching her, another watcher carries her',
    watchers: { alice: ['p2'], bob: ['p1'] },
    current: { p1: ['alice', 'bob'] },
    assignment: { p1: ['bob'], p2: ['alice'] },
    changed: ['p1', 'p2'],
  },
  {
    name: 'users with no carrier go to a watcher whose subscription changes anyway (one re-creation)',
    watchers: { alice: ['p1', 'p2'], bob: ['p2'], carol: ['p1', 'p2'] },
    current: {},
    assignment: { p1: ['alice', 'carol'], p2: ['bob'] },
    changed: ['p1', 'p2'],
  },
  {
    name: 'a watcher with a subscription is preferred to one without (fewer subscriptions to renew)',
    watchers: { alice: ['p1'], bob: ['p1', 'p2'], dave: ['p2', 'p9'] },
    current: { p1: ['alice'], p9: ['erin'] },
    assignment: { p1: ['alice', 'bob'], p9: ['dave'] },
    changed: ['p1', 'p9'],
  },
  {
    name: 'no one watches her any more: the subscription goes',
    watchers: {},
    current: { p1: ['alice'] },
    assignment: { p1: [] },
    changed: ['p1'],
  },
  {
    name: 'a user carried twice (two nodes raced) keeps one carrier',
    watchers: { alice: ['p1', 'p2'] },
    current: { p1: ['alice'], p2: ['alice'] },
    assignment: { p1: ['alice'], p2: [] },
    changed: ['p2'],
  },
  {
    name: 'an account carries at most `capacity` users; the rest go to other watchers, or are not carried',
    watchers: { a: ['p1'], b: ['p1'], c: ['p1', 'p2'], d: ['p1'] },
    current: {},
    capacity: 2,
    assignment: { p1: ['a', 'b'], p2: ['c'] },
    changed: ['p1', 'p2'],
    uncarried: ['d'],
  },
];

describe('presence carriers (one presence subscription per account, each watched user carried once)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const plan = assignCarriers({
        watchers: new Map(Object.entries(c.watchers)),
        current: new Map(Object.entries(c.current)),
        capacity: c.capacity ?? 650,
      });
      assert.deepEqual(Object.fromEntries(plan.assignment), c.assignment);
      assert.deepEqual(plan.changed, c.changed);
      assert.deepEqual(plan.uncarried, c.uncarried ?? []);
    });
  }
});
