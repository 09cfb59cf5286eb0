/**
 * Ids of the iqs the gateway sends (RFC 6120 §8.2.3): 128 random bits, so that nobody can answer a request before
 * it is seen, followed by a MAC over them under a key the whole cluster shares, so that any node can tell an
 * answer to one of the cluster's own requests (worth passing to the other nodes, see SharedXmppLink) from any
 * other iq result, at the cost of one HMAC and without any shared state.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'xtg-';
const NONCE_BYTES = 16;
const MAC_BYTES = 9;
/** base64url lengths of the nonce and the MAC. */
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 4) / 3);
const MAC_CHARS = (MAC_BYTES * 4) / 3;

export class IqIds {
  private constructor(private readonly key: Buffer) {}

  /** A node alone: a key of its own. */
  static random(): IqIds {
    return new IqIds(randomBytes(32));
  }

  /** Every node of a cluster derives the same key from the cluster secret (HKDF-SHA256, its own label). */
  static fromSecret(secret: string): IqIds {
    return new IqIds(Buffer.from(hkdfSync('sha256', secret, 'xmpp-teams-gateway', 'iq-ids/1', 32)));
  }

  issue(): string {
    const nonce = randomBytes(NONCE_BYTES).toString('base64url');
    return `${PREFIX}${nonce}${this.mac(nonce)}`;
  }

  /** True for an id this cluster issued. */
  verify(id: string): boolean {
    if (id.length !== PREFIX.length + NONCE_CHARS + MAC_CHARS || !id.startsWith(PREFIX)) return false;
    const nonce = id.slice(PREFIX.length, PREFIX.length + NONCE_CHARS);
    const given = Buffer.from(id.slice(PREFIX.length + NONCE_CHARS));
    const want = Buffer.from(this.mac(nonce));
    return given.length === want.length && timingSafeEqual(given, want);
  }

  private mac(nonce: string): string {
    return createHmac('sha256', this.key).update(nonce).digest().subarray(0, MAC_BYTES).toString('base64url');
  }
}
