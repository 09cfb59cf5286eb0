/**
 * The /admin API of a node serving several tenants (issue 16): each tenant's resources under
 * /admin/tenants/<id>/... (whitelist, audit, accounts: admin-api.ts), opened by the operator's token (admin.token,
 * every tenant) or by that tenant's own (tenants[].admin.token). A tenant's token never opens another tenant: the
 * attempt is refused (403) and audited in the other tenant's audit log. The paths without a tenant
 * (/admin/whitelist, ...) are the token's own tenant's, and the first tenant's for the operator (the single-tenant
 * layout's paths, unchanged). /admin/log-level is the node's: the operator's token only.
 *   GET /admin/tenants -> { tenants: [id, ...] } the tenants the token opens
 */
import type { AdminApi, AdminRequest } from '../observability/admin-server.js';
import type { Store } from '../store/store.js';

export interface TenantAdmin {
  readonly id: string;
  readonly token: string | undefined;
  readonly api: Pick<AdminApi, 'handle'>;
  readonly store: Pick<Store, 'appendAudit'>;
}

const OPERATOR = '*';
const TENANT_PATH = /^\/admin\/tenants\/([^/]+)(\/.*)$/u;

export function tenantsAdminApi(operatorToken: string | undefined, tenants: readonly TenantAdmin[], node: Pick<AdminApi, 'handle'>): AdminApi | undefined {
  const tenantTokens = tenants.flatMap((t) => (t.token === undefined ? [] : [{ token: t.token, tenant: t.id }]));
  if (operatorToken === undefined && tenantTokens.length === 0) return undefined;
  const byId = new Map(tenants.map((t) => [t.id, t]));
  const first = tenants[0];
  return {
    token: operatorToken,
    tenantTokens,
    async handle(r: AdminRequest) {
      const scope = r.scope ?? OPERATOR;
      if (r.path === '/admin/tenants' && r.method === 'GET') return { status: 200, body: { tenants: scope === OPERATOR ? tenants.map((t) => t.id) : [scope] } };
      const m = TENANT_PATH.exec(r.path);
      if (m) {
        const id = decodeURIComponent(m[1] ?? '');
        const target = byId.get(id);
        if (scope !== OPERATOR && scope !== id) {
          // Audited where it was aimed, so the tenant's own log shows who tried; an unknown id tells nothing either.
          await target?.store.appendAudit({ at: Date.now(), actor: `${r.actor} (tenant ${scope})`, action: 'admin.refused', subject: `${r.method} ${r.path}`, detail: `a token of tenant ${scope} cannot touch tenant ${id}` });
          return { status: 403, body: { error: `this token is tenant ${scope}'s; it cannot touch another tenant` } };
        }
        if (!target) return { status: 404, body: { error: `no tenant ${id}` } };
        return target.api.handle({ ...r, path: `/admin${m[2] ?? ''}` });
      }
      if (r.path === '/admin/log-level') {
        if (scope !== OPERATOR) return { status: 403, body: { error: 'the log level is the node\'s: it needs the operator\'s token (admin.token)' } };
        return node.handle(r);
      }
      const own = scope === OPERATOR ? first : byId.get(scope);
      if (!own) return { status: 404, body: { error: `no such admin resource: ${r.method} ${r.path}` } };
      return own.api.handle(r);
    },
  };
}
