import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { domainMatches, mayFederate, type Policy } from '../../src/policy/whitelist.js';

describe('domain rules', () => {
  const table: [string, string, boolean][] = [
    ['partner.example', 'partner.example', true],
    ['partner.example', 'PARTNER.example', true],
    ['partner.example', 'sub.partner.example', false],
    ['*.partner.example', 'sub.partner.example', true],
    ['*.partner.example', 'a.b.partner.example', true],
    ['*.partner.example', 'partner.example', false],
    ['*.partner.example', 'evilpartner.example', false],
    ['*.partner.example', 'partner.example.evil', false],
  ];
  for (const [rule, domain, ok] of table) it(`${rule} ${ok ? 'matches' : 'does not match'} ${domain}`, () => assert.equal(domainMatches(rule, domain), ok));
});

describe('who may federate', () => {
  const alice = { id: 'id-alice', upn: 'Alice@Contoso.com' };
  const bob = { id: 'id-bob', upn: 'bob@contoso.com' };
  const carol = { id: 'id-carol', upn: 'carol@contoso.com' };
  const base: Policy = {
    domains: ['xmpp.example', '*.allied.example'],
    users: { users: new Set(['alice@contoso.com', 'id-bob']), groups: new Set(['g-liaison']) },
    pairing: [],
  };
  const none = new Set<string>();
  const table: [string, Policy, typeof alice, ReadonlySet<string>, string, string][] = [
    ['listed user, listed domain', base, alice, none, 'xmpp.example', 'allowed'],
    ['user listed by id', base, bob, none, 'hq.allied.example', 'allowed'],
    ['unlisted domain', base, alice, none, 'stranger.example', 'domain'],
    ['unlisted user', base, carol, none, 'xmpp.example', 'user'],
    ['user via group', base, carol, new Set(['g-liaison']), 'xmpp.example', 'allowed'],
    ['everyone', { ...base, users: { users: new Set(['*']), groups: new Set() } }, carol, none, 'xmpp.example', 'allowed'],
    ['empty lists deny', { domains: [], users: { users: new Set(), groups: new Set() }, pairing: [] }, alice, none, 'xmpp.example', 'domain'],
  ];
  const paired: Policy = { ...base, pairing: [{ users: new Set(['alice@contoso.com']), groups: new Set(), domains: ['*.allied.example'] }] };
  table.push(
    ['pairing: alice only to allied', paired, alice, none, 'xmpp.example', 'pairing'],
    ['pairing: alice to allied', paired, alice, none, 'hq.allied.example', 'allowed'],
    ['pairing: allied only to alice', paired, bob, none, 'hq.allied.example', 'pairing'],
    ['pairing: bob free elsewhere', paired, bob, none, 'xmpp.example', 'allowed'],
  );
  for (const [name, policy, user, groups, domain, expected] of table) {
    it(name, () => {
      const v = mayFederate(policy, user, groups, domain);
      assert.equal(v.allowed ? 'allowed' : v.reason, expected);
    });
  }
});

describe('compiled domain rules', () => {
  it('decide exactly as the rules do', async () => {
    const { compileDomainRules, domainAllowed } = await import('../../src/policy/whitelist.js');
    const rules = ['partner.example', '*.allied.example', '*.deep.sub.example'];
    const check = compileDomainRules(rules);
    for (const d of ['partner.example', 'x.partner.example', 'allied.example', 'a.allied.example', 'a.b.allied.example', 'deep.sub.example', 'x.deep.sub.example', 'sub.example', 'evilallied.example', 'PARTNER.EXAMPLE']) {
      assert.equal(check(d), domainAllowed(rules, d), d);
    }
  });

  it('compare internationalised domains in their A-label form, so look-alikes match nothing (issue 12)', async () => {
    const { compileDomainRules, domainAllowed } = await import('../../src/policy/whitelist.js');
    const rules = ['partner.example', 'xn--bcher-kva.example', '*.allied.example'];
    const check = compileDomainRules(rules);
    const cases: [string, boolean][] = [
      ['bücher.example', true],
      ['BÜCHER.example', true],
      ['p\u0430rtner.example', false], // Cyrillic а
      ['partner\u3002example', true], // the ideographic full stop is a label separator in IDNA
      ['x.allied\uff0eexample', true], // so is the fullwidth full stop
      ['evil\u3002allied.example', true],
      ['a\u200bllied.example', false], // a zero-width space is not the same domain
      ['\u0000.example', false],
    ];
    for (const [d, allowed] of cases) {
      assert.equal(check(d), allowed, JSON.stringify(d));
      assert.equal(domainAllowed(rules, d), allowed, JSON.stringify(d));
    }
  });
});
