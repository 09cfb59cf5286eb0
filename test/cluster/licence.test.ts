import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LicenceKeyError, canonicalJson, keyIdOf, loadLicence, readTrustedKeys, verifyLicence, type LicenceProblem, type LicenceTerms } from '../../src/cluster/licence.js';
import { VENDOR_LICENCE_KEYS, buildKind, buildLicenceKeys, trustTestLicenceKeys, trustedLicenceKeys } from '../../src/cluster/licence-keys.js';
import { generateKeyPair, signLicence } from '../../tools/licence-signing.js';
import { TEST_LICENCE_KEY } from '../support/licence-test-key.js';
import { Writable } from 'node:stream';
import { LoneNodeLicence, type LicenceMode } from '../../src/cluster/lone-node-licence.js';
import { createLogger } from '../../src/observability/logger.js';

const vendor = generateKeyPair();
const stranger = generateKeyPair();
const NOW = Date.parse('2026-06-01T00:00:00Z');
const TERMS: LicenceTerms = {
  id: 'L-42',
  licensee: 'Contoso Ltd',
  maxNodes: 3,
  issuedAt: '2026-01-01T00:00:00Z',
  expiresAt: '2026-10-01T00:00:00Z',
  limits: { tenants: ['11111111-2222-3333-4444-555555555555'], maxRemoteDomains: 20 },
};
const TENANT = '11111111-2222-3333-4444-555555555555';
const NORTHWIND_ENTRA = '66666666-7777-8888-9999-000000000000';

const text = (value: unknown) => JSON.stringify(value, null, 2);
const signed = (terms: LicenceTerms = TERMS, key = vendor.privateKeyPem) => JSON.parse(text(signLicence(terms, key))) as Record<string, unknown> & { terms: Record<string, unknown> };

describe('canonicalJson', () => {
  it('sorts keys recursively, keeps array order, and has no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    assert.equal(canonicalJson({ b: 2, a: 1 }), canonicalJson({ a: 1, b: 2 }));
  });
  it('encodes strings and numbers as JSON does and drops undefined fields', () => {
    assert.equal(canonicalJson({ s: 'é "q"\n', n: 1.5, t: true, z: null, u: undefined }), '{"n":1.5,"s":"é \\"q\\"\\n","t":true,"z":null}');
  });
});

