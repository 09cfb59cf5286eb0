/**
 * Certificate credentials (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials): the
 * app proves itself with `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a
 * `client_assertion` JWT signed with the private key of a certificate registered on the app. Header: alg (PS256 or
 * RS256) and x5t#S256 (or x5t), the certificate's SHA-256 (SHA-1) thumbprint, base64url. Claims: aud = the token
 * endpoint, iss = sub = the client id, exp, nbf, jti. Anything else fails as Entra fails it (AADSTS700027 and kin).
 */
import { X509Certificate, constants, createHash, createVerify } from 'node:crypto';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type AssertionCheck = { readonly ok: true } | { readonly ok: false; readonly code: number; readonly text: string };

function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

/** Checks the assertion against the app's registered certificates; `now` in seconds. */
export function checkClientAssertion(assertion: string, clientId: string, tokenEndpoint: string, certificates: readonly string[], now: number): AssertionCheck {
  const fail = (code: number, text: string): AssertionCheck => ({ ok: false, code, text });
  const parts = assertion.split('.');
  if (parts.length !== 3) return fail(50027, 'JWT token is invalid or malformed.');
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return fail(50027, 'JWT token is invalid or malformed.');
  }
  const alg = header.alg;
  if (alg !== 'PS256' && alg !== 'RS256') return fail(5002738, `Invalid JWT token. '${String(alg)}' is not a supported signature algorithm.`);
  const certs = certificates.map((pem) => new X509Certificate(pem));
  const cert = certs.find((c) => {
    const sha256 = b64url(createHash('sha256').update(c.raw).digest());
    const sha1 = b64url(createHash('sha1').update(c.raw).digest());
    return header['x5t#S256'] === sha256 || header.x5t === sha1;
  });
  if (!cert) {
    return fail(700027, `Client assertion failed signature validation. The key was not found: no certificate with this thumbprint is registered on app '${clientId}'.`);
  }
  const verifier = createVerify('RSA-SHA256');
  verifier.update(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2] as string, 'base64url');
  const valid =
    alg === 'PS256'
      ? verifier.verify({ key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature)
      : verifier.verify(cert.publicKey, signature);
  if (!valid) return fail(700027, 'Client assertion failed signature validation.');
  if (claims.iss !== clientId || claims.sub !== clientId) return fail(700021, 'Client assertion application identifier does not match the client_id parameter.');
  if (claims.aud !== tokenEndpoint) return fail(700024, `Client assertion audience claim does not match the token endpoint '${tokenEndpoint}'.`);
  if (typeof claims.exp !== 'number' || claims.exp <= now - 300) return fail(700024, 'Client assertion is not within its valid time range.');
  if (typeof claims.nbf === 'number' && claims.nbf > now + 300) return fail(700024, 'Client assertion is not within its valid time range.');
  if (new Date(cert.validTo).getTime() / 1000 < now) return fail(700027, 'Client assertion contains an expired certificate.');
  return { ok: true };
}
