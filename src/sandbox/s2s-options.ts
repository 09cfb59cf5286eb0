/**
 * What a loopback XMPP server needs for server-to-server federation (RFC 6120 with STARTTLS and certificates):
 * its listener, the DNS responder it finds peers with (./dns.ts), the CA it trusts, a certificate for each of
 * its domains, and, on the gateway's front server, the rules generated from the gateway's whitelist.
 */
import type { FrontServerS2sPolicy } from '../policy/front-server-s2s.js';
import type { IssuedCertificate } from './tls.js';

export interface S2sOptions {
  /** The S2S listener's port on 127.0.0.1 (what the `_xmpp-server._tcp` records point to). */
  readonly port: number;
  /** The loopback DNS responder's UDP port on 127.0.0.1; the server resolves nothing anywhere else. */
  readonly dnsPort: number;
  /** PEM file of the CA the server trusts for its peers' certificates (and nothing else). */
  readonly caFile: string;
  /** A certificate for each local domain (virtual hosts and components) that federates. */
  readonly certificates: Readonly<Record<string, IssuedCertificate>>;
  /** This server fronts the gateway's component: the S2S whitelist and certificate rules of {@link frontServerConfig}. */
  readonly front?: FrontServerS2sPolicy;
  /**
   * Further components of the gateway on this server (another tenant's component domain, issue 16), each with the
   * whitelist of its own tenant. Prosody only: ejabberd's s2s_access is one rule for the whole server.
   */
  readonly moreFronts?: readonly FrontServerS2sPolicy[];
  /** Remote domains this server lets authenticate by dialback (XEP-0220) when they present no valid certificate. */
  readonly dialbackDomains?: readonly string[];
}