describe('verifyLicence', () => {
  const trusted = [vendor.publicKeyPem];
  const cases: { name: string; file: () => string; now?: number; tenant?: string; keys?: string[]; problem: LicenceProblem; detail: RegExp }[] = [
    { name: 'a tampered terms field', file: () => text({ ...signed(), terms: { ...signed().terms, maxNodes: 30 } }), problem: 'bad-signature', detail: /licence L-42 does not match its signature/u },
    { name: 'a signature from another key under the right key id', file: () => text({ ...signed(), signature: signed(TERMS, stranger.privateKeyPem).signature }), problem: 'bad-signature', detail: /does not match its signature/u },
    { name: 'a licence signed by another key', file: () => text(signed(TERMS, stranger.privateKeyPem)), problem: 'untrusted-key', detail: new RegExp(`signed with key ${stranger.keyId}, which is not trusted \\(trusted: ${vendor.keyId}\\)`, 'u') },
    { name: 'no trusted keys at all', file: () => text(signed()), keys: [], problem: 'untrusted-key', detail: /no licence public keys are trusted/u },
    { name: 'an expired licence', file: () => text(signed()), now: Date.parse('2026-10-01T00:00:00Z'), problem: 'expired', detail: /^licence L-42 expired on 2026-10-01T00:00:00\.000Z$/u },
    {
      name: 'a licence before its notBefore',
      file: () => text(signed({ ...TERMS, notBefore: '2026-07-01' })),
      problem: 'not-yet-valid',
      detail: /^licence L-42 is not valid before 2026-07-01T00:00:00\.000Z \(now 2026-06-01T00:00:00\.000Z\)$/u,
    },
    { name: 'a tenant the licence does not cover', file: () => text(signed()), tenant: 'other-tenant', problem: 'tenant-not-licensed', detail: /does not cover Entra tenant other-tenant \(it covers 11111111-/u },
    { name: 'text that is not JSON', file: () => 'format: xtg-licence/1', problem: 'malformed', detail: /^licence file is not JSON/u },
    { name: 'a JSON array', file: () => '[]', problem: 'malformed', detail: /not a JSON object/u },
    { name: 'another format', file: () => text({ ...signed(), format: 'xtg-licence/2' }), problem: 'malformed', detail: /licence format is "xtg-licence\/2", expected "xtg-licence\/1"/u },
    { name: 'no signature', file: () => text({ ...signed(), signature: undefined }), problem: 'malformed', detail: /signature is missing/u },
    { name: 'a damaged signature', file: () => text({ ...signed(), signature: 'not*base64' }), problem: 'malformed', detail: /base64 of a 64-byte Ed25519 signature/u },
    { name: 'no terms', file: () => text({ ...signed(), terms: undefined }), problem: 'malformed', detail: /terms are missing/u },
    { name: 'no licensee', file: () => text({ ...signed(), terms: { ...signed().terms, licensee: undefined } }), problem: 'malformed', detail: /licence L-42: terms\.licensee must be a non-empty string/u },
    { name: 'an empty id', file: () => text({ ...signed(), terms: { ...signed().terms, id: ' ' } }), problem: 'malformed', detail: /terms\.id must be a non-empty string/u },
    { name: 'maxNodes 0', file: () => text({ ...signed(), terms: { ...signed().terms, maxNodes: 0 } }), problem: 'malformed', detail: /terms\.maxNodes must be a positive whole number, got 0/u },
    { name: 'maxNodes 2.5', file: () => text({ ...signed(), terms: { ...signed().terms, maxNodes: 2.5 } }), problem: 'malformed', detail: /terms\.maxNodes must be a positive whole number, got 2\.5/u },
    { name: 'a date that does not parse', file: () => text({ ...signed(), terms: { ...signed().terms, expiresAt: 'next year' } }), problem: 'malformed', detail: /terms\.expiresAt must be an ISO 8601 date .* got "next year"/u },
    { name: 'a day that does not exist', file: () => text({ ...signed(), terms: { ...signed().terms, expiresAt: '2026-02-30' } }), problem: 'malformed', detail: /terms\.expiresAt must be an ISO 8601 date/u },
    { name: 'a date-time without zone', file: () => text({ ...signed(), terms: { ...signed().terms, expiresAt: '2026-10-01T00:00:00' } }), problem: 'malformed', detail: /terms\.expiresAt must be an ISO 8601 date/u },
    { name: 'expiry before issue', file: () => text({ ...signed(), terms: { ...signed().terms, expiresAt: '2025-01-01' } }), problem: 'malformed', detail: /terms\.expiresAt \(2025-01-01\) is not after terms\.issuedAt/u },
    { name: 'an unknown terms field', file: () => text({ ...signed(), terms: { ...signed().terms, regions: ['eu'] } }), problem: 'malformed', detail: /terms have unknown field 'regions'/u },
    { name: 'an empty tenant list', file: () => text({ ...signed(), terms: { ...signed().terms, limits: { tenants: [] } } }), problem: 'malformed', detail: /terms\.limits\.tenants is empty; leave it out to allow any tenant/u },
    { name: 'maxRemoteDomains 0', file: () => text({ ...signed(), terms: { ...signed().terms, limits: { maxRemoteDomains: 0 } } }), problem: 'malformed', detail: /terms\.limits\.maxRemoteDomains must be a positive whole number/u },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}: ${c.problem}`, () => {
      const verdict = verifyLicence(c.file(), c.keys ?? trusted, c.now ?? NOW, c.tenant);
      assert.equal(verdict.ok, false);
      if (verdict.ok) return;
      assert.equal(verdict.problem, c.problem, verdict.detail);
      assert.match(verdict.detail, c.detail);
    });
  }

  it('accepts a valid licence, whatever its formatting and key order, with or without a tenant to check', () => {
    const file = signed();
    const reordered = `{"signature":${JSON.stringify(file.signature)},"keyId":"${vendor.keyId}","terms":${canonicalJson(file.terms)},"format":"xtg-licence/1"}`;
    for (const t of [text(file), reordered]) {
      for (const tenant of [undefined, TENANT, TENANT.toUpperCase()]) {
        const verdict = verifyLicence(t, [stranger.publicKeyPem, vendor.publicKeyPem], NOW, tenant);
        assert.deepEqual(verdict, { ok: true, terms: file.terms });
      }
    }
  });

  it('with several tenants (issue 16), covers the node only when it covers each, and names every one it does not', () => {
    const both = text(signed({ ...TERMS, limits: { tenants: [TENANT, NORTHWIND_ENTRA] } }));
    assert.equal(verifyLicence(both, trusted, NOW, [TENANT, NORTHWIND_ENTRA.toUpperCase()]).ok, true);
    const verdict = verifyLicence(text(signed()), trusted, NOW, [TENANT, NORTHWIND_ENTRA, 'third-tenant']);
    assert.equal(verdict.ok === false && verdict.problem, 'tenant-not-licensed');
    assert.equal(verdict.ok === false && verdict.detail, `licence L-42 does not cover Entra tenants ${NORTHWIND_ENTRA}, third-tenant (it covers ${TENANT})`);
    assert.equal(verifyLicence(text(signed({ ...TERMS, limits: undefined })), trusted, NOW, [TENANT, NORTHWIND_ENTRA]).ok, true, 'a licence naming no tenant covers any');
  });

  it('accepts any tenant when the licence names none, and is valid from notBefore until just before expiry', () => {
    const file = text(signed({ ...TERMS, notBefore: '2026-02-01T00:00:00Z', limits: undefined }));
    assert.equal(verifyLicence(file, trusted, NOW, 'any-tenant').ok, true);
    assert.equal(verifyLicence(file, trusted, Date.parse('2026-02-01T00:00:00Z')).ok, true);
    assert.equal(verifyLicence(file, trusted, Date.parse('2026-10-01T00:00:00Z') - 1).ok, true);
  });

  it('throws LicenceKeyError for an unusable trusted key rather than blaming the licence', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    assert.throws(() => verifyLicence(text(signed()), [rsa.publicKey], NOW), LicenceKeyError);
  });
});

describe("the vendor's signLicence and generateKeyPair (tools/)", () => {
  it('names the key by a fingerprint of its public half and refuses malformed terms or a non-Ed25519 key', () => {
    assert.match(vendor.keyId, /^[0-9a-f]{16}$/u);
    assert.equal(keyIdOf(vendor.publicKeyPem), vendor.keyId);
    assert.notEqual(stranger.keyId, vendor.keyId);
    assert.equal(signLicence(TERMS, vendor.privateKeyPem).keyId, vendor.keyId);
    assert.throws(() => signLicence({ ...TERMS, maxNodes: 0 }, vendor.privateKeyPem), /cannot sign: licence L-42: terms\.maxNodes must be a positive whole number/u);
    assert.throws(() => signLicence(TERMS, vendor.publicKeyPem), (err) => err instanceof LicenceKeyError && /is a public key/u.test(err.message));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    assert.throws(() => signLicence(TERMS, rsa.privateKey), /of type rsa; licences are signed with Ed25519/u);
  });
});

describe('readTrustedKeys and loadLicence', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtg-licence-'));
  const pubFile = join(dir, 'vendor.pub');
  writeFileSync(pubFile, vendor.publicKeyPem);

  it('takes PEM texts and PEM file paths alike', () => {
    const keys = readTrustedKeys([pubFile, stranger.publicKeyPem]);
    assert.deepEqual(keys.map((k) => keyIdOf(k)), [vendor.keyId, stranger.keyId]);
  });

  it('names the entry it cannot use', () => {
    const privFile = join(dir, 'vendor.key');
    writeFileSync(privFile, vendor.privateKeyPem);
    const garbage = join(dir, 'garbage.pub');
    writeFileSync(garbage, 'hello');
    const cases: [string, RegExp][] = [
      [join(dir, 'nope.pub'), /cannot read licence public key file .*nope\.pub: ENOENT/u],
      [privFile, /licence public key file .*vendor\.key is a private key; give the public key/u],
      [garbage, /licence public key file .*garbage\.pub is not a PEM public key/u],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', /licence public key #1 \(inline PEM\) is not a PEM public key/u],
    ];
    for (const [entry, message] of cases) assert.throws(() => readTrustedKeys([entry]), (err) => err instanceof LicenceKeyError && message.test(err.message));
  });

  it("reports 'missing' for no path or no file, and names the file when it is malformed", () => {
    assert.deepEqual(loadLicence(undefined, [vendor.publicKeyPem], NOW), { ok: false, problem: 'missing', detail: 'no licence file is configured (cluster.licence.file)' });
    const absent = join(dir, 'absent.json');
    assert.deepEqual(loadLicence(absent, [vendor.publicKeyPem], NOW), { ok: false, problem: 'missing', detail: `licence file ${absent} does not exist` });
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{');
    const verdict = loadLicence(broken, [vendor.publicKeyPem], NOW);
    assert.equal(verdict.ok, false);
    if (!verdict.ok) assert.match(verdict.detail, new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&')}: licence file is not JSON`, 'u'));
    const good = join(dir, 'good.json');
    writeFileSync(good, text(signed()));
    assert.equal(loadLicence(good, readTrustedKeys([pubFile]), NOW, TENANT).ok, true);
  });
});

