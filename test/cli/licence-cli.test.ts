/**
 * Licences from the command line (issue 12 finding 2): the vendor's signing tool (tools/licence-signer.ts, not
 * part of the gateway) makes keys and signs; the gateway's `licence show` verifies as a node of its build does: a
 * release build (dist/src/main.js) trusts only the vendor key, a test build (the test harness) also the test key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { signLicence } from '../../tools/licence-signing.js';
import { TEST_LICENCE_KEY } from '../support/licence-test-key.js';

const SIGNER = fileURLToPath(new URL('../../tools/licence-signer.js', import.meta.url));
const RELEASE = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const TEST_BUILD = fileURLToPath(new URL('../support/test-node.js', import.meta.url));
const env = { ...process.env, XTG_CONFIG: '' };
const signer = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [SIGNER, ...args], { cwd, encoding: 'utf8', env });
const gateway = (build: string, cwd: string, ...args: string[]) => spawnSync(process.execPath, [build, 'licence', ...args], { cwd, encoding: 'utf8', env });

describe('licences from the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtg-licence-cli-'));
  const nextYear = `${new Date().getUTCFullYear() + 1}-10-01`;

  it("the vendor's tool makes a key pair and signs a licence with it", () => {
    const keygen = signer(dir, 'keygen', '--out', 'keys');
    assert.equal(keygen.status, 0, keygen.stderr);
    assert.match(keygen.stdout, /^key id\s+[0-9a-f]{16}$/mu);
    assert.equal(statSync(join(dir, 'keys/licence-signing.key')).mode & 0o777, 0o600);
    const keyId = /key id\s+([0-9a-f]{16})/u.exec(keygen.stdout)?.[1];
    const sign = signer(dir, 'sign', '--key', 'keys/licence-signing.key', '--licensee', 'Contoso Ltd', '--max-nodes', '999', '--expires', nextYear, '--tenant', 'tenant-a', '--tenant', 'tenant-b', '--max-remote-domains', '5', '--out', 'home-made.json');
    assert.equal(sign.status, 0, sign.stderr);
    assert.match(sign.stdout, /signed licence L-[0-9A-F]{8} for Contoso Ltd: 999 nodes/u);
    const file = JSON.parse(readFileSync(join(dir, 'home-made.json'), 'utf8')) as { format: string; keyId: string; terms: Record<string, unknown> };
    assert.equal(file.keyId, keyId);
    assert.deepEqual(file.terms.limits, { tenants: ['tenant-a', 'tenant-b'], maxRemoteDomains: 5 });
    assert.equal(file.terms.expiresAt, `${nextYear}T00:00:00.000Z`);
  });

  it('a release build refuses a licence signed with a home-made key, and takes no key from the command line', () => {
    const show = gateway(RELEASE, dir, 'show', '--file', 'home-made.json');
    assert.equal(show.status, 1);
    assert.match(show.stdout, /^licensee\s+Contoso Ltd$/mu);
    assert.match(show.stdout, /^verdict\s+REJECTED \(untrusted-key\)/mu);
    assert.match(show.stderr, /home-made\.json rejected \(untrusted-key\): licence L-[0-9A-F]{8} is signed with key [0-9a-f]{16}, which is not trusted/u);
    assert.doesNotMatch(show.stderr, /\n\s+at /u, 'no stack trace');
    const withKey = gateway(RELEASE, dir, 'show', '--file', 'home-made.json', '--public-key', 'keys/licence-signing.pub');
    assert.equal(withKey.status, 2);
    assert.match(withKey.stderr, /does not take --public-key: a node trusts only the keys of its build/u);
  });

  it('the gateway has no signing command', () => {
    for (const sub of ['keygen', 'sign']) {
      const r = gateway(RELEASE, dir, sub);
      assert.equal(r.status, 2, sub);
      assert.match(r.stderr, /licences are made with the vendor's signing tool, which is not part of the gateway/u);
    }
  });

  it('a licence signed with the test key is valid in a test build only', () => {
    const terms = { id: 'L-T', licensee: 'Test Org', maxNodes: 2, issuedAt: new Date().toISOString(), expiresAt: `${nextYear}T00:00:00Z` };
    writeFileSync(join(dir, 'test-signed.json'), JSON.stringify(signLicence(terms, TEST_LICENCE_KEY.privateKeyPem), null, 2));
    const inTest = gateway(TEST_BUILD, dir, 'show', '--file', 'test-signed.json');
    assert.equal(inTest.status, 0, inTest.stderr);
    assert.match(inTest.stdout, new RegExp(`^verdict\\s+valid, signed by key ${TEST_LICENCE_KEY.keyId} of this test build$`, 'mu'));
    const inRelease = gateway(RELEASE, dir, 'show', '--file', 'test-signed.json');
    assert.equal(inRelease.status, 1);
    assert.match(inRelease.stdout, /REJECTED \(untrusted-key\)/u);
    const tampered = readFileSync(join(dir, 'test-signed.json'), 'utf8').replace('"maxNodes": 2', '"maxNodes": 20');
    writeFileSync(join(dir, 'tampered.json'), tampered);
    const t = gateway(TEST_BUILD, dir, 'show', '--file', 'tampered.json');
    assert.equal(t.status, 1);
    assert.match(t.stderr, /rejected \(bad-signature\)/u);
  });

  it('the signing tool refuses to overwrite a signing key', () => {
    const before = readFileSync(join(dir, 'keys/licence-signing.key'), 'utf8');
    const again = signer(dir, 'keygen', '--out', 'keys');
    assert.equal(again.status, 1);
    assert.match(again.stderr, /keys\/licence-signing\.key already exists; refusing to overwrite a licence signing key/u);
    assert.equal(readFileSync(join(dir, 'keys/licence-signing.key'), 'utf8'), before);
  });

  it('the signing tool exits 2 naming a bad or missing sign option', () => {
    const base = ['sign', '--key', 'keys/licence-signing.key', '--licensee', 'X', '--out', 'x.json'];
    const cases: [string[], RegExp][] = [
      [[...base, '--expires', nextYear], /--max-nodes N is required/u],
      [[...base, '--max-nodes', '0', '--expires', nextYear], /--max-nodes must be a positive whole number, got '0'/u],
      [[...base, '--max-nodes', '2'], /--expires ISO-DATE is required/u],
      [[...base, '--max-nodes', '2', '--expires', 'soon'], /--expires must be an ISO 8601 date/u],
      [[...base, '--max-nodes', '2', '--expires', '2001-01-01'], /--expires 2001-01-01T00:00:00\.000Z is in the past/u],
      [[...base, '--max-nodes', '2', '--expires', nextYear, '--not-before', `${nextYear}T00:00:00Z`], /--not-before .* is not before --expires/u],
      [['sign', '--licensee', 'X', '--max-nodes', '2', '--expires', nextYear, '--out', 'x.json'], /--key PRIVATE\.pem .* is required/u],
      [['frobnicate'], /expected 'keygen' or 'sign'/u],
    ];
    for (const [args, message] of cases) {
      const r = signer(dir, ...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, message);
    }
  });
});
