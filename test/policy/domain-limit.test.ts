/** The licence's maxRemoteDomains caps the domain whitelist (issue 5: optional limits per domain). */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { PolicyChangeError, PolicyService } from '../../src/policy/policy-service.js';
import { RemoteDomainBudget } from '../../src/policy/remote-domain-budget.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const lines: string[] = [];
const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });

describe('remote domains under a licence limit', () => {
  const store = SqliteStore.open(':memory:');
  const service = (domains: string[]) =>
    new PolicyService({
      config: { domains, users: ['*'], groups: [], pairing: [], groupRefreshSeconds: 300, reloadSeconds: 10 },
      store,
      teams: { groupMemberIds: async () => [] },
      log,
    });
  after(async () => store.close());

  it('refuses a run-time domain beyond the limit, with the reason', async () => {
    const p = service(['a.example']);
    await p.reload();
    p.setDomainLimit(2);
    assert.equal(await p.change('add', 'domain', 'b.example', 'ops'), true);
    await assert.rejects(p.change('add', 'domain', 'c.example', 'ops'), (err: unknown) => err instanceof PolicyChangeError && /licence allows 2 remote domain rules/u.test(err.message));
    assert.equal(p.domainAllowed('b.example'), true);
    assert.equal(p.domainAllowed('c.example'), false);
    // Re-adding one already listed is not a new domain.
    assert.equal(await p.change('add', 'domain', 'b.example', 'ops'), false);
  });

  it('applies only the first rules when more are configured than the licence allows, and says so', async () => {
    const p = service(['a.example', '*.b.example', 'c.example']);
    await p.reload(); // the store still holds b.example from the test above
    p.setDomainLimit(2);
    assert.equal(p.domainAllowed('a.example'), true);
    assert.equal(p.domainAllowed('x.b.example'), true);
    assert.equal(p.domainAllowed('c.example'), false);
    assert.ok(lines.some((l) => l.includes('more remote domain rules than the licence allows')));
    // The lists are re-read every few seconds: the error is written again only when what is ignored changes.
    const count = () => lines.filter((l) => l.includes('more remote domain rules than the licence allows')).length;
    const before = count();
    for (let i = 0; i < 5; i++) await p.reload();
    assert.equal(count(), before);
    p.setDomainLimit(undefined);
    assert.equal(p.domainAllowed('c.example'), true, 'without a limit every rule applies');
  });
});

describe('remote domains under a licence limit, counted across the tenants of a node (issue 16)', () => {
  // Each tenant has its own store (a new pair per test).
  const stores: SqliteStore[] = [];
  after(async () => {
    for (const s of stores) await s.close();
  });
  const tenants = (budget: RemoteDomainBudget, a: string[], b: string[]) =>
    [a, b].map(
      (domains, i) =>
        new PolicyService({
          config: { domains, users: ['*'], groups: [], pairing: [], groupRefreshSeconds: 300, reloadSeconds: 10 },
          store: stores[stores.push(SqliteStore.open(':memory:')) - 1]!,
          teams: { groupMemberIds: async () => [] },
          log,
          domainBudget: budget,
          tenant: i === 0 ? 'contoso' : 'northwind',
        }),
    ) as [PolicyService, PolicyService];

  it('counts a domain several tenants list once, and the first tenant\'s rules first', async () => {
    const budget = new RemoteDomainBudget();
    const [contoso, northwind] = tenants(budget, ['a.example', 'b.example'], ['b.example', 'a.example', 'c.example']);
    for (const p of [contoso, northwind]) p.setDomainLimit(2);
    for (const d of ['a.example', 'b.example']) {
      assert.equal(contoso.domainAllowed(d), true, `contoso ${d}`);
      assert.equal(northwind.domainAllowed(d), true, `northwind ${d}: the same two domains`);
    }
    assert.equal(northwind.domainAllowed('c.example'), false, 'a third domain in all is over the cap');
    // A run-time rule of one tenant counts against the other's too.
    await assert.rejects(northwind.change('add', 'domain', 'd.example', 'ops'), (err: unknown) => err instanceof PolicyChangeError && /licence allows 2 remote domain rules and 2 are in use \(counted across tenants\)/u.test(err.message));
    assert.equal(await northwind.change('add', 'domain', 'a.example', 'ops'), true, 'a domain in use by the other tenant is not a new one: it fits');
    budget.setLimit(3);
    assert.equal(northwind.domainAllowed('c.example'), true, 'a higher cap lets the third in');
  });

  it('a tenant that drops a domain frees its place for another tenant\'s rule at once', async () => {
    const budget = new RemoteDomainBudget();
    const [contoso, northwind] = tenants(budget, [], []);
    budget.setLimit(1);
    await contoso.reload();
    await northwind.reload();
    assert.equal(await northwind.change('add', 'domain', 'y.example', 'ops'), true);
    await assert.rejects(contoso.change('add', 'domain', 'x.example', 'ops'), PolicyChangeError, 'Northwind holds the one place');
    assert.equal(await northwind.change('remove', 'domain', 'y.example', 'ops'), true);
    assert.equal(await contoso.change('add', 'domain', 'x.example', 'ops'), true);
    assert.equal(contoso.domainAllowed('x.example'), true);
    await northwind.reload();
    assert.equal(northwind.domainAllowed('y.example'), false);
  });

  it('the first tenant\'s configured rules come first when both go over the cap', async () => {
    const budget = new RemoteDomainBudget();
    const [contoso, northwind] = tenants(budget, ['c.example'], ['n.example']);
    assert.equal(northwind.domainAllowed('n.example'), true, 'no cap yet');
    budget.setLimit(1);
    assert.equal(contoso.domainAllowed('c.example'), true);
    assert.equal(northwind.domainAllowed('n.example'), false, 'Contoso is listed first');
    assert.ok(lines.some((l) => l.includes('counted across tenants') && l.includes('n.example')), 'the ignored rule is logged');
  });
});
