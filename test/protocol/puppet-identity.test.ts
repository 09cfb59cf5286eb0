import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cardText, puppetMailNickname, puppetPassword, puppetProfile, puppetUpn } from '../../src/protocol/puppet-identity.js';

describe('XMPP user accounts in the tenant', () => {
  it('derives a readable, unique, valid UPN', () => {
    const upn = puppetUpn('bob@xmpp.example', 'xmpp.contoso.com');
    // 26 base32 characters: 130 bits of the JID's hash, so no one can compute a JID that takes a victim's account.
    assert.match(upn, /^bob_xmpp\.example\.[a-z2-7]{26}@xmpp\.contoso\.com$/u);
    assert.equal(puppetUpn('bob@xmpp.example', 'XMPP.contoso.com'), upn);
    assert.notEqual(puppetUpn('bob@xmpp.exampl', 'x.com').split('.').at(-2), puppetUpn('bob@xmpp.example', 'x.com').split('.').at(-2));
  });
  it('keeps the local part within 64 characters and Entra-safe characters', () => {
    for (const jid of [`${'é'.repeat(200)}@x.example`, 'weird"<>&chars@host.example', 'x@y', 'müller@bücher.example']) {
      const local = puppetUpn(jid, 'p.example').split('@')[0] ?? '';
      assert.ok(local.length <= 64, local);
      assert.match(local, /^[a-z0-9][a-z0-9._-]*$/u);
      assert.match(puppetMailNickname(`${local}@p.example`), /^[A-Za-z0-9._-]+$/u);
    }
  });
  it('derives a stable, secret-dependent password that meets complexity rules', () => {
    const a = puppetPassword('master', 'u@p.example');
    assert.equal(a, puppetPassword('master', 'U@P.example'));
    assert.notEqual(a, puppetPassword('other', 'u@p.example'));
    assert.match(a, /[A-Z]/u);
    assert.match(a, /[a-z]/u);
    assert.match(a, /[0-9]/u);
    assert.match(a, /[^A-Za-z0-9]/u);
  });

  it('names the account after a vCard with the JID and the marker last, and the XMPP domain as company (issue 12)', () => {
    const rows: [string, Parameters<typeof puppetProfile>[1], string, string | undefined][] = [
      ['no card', {}, 'mallory@evil.example (XMPP)', undefined],
      ['plain', { displayName: 'Mallory M', jobTitle: 'Engineer' }, 'Mallory M (mallory@evil.example) (XMPP)', 'Engineer'],
      [
        'impersonation',
        { displayName: 'Alice Smith', jobTitle: 'Chief Financial Officer', department: 'Finance' },
        'Alice Smith (mallory@evil.example) (XMPP)',
        'Chief Financial Officer',
      ],
      ['a fake marker', { displayName: 'Alice Smith (alice@contoso.example)' }, 'Alice Smith alicecontoso.example (mallory@evil.example) (XMPP)', undefined],
      ['bidi override hiding the end', { displayName: 'Alice\u202e\u200bSmith\u2066' }, 'AliceSmith (mallory@evil.example) (XMPP)', undefined],
      ['padding', { displayName: `Alice${' '.repeat(500)}Smith\n\n` }, 'Alice Smith (mallory@evil.example) (XMPP)', undefined],
      ['long', { displayName: 'A'.repeat(300) }, `${'A'.repeat(64)} (mallory@evil.example) (XMPP)`, undefined],
      ['only symbols', { displayName: '()@<>' }, 'mallory@evil.example (XMPP)', undefined],
    ];
    for (const [what, card, displayName, jobTitle] of rows) {
      const p = puppetProfile('mallory@evil.example', card, ' (XMPP)');
      assert.equal(p.displayName, displayName, what);
      assert.equal(p.companyName, 'evil.example', what);
      assert.equal(p.jobTitle, jobTitle, what);
    }
    assert.equal(cardText(undefined), undefined);
  });
});
