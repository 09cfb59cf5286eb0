/**
 * The /admin API of a node serving several tenants (issue 16): each tenant's resources under
 * /admin/tenants/<id>/... (whitelist, audit, accounts: admin-api.ts), opened by the operator's token (admin.token,
 * every tenant) or by that tenant's own (tenants[].admin.token). A tenant's token never opens another tenant: the
 * attempt is refused (403) and audited in the other tenant's audit log. The paths without a tenant
 * (/admin/whitelist, ...) are the token's own tenant's, and the first tenant's for the operator (the single-tenant
 * layout's paths, unchanged). /admin/log-level is the node's: the operator's token only.
 *   GET /admin/tenants -> { tenants: [id, ...] } the tenants the token opens
 *   POST /admin/tenants/reload -> { added, removed, changed } the configuration file's tenants and walls applied
 *     without a restart (the operator's token; as SIGHUP does)
 * The tenants are read at each request: a reload adds or removes them (and their tokens) at once.
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

/** Applies the configuration file's tenants again; a refusal (bad file, a change that needs a restart) throws. */
export type TenantsReload = () => Promise<Record<string, unknown>>;

export function tenantsAdminApi(operatorToken: string | undefined, list: () => readonly TenantAdmin[], node: Pick<AdminApi, 'handle'>, reload?: TenantsReload): AdminApi | undefined {
  const tokensOf = () => list().flatMap((t) => (t.token === undefined ? [] : [{ token: t.token, tenant: t.id }]));
  if (operatorToken === undefined && tokensOf().length === 0) return undefined;
  return {
    token: operatorToken,
    get tenantTokens() {
      return tokensOf();
    },
    async handle(r: AdminRequest) {
      const scope = r.scope ?? OPERATOR;
      const tenants = list();
      const byId = new Map(tenants.map((t) => [t.id, t]));
      const first = tenants[0];
      if (r.path === '/admin/tenants' && r.method === 'GET') return { status: 200, body: { tenants: scope === OPERATOR ? tenants.map((t) => t.id) : [scope] } };
      if (r.path === '/admin/tenants/reload' && r.method === 'POST') {
        if (scope !== OPERATOR) return { status: 403, body: { error: 'reloading the tenants is the operator\'s: it needs admin.token' } };
        if (!reload) return { status: 404, body: { error: 'this node was not started from a configuration file' } };
        try {
          return { status: 200, body: await reload() };
        } catch (err) {
          return { status: 409, body: { error: err instanceof Error ? err.message : String(err) } };
        }
      }
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
