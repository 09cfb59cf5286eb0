/**
 * Graph change-notification subscriptions (https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions),
 * owned by the application or by an XMPP user's account. Delivery and lifecycle are the webhook's business
 * (webhook-server.ts, subscription-manager.ts).
 */
import type { GraphContext } from './graph-context.js';
import { toTeamsError } from './graph-errors.js';
import type { Puppet } from './teams-port.js';

/** A Graph subscription as the gateway asks for it. */
export interface SubscriptionRequest {
  readonly resource: string;
  readonly changeType: string;
  readonly notificationUrl: string;
  readonly lifecycleNotificationUrl: string | undefined;
  readonly clientState: string;
  readonly expirationDateTime: Date;
  /** Rich notifications: the encryption certificate (Base64 DER) and the gateway's id for it. */
  readonly resourceData?: SubscriptionCertificate | undefined;
}

/** https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#creating-a-subscription */
export interface SubscriptionCertificate {
  readonly certificate: string;
  readonly certificateId: string;
}

export interface CreatedSubscription {
  readonly id: string;
  readonly expiresAt: number;
  /** The certificate id Graph encrypts this subscription's resource data to; undefined without resource data. */
  readonly certificateId?: string | undefined;
}

/** A subscription as GET /subscriptions lists it (the caller's own). */
export interface ListedSubscription {
  readonly id: string;
  readonly resource: string;
}

interface GraphSubscription {
  readonly id: string;
  readonly expirationDateTime: string;
  readonly includeResourceData?: boolean | null;
  readonly encryptionCertificateId?: string | null;
}

function created(s: GraphSubscription): CreatedSubscription {
  return { id: s.id, expiresAt: Date.parse(s.expirationDateTime), certificateId: s.includeResourceData ? (s.encryptionCertificateId ?? undefined) : undefined };
}

/** Subscription management; `owner` is the puppet whose delegated token owns it, undefined for the app. */
export interface SubscriptionApi {
  createSubscription(owner: Puppet | undefined, request: SubscriptionRequest): Promise<CreatedSubscription>;
  renewSubscription(owner: Puppet | undefined, id: string, expirationDateTime: Date): Promise<CreatedSubscription>;
  reauthorizeSubscription(owner: Puppet | undefined, id: string): Promise<void>;
  deleteSubscription(owner: Puppet | undefined, id: string): Promise<void>;
  /** Moves a subscription with resource data to another encryption certificate (key rotation). */
  updateSubscriptionCertificate(owner: Puppet | undefined, id: string, certificate: SubscriptionCertificate): Promise<CreatedSubscription>;
  /** The owner's subscriptions (this app's), e.g. one Graph has that the store lost. */
  listSubscriptions(owner: Puppet | undefined): Promise<ListedSubscription[]>;
}

export class GraphSubscriptions implements SubscriptionApi {
  constructor(private readonly g: GraphContext) {}

  async createSubscription(owner: Puppet | undefined, r: SubscriptionRequest): Promise<CreatedSubscription> {
    const s = (await this.g.call('create a Graph subscription', () =>
      this.g
        .as(owner)
        .api('/subscriptions')
        .post({
          changeType: r.changeType,
          notificationUrl: r.notificationUrl,
          ...(r.lifecycleNotificationUrl ? { lifecycleNotificationUrl: r.lifecycleNotificationUrl } : {}),
          resource: r.resource,
          expirationDateTime: r.expirationDateTime.toISOString(),
          clientState: r.clientState,
          ...(r.resourceData ? { includeResourceData: true, encryptionCertificate: r.resourceData.certificate, encryptionCertificateId: r.resourceData.certificateId } : {}),
        }),
    )) as GraphSubscription;
    return created(s);
  }

  async renewSubscription(owner: Puppet | undefined, id: string, expirationDateTime: Date): Promise<CreatedSubscription> {
    const s = (await this.g.call('renew a Graph subscription', () =>
      this.g.as(owner).api(`/subscriptions/${encodeURIComponent(id)}`).patch({ expirationDateTime: expirationDateTime.toISOString() }),
    )) as GraphSubscription;
    return created(s);
  }

  async updateSubscriptionCertificate(owner: Puppet | undefined, id: string, c: SubscriptionCertificate): Promise<CreatedSubscription> {
    const s = (await this.g.call('rotate the encryption certificate of a Graph subscription', () =>
      this.g.as(owner).api(`/subscriptions/${encodeURIComponent(id)}`).patch({ encryptionCertificate: c.certificate, encryptionCertificateId: c.certificateId }),
    )) as GraphSubscription;
    return created(s);
  }

  async listSubscriptions(owner: Puppet | undefined): Promise<ListedSubscription[]> {
    const page = (await this.g.call('list Graph subscriptions', () => this.g.as(owner).api('/subscriptions').get())) as { value: { id: string; resource: string }[] };
    return page.value.map((s) => ({ id: s.id, resource: s.resource }));
  }

  async reauthorizeSubscription(owner: Puppet | undefined, id: string): Promise<void> {
    await this.g.call('reauthorize a Graph subscription', () => this.g.as(owner).api(`/subscriptions/${encodeURIComponent(id)}/reauthorize`).post({}));
  }

  async deleteSubscription(owner: Puppet | undefined, id: string): Promise<void> {
    try {
      await this.g.as(owner).api(`/subscriptions/${encodeURIComponent(id)}`).delete();
    } catch (err) {
      const e = toTeamsError(err, 'delete a Graph subscription');
      if (e.status !== 404) throw e;
    }
  }
}
