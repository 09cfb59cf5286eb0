/** Certificates from the test CA for SIP peers with distinct FQDNs (all on 127.0.0.1 through a static host map). */
import { issueCertificate, ensureTlsMaterial } from '../../src/sandbox/tls.js';
import type { TlsIdentity } from '../../src/sfb/sip/transport.js';
import { testTlsDir } from '../support/federation.js';

export async function testIdentity(...names: string[]): Promise<TlsIdentity> {
  const dir = testTlsDir();
  const m = await ensureTlsMaterial(dir);
  const leaf = await issueCertificate(m, dir, names);
  return { key: leaf.key, cert: leaf.cert, ca: m.caCert };
}

/** Every test host name resolves to loopback. */
export function loopbackHosts(...names: string[]): Map<string, string> {
  return new Map(names.map((n) => [n, '127.0.0.1']));
}

export async function waitFor<T>(check: () => T | undefined, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
