/**
 * What the Graph adapter's parts share: the clients of both identities, the configured Graph host (for OData
 * references, which must name the cloud in use), the error wrapper with its trace span, and the rule for calls
 * made for an XMPP user's account that is still being provisioned.
 */
import type { Client } from '@microsoft/microsoft-graph-client';
import { inSpan, TENANT_ATTRIBUTE } from '../observability/tracing.js';
import type { Logger } from '../observability/logger.js';
import type { GraphClients } from './graph-clients.js';
import { isLicenceNotActive, PROVISIONING, toTeamsError } from './graph-errors.js';
import { TeamsError, type Puppet } from './teams-port.js';

export interface PuppetSettings {
  readonly upnDomain: string;
  readonly passwordSecret: () => string;
  readonly displayNameSuffix: string;
  readonly groupId: string | undefined;
  readonly usageLocation: string | undefined;
  /**
   * How long after its creation an account may still be refused for want of a licence (or be missing from the
   * directory) before that counts as a permanent failure.
   */
  readonly provisioningMs: number;
}

/** No Retry-After of our own for a provisioning failure: the outbox backoff (1 s, doubling) paces the tries. */
export const PROVISIONING_RETRY_MS: number | undefined = undefined;

export class GraphContext {
  /** Creation times of accounts (by object id), learnt once: they never change. Bounded. */
  private readonly createdAt = new Map<string, number>();

  constructor(
    readonly clients: GraphClients,
    /** e.g. https://graph.microsoft.com, https://graph.microsoft.us, or the emulator. */
    readonly graphBaseUrl: string,
    readonly puppets: PuppetSettings,
    readonly log: Logger,
    readonly now: () => number = Date.now,
    /** The tenant whose credentials make the calls, on their spans (issue 16). */
    readonly tenant?: string,
  ) {}

  /** `${graph}/v1.0/...`: @odata.id and @odata.bind values name the Graph host of the cloud in use. */
  odataUrl(path: string): string {
    return `${this.graphBaseUrl.replace(/\/+$/u, '')}/v1.0/${path.replace(/^\/+/u, '')}`;
  }

  as(owner: Puppet | undefined): Client {
    return owner ? this.clients.puppet(owner.upn) : this.clients.app();
  }

  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return inSpan('graph', { 'graph.operation': what, ...(this.tenant ? { [TENANT_ATTRIBUTE]: this.tenant } : {}) }, async () => {
      try {
        return await fn();
      } catch (err) {
        throw toTeamsError(err, what);
      }
    });
  }

  /**
   * A Teams call made as (or for) an XMPP user's account. A new account may be refused for a while: its Teams
   * licence comes through its group some time after it joined. While the account is younger than
   * provisioningMs, that refusal is transient (the message waits in the outbox); after, it is permanent.
   */
  async forPuppet<T>(puppet: Puppet, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.call(what, fn);
    } catch (err) {
      throw err instanceof TeamsError ? await this.asPuppetRefusal(puppet, what, err) : err;
    }
  }

  /** The refusal of a call made as the puppet, with a licence refusal classified as forPuppet says. */
  async asPuppetRefusal(puppet: Puppet, what: string, err: TeamsError): Promise<TeamsError> {
    if (!isLicenceNotActive(err)) return err;
    const age = this.now() - (await this.createdAtOf(puppet.userId));
    if (age < this.puppets.provisioningMs) {
      this.log.info('the XMPP user account has no active Teams licence yet; waiting', { userId: puppet.userId, ageSeconds: Math.round(age / 1000) });
      return new TeamsError(`${what}: the XMPP user's Teams account is not licensed for Teams yet`, 403, PROVISIONING, true, PROVISIONING_RETRY_MS);
    }
    return new TeamsError(
      `${what}: the XMPP user's Teams account has no active Teams licence ${Math.round(age / 60_000)} minutes after its creation; an administrator must license its group`,
      403,
      'LicenseNotActive',
      false,
    );
  }

  /** GET /users/{id}?$select=createdDateTime (https://learn.microsoft.com/en-us/graph/api/user-get). */
  private async createdAtOf(userId: string): Promise<number> {
    const hit = this.createdAt.get(userId);
    if (hit !== undefined) return hit;
    let at: number;
    try {
      const u = (await this.call('read when the XMPP user account was created', () =>
        this.clients.app().api(`/users/${encodeURIComponent(userId)}`).select(['id', 'createdDateTime']).get(),
      )) as { createdDateTime?: string | null };
      at = u.createdDateTime ? Date.parse(u.createdDateTime) : 0;
    } catch (err) {
      // Not in every directory replica yet: the account is that new (Entra is eventually consistent: "a newly created
      // object [may] return a Not Found", https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
      if (err instanceof TeamsError && err.status === 404) return this.now();
      throw err;
    }
    if (this.createdAt.size >= 10_000) this.createdAt.delete(this.createdAt.keys().next().value as string);
    this.createdAt.set(userId, at);
    return at;
  }
}
