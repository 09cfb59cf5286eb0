/**
 * Subscription endpoints (https://learn.microsoft.com/en-us/graph/api/resources/subscription#methods):
 * POST /subscriptions (201), GET /subscriptions, GET|PATCH|DELETE /subscriptions/{id} (200, 200, 204),
 * POST /subscriptions/{id}/reauthorize (204). The rules themselves live in subscriptions.ts.
 */
import { odataContext, type Route } from './graph-router.js';
import type { SubscriptionService } from './subscriptions.js';

export function subscriptionRoutes(subs: SubscriptionService, url: string): Route[] {
  const entity = odataContext(url, 'subscriptions/$entity');
  return [
    { method: 'POST', path: 'subscriptions', handle: async (req) => ({ status: 201, body: { '@odata.context': entity, ...(await subs.create(req.auth, req.json())) } }) },
    { method: 'GET', path: 'subscriptions', handle: (req) => ({ status: 200, body: { '@odata.context': odataContext(url, 'subscriptions'), value: subs.list(req.auth) } }) },
    { method: 'GET', path: 'subscriptions/:id', handle: (req) => ({ status: 200, body: { '@odata.context': entity, ...subs.get(req.auth, req.params[0] as string) } }) },
    {
      method: 'PATCH',
      path: 'subscriptions/:id',
      handle: async (req) => ({ status: 200, body: { '@odata.context': entity, ...(await subs.update(req.auth, req.params[0] as string, req.json())) } }),
    },
    {
      method: 'DELETE',
      path: 'subscriptions/:id',
      handle: (req) => {
        subs.delete(req.auth, req.params[0] as string);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: 'subscriptions/:id/reauthorize',
      handle: (req) => {
        subs.reauthorize(req.auth, req.params[0] as string);
        return { status: 204 };
      },
    },
  ];
}
