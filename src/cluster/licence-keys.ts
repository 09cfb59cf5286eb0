/**
 * The licence keys a node trusts (issue 12 finding 2: a licensee must not be able to license themselves). They
 * are part of the build, not of the configuration: `cluster.licence.publicKeys` may only narrow this set (e.g. to
 * retire an old vendor key early), never add a key to it.
 *
 * A build is a release build unless a test harness, in its own process, adds the test signing key: the test
 * entry point (dist/test/support/test-node.js) calls trustTestLicenceKeys before the gateway starts. The release
 * image and the npm package contain only dist/src (no test code, no test key, no signing tool; pinned by
 * test/ops/image-layout.test.ts), and nothing in configuration or the environment reaches that function. What
 * this protects and what it cannot is in docs/licensing.md.
 */
import { createPublicKey } from 'node:crypto';
import { LicenceKeyError, keyIdOf, readTrustedKeys } from './licence.js';

/**
 * The vendor's licence verification keys (Ed25519, SPKI PEM). The private halves live with the vendor's signing
 * tool (tools/licence-signer.ts), never in this repository nor on a node. Key c888f6a22a19e02c.
 */
export const VENDOR_LICENCE_KEYS: readonly string[] = [
  `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEADyA/0w4Xl1uBWim7eWExnf1kUPUw/gNIrqtQ31Eb5to=
-----END PUBLIC KEY-----
`,
];

let testKeys: readonly string[] = [];

/** Test harness only: this process also trusts these keys (a test build). See the comment at the top. */
export function trustTestLicenceKeys(pems: readonly string[]): void {
  testKeys = pems.map(normalise);
}

/** 'release' unless a test harness added its keys to this process. */
export function buildKind(): 'release' | 'test' {
  return testKeys.length > 0 ? 'test' : 'release';
}

/** The keys this build trusts: the vendor's, and in a test build the test key. */
export function buildLicenceKeys(): string[] {
  return [...VENDOR_LICENCE_KEYS.map(normalise), ...testKeys];
}

/**
 * The keys a node trusts: the build's, narrowed to `configured` when that lists any. A configured key the build
 * does not trust is a configuration error (LicenceKeyError): configuration cannot add trust.
 */
export function trustedLicenceKeys(configured: readonly string[]): string[] {
  const built = buildLicenceKeys();
  if (configured.length === 0) return built;
  const wanted = readTrustedKeys(configured);
  for (const [i, pem] of wanted.entries()) {
    if (!built.includes(pem)) {
      throw new LicenceKeyError(
        `cluster.licence.publicKeys #${i + 1} (key ${keyIdOf(pem)}) is not one of this build's licence keys (${built.map((k) => keyIdOf(k)).join(', ')}); the configuration can only narrow them`,
      );
    }
  }
  return wanted;
}

function normalise(pem: string): string {
  return createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
}
