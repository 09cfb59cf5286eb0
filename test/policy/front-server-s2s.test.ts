/** The front server's S2S configuration generated from the gateway's whitelist (Prosody and ejabberd). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frontServerConfig } from '../../src/policy/front-server-s2s.js';

const at = { prosodyPluginDir: '/opt/xtg/deploy/prosody' };
const gen = (domains: string[], dialbackDomains: string[] = []) => frontServerConfig({ componentDomain: 'teams.example.org', domains, dialbackDomains }, at);

describe('front server S2S configuration from policy.domains', () => {
  const cases: { name: string; domains: string[]; dialback?: string[]; prosody: RegExp[]; ejabberd: Record<string, unknown>; notes: number }[] = [
    {
      name: 'exact domains, lower-cased, deduplicated and sorted',
      domains: ['Partner.example', 'ally.example', 'partner.example '],
      prosody: [/^gateway_s2s_whitelist = \{ "ally\.example", "partner\.example" \}$/mu],
      ejabberd: { acl: { xtg_partners: { server: ['ally.example', 'partner.example'] } }, accessRules: { xtg_s2s: { allow: 'xtg_partners' } } },
      notes: 0,
    },
    {
      name: 'suffix rules: the Prosody module matches them, ejabberd with server_glob',
      domains: ['partner.example', '*.allied.example'],
      prosody: [/^gateway_s2s_whitelist = \{ "partner\.example", "\*\.allied\.example" \}$/mu],
      ejabberd: { acl: { xtg_partners: { server: ['partner.example'], server_glob: ['*.allied.example'] } }, accessRules: { xtg_s2s: { allow: 'xtg_partners' } } },
      notes: 0,
    },
    {
      name: 'an empty whitelist refuses every S2S stream, and says so',
      domains: [],
      prosody: [/^gateway_s2s_whitelist = \{  \}$/mu],
      ejabberd: { acl: {}, accessRules: { xtg_s2s: { deny: 'all' } } },
      notes: 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const g = gen(c.domains, c.dialback);
      const prosody = [...g.prosodyGlobal, ...g.prosodyComponent].join('\n');
      for (const re of c.prosody) assert.match(prosody, re);
      assert.deepEqual({ acl: g.ejabberd.acl, accessRules: g.ejabberd.accessRules }, c.ejabberd);
      assert.equal(g.ejabberd.s2sAccess, 'xtg_s2s');
      assert.equal(g.notes.length, c.notes, g.notes.join('\n'));
    });
  }

  it('requires certificates of every peer, and allows dialback only for the domains named', () => {
    const strict = gen(['partner.example']);
    assert.ok(strict.prosodyGlobal.includes('s2s_secure_auth = true'));
    assert.ok(strict.prosodyGlobal.includes('s2s_insecure_domains = {  }'));
    assert.deepEqual(strict.ejabberd.modules, {}, 'no mod_s2s_dialback at all');
    assert.equal(strict.ejabberd.s2sUseStarttls, 'required');

    const legacy = gen(['partner.example', 'legacy.example'], ['legacy.example', '*.old.example']);
    assert.ok(legacy.prosodyGlobal.includes('s2s_insecure_domains = { "legacy.example" }'));
    assert.deepEqual(legacy.ejabberd.modules, { mod_s2s_dialback: { access: 'xtg_dialback' } });
    assert.deepEqual(legacy.ejabberd.acl.xtg_dialback_partners, { server: ['legacy.example'] });
    assert.deepEqual(legacy.ejabberd.accessRules.xtg_dialback, { allow: 'xtg_dialback_partners' });
    assert.match(legacy.notes.join('\n'), /dialback is allowed per exact domain only: \*\.old\.example/u);
  });

  it('loads the whitelist module on the component only, from the directory given', () => {
    const g = gen(['partner.example']);
    assert.ok(g.prosodyGlobal.includes('plugin_paths = { "/opt/xtg/deploy/prosody" }'));
    assert.ok(g.prosodyComponent.includes('modules_enabled = { "gateway_s2s_whitelist" }'));
  });
});
