/**
 * Two XMPP servers federated over S2S on loopback, as in production: the gateway's front server (its component
 * attached, its S2S whitelist generated from the gateway's policy) and a partner organisation's server with its
 * own domains and users. They find each other by `_xmpp-server._tcp` SRV records served by the federation's own
 * DNS responder, talk STARTTLS and authenticate with certificates from the loopback CA (SASL EXTERNAL, XEP-0178),
 * or with dialback where the front allows it. Used by `sandbox` and the S2S end-to-end tests.
 */
import { join } from 'node:path';
import type { FrontServerS2sPolicy } from '../policy/front-server-s2s.js';
import { LoopbackDns } from './dns.js';
import { freePorts } from './port-open.js';
import { issueXmppCertificate, untrustedXmppCertificate, type IssuedCertificate, type TlsMaterial } from './tls.js';
import { startXmppServer, type ServerKind, type XmppAccount, type XmppServer, type XmppServerSpec } from './xmpp-server.js';

export interface PairHost {
  readonly domain: string;
  readonly users: readonly XmppAccount[];
  /** What the host's S2S certificate is signed by: the loopback CA (default), or a CA nobody trusts. */
  readonly certificate?: 'valid' | 'untrusted';
}

export interface PairServer {
  readonly kind: ServerKind;
  readonly c2sPort: number;
  readonly hosts: readonly PairHost[];
}

export interface S2sPairOptions {
  readonly dir: string;
  readonly tls: Pick<TlsMaterial, 'caCert' | 'caKey' | 'caCertPath'>;
  readonly front: PairServer & {
    readonly componentPort: number;
    readonly component: { readonly domain: string; readonly secret: string };
    /** The gateway's policy the front's S2S rules are generated from (and the domains allowed dialback). */
    readonly policy: Omit<FrontServerS2sPolicy, 'componentDomain'>;
    /** Further gateway components (another tenant's domain, issue 16), each with its tenant's whitelist (Prosody). */
    readonly moreComponents?: readonly { readonly domain: string; readonly secret: string; readonly policy: Omit<FrontServerS2sPolicy, 'componentDomain'> }[];
  };
  readonly partner: PairServer & {
    /** Remote domains the partner lets authenticate by dialback. */
    readonly dialbackDomains?: readonly string[];
  };
}

async function certificates(tls: S2sPairOptions['tls'], hosts: readonly PairHost[], extra: readonly string[] = []): Promise<Record<string, IssuedCertificate>> {
  const out: Record<string, IssuedCertificate> = {};
  for (const h of hosts) out[h.domain] = h.certificate === 'untrusted' ? await untrustedXmppCertificate([h.domain]) : await issueXmppCertificate(tls, [h.domain]);
  for (const d of extra) out[d] = await issueXmppCertificate(tls, [d]);
  return out;
}

export class S2sPair {
  private constructor(
    readonly dns: LoopbackDns,
    readonly frontSpec: XmppServerSpec,
    readonly partnerSpec: XmppServerSpec,
    public front: XmppServer,
    public partner: XmppServer | undefined,
  ) {}

  static async start(o: S2sPairOptions): Promise<S2sPair> {
    const dns = await LoopbackDns.start(0);
    const started: XmppServer[] = [];
    try {
      const [frontS2s, partnerS2s, partnerComponent] = (await freePorts(3)) as [number, number, number];
      for (const h of o.front.hosts) dns.setXmppServer(h.domain, frontS2s);
      const more = o.front.moreComponents ?? [];
      for (const c of [o.front.component, ...more]) dns.setXmppServer(c.domain, frontS2s);
      for (const h of o.partner.hosts) dns.setXmppServer(h.domain, partnerS2s);
      const frontSpec: XmppServerSpec = {
        kind: o.front.kind,
        dir: join(o.dir, 'front'),
        hosts: o.front.hosts,
        components: [o.front.component, ...more.map((c) => ({ domain: c.domain, secret: c.secret }))],
        c2sPort: o.front.c2sPort,
        componentPort: o.front.componentPort,
        s2s: {
          port: frontS2s,
          dnsPort: dns.port,
          caFile: o.tls.caCertPath,
          certificates: await certificates(o.tls, o.front.hosts, [o.front.component.domain, ...more.map((c) => c.domain)]),
          front: { componentDomain: o.front.component.domain, ...o.front.policy },
          ...(more.length ? { moreFronts: more.map((c) => ({ componentDomain: c.domain, ...c.policy })) } : {}),
        },
      };
      const partnerSpec: XmppServerSpec = {
        kind: o.partner.kind,
        dir: join(o.dir, 'partner'),
        hosts: o.partner.hosts,
        c2sPort: o.partner.c2sPort,
        componentPort: partnerComponent,
        s2s: {
          port: partnerS2s,
          dnsPort: dns.port,
          caFile: o.tls.caCertPath,
          certificates: await certificates(o.tls, o.partner.hosts),
          ...(o.partner.dialbackDomains ? { dialbackDomains: o.partner.dialbackDomains } : {}),
        },
      };
      // Both at once: ejabberd's Erlang VM takes a few seconds to start. Settled, not raced: when one fails, the
      // other still finishes starting and must be stopped too (a server left running keeps its test file alive).
      const [front, partner] = await Promise.allSettled([startXmppServer(frontSpec), startXmppServer(partnerSpec)]);
      for (const r of [front, partner]) if (r.status === 'fulfilled') started.push(r.value);
      if (front.status === 'rejected') throw front.reason;
      if (partner.status === 'rejected') throw partner.reason;
      return new S2sPair(dns, frontSpec, partnerSpec, front.value, partner.value);
    } catch (err) {
      for (const s of started) await s.stop().catch(() => undefined);
      await dns.stop();
      throw err;
    }
  }

  /** The partner's S2S port (what its SRV records point to, unless a test re-points them). */
  get partnerS2sPort(): number {
    return this.partnerSpec.s2s!.port;
  }

  get frontS2sPort(): number {
    return this.frontSpec.s2s!.port;
  }

  /** The partner organisation's server goes away (a graceful stop: its users' sessions end). */
  async stopPartner(): Promise<void> {
    await this.partner?.stop();
    this.partner = undefined;
  }

  /** ... and comes back with the same domains, accounts and ports (Prosody keeps its rosters; ejabberd does not). */
  async startPartner(): Promise<void> {
    if (!this.partner) this.partner = await startXmppServer(this.partnerSpec);
  }

  async stop(): Promise<void> {
    await this.partner?.stop().catch(() => undefined);
    await this.front.stop().catch(() => undefined);
    await this.dns.stop();
  }
}
