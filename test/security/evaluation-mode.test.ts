/**
 * Evaluation mode (issue 12 finding 2, docs/licensing.md): a node alone without a licence serves, labelled as
 * such on /readyz, in its logs and its metrics, within small limits: at most 2 remote domain rules and 10 XMPP
 * users with a Teams account (each a paid licence of the tenant). The node serves two tenants (issue 16): the limits
 * count across them (a domain both tenants list once; accounts in every tenant's directory).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import { HostilePeer } from './support/hostile-peer.js';
import { metric, tenantUsers } from './support/measure.js';
import { DEMO_NORTHWIND } from '../../src/sandbox/demo-tenant.js';

const PARTNER = 'partner.example';
const SECRET = 'peer-secret';
const TOKEN = 'admin-token-for-tests';

describe('evaluation mode', { timeout: 180_000 }, () => {
  let f: Federation;
  let partner: HostilePeer;

  before(async () => {
    f = await Federation.start({
      licensed: false,
      adminToken: TOKEN,
      components: [{ domain: PARTNER, secret: SECRET }],
      policy: { domains: [XMPP_DOMAIN, PARTNER], users: ['*'], reloadSeconds: 1 },
      // Northwind lists the same two domains (its whitelist defaults to Contoso's): two domains in all, not four.
      secondTenant: {},
    });
    partner = await HostilePeer.connect({ port: f.ports.component, domain: PARTNER, secret: SECRET });
  });
  after(async () => {
    await partner?.stop();
    await f?.stop();
  });

  it('is shown on /readyz, in the log and in the metrics', async () => {
    const ready = await f.gateway.health('/readyz');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual(ready.body.licence, { mode: 'evaluation', reason: 'licence missing: no licence file is configured (cluster.licence.file)', limits: { nodes: 1, remoteDomains: 2, accounts: 10 } });
    assert.ok(f.gateway.lines.some((l) => String(l.message).startsWith('EVALUATION MODE') && l.level === 'warn'));
    assert.equal(await metric(f, 'xtg_evaluation_mode'), 1);
  });

  it('allows no third remote domain, in either tenant', async () => {
    for (const path of ['/admin/whitelist', '/admin/tenants/northwind/whitelist']) {
      const res = await fetch(`http://127.0.0.1:${f.ports.admin}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ op: 'add', kind: 'domain', value: 'third.example' }),
      });
      assert.equal(res.status, 400, path);
      assert.match(((await res.json()) as { error: string }).error, /the licence allows 2 remote domain rules and 2 are in use \(counted across tenants\)/u);
    }
  });

  it('makes at most 10 Teams accounts across both tenants; the eleventh XMPP user gets <resource-constraint/>', async () => {
    // Four accounts in Northwind first.
    const northwindUsers = async () => (await (await fetch(`${f.emulator.url}/_emulator/users?tenant=${DEMO_NORTHWIND.teamsDomain}`)).json()) as { value: unknown[] };
    const northwindBefore = (await northwindUsers()).value.length;
    let first = '';
    for (let i = 0; i < 4; i++) first += `<message from='n${i}@${PARTNER}/r' to='grace.hopper@${DEMO_NORTHWIND.componentDomain}' type='chat' id='nw${i}'><body>hello ${i}</body></message>`;
    await partner.raw(first);
    const accounts = async () => {
      const res = await fetch(`http://127.0.0.1:${f.ports.admin}/admin/tenants/northwind/accounts`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return ((await res.json()) as { domains: { domain: string; accounts: number }[] }).domains.find((d) => d.domain === PARTNER)?.accounts ?? 0;
    };
    await eventually(async () => ((await accounts()) >= 4 ? true : undefined), 30_000, 'four accounts in Northwind');
    assert.equal((await northwindUsers()).value.length - northwindBefore, 4);
    // Then twelve new users for Contoso, all at once: the grants not yet stored count too; six fit.
    const before = (await tenantUsers(f)).length;
    let text = '';
    for (let i = 0; i < 12; i++) text += `<message from='u${i}@${PARTNER}/r' to='alice.smith@${COMPONENT}' type='chat' id='eval${i}'><body>hello ${i}</body></message>`;
    await partner.raw(text);
    const refused = await eventually(() => {
      const r = partner.received.filter((el) => /^eval\d+$/u.test(el.attrs.id ?? '') && el.attrs.type === 'error');
      return r.length >= 6 ? r : undefined;
    }, 30_000, 'the refusals');
    await eventually(async () => ((await tenantUsers(f)).length - before >= 6 ? true : undefined), 30_000, 'six accounts in Contoso');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await tenantUsers(f)).length - before, 6);
    assert.equal(refused.length, 6);
    for (const el of refused) {
      assert.equal(el.getChild('error')?.getChild('resource-constraint', 'urn:ietf:params:xml:ns:xmpp-stanzas') !== undefined, true, el.toString());
      assert.match(el.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '', /licensed limit of 10 Teams accounts/u);
    }
    assert.equal(await metric(f, 'xtg_account_refusals_total', { limit: 'total' }), refused.length);
  });
});
