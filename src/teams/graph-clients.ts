/**
 * The two kinds of Graph identity the gateway uses (docs/teams-identity.md):
 * - the application (client credentials: secret or certificate) for tenant-wide reads and account management;
 * - each XMPP user's account (delegated, resource-owner password credentials) for what Graph allows only a
 *   signed-in user to do: create a one-to-one chat, post in it, read it.
 * Credentials and clients are cached (MSAL caches the tokens inside each credential); the puppet cache is
 * bounded, least recently used first out.
 */
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  UsernamePasswordCredential,
  type TokenCredential,
} from '@azure/identity';
import type { Client } from '@microsoft/microsoft-graph-client';
import { puppetPassword } from '../protocol/puppet-identity.js';
import type { Metrics } from '../observability/metrics.js';
import type { Secret } from '../config/secret.js';
import { createGraphClient } from './graph-client.js';
import type { GraphPacer } from './graph-pacing.js';

export interface GraphIdentityConfig {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: Secret | undefined;
  readonly clientCertificatePath: string | undefined;
  readonly authorityHost: string;
  readonly graphBaseUrl: string;
  readonly disableInstanceDiscovery: boolean;
  readonly puppetPasswordSecret: Secret;
}

export interface GraphClients {
  app(): Client;
  puppet(upn: string): Client;
}

export class CredentialGraphClients implements GraphClients {
  private readonly appClient: Client;
  private readonly puppets = new Map<string, Client>();

  constructor(
    private readonly c: GraphIdentityConfig,
    private readonly metrics: Metrics,
    /** Shared by the application and every puppet client: Graph's limits are per app per tenant. */
    private readonly pacer?: GraphPacer,
    private readonly maxPuppetClients = 2000,
  ) {
    const common = { authorityHost: c.authorityHost, disableInstanceDiscovery: c.disableInstanceDiscovery };
    const credential: TokenCredential = c.clientSecret
      ? new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret.reveal(), common)
      : new ClientCertificateCredential(c.tenantId, c.clientId, { certificatePath: c.clientCertificatePath ?? '' }, common);
    this.appClient = createGraphClient(credential, c, metrics, pacer);
    this.credential = credential;
  }

  private readonly credential: TokenCredential;
  private tokenCheck: { at: number; ok: Promise<boolean> } | undefined;

  /** Whether the application can get a Graph token (for /readyz); MSAL caches it, so this is cheap. */
  appTokenOk(): Promise<boolean> {
    const now = Date.now();
    if (!this.tokenCheck || now - this.tokenCheck.at > 30_000) {
      const ok = this.credential
        .getToken(`${new URL(this.c.graphBaseUrl).origin}/.default`)
        .then((t) => t !== null)
        .catch(() => false);
      this.tokenCheck = { at: now, ok };
    }
    return this.tokenCheck.ok;
  }

  app(): Client {
    return this.appClient;
  }

  puppet(upn: string): Client {
    const key = upn.toLowerCase();
    const hit = this.puppets.get(key);
    if (hit) {
      this.puppets.delete(key);
      this.puppets.set(key, hit);
      return hit;
    }
    // ROPC is the only non-interactive delegated flow for an account the gateway owns; @azure/identity marks it
    // deprecated because it cannot do MFA. docs/teams-identity.md explains the Conditional Access set-up.
    const credential = new UsernamePasswordCredential(this.c.tenantId, this.c.clientId, upn, puppetPassword(this.c.puppetPasswordSecret.reveal(), upn), {
      authorityHost: this.c.authorityHost,
      disableInstanceDiscovery: this.c.disableInstanceDiscovery,
    });
    const client = createGraphClient(credential, this.c, this.metrics, this.pacer);
    if (this.puppets.size >= this.maxPuppetClients) this.puppets.delete(this.puppets.keys().next().value as string);
    this.puppets.set(key, client);
    return client;
  }
}
