/** A licence signed with the test key, written the way an operator's file would be (trusted by test builds only). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LicenceTerms } from '../../src/cluster/licence.js';
import { trustTestLicenceKeys } from '../../src/cluster/licence-keys.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { signLicence } from '../../tools/licence-signing.js';
import { TEST_LICENCE_KEY } from './licence-test-key.js';

export interface TestLicence {
  readonly file: string;
  /** The test key's public half, as a file (for configurations that narrow the trusted keys to it). */
  readonly publicKeyFile: string;
  readonly terms: LicenceTerms;
}

/** In-process gateways and nodes (benches, unit tests) of a test build trust the test key. */
export function trustTestKeyInThisProcess(): void {
  trustTestLicenceKeys([TEST_LICENCE_KEY.publicKeyPem]);
}

/** `tenants`: the Entra tenants it covers (default: the demo tenant's). */
export async function writeTestLicence(dir: string, o: { maxNodes: number; expiresInMs?: number; id?: string; maxRemoteDomains?: number; tenants?: readonly string[] }): Promise<TestLicence> {
  const now = Date.now();
  const terms: LicenceTerms = {
    id: o.id ?? 'L-test',
    licensee: 'Test Org',
    maxNodes: o.maxNodes,
    issuedAt: new Date(now - 60_000).toISOString(),
    expiresAt: new Date(now + (o.expiresInMs ?? 86_400_000)).toISOString(),
    limits: { tenants: [...(o.tenants ?? [DEMO.tenantId])], ...(o.maxRemoteDomains !== undefined ? { maxRemoteDomains: o.maxRemoteDomains } : {}) },
  };
  const file = join(dir, `${terms.id}.licence.json`);
  const publicKeyFile = join(dir, `${terms.id}.pub`);
  await writeFile(file, JSON.stringify(signLicence(terms, TEST_LICENCE_KEY.privateKeyPem), null, 2));
  await writeFile(publicKeyFile, TEST_LICENCE_KEY.publicKeyPem);
  return { file, publicKeyFile, terms };
}
