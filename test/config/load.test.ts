import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigFile, resolveConfig } from '../../src/config/load.js';
import { restartPolicyFor } from '../../src/supervisors/restart-policy.js';

const valid = () => ({
  xmpp: { service: 'xmpp://127.0.0.1:5347', domain: 'teams.xmpp.example', password: 'secret' },
  teams: {
    tenantId: 't',
    clientId: 'c',
    clientSecret: { env: 'XTG_TEST_SECRET' },
    webhook: { listen: '127.0.0.1:8090', publicUrl: 'https://gw.example.org/graph' },
    puppets: { upnDomain: 'xmpp.contoso.com', passwordSecret: 'm' },
  },
});

function problems(raw: unknown, env: NodeJS.ProcessEnv = { XTG_TEST_SECRET: 's' }): string[] {
  try {
    resolveConfig(raw, { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.key}: ${p.problem}`);
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('accepts a minimal valid file and fills defaults; secrets never print', () => {
    const c = resolveConfig(valid(), { env: { XTG_TEST_SECRET: 'from-env' } });
    assert.equal(c.teams.graphBaseUrl, 'https://graph.microsoft.com');
    assert.equal(c.teams.clientSecret?.reveal(), 'from-env');
    assert.equal(c.xmpp.maxBodyBytes, 16_000);
    assert.ok(!JSON.stringify(c).includes('from-env'));
    assert.ok(!String(c.teams.clientSecret).includes('from-env'));
  });
  const cases: [string, (c: ReturnType<typeof valid>) => unknown, RegExp][] = [
    ['missing key', (c) => ({ ...c, xmpp: { ...c.xmpp, domain: undefined } }), /^xmpp\.domain: required key is missing$/u],
    ['wrong scheme', (c) => ({ ...c, xmpp: { ...c.xmpp, service: 'http://x:1' } }), /^xmpp\.service: expected xmpp:\/\//u],
    ['unknown key', (c) => ({ ...c, xmpp: { ...c.xmpp, pasword: 'x' } }), /^xmpp\.pasword: unknown key/u],
    ['http webhook off loopback', (c) => ({ ...c, teams: { ...c.teams, webhook: { ...c.teams.webhook, publicUrl: 'http://gw.example.org/x' } } }), /^teams\.webhook\.publicUrl: must be https/u],
    ['bad listen', (c) => ({ ...c, teams: { ...c.teams, webhook: { ...c.teams.webhook, listen: '8090' } } }), /^teams\.webhook\.listen: expected host:port/u],
    ['SfB photo URL not https (issue 17)', (c) => ({ ...c, sfb: { listen: '0.0.0.0:5061', fqdn: 'gw.corp.example', tls: { certFile: 'c', keyFile: 'k', caFile: 'a' }, pool: { fqdn: 'pool.corp.example' }, trustedPeers: ['pool.corp.example'], users: ['carol@corp.example'], photos: { listen: '0.0.0.0:8061', publicUrl: 'http://gw.corp.example:8061' } } }), /^sfb\.photos\.publicUrl: expected https:\/\/host/u],
    ['two credentials', (c) => ({ ...c, teams: { ...c.teams, clientCertificatePath: '/x.pem' } }), /^teams\.clientSecret: set exactly one/u],
    ['cluster without a shared secret', (c) => ({ ...c, cluster: { redis: { url: 'redis://127.0.0.1:6379' } } }), /^cluster\.secret: cluster\.redis is set but cluster\.secret is missing$/u],
    ['bad secret reference', (c) => ({ ...c, xmpp: { ...c.xmpp, password: { vault: 'x' } } }), /^xmpp\.password: expected a string, \{env: NAME\} or \{file: PATH\}$/u],
  ];
  for (const [name, mutate, expected] of cases) {
    it(`names the key and the problem: ${name}`, () => {
      const found = problems(mutate(valid()));
      assert.ok(found.some((p) => expected.test(p)), found.join('\n'));
    });
  }
  it('gives each actor kind its restart policy: the override where set, the defaults otherwise', () => {
    const c = resolveConfig({ ...valid(), actors: { maxRestarts: 3, userPair: { maxRestarts: 8, backoffMaxMs: 30_000 } } }, { env: { XTG_TEST_SECRET: 's' } });
    assert.deepEqual(restartPolicyFor(c.actors, 'userPair'), { maxRestarts: 8, windowMs: 60_000, backoffInitialMs: 100, backoffMaxMs: 30_000 });
    assert.deepEqual(restartPolicyFor(c.actors, 'remoteDomain'), { maxRestarts: 3, windowMs: 60_000, backoffInitialMs: 100, backoffMaxMs: 5_000 });
  });
  it('reports an unset environment variable and an unreadable secret file', () => {
    const c = valid();
    const found = problems({ ...c, xmpp: { ...c.xmpp, password: { file: '/nonexistent/secret' } } }, {});
    assert.ok(found.some((p) => /^teams\.clientSecret: environment variable XTG_TEST_SECRET is not set$/u.test(p)), found.join('\n'));
    assert.ok(found.some((p) => /^xmpp\.password: cannot read secret file \/nonexistent\/secret: ENOENT$/u.test(p)), found.join('\n'));
  });
  it('reads YAML files, resolving relative paths against the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtg-config-'));
    writeFileSync(join(dir, 'secret.txt'), 'file-secret\n');
    const file = join(dir, 'gw.yaml');
    writeFileSync(
      file,
      `xmpp: {service: "xmpp://127.0.0.1:5347", domain: teams.xmpp.example, password: {file: secret.txt}}
teams:
  tenantId: t
  clientId: c
  clientSecret: s
  webhook: {listen: "127.0.0.1:8090", publicUrl: "https://gw.example.org/graph"}
  puppets: {upnDomain: xmpp.contoso.com, passwordSecret: m}
store: {sqlite: {path: data/gw.sqlite}}
`,
    );
    const c = loadConfigFile(file);
    assert.equal(c.xmpp.password.reveal(), 'file-secret');
    assert.equal(c.store.sqlite.path, join(dir, 'data/gw.sqlite'));
    writeFileSync(file, 'xmpp: [unclosed');
    assert.throws(() => loadConfigFile(file), /not valid YAML/u);
  });
});