describe("the build's licence keys (issue 12 finding 2)", () => {
  const homeMade = generateKeyPair();
  const dir = mkdtempSync(join(tmpdir(), 'xtg-licence-keys-'));
  const homeMadeFile = join(dir, 'home-made.pub');
  writeFileSync(homeMadeFile, homeMade.publicKeyPem);
  const licence999 = text(signLicence({ ...TERMS, id: 'L-999', maxNodes: 999, expiresAt: '2099-01-01' }, homeMade.privateKeyPem));

  it('a release build trusts the vendor key only: a home-made key pair with a 999-node licence is refused, even when configured', () => {
    assert.equal(buildKind(), 'release');
    assert.deepEqual(buildLicenceKeys().map((k) => keyIdOf(k)), VENDOR_LICENCE_KEYS.map((k) => keyIdOf(k)));
    const verdict = verifyLicence(licence999, trustedLicenceKeys([]), NOW);
    assert.equal(verdict.ok === false && verdict.problem, 'untrusted-key');
    assert.throws(
      () => trustedLicenceKeys([homeMadeFile]),
      (err) => err instanceof LicenceKeyError && new RegExp(`key ${homeMade.keyId}\\) is not one of this build's licence keys .* can only narrow`, 'u').test(err.message),
    );
  });

  it('the configuration may narrow the build keys, and a release build refuses a licence signed with the test key', () => {
    assert.deepEqual(trustedLicenceKeys([VENDOR_LICENCE_KEYS[0] as string]).map((k) => keyIdOf(k)), [keyIdOf(VENDOR_LICENCE_KEYS[0] as string)]);
    const testSigned = text(signLicence(TERMS, TEST_LICENCE_KEY.privateKeyPem));
    const verdict = verifyLicence(testSigned, trustedLicenceKeys([]), NOW);
    assert.equal(verdict.ok === false && verdict.problem, 'untrusted-key');
    assert.throws(() => trustedLicenceKeys([TEST_LICENCE_KEY.publicKeyPem]), LicenceKeyError);
  });

  it('a test build (started through the test harness) also trusts the test key, and nothing else', () => {
    trustTestLicenceKeys([TEST_LICENCE_KEY.publicKeyPem]);
    try {
      assert.equal(buildKind(), 'test');
      assert.equal(verifyLicence(text(signLicence(TERMS, TEST_LICENCE_KEY.privateKeyPem)), trustedLicenceKeys([]), NOW).ok, true);
      assert.equal(verifyLicence(licence999, trustedLicenceKeys([]), NOW).ok, false);
    } finally {
      trustTestLicenceKeys([]);
    }
  });
});

