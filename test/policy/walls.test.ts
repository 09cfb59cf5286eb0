import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Walls, isMember, partyMatches } from '../../src/policy/walls.js';
import { TenantFederationPolicy } from '../../src/policy/tenant-federation-policy.js';
import type { PolicyService } from '../../src/policy/policy-service.js';
import { createLogger } from '../../src/observability/logger.js';
import type { AuditEntry } from '../../src/store/store.js';
import { tenantsAdminApi } from '../../src/policy/tenant-admin-api.js';

const walls = new Walls(
  {
    remote: [{ tenant: 'contoso', parties: ['partner.example', 'juliet@xmpp.example'], users: [], groups: ['g-liaison'] }],
    between: [{ tenant: 'contoso', users: ['alice@contoso.com'], groups: [], peer: 'northwind', peerUsers: [], peerGroups: ['g-nw'] }],
  },
  [
    { id: 'contoso', domains: ['teams.contoso.com'] },
    { id: 'northwind', domains: ['teams.northwind.com'] },
    { id: 'fabrikam', domains: ['teams.fabrikam.com'] },
  ],
);
const alice = { id: 'a-1', upn: 'alice@contoso.com' };
const bob = { id: 'b-1', upn: 'bob@contoso.com' };

describe('walls', () => {
  it('knows the tenant of a component domain and of its subdomains, and no other', () => {
    assert.equal(walls.tenantOfDomain('teams.northwind.com'), 'northwind');
    assert.equal(walls.tenantOfDomain('x.teams.northwind.com'), 'northwind');
    assert.equal(walls.tenantOfDomain('northwind.com'), undefined);
  });

  it('answers for peers (rules both ways), ruled outsiders and unruled tenants', () => {
    assert.deepEqual(walls.about('northwind', 'teams.contoso.com'), { kind: 'peer', peer: 'contoso', rules: [{ mine: { users: [], groups: ['g-nw'] }, theirs: { users: ['alice@contoso.com'], groups: [] } }] });
    assert.deepEqual(walls.about('contoso', 'teams.fabrikam.com'), { kind: 'peer', peer: 'fabrikam', rules: [] });
    assert.equal(walls.about('contoso', 'xmpp.example').kind, 'outside');
    assert.equal(walls.about('northwind', 'xmpp.example').kind, 'outside-unruled');
    assert.deepEqual(walls.groupsOf('northwind'), ['g-nw']);
  });

  it('matches parties by domain rule or bare JID, and members by UPN, id or group (empty: everyone)', () => {
    for (const [party, jid, want] of [
      ['partner.example', 'x@partner.example', true],
      ['*.partner.example', 'x@a.partner.example', true],
      ['*.partner.example', 'x@partner.example', false],
      ['juliet@xmpp.example', 'juliet@xmpp.example', true],
      ['juliet@xmpp.example', 'romeo@xmpp.example', false],
    ] as const) assert.equal(partyMatches(party, jid), want, `${party} ${jid}`);
    assert.equal(isMember({ users: [], groups: [] }, bob, new Set()), true);
    assert.equal(isMember({ users: ['ALICE@contoso.com'], groups: [] }, alice, new Set()), true);
    assert.equal(isMember({ users: [], groups: ['g'] }, bob, new Set(['g'])), true);
    assert.equal(isMember({ users: ['a-2'], groups: ['g'] }, bob, new Set()), false);
  });
});

