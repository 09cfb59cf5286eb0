/**
 * `doctor` for a tenant's SfB side (issue 17): the gateway connects to its Front End pool as the trusted application
 * does (mutual TLS with sfb.tls, the pool's certificate checked against sfb.trustedPeers) and asks it OPTIONS
 * ([MS-SIPRE] §3.x keep-alive and capability query; RFC 3261 §11). What it proves before go-live: the certificates
 * and CA, the name the pool answers to, the route to port 5061. What it cannot: that the pool routes the XMPP
 * domains to the gateway (static routes): the checklist in docs/sfb-setup.md.
 */
import { readFileSync } from 'node:fs';
import type { TenantConfig } from '../config/load.js';
import { errorMessage } from '../observability/logger.js';
import type { CheckResult } from '../teams/doctor-checks.js';
import { newCallId, newTag } from './sip/build.js';
import { SipEndpoint } from './sip/endpoint.js';
import { peerTrusted, SipTlsTransport } from './sip/transport.js';
import { splitListen } from './trusted-app.js';

/** How long the pool has to answer (its connection and the OPTIONS transaction). */
const CHECK_TIMEOUT_MS = 10_000;

/**
 * `fromDomain`: an XMPP domain of the whitelist. The gateway speaks to the pool for the XMPP domains routed to it
 * (the static routes), so the query comes from one of them, as every request of the trusted application does.
 */
export async function sfbDoctorCheck(sfb: NonNullable<TenantConfig['sfb']>, fromDomain: string | undefined, userAgent: string): Promise<CheckResult> {
  const name = 'skype for business pool';
  const fix = 'check sfb.tls (the gateway\'s certificate, and the CA that signs the pool\'s), sfb.trustedPeers, sfb.pool and that port ' + `${sfb.pool.port} of ${sfb.pool.fqdn} is reachable (docs/sfb-setup.md)`;
  let identity;
  try {
    identity = { cert: readFileSync(sfb.tls.certFile, 'utf8'), key: readFileSync(sfb.tls.keyFile, 'utf8'), ca: readFileSync(sfb.tls.caFile, 'utf8') };
  } catch (err) {
    return { name, ok: false, detail: `cannot read the SfB certificate files: ${errorMessage(err)}`, fix: 'fix sfb.tls (certFile, keyFile, caFile)' };
  }
  // Outbound only: the node may be running and holding sfb.listen.
  const transport = new SipTlsTransport({
    identity,
    trusted: (names) => peerTrusted(names, sfb.trustedPeers),
    hosts: new Map(Object.entries(sfb.hosts)),
    connectTimeoutMs: CHECK_TIMEOUT_MS,
  });
  try {
    await transport.start();
    // The connection first, on its own: its failure says why (refused, timed out, a certificate not trusted).
    await transport.connection(sfb.pool.fqdn, sfb.pool.port);
    const endpoint = new SipEndpoint({ transport, host: sfb.fqdn, port: splitListen(sfb.listen)[1], outboundProxy: { host: sfb.pool.fqdn, port: sfb.pool.port }, userAgent });
    const pool = `sip:${sfb.pool.fqdn}:${sfb.pool.port};transport=tls`;
    const res = await Promise.race([
      endpoint.request({
        kind: 'request',
        method: 'OPTIONS',
        uri: pool,
        headers: [
          { name: 'Max-Forwards', value: '70' },
          { name: 'From', value: `<sip:doctor@${fromDomain ?? sfb.fqdn}>;tag=${newTag()}` },
          { name: 'To', value: `<${pool}>` },
          { name: 'Call-ID', value: newCallId() },
          { name: 'CSeq', value: '1 OPTIONS' },
          { name: 'Contact', value: `<sip:${sfb.applicationFqdn ?? sfb.fqdn}:${splitListen(sfb.listen)[1]};transport=tls>` },
          { name: 'Accept', value: 'application/sdp' },
        ],
        body: Buffer.alloc(0),
      }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS).unref()),
    ]);
    const asked = `${sfb.pool.fqdn}:${sfb.pool.port}`;
    const as = fromDomain ? ` for ${fromDomain}` : '';
    if (res.status >= 200 && res.status < 300) return { name, ok: true, detail: `${asked} answered OPTIONS${as} ${res.status} over mutual TLS, its certificate trusted` };
    return { name, ok: false, detail: `${asked} answered OPTIONS${as} ${res.status} ${res.reason}`, fix: 'the pool refused the gateway: is it a trusted application of the pool with a static route for each XMPP domain (docs/sfb-setup.md)?' };
  } catch (err) {
    return { name, ok: false, detail: `cannot reach the SfB pool: ${errorMessage(err)}`, fix };
  } finally {
    await transport.stop().catch(() => undefined);
  }
}
