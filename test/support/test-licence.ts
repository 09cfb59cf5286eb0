/** A licence signing key and a signed licence for tests, written the way an operator's files would be. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, signLicence, type LicenceTerms } from '../../src/cluster/licence.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';

export interface TestLicence {
  readonly file: string;
  readonly publicKeyFile: string;
  readonly terms: LicenceTerms;
}

export async function writeTestLicence(dir: string, o: { maxNodes: number; expiresInMs?: number; id?: string }): Promise<TestLicence> {
  const keys = generateKeyPair();
  const now = Date.now();
  const terms: LicenceTerms = {
    id: o.id ?? 'L-test',
    licensee: 'Test Org',
    maxNodes: o.maxNodes,
    issuedAt: new Date(now - 60_000).toISOString(),
    expiresAt: new Date(now + (o.expiresInMs ?? 86_400_000)).toISOString(),
    limits: { tenants: [DEMO.tenantId] },
  };
  const file = join(dir, `${terms.id}.licence.json`);
  const publicKeyFile = join(dir, `${terms.id}.pub`);
  await writeFile(file, JSON.stringify(signLicence(terms, keys.privateKeyPem), null, 2));
  await writeFile(publicKeyFile, keys.publicKeyPem);
  return { file, publicKeyFile, terms };
}