describe('a tenant\'s federation policy within its walls', () => {
  const audits: AuditEntry[] = [];
  const policy = {
    domainAllowed: (d: string) => ['partner.example', 'xmpp.example', 'allies.example'].includes(d),
    verdict: () => ({ allowed: true }),
    userAllowed: () => true,
    groupsOfUser: (id: string) => new Set(id === 'b-1' ? ['g-liaison'] : []),
  } as unknown as PolicyService;
  const make = (tenant: string, now = () => 1000) =>
    new TenantFederationPolicy({
      tenant,
      walls,
      policy,
      store: { appendAudit: async (e) => void audits.push(e) },
      peerUser: async (_peer, jid) => (jid.startsWith('grace@') ? { user: { id: 'g-1', upn: 'grace@northwind.com' }, groups: new Set(['g-nw']), allowed: true } : undefined),
      log: createLogger({ level: 'error', nodeId: 'test' }),
      now,
    });

  it('lets in what the rules name, refuses the rest as walled, and audits each refusal once per period', async () => {
    const contoso = make('contoso');
    assert.equal(contoso.domainAllowed('partner.example'), true);
    assert.equal(contoso.domainAllowed('allies.example'), false, 'whitelisted but walled');
    assert.equal(contoso.domainAllowed('teams.fabrikam.com'), false, 'no rule between the tenants');
    assert.deepEqual(await contoso.verdict(bob, 'partner.example', 'x@partner.example'), { allowed: true });
    assert.deepEqual(await contoso.verdict(alice, 'partner.example', 'x@partner.example'), { allowed: false, reason: 'wall' }, 'not in the rule\'s group');
    assert.deepEqual(await contoso.verdict(alice, 'partner.example', 'x@partner.example'), { allowed: false, reason: 'wall' });
    assert.deepEqual(await contoso.verdict(alice, 'teams.northwind.com', 'grace@teams.northwind.com'), { allowed: true });
    assert.deepEqual(await contoso.verdict(bob, 'teams.northwind.com', 'grace@teams.northwind.com'), { allowed: false, reason: 'wall' });
    assert.deepEqual(await contoso.verdict(alice, 'teams.northwind.com', 'ken@teams.northwind.com'), { allowed: false, reason: 'wall' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(audits.map((a) => a.subject), ['allies.example', 'teams.fabrikam.com (tenant fabrikam)', 'x@partner.example -> alice@contoso.com', 'grace@teams.northwind.com -> bob@contoso.com', 'ken@teams.northwind.com -> alice@contoso.com']);
  });
});

describe('the admin API scoped by tenant', () => {
  const seen: string[] = [];
  const audits: AuditEntry[] = [];
  const tenant = (id: string, token: string | undefined) => ({ id, token, api: { handle: async (r: { path: string }) => (seen.push(`${id}${r.path}`), { status: 200, body: {} }) }, store: { appendAudit: async (e: AuditEntry) => void audits.push(e) } });
  const api = tenantsAdminApi('op', () => [tenant('contoso', 'c'), tenant('northwind', 'n')], { handle: async () => ({ status: 200, body: { node: true } }) });
  const req = (path: string, scope: string) => ({ method: 'GET', path, query: new URLSearchParams(), body: undefined, actor: 'x', scope });

  it('routes a tenant\'s token to its own tenant only, the operator\'s to any', async () => {
    assert.deepEqual(api?.tenantTokens, [{ token: 'c', tenant: 'contoso' }, { token: 'n', tenant: 'northwind' }]);
    assert.equal((await api!.handle(req('/admin/whitelist', 'northwind'))).status, 200);
    assert.equal((await api!.handle(req('/admin/whitelist', '*'))).status, 200);
    assert.equal((await api!.handle(req('/admin/tenants/northwind/audit', '*'))).status, 200);
    assert.deepEqual(seen, ['northwind/admin/whitelist', 'contoso/admin/whitelist', 'northwind/admin/audit']);
    assert.equal((await api!.handle(req('/admin/tenants/contoso/audit', 'northwind'))).status, 403);
    assert.equal((await api!.handle(req('/admin/tenants/nobody/audit', 'northwind'))).status, 403, 'an unknown tenant answers the same');
    assert.equal((await api!.handle(req('/admin/log-level', 'northwind'))).status, 403);
    assert.equal(audits.length, 1);
    assert.equal(tenantsAdminApi(undefined, () => [tenant('a', undefined)], { handle: async () => ({ status: 200, body: {} }) }), undefined);
  });
});
