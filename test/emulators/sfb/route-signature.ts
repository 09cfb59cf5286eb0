/**
 * The Front End's Record-Route: its FQDN, "lr", an opaque state and ms-route-sig, a signature over the rest
 * ([MS-SIPRE] §2.2.x Record-Route: SfB servers sign the routes they insert and check them on the Route of later
 * requests, so a peer that does not copy Record-Route verbatim is refused). The emulator signs with HMAC-SHA256.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { formatParams, parseNameAddr, parseUri } from '../../../src/sfb/sip/address.js';

export class RouteSigner {
  private readonly key = randomBytes(32);

  constructor(
    private readonly fqdn: string,
    private readonly port: number,
  ) {}

  private sig(base: string): string {
    return createHmac('sha256', this.key).update(base).digest('base64url').slice(0, 22);
  }

  /** A new Record-Route value for a dialog (a per-dialog opaque state). */
  recordRoute(): string {
    const base = `sip:${this.fqdn}:${this.port};transport=tls;opaque=state:T:F:Ci.R${randomBytes(4).toString('hex')};lr`;
    return `<${base};ms-route-sig=${this.sig(base)}>;tag=${randomBytes(8).toString('hex').toUpperCase()}`;
  }

  /** True when a Route value is one this Front End signed, unaltered. */
  verify(route: string): boolean {
    try {
      const uri = parseNameAddr(route).uri;
      const u = parseUri(uri);
      const sig = u.params.get('ms-route-sig');
      if (!sig || u.host !== this.fqdn) return false;
      const params = new Map(u.params);
      params.delete('ms-route-sig');
      const base = `sip:${u.host}${u.port === undefined ? '' : `:${u.port}`}${formatParams(params)}`;
      const want = Buffer.from(this.sig(base));
      const got = Buffer.from(sig);
      return want.length === got.length && timingSafeEqual(want, got);
    } catch {
      return false;
    }
  }
}
