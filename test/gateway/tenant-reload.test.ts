/**
 * What a configuration reload changes (issue 16: tenants added, changed or removed at run time): the tenants it
 * adds, removes and changes (a secret's change counts, by its hash), the changes refused whole because they take a
 * restart, and the node settings it cannot apply. Pure decisions over resolved configurations.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig, type RuntimeConfig } from '../../src/config/load.js';
import { nodeSettingsChanged, restartReasons, tenantChanges } from '../../src/gateway/tenant-reload.js';

type Entry = Record<string, unknown> & { id: string };
const entry = (id: string, o: { secret?: string; domains?: string[]; sfb?: boolean } = {}): Entry => ({
  id,
  xmpp: { domain: `teams.${id}.example`, password: `${id}-secret` },
  teams: {
    tenantId: `tenant-${id}`,
    clientId: 'c',
    clientSecret: o.secret ?? `${id}-app-secret`,
    webhook: { listen: '127.0.0.1:8090', publicUrl: `https://gw.example.org/graph/${id}` },
    puppets: { upnDomain: `xmpp.${id}.example`, passwordSecret: 'm' },
  },
  policy: { domains: o.domains ?? ['partner.example'], users: ['*'] },
  ...(o.sfb
    ? {
        sfb: {
          listen: '127.0.0.1:5061',
          fqdn: 'gw.example.org',
          tls: { certFile: '/x.pem', keyFile: '/x.key', caFile: '/ca.pem' },
          pool: { fqdn: 'pool.example.org' },
          trustedPeers: ['pool.example.org'],
          users: [`carol@${id}.example`],
        },
      }
    : {}),
});
const config = (tenants: Entry[], extra: Record<string, unknown> = {}): RuntimeConfig => resolveConfig({ xmpp: { service: 'xmpp://127.0.0.1:5347' }, tenants, ...extra }, { env: {} });

describe('a tenants reload', () => {
  it('finds the tenants added, removed and changed, a rotated secret included', () => {
    const now = config([entry('contoso'), entry('fabrikam'), entry('litware')]);
    const next = config([entry('contoso'), entry('litware', { secret: 'rotated' }), entry('northwind')]);
    const c = tenantChanges(now.tenants, next.tenants);
    assert.deepEqual([c.added.map((t) => t.id), c.removed, c.changed.map((t) => t.id)], [['northwind'], ['fabrikam'], ['litware']]);
    assert.deepEqual(restartReasons(now.tenants, next.tenants, c), []);
    const same = tenantChanges(now.tenants, config([entry('contoso'), entry('fabrikam'), entry('litware')]).tenants);
    assert.deepEqual([same.added, same.removed, same.changed], [[], [], []], 'the same file changes nothing');
  });

  it('refuses what takes a restart: the first tenant removed, moved or changed, a tenant with an SfB side', () => {
    const now = config([entry('contoso'), entry('fabrikam')]);
    const cases: [string, Entry[], RegExp][] = [
      ['the first tenant removed', [entry('fabrikam')], /tenant contoso must stay first/u],
      ['the tenants reordered', [entry('fabrikam'), entry('contoso')], /tenant contoso must stay first/u],
      ['the first tenant changed', [entry('contoso', { domains: ['other.example'] }), entry('fabrikam')], /tenant contoso is the first tenant: a change to it takes a restart/u],
      ['a tenant with an SfB side added', [entry('contoso'), entry('fabrikam'), entry('litware', { sfb: true })], /tenant litware has an SfB side/u],
    ];
    for (const [what, tenants, reason] of cases) {
      const next = config(tenants);
      assert.match(restartReasons(now.tenants, next.tenants, tenantChanges(now.tenants, next.tenants)).join('; '), reason, what);
    }
  });

  it('names the node settings a reload cannot apply, and none for tenants and walls', () => {
    const now = config([entry('contoso'), entry('fabrikam')]);
    const walls = { walls: { between: [{ tenant: 'contoso', peer: 'fabrikam' }] } };
    assert.deepEqual(nodeSettingsChanged(now, config([entry('contoso'), entry('fabrikam', { secret: 'rotated' })], walls)), []);
    assert.deepEqual(nodeSettingsChanged(now, config([entry('contoso'), entry('fabrikam')], { log: { level: 'debug' }, actors: { idleSeconds: 30 } })), ['actors', 'log']);
  });
});
