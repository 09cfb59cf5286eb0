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
}

export interface CreatedSubscription {
  readonly id: string;
  readonly expiresAt: number;
}

/** Subscription management; `owner` is the puppet whose delegated token owns it, undefined for the app. */
export interface SubscriptionApi {
  createSubscription(owner: Puppet | undefined, request: SubscriptionRequest): Promise<CreatedSubscription>;
  renewSubscription(owner: Puppet | undefined, id: string, expirationDateTime: Date): Promise<CreatedSubscription>;
  reauthorizeSubscription(owner: Puppet | undefined, id: string): Promise<void>;
  deleteSubscription(owner: Puppet | undefined, id: string): Promise<void>;
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
        }),
    )) as { id: string; expirationDateTime: string };
    return { id: s.id, expiresAt: Date.parse(s.expirationDateTime) };
  }

  async renewSubscription(owner: Puppet | undefined, id: string, expirationDateTime: Date): Promise<CreatedSubscription> {
    const s = (await this.g.call('renew a Graph subscription', () =>
      this.g.as(owner).api(`/subscriptions/${encodeURIComponent(id)}`).patch({ expirationDateTime: expirationDateTime.toISOString() }),
    )) as { id: string; expirationDateTime: string };
    return { id: s.id, expiresAt: Date.parse(s.expirationDateTime) };
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
