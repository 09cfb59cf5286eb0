import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { puppetMailNickname, puppetPassword, puppetUpn } from '../../src/protocol/puppet-identity.js';

describe('XMPP user accounts in the tenant', () => {
  it('derives a readable, unique, valid UPN', () => {
    const upn = puppetUpn('bob@xmpp.example', 'xmpp.contoso.com');
    assert.match(upn, /^bob_xmpp\.example\.[a-z2-7]{8}@xmpp\.contoso\.com$/u);
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
});
