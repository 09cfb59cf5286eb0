/** `front-server-config` prints the front server's S2S whitelist from the configuration and the run-time list. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, XTG_CONFIG: '' } });

describe('xmpp-teams-gateway front-server-config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtg-fsc-'));
  const file = join(dir, 'gw.yaml');
  writeFileSync(
    file,
    `xmpp: {service: "xmpp://127.0.0.1:5347", domain: teams.example.org, password: x}
teams: {tenantId: t, clientId: c, clientSecret: s, webhook: {listen: "127.0.0.1:8090", publicUrl: "https://gw.example/n"}, puppets: {upnDomain: p.example, passwordSecret: m}}
store: {sqlite: {path: ${join(dir, 'gw.sqlite')}}}
policy: {domains: [partner.example, "*.allied.example"], users: ["*"]}
`,
  );
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('includes the domains added at run time, for Prosody and for ejabberd', () => {
    const added = run('whitelist', 'add', 'domain', 'newcomer.example', '--config', file, '--actor', 'test');
    assert.equal(added.status, 0, added.stderr);
    const prosody = run('front-server-config', '--server', 'prosody', '--config', file, '--dialback', 'legacy.example');
    assert.equal(prosody.status, 0, prosody.stderr);
    assert.match(prosody.stdout, /^Component "teams\.example\.org"$/mu);
    assert.match(prosody.stdout, /gateway_s2s_whitelist = \{ "newcomer\.example", "partner\.example", "\*\.allied\.example" \}/u);
    assert.match(prosody.stdout, /s2s_insecure_domains = \{ "legacy\.example" \}/u);
    const ejabberd = run('front-server-config', '--server', 'ejabberd', '--config', file);
    assert.equal(ejabberd.status, 0, ejabberd.stderr);
    const yaml = parse(ejabberd.stdout) as Record<string, unknown>;
    assert.deepEqual(yaml.acl, { xtg_partners: { server: ['newcomer.example', 'partner.example'], server_glob: ['*.allied.example'] } });
    assert.equal(yaml.s2s_access, 'xtg_s2s');
  });

  it('exits 2 without --server', () => {
    const r = run('front-server-config', '--config', file);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--server prosody or --server ejabberd/u);
  });
});
