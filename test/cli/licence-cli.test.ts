import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const run = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [MAIN, 'licence', ...args], { cwd, encoding: 'utf8', env: { ...process.env, XTG_CONFIG: '' } });

describe('the licence command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtg-licence-cli-'));
  const nextYear = `${new Date().getUTCFullYear() + 1}-10-01`;

  it('makes a key pair, signs a licence, and verifies it with the public key', () => {
    const keygen = run(dir, 'keygen', '--out', 'keys');
    assert.equal(keygen.status, 0, keygen.stderr);
    assert.match(keygen.stdout, /^key id\s+[0-9a-f]{16}$/mu);
    assert.match(keygen.stdout, /keys\/licence-signing\.key/u);
    assert.equal(statSync(join(dir, 'keys/licence-signing.key')).mode & 0o777, 0o600);
    const keyId = /key id\s+([0-9a-f]{16})/u.exec(keygen.stdout)?.[1];

    const sign = run(dir, 'sign', '--key', 'keys/licence-signing.key', '--licensee', 'Contoso Ltd', '--max-nodes', '3', '--expires', nextYear, '--tenant', 'tenant-a', '--tenant', 'tenant-b', '--max-remote-domains', '5', '--out', 'licence.json');
    assert.equal(sign.status, 0, sign.stderr);
    assert.match(sign.stdout, /signed licence L-[0-9A-F]{8} for Contoso Ltd: 3 nodes/u);
    const file = JSON.parse(readFileSync(join(dir, 'licence.json'), 'utf8')) as { format: string; keyId: string; terms: Record<string, unknown> };
    assert.equal(file.format, 'xtg-licence/1');
    assert.equal(file.keyId, keyId);
    assert.deepEqual(file.terms.limits, { tenants: ['tenant-a', 'tenant-b'], maxRemoteDomains: 5 });
    assert.equal(file.terms.expiresAt, `${nextYear}T00:00:00.000Z`);

    const show = run(dir, 'show', '--file', 'licence.json', '--public-key', 'keys/licence-signing.pub');
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /^licensee\s+Contoso Ltd$/mu);
    assert.match(show.stdout, /^tenants\s+tenant-a, tenant-b$/mu);
    assert.match(show.stdout, new RegExp(`^verdict\\s+valid, signed by trusted key ${keyId as string}$`, 'mu'));

    const unchecked = run(dir, 'show', '--file', 'licence.json');
    assert.equal(unchecked.status, 0, unchecked.stderr);
    assert.match(unchecked.stdout, /signature not checked/u);
  });

  it('exits non-zero with the reason when the licence is not signed by a trusted key or was changed', () => {
    assert.equal(run(dir, 'keygen', '--out', 'other').status, 0);
    const wrong = run(dir, 'show', '--file', 'licence.json', '--public-key', 'other/licence-signing.pub');
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /licence\.json rejected \(untrusted-key\): licence L-[0-9A-F]{8} is signed with key [0-9a-f]{16}, which is not trusted/u);
    assert.doesNotMatch(wrong.stderr, /\n\s+at /u, 'no stack trace');

    const both = run(dir, 'show', '--file', 'licence.json', '--public-key', 'other/licence-signing.pub', '--public-key', 'keys/licence-signing.pub');
    assert.equal(both.status, 0, both.stderr);

    const text = readFileSync(join(dir, 'licence.json'), 'utf8');
    writeFileSync(join(dir, 'tampered.json'), text.replace('"maxNodes": 3', '"maxNodes": 30'));
    const tampered = run(dir, 'show', '--file', 'tampered.json', '--public-key', 'keys/licence-signing.pub');
    assert.equal(tampered.status, 1);
    assert.match(tampered.stderr, /rejected \(bad-signature\)/u);
  });

  it('refuses to overwrite a signing key', () => {
    const before = readFileSync(join(dir, 'keys/licence-signing.key'), 'utf8');
    const again = run(dir, 'keygen', '--out', 'keys');
    assert.equal(again.status, 1);
    assert.match(again.stderr, /keys\/licence-signing\.key already exists; refusing to overwrite a licence signing key/u);
    assert.equal(readFileSync(join(dir, 'keys/licence-signing.key'), 'utf8'), before);
  });

  it('exits 2 naming a bad or missing sign option', () => {
    const base = ['sign', '--key', 'keys/licence-signing.key', '--licensee', 'X', '--out', 'x.json'];
    const cases: [string[], RegExp][] = [
      [[...base, '--expires', nextYear], /--max-nodes N is required/u],
      [[...base, '--max-nodes', '0', '--expires', nextYear], /--max-nodes must be a positive whole number, got '0'/u],
      [[...base, '--max-nodes', '2'], /--expires ISO-DATE is required/u],
      [[...base, '--max-nodes', '2', '--expires', 'soon'], /--expires must be an ISO 8601 date/u],
      [[...base, '--max-nodes', '2', '--expires', '2001-01-01'], /--expires 2001-01-01T00:00:00\.000Z is in the past/u],
      [[...base, '--max-nodes', '2', '--expires', nextYear, '--not-before', `${nextYear}T00:00:00Z`], /--not-before .* is not before --expires/u],
      [['sign', '--licensee', 'X', '--max-nodes', '2', '--expires', nextYear, '--out', 'x.json'], /--key PRIVATE\.pem .* is required/u],
      [['frobnicate'], /licence: expected 'keygen', 'sign' or 'show'/u],
    ];
    for (const [args, message] of cases) {
      const r = run(dir, ...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, message);
    }
  });
});
