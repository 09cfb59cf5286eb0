/**
 * Issues 16 and 17: two tenants of one node, each with its own Skype for Business deployment (its own pool, the
 * emulator started twice, and its own trusted-application listener and certificate). Each XMPP component domain
 * reaches its own tenant's SfB users; nothing of one pool reaches the other; SfB pair actors carry their tenant.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { DEMO_NORTHWIND } from '../../src/sandbox/demo-tenant.js';
import { startSfbPool } from '../../src/sandbox/sfb-pool.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { COMPONENT, Federation, eventually, testTlsDir } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';
import type { SfbEmulator } from '../emulators/sfb/index.js';

const NS_RECEIPTS = 'urn:xmpp:receipts';
const NORTHWIND = DEMO_NORTHWIND.componentDomain;
const NAMES = { frontEnd: 'fe01.northwind.example', pool: 'pool01.northwind.example', gateway: 'sfb-gw.northwind.example' };

describe('two tenants, each with its own SfB deployment', { timeout: 180_000 }, () => {
  let f: Federation;
  let contosoPool: SfbEmulator;
  let northwindPool: Awaited<ReturnType<typeof startSfbPool>>;
  let juliet: TestXmppClient;

  before(async () => {
    northwindPool = await startSfbPool(await ensureTlsMaterial(testTlsDir()), { names: NAMES });
    const g = northwindPool.gatewayConfig;
    f = await Federation.start({
      sfb: {},
      secondTenant: {},
      transform: (c) => {
        const [contoso, northwind] = c.tenants as Record<string, unknown>[];
        const own = contoso?.sfb as Record<string, unknown>;
        // Northwind's own pool: its listener, certificate, Front End and trusted peers; its users as the demo's.
        const { photos: _photos, ...shared } = own;
        (northwind as Record<string, unknown>).sfb = {
          ...shared,
          listen: `127.0.0.1:${g.port}`,
          fqdn: NAMES.gateway,
          tls: { certFile: g.certFile, keyFile: g.keyFile, caFile: g.caFile },
          pool: { fqdn: NAMES.frontEnd, port: g.poolPort },
          trustedPeers: [NAMES.frontEnd, NAMES.pool],
          hosts: { [NAMES.frontEnd]: '127.0.0.1', [NAMES.pool]: '127.0.0.1' },
        };
      },
    });
    contosoPool = f.sfb as SfbEmulator;
    juliet = await f.client('juliet');
    await juliet.sendPresence();
  });
  after(async () => {
    if (f) process.stdout.write(f.gateway.errorReport('gateway'));
    await f?.stop();
    await northwindPool?.emulator.close();
  });

  it("each component domain reaches its own tenant's SfB pool, and only it", async () => {
    for (const [domain, id] of [[COMPONENT, 'c1'], [NORTHWIND, 'n1']] as const) {
      const receipt = juliet.waitFor((el) => el.getChild('received', NS_RECEIPTS)?.attrs.id === id, 15_000, `receipt ${id}`);
      await juliet.send(xml('message', { to: `carol@${domain}`, type: 'chat', id }, xml('body', {}, `to Carol at ${domain}`), xml('request', { xmlns: NS_RECEIPTS })));
      await receipt;
    }
    const texts = (emu: SfbEmulator) => emu.user('carol').inbox.filter((m) => m.kind === 'message').map((m) => m.text);
    assert.deepEqual(texts(contosoPool), [`to Carol at ${COMPONENT}`]);
    assert.deepEqual(texts(northwindPool.emulator), [`to Carol at ${NORTHWIND}`]);
  });

  it("an SfB user of the second pool writes to XMPP from her tenant's component domain", async () => {
    const r = await fetch(`${northwindPool.emulator.controlUrl}/_emulator/users/dan/messages`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example', text: 'Dan of Northwind' }) });
    assert.equal(((await r.json()) as { status: number }).status, 200);
    const got = await juliet.waitFor((el) => el.getChildText('body') === 'Dan of Northwind', 10_000, "Northwind's Dan");
    assert.equal(got.attrs.from?.split('/')[0], `dan@${NORTHWIND}`);
    // Each tenant's pair actor is its own: the node logs them under their tenant.
    const line = await eventually(() => f.gateway.lines.find((l) => l.tenant === 'northwind' && String(l.actorKey ?? '').includes('sip:dan@')), 5_000, "a line of Northwind's SfB pair");
    assert.equal(line.tenant, 'northwind');
    assert.ok(!f.gateway.lines.some((l) => l.tenant === 'contoso' && String(l.actorKey ?? '').includes('sip:dan@')), "Contoso's side never saw Northwind's Dan");
  });
});