describe('a lone node serving several tenants (issue 16)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtg-licence-tenants-'));
  const lines: string[] = [];
  const log = createLogger({ level: 'info', nodeId: 't', stream: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const lone = (file: string) => {
    const modes: LicenceMode[] = [];
    const l = new LoneNodeLicence({ file, publicKeys: [], tenantIds: () => [TENANT, NORTHWIND_ENTRA], log, onChange: (m) => modes.push(m), now: () => NOW });
    l.check();
    return l;
  };

  it('runs in evaluation mode, saying which tenant its licence leaves out, unless the licence covers every tenant', () => {
    trustTestLicenceKeys([TEST_LICENCE_KEY.publicKeyPem]);
    try {
      const first = join(dir, 'first-only.json');
      writeFileSync(first, text(signLicence(TERMS, TEST_LICENCE_KEY.privateKeyPem)));
      const onlyFirst = lone(first).mode();
      assert.equal(onlyFirst.mode, 'evaluation');
      assert.match(onlyFirst.mode === 'evaluation' ? onlyFirst.reason : '', new RegExp(`licence tenant-not-licensed: licence L-42 does not cover Entra tenant ${NORTHWIND_ENTRA} `, 'u'));
      assert.ok(lines.some((l) => l.includes('EVALUATION MODE') && l.includes(NORTHWIND_ENTRA)), 'the log says why');
      const both = join(dir, 'both.json');
      writeFileSync(both, text(signLicence({ ...TERMS, limits: { tenants: [TENANT, NORTHWIND_ENTRA] } }, TEST_LICENCE_KEY.privateKeyPem)));
      assert.equal(lone(both).mode().mode, 'licensed');
    } finally {
      trustTestLicenceKeys([]);
    }
  });
});
