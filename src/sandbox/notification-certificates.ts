/**
 * Encryption certificates for rich notifications on loopback (sandbox and tests): Graph encrypts each
 * notification's resource data to the certificate given with the subscription, and "you can use a self-signed
 * certificate, since Microsoft Graph doesn't verify the certificate issuer"
 * (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#managing-encryption-keys).
 * Kept in the directory once made, so that a restarted sandbox still decrypts what Graph sent to the old node.
 */
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface NotificationCertificateFiles {
  readonly id: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export async function ensureNotificationCertificate(dir: string, id: string): Promise<NotificationCertificateFiles> {
  await mkdir(dir, { recursive: true });
  const files = { id, certFile: join(dir, `notifications-${id}.pem`), keyFile: join(dir, `notifications-${id}-key.pem`) };
  try {
    await access(files.certFile);
    await access(files.keyFile);
    return files;
  } catch {
    // made below
  }
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: `xmpp-teams-gateway notifications ${id}` }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 86_400_000),
    notAfterDate: new Date(now + 365 * 86_400_000),
  });
  await writeFile(files.keyFile, pems.private, { mode: 0o600 });
  await writeFile(files.certFile, pems.cert);
  return files;
}
