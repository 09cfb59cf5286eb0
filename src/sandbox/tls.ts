/**
 * A throwaway certificate authority for loopback demos and tests: Graph (and the emulator standing in for it)
 * is HTTPS only, and MSAL refuses a plain-http authority, so the emulator needs a certificate the gateway
 * trusts. The gateway trusts it through NODE_EXTRA_CA_CERTS, the same way an operator would add a corporate CA.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  /** PEM of the CA certificate, what clients must trust. */
  readonly caCert: string;
  readonly caCertPath: string;
  /** Server key and certificate (signed by the CA) for 127.0.0.1 and localhost. */
  readonly key: string;
  readonly cert: string;
  /** The CA's private key, to issue more certificates (SfB Front End and trusted application names). */
  readonly caKey: string;
}

const DAY = 86_400_000;

async function createMaterial(): Promise<{ caCert: string; caKey: string; key: string; cert: string }> {
  const now = Date.now();
  const ca = await generate([{ name: 'commonName', value: 'xmpp-teams-gateway sandbox CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY),
    notAfterDate: new Date(now + 365 * DAY),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY),
    notAfterDate: new Date(now + 365 * DAY),
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
 * A certificate for `names` (DNS subjectAltNames; the first is the CN) signed by the CA, usable as a TLS server and
 * client certificate: SfB servers and trusted applications authenticate each other with such machine certificates
 * (mutual TLS). Kept in `dir` by name, so restarts reuse it.
 */
export async function issueCertificate(m: TlsMaterial, dir: string, names: readonly string[]): Promise<{ key: string; cert: string; file: string }> {
  // Key and certificate in one file, written by rename: test files issuing the same names at once never mix pairs.
  const file = join(dir, `leaf-${names.join('+').replace(/[^a-z0-9.+-]/giu, '_')}.pem`);
  try {
    const both = await readFile(file, 'utf8');
    const at = both.indexOf('-----BEGIN CERTIFICATE-----');
    return { key: both.slice(0, at), cert: both.slice(at), file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const now = Date.now();
  const leaf = await generate([{ name: 'commonName', value: names[0] ?? 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY),
    notAfterDate: new Date(now + 365 * DAY),
    ca: { key: m.caKey, cert: m.caCert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2 as const, value })) },
    ],
  });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, `${leaf.private.trim()}\n${leaf.cert}`, { mode: 0o600 });
  await rename(tmp, file);
  return { key: leaf.private, cert: leaf.cert, file };
}

/** Loads the material from `dir`, creating it on first use (kept so that a restarted demo keeps trusting it). */
export async function ensureTlsMaterial(dir: string): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true });
  const paths = { ca: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), key: join(dir, 'server-key.pem'), cert: join(dir, 'server.pem') };
  try {
    const [caCert, caKey, key, cert] = await Promise.all([readFile(paths.ca, 'utf8'), readFile(paths.caKey, 'utf8'), readFile(paths.key, 'utf8'), readFile(paths.cert, 'utf8')]);
    return { caCert, caCertPath: paths.ca, caKey, key, cert };
  } catch (err) {
    // A directory made before the CA key was kept is made afresh (a new CA): nothing can issue under the old one.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const m = await createMaterial();
  await writeFile(paths.caKey, m.caKey, { mode: 0o600 });
  await writeFile(paths.key, m.key, { mode: 0o600 });
  await writeFile(paths.cert, m.cert);
  await writeFile(paths.ca, m.caCert);
  return { ...m, caCertPath: paths.ca };
}
