import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigFile, resolveConfig, type RuntimeConfig, type TenantConfig } from '../../src/config/load.js';
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

function tenant(c: RuntimeConfig, i = 0): TenantConfig {
  const t = c.tenants[i];
  assert.ok(t, `tenant #${i}`);
  return t;
}

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
    const t = tenant(c);
    assert.equal(t.teams?.graphBaseUrl, 'https://graph.microsoft.com');
    assert.equal(t.teams?.clientSecret?.reveal(), 'from-env');
    assert.equal(c.xmpp.maxBodyBytes, 16_000);
    assert.ok(!JSON.stringify(c).includes('from-env'));
    assert.ok(!String(t.teams?.clientSecret).includes('from-env'));
  });
  const cases: [string, (c: ReturnType<typeof valid>) => unknown, RegExp][] = [
    ['missing key', (c) => ({ ...c, xmpp: { ...c.xmpp, domain: undefined } }), /^xmpp\.domain: required key is missing$/u],
    ['wrong scheme', (c) => ({ ...c, xmpp: { ...c.xmpp, service: 'http://x:1' } }), /^xmpp\.service: expected xmpp:\/\//u],
    ['unknown key', (c) => ({ ...c, xmpp: { ...c.xmpp, pasword: 'x' } }), /^xmpp\.pasword: unknown key/u],
    ['http webhook off loopback', (c) => ({ ...c, teams: { ...c.teams, webhook: { ...c.teams.webhook, publicUrl: 'http://gw.example.org/x' } } }), /^teams\.webhook\.publicUrl: must be https/u],
    ['bad listen', (c) => ({ ...c, teams: { ...c.teams, webhook: { ...c.teams.webhook, listen: '8090' } } }), /^teams\.webhook\.listen: expected host:port/u],
    ['SfB photo URL not https (issue 17)', (c) => ({ ...c, sfb: { listen: '0.0.0.0:5061', fqdn: 'gw.corp.example', tls: { certFile: 'c', keyFile: 'k', caFile: 'a' }, pool: { fqdn: 'pool.corp.example' }, trustedPeers: ['pool.corp.example'], users: ['carol@corp.example'], photos: { listen: '0.0.0.0:8061', publicUrl: 'http://gw.corp.example:8061' } } }), /^sfb\.photos\.publicUrl: expected https:\/\/host/u],
    ['SfB domain both configured and looked up (issue 17)', (c) => ({ ...c, sfb: { listen: '0.0.0.0:5061', fqdn: 'gw.corp.example', tls: { certFile: 'c', keyFile: 'k', caFile: 'a' }, pool: { fqdn: 'pool.corp.example' }, trustedPeers: ['pool.corp.example'], domains: ['corp.example'], lookup: { domains: ['corp.example'] } } }), /^sfb\.lookup\.domains: a domain is either all on SfB/u],
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
    assert.equal(tenant(c).components[0]?.password.reveal(), 'file-secret');
    assert.equal(c.store.sqlite.path, join(dir, 'data/gw.sqlite'));
    writeFileSync(file, 'xmpp: [unclosed');
    assert.throws(() => loadConfigFile(file), /not valid YAML/u);
  });
});

/** Two tenants, as an operator of a shared cluster writes them (issue 16). */
const twoTenants = () => {
  const v = valid();
  const entry = (id: string, domain: string, tenantId: string, path: string) => ({
    id,
    xmpp: { domain, password: `${id}-secret` },
    teams: { ...v.teams, tenantId, clientSecret: `${id}-app-secret`, webhook: { listen: '127.0.0.1:8090', publicUrl: `https://gw.example.org/graph/${path}` }, puppets: { upnDomain: `xmpp.${id}.example`, passwordSecret: 'm' } },
    policy: { domains: ['partner.example'], users: ['*'] },
    admin: { token: `${id}-token` },
  });
  return {
    xmpp: { service: v.xmpp.service },
    tenants: [entry('contoso', 'teams.contoso.example', 'tenant-c', 'contoso'), entry('fabrikam', 'teams.fabrikam.example', 'tenant-f', 'fabrikam')],
    walls: { between: [{ tenant: 'contoso', peer: 'fabrikam', users: ['alice@contoso.example'] }] },
  };
};

