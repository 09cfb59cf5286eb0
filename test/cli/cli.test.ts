import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, XTG_CONFIG: '' } });

describe('the xmpp-teams-gateway command', () => {
  it('exits 2 naming each bad key of a configuration file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtg-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'xmpp:\n  service: http://127.0.0.1:5347\n  domain: Teams_Bad\nteams: {}\n');
    const r = run('start', '--config', file);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /xmpp\.service: expected xmpp:\/\//u);
    assert.match(r.stderr, /xmpp\.domain: expected a lower-case DNS domain/u);
    assert.match(r.stderr, /xmpp\.password: required key is missing/u);
    assert.match(r.stderr, /teams\.tenantId: required key is missing/u);
  });
  it('exits 1 with the cause when the store cannot be opened', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtg-cli-'));
    const db = join(dir, 'not-a-db.sqlite');
    writeFileSync(db, 'this is not a database file, it is text '.repeat(200));
    const file = join(dir, 'gw.yaml');
    writeFileSync(
      file,
      `xmpp: {service: "xmpp://127.0.0.1:1", domain: teams.example, password: x}
teams: {tenantId: t, clientId: c, clientSecret: s, webhook: {listen: "127.0.0.1:0", publicUrl: "https://gw.example/n"}, puppets: {upnDomain: p.example, passwordSecret: m}}
store: {sqlite: {path: not-a-db.sqlite}}
admin: {listen: "127.0.0.1:0"}
`,
    );
    const r = run('start', '--config', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot open SQLite store .*not-a-db\.sqlite: file is not a database/u);
  });
  it('validates a good file with check-config, and rejects unknown commands with usage', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtg-cli-'));
    const file = join(dir, 'gw.yaml');
    writeFileSync(
      file,
      `xmpp: {service: "xmpp://127.0.0.1:5347", domain: teams.example, password: x}
teams: {tenantId: t, clientId: c, clientSecret: s, webhook: {listen: "127.0.0.1:8090", publicUrl: "https://gw.example/n"}, puppets: {upnDomain: p.example, passwordSecret: m}}
`,
    );
    const ok = run('check-config', '--config', file);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /valid/u);
    const bad = run('frobnicate');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown command 'frobnicate'/u);
  });
});
