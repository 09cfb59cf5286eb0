/**
 * Evaluation mode (issue 12 finding 2, docs/licensing.md): a node alone without a licence serves, labelled as
 * such on /readyz, in its logs and its metrics, within small limits: at most 2 remote domain rules and 10 XMPP
 * users with a Teams account (each a paid licence of the tenant).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import { HostilePeer } from './support/hostile-peer.js';
import { metric, tenantUsers } from './support/measure.js';

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

  it('allows no third remote domain', async () => {
    const res = await fetch(`http://127.0.0.1:${f.ports.admin}/admin/whitelist`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ op: 'add', kind: 'domain', value: 'third.example' }),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /the licence allows 2 remote domain rules/u);
  });

  it('makes at most 10 Teams accounts; the eleventh XMPP user gets <resource-constraint/>', async () => {
    const before = (await tenantUsers(f)).length;
    // All at once: the grants not yet stored count too.
    let text = '';
    for (let i = 0; i < 12; i++) text += `<message from='u${i}@${PARTNER}/r' to='alice.smith@${COMPONENT}' type='chat' id='eval${i}'><body>hello ${i}</body></message>`;
    await partner.raw(text);
    const refused = await eventually(() => {
      const r = partner.received.filter((el) => /^eval\d+$/u.test(el.attrs.id ?? '') && el.attrs.type === 'error');
      return r.length >= 2 ? r : undefined;
    }, 30_000, 'the refusals');
    await eventually(async () => ((await tenantUsers(f)).length - before >= 10 ? true : undefined), 30_000, 'ten accounts');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await tenantUsers(f)).length - before, 10);
    for (const el of refused) {
      assert.equal(el.getChild('error')?.getChild('resource-constraint', 'urn:ietf:params:xml:ns:xmpp-stanzas') !== undefined, true, el.toString());
      assert.match(el.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '', /licensed limit of 10 Teams accounts/u);
    }
    assert.equal(await metric(f, 'xtg_account_refusals_total', { limit: 'total' }), refused.length);
  });
});