describe('configuration: tenants (issue 16)', () => {
  it('makes the single-tenant layout a list of one tenant, "default", with its component domain and admin token from the top level', () => {
    const c = resolveConfig({ ...valid(), admin: { token: 'operator' } }, { env: { XTG_TEST_SECRET: 's' } });
    assert.equal(c.tenants.length, 1);
    const t = tenant(c);
    assert.equal(t.id, 'default');
    assert.deepEqual(t.components.map((d) => d.domain), ['teams.xmpp.example']);
    assert.equal(t.components[0]?.password.reveal(), 'secret');
    assert.equal(t.admin.token, undefined, 'the top-level token is the operator\'s, over every tenant');
    assert.equal(c.admin.token?.reveal(), 'operator');
    assert.deepEqual(c.walls, { remote: [], between: [] });
  });
  it('reads a list of tenants, each with its own credentials, component domain, whitelist and token', () => {
    const c = resolveConfig(twoTenants(), { env: {} });
    assert.deepEqual(c.tenants.map((t) => t.id), ['contoso', 'fabrikam']);
    assert.equal(tenant(c, 1).teams?.clientSecret?.reveal(), 'fabrikam-app-secret');
    assert.equal(tenant(c, 0).admin.token?.reveal(), 'contoso-token');
    assert.deepEqual(tenant(c, 1).components.map((d) => d.domain), ['teams.fabrikam.example']);
    assert.equal(c.walls.between[0]?.peer, 'fabrikam');
  });
  it('refuses further component domains for a tenant (not built yet) instead of ignoring them', () => {
    const raw = twoTenants();
    raw.tenants[1] = { ...raw.tenants[1], xmpp: { ...raw.tenants[1]!.xmpp, extraDomains: [{ domain: 'teams.fabrikam-alt.example', password: 'x', upnDomain: 'fabrikam-alt.example' }] } } as (typeof raw.tenants)[number];
    assert.throws(() => resolveConfig(raw, { env: {} }), /tenants\[fabrikam\]\.xmpp\.extraDomains: several component domains for one tenant are not supported yet/u);
  });
  const cases: [string, (c: ReturnType<typeof twoTenants>) => unknown, RegExp][] = [
    ['a tenant\'s missing key names the tenant', (c) => ({ ...c, tenants: [c.tenants[0], { ...c.tenants[1], teams: { ...c.tenants[1]?.teams, clientId: undefined } }] }), /^tenants\[fabrikam\]\.teams\.clientId: required key is missing$/u],
    ['a tenant\'s bad secret names the tenant', (c) => ({ ...c, tenants: [c.tenants[0], { ...c.tenants[1], teams: { ...c.tenants[1]?.teams, clientSecret: { env: 'XTG_NOPE' } } }] }), /^tenants\[fabrikam\]\.teams\.clientSecret: environment variable XTG_NOPE is not set$/u],
    ['a bad tenant id', (c) => ({ ...c, tenants: [{ ...c.tenants[0], id: 'Contoso Ltd' }, c.tenants[1]] }), /^tenants\[Contoso Ltd\]\.id: expected 1 to 31 lower-case/u],
    ['the same id twice', (c) => ({ ...c, tenants: [c.tenants[0], { ...c.tenants[1], id: 'contoso' }] }), /^tenants\[contoso\]\.id: the id contoso/u],
    ['one component domain for two tenants', (c) => ({ ...c, tenants: [c.tenants[0], { ...c.tenants[1], xmpp: { domain: 'teams.contoso.example', password: 'x' } }] }), /^tenants\[fabrikam\]\.xmpp\.domain: the component domain teams\.contoso\.example is also tenant contoso's/u],
    ['one Microsoft 365 tenant for two tenants', (c) => ({ ...c, tenants: [c.tenants[0], { ...c.tenants[1], teams: { ...c.tenants[1]?.teams, tenantId: 'TENANT-C' } }] }), /^tenants\[fabrikam\]\.teams\.tenantId: the Microsoft 365 tenant tenant-c is also tenant contoso's/u],
    ['overlapping webhook paths on one listener', (c) => ({ ...c, tenants: [c.tenants[0], { ...c.tenants[1], teams: { ...c.tenants[1]?.teams, webhook: { listen: '127.0.0.1:8090', publicUrl: 'https://gw.example.org/graph/contoso/x' } } }] }), /^tenants\[fabrikam\]\.teams\.webhook\.publicUrl: its path \/graph\/contoso\/x overlaps tenant contoso's/u],
    ['one admin token for two tenants', (c) => ({ ...c, tenants: [c.tenants[0], { ...c.tenants[1], admin: { token: 'contoso-token' } }] }), /^tenants\[fabrikam\]\.admin\.token: the same token as tenants\[contoso\]\.admin\.token/u],
    ['a tenant\'s token equal to the operator\'s', (c) => ({ ...c, admin: { token: 'contoso-token' } }), /^tenants\[contoso\]\.admin\.token: the same token as admin\.token/u],
    ['a top-level tenant key beside tenants', (c) => ({ ...c, policy: { domains: ['x.example'] } }), /^policy: with tenants, each tenant has its own/u],
    ['a component domain at the top level beside tenants', (c) => ({ ...c, xmpp: { ...c.xmpp, domain: 'teams.x.example' } }), /^xmpp\.domain: with tenants, each tenant has its own/u],
    ['a wall naming no tenant', (c) => ({ ...c, walls: { between: [{ tenant: 'contoso', peer: 'northwind' }] } }), /^walls\.between\.0\.peer: no tenant "northwind"/u],
    ['a wall between a tenant and itself', (c) => ({ ...c, walls: { between: [{ tenant: 'contoso', peer: 'contoso' }] } }), /^walls\.between\.0\.peer: a rule between a tenant and itself/u],
    ['a remote wall party that is not a domain or JID', (c) => ({ ...c, walls: { remote: [{ tenant: 'contoso', parties: ['http://x'] }] } }), /^walls\.remote\.0\.parties\.0: expected a lower-case domain/u],
  ];
  for (const [name, mutate, expected] of cases) {
    it(`names the tenant, the key and the problem: ${name}`, () => {
      const found = problems(mutate(twoTenants()), {});
      assert.ok(found.some((p) => expected.test(p)), found.join('\n'));
    });
  }
});

describe('configuration: a deployment with Skype for Business Server only (issue 17)', () => {
  const sfb = { listen: '0.0.0.0:5061', fqdn: 'gw.corp.example', tls: { certFile: 'c', keyFile: 'k', caFile: 'a' }, pool: { fqdn: 'pool.corp.example' }, trustedPeers: ['pool.corp.example'], domains: ['corp.example'] };
  const sfbOnly = () => ({ xmpp: { service: 'xmpp://127.0.0.1:5347', domain: 'im.corp.example', password: 'secret' }, sfb, policy: { domains: ['partner.example'], users: ['*'] } });

  it('needs no Microsoft 365 tenant: the tenant has no teams, and short JIDs stand for the SfB domain', () => {
    const t = tenant(resolveConfig(sfbOnly(), { env: {} }));
    assert.equal(t.teams, undefined);
    assert.equal(t.sfb?.pool.fqdn, 'pool.corp.example');
    assert.equal(t.components[0]?.upnDomain, 'corp.example');
  });
  it('also in the tenants list, beside a tenant with Teams', () => {
    const two = twoTenants();
    const [contoso] = two.tenants;
    const c = resolveConfig({ ...two, tenants: [contoso, { id: 'navy', xmpp: { domain: 'im.navy.example', password: 'n' }, sfb, policy: { domains: ['partner.example'], users: ['*'] } }], walls: {} }, { env: {} });
    assert.deepEqual(c.tenants.map((t) => [t.id, t.teams === undefined]), [['contoso', false], ['navy', true]]);
  });
  it('refuses a tenant with neither Teams nor SfB, and Entra groups without Microsoft 365, each saying why', () => {
    const { sfb: _none, ...neither } = sfbOnly();
    assert.match(problems(neither).join('\n'), /^teams: required key is missing: set teams \(Microsoft 365\), sfb \(Skype for Business Server\) or both/mu);
    const groups = problems({ ...sfbOnly(), policy: { domains: ['partner.example'], groups: ['g-1'], pairing: [{ groups: ['g-2'], domains: ['partner.example'] }] } });
    assert.deepEqual(groups.sort(), ['policy.groups: Entra groups need Microsoft 365 (teams); without it list SfB users by address in policy.users', 'policy.pairing.0.groups: Entra groups need Microsoft 365 (teams); without it list SfB users by address in policy.users']);
    const two = twoTenants();
    const list = problems({ ...two, tenants: [two.tenants[0], { id: 'navy', xmpp: { domain: 'im.navy.example', password: 'n' } }], walls: {} });
    assert.ok(list.some((p) => /^tenants\[navy\]\.teams: set teams \(Microsoft 365\), sfb \(Skype for Business Server\) or both/u.test(p)), list.join('\n'));
  });
  it('refuses console sign-in with Entra ID for a tenant without Microsoft 365', () => {
    assert.ok(problems({ ...sfbOnly(), console: { publicUrl: 'https://gw.corp.example/', oidc: { adminGroups: ['g'] } } }).some((p) => p.startsWith('console.oidc: tenant default has no Microsoft 365 tenant')));
  });
});
