/**
 * JWT (RFC 7519) signed with RS256 (RFC 7518 §3.3), the only algorithm the Microsoft identity platform uses for the
 * tokens it issues, with the signing key published as a JWKS (RFC 7517) at the discovery document's jwks_uri
 * (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-signature).
 */
import { createHash, createSign, createVerify, generateKeyPairSync, type KeyObject } from 'node:crypto';

export type JwtClaims = Record<string, unknown>;

export type VerifyResult = { ok: true; claims: JwtClaims } | { ok: false; reason: 'malformed' | 'signature' };

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function parseJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The claims of a JWT, not verified: only to pick the tenant whose rules then verify it (Graph reads a token's tid
 * to know which tenant a request is for).
 */
export function unverifiedClaims(token: string): JwtClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const claims = parseJson(parts[1] as string);
  return isObject(claims) ? claims : undefined;
}

/**
 * Tokens whose signature was checked, remembered (the oldest forgotten first), so that a client's every request does
 * not cost an RSA verification.
 */
const VERIFIED_TOKENS = 4096;

export class JwtSigner {
  private readonly privateKey: KeyObject;
  /** Token -> its claims, for tokens this key signed; the key never changes, so neither does the verdict. */
  private readonly verified = new Map<string, JwtClaims>();
  private readonly publicKey: KeyObject;
  readonly kid: string;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    // Entra's kid is the certificate thumbprint; a hash of the public key is as stable and opaque.
    const der = publicKey.export({ format: 'der', type: 'spki' });
    this.kid = createHash('sha256').update(der).digest('base64url').slice(0, 27);
  }

  sign(claims: JwtClaims): string {
    const header = { typ: 'JWT', alg: 'RS256', kid: this.kid, x5t: this.kid };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(input).sign(this.privateKey);
    return `${input}.${b64url(signature)}`;
  }

  /** The signature check only: lifetime, audience and issuer are the caller's, at every use (tokens.ts). */
  verify(token: string): VerifyResult {
    const known = this.verified.get(token);
    if (known) return { ok: true, claims: known };
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'malformed' };
    const [h, p, s] = parts as [string, string, string];
    const header = parseJson(h);
    const claims = parseJson(p);
    if (!isObject(header) || !isObject(claims)) return { ok: false, reason: 'malformed' };
    if (header.alg !== 'RS256' || header.kid !== this.kid) return { ok: false, reason: 'signature' };
    const valid = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(this.publicKey, Buffer.from(s, 'base64url'));
    if (!valid) return { ok: false, reason: 'signature' };
    if (this.verified.size >= VERIFIED_TOKENS) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, claims);
    return { ok: true, claims };
  }

  /** The JWKS document (keys[] with kty, use, kid, x5t, n, e). */
  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e }] };
  }
}
