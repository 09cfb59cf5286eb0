/**
 * A throwaway certificate authority for loopback demos and tests: Graph (and the emulator standing in for it)
 * is HTTPS only, and MSAL refuses a plain-http authority, so the emulator needs a certificate the gateway
 * trusts. The gateway trusts it through NODE_EXTRA_CA_CERTS, the same way an operator would add a corporate CA.
 * The same CA issues the XMPP servers' certificates for server-to-server TLS ({@link issueXmppCertificate}) and
 * the SfB servers' and trusted application's machine certificates ({@link issueCertificate}).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  /** PEM of the CA certificate, what clients must trust. */
  readonly caCert: string;
  readonly caCertPath: string;
  /** The CA's private key (PEM), to issue more certificates; never leaves the material's directory. */
  readonly caKey: string;
  /** Server key and certificate (signed by the CA) for 127.0.0.1 and localhost. */
  readonly key: string;
  readonly cert: string;
}

export interface IssuedCertificate {
  readonly key: string;
  readonly cert: string;
}

const DAY = 86_400_000;

function validity(days: number): { notBeforeDate: Date; notAfterDate: Date } {
  const now = Date.now();
  return { notBeforeDate: new Date(now - DAY), notAfterDate: new Date(now + days * DAY) };
}

async function createMaterial(): Promise<Omit<TlsMaterial, 'caCertPath'>> {
  const ca = await generate([{ name: 'commonName', value: 'xmpp-teams-gateway sandbox CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    ...validity(365),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    ...validity(365),
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { caCert: ca.cert, caKey: ca.private, key: leaf.private, cert: leaf.cert };
}

/**
 * Loads the material from `dir`, creating it on first use (kept so that a restarted demo keeps trusting it). A
 * directory made before the CA key was kept is made afresh.
 */
export async function ensureTlsMaterial(dir: string): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true });
  const paths = { ca: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), key: join(dir, 'server-key.pem'), cert: join(dir, 'server.pem') };
  try {
    const [caCert, caKey, key, cert] = await Promise.all([paths.ca, paths.caKey, paths.key, paths.cert].map((p) => readFile(p, 'utf8')));
    return { caCert: caCert!, caCertPath: paths.ca, caKey: caKey!, key: key!, cert: cert! };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const m = await createMaterial();
  await writeFile(paths.caKey, m.caKey, { mode: 0o600 });
  await writeFile(paths.key, m.key, { mode: 0o600 });
  await writeFile(paths.cert, m.cert);
  await writeFile(paths.ca, m.caCert);
  return { ...m, caCertPath: paths.ca };
}

/**
 * A certificate for an XMPP server's domains, as RFC 6120 §13.7.1.2 and RFC 7590 want for server-to-server TLS:
 * each domain as a DNS name in subjectAltName (what Prosody and ejabberd verify), usable both to accept
 * streams and to present when opening one (SASL EXTERNAL, XEP-0178), hence both extended key usages.
 * RSA keys, as the CA's (the library signs with the CA key as if it were of the leaf's type).
 */
export async function issueXmppCertificate(ca: Pick<TlsMaterial, 'caCert' | 'caKey'>, domains: readonly string[]): Promise<IssuedCertificate> {
  if (domains.length === 0) throw new Error('an XMPP server certificate needs at least one domain');
  const leaf = await generate([{ name: 'commonName', value: domains[0]! }], {
    keySize: 2048,
    algorithm: 'sha256',
    ...validity(90),
    ca: { key: ca.caKey, cert: ca.caCert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: domains.map((d) => ({ type: 2 as const, value: d })) },
    ],
  });
  return { key: leaf.private, cert: leaf.cert };
}

/** A certificate from a CA nobody trusts (an attacker's, or a partner's mistake), for the same names. */
export async function untrustedXmppCertificate(domains: readonly string[]): Promise<IssuedCertificate> {
  const rogue = await generate([{ name: 'commonName', value: 'untrusted CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    ...validity(30),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true },
    ],
  });
  return issueXmppCertificate({ caCert: rogue.cert, caKey: rogue.private }, domains);
}

/**
 * A certificate for `names` (the same profile as {@link issueXmppCertificate}: DNS subjectAltNames, server and client
 * authentication), kept in `dir` by name so that restarts reuse it: SfB servers and trusted applications
 * authenticate each other with such machine certificates (mutual TLS).
 */
export async function issueCertificate(m: TlsMaterial, dir: string, names: readonly string[]): Promise<IssuedCertificate & { file: string }> {
  // Key and certificate in one file, written by rename: test files issuing the same names at once never mix pairs.
  const file = join(dir, `leaf-${names.join('+').replace(/[^a-z0-9.+-]/giu, '_')}.pem`);
  try {
    const both = await readFile(file, 'utf8');
    const at = both.indexOf('-----BEGIN CERTIFICATE-----');
    return { key: both.slice(0, at), cert: both.slice(at), file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const leaf = await issueXmppCertificate(m, names);
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, `${leaf.key.trim()}\n${leaf.cert}`, { mode: 0o600 });
  await rename(tmp, file);
  return { ...leaf, file };
}
