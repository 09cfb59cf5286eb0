/**
 * A cluster CA and node certificates for tests of mutual TLS between nodes (cluster.tls), written as an operator
 * would: ca.pem, node.pem, node-key.pem. A node certificate serves both ways (serverAuth and clientAuth) and names
 * 127.0.0.1 and localhost. `foreign` is a certificate of another CA, which the cluster must refuse.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

const DAY = 86_400_000;

export interface ClusterTlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly pem: { readonly ca: string; readonly cert: string; readonly key: string };
  readonly foreign: { readonly cert: string; readonly key: string };
}

async function ca(name: string): Promise<{ cert: string; private: string }> {
  const now = Date.now();
  return generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY),
    notAfterDate: new Date(now + 30 * DAY),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
}

async function node(issuer: { cert: string; private: string }): Promise<{ cert: string; private: string }> {
  const now = Date.now();
  return generate([{ name: 'commonName', value: 'xtg-node' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY),
    notAfterDate: new Date(now + 30 * DAY),
    ca: { key: issuer.private, cert: issuer.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
}

export async function writeClusterTls(dir: string): Promise<ClusterTlsFiles> {
  const clusterCa = await ca('xtg test cluster CA');
  const [leaf, otherCa] = await Promise.all([node(clusterCa), ca('some other CA')]);
  const foreign = await node(otherCa);
  const files = { caFile: join(dir, 'cluster-ca.pem'), certFile: join(dir, 'node.pem'), keyFile: join(dir, 'node-key.pem') };
  await writeFile(files.caFile, clusterCa.cert);
  await writeFile(files.certFile, leaf.cert);
  await writeFile(files.keyFile, leaf.private, { mode: 0o600 });
  return { ...files, pem: { ca: clusterCa.cert, cert: leaf.cert, key: leaf.private }, foreign: { cert: foreign.cert, key: foreign.private } };
}
