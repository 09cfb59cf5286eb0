/**
 * The /admin API of a node: read and change the whitelist at run time, read the audit log. Changes are written
 * to the store (so every node picks them up within policy.reloadSeconds) and audit-logged with the actor.
 *   GET  /admin/whitelist                      -> { entries: [{source, kind, value}] }
 *   POST /admin/whitelist {op, kind, value}    -> { changed }      op: add | remove; kind: domain | user | group
 *   GET  /admin/audit?limit=N                  -> { entries: [...] } newest first
 *   GET  /admin/accounts                       -> { perDomainLimit, totalLimit, domains: [{domain, accounts}] }
 *        the Teams accounts made for XMPP users, per remote domain (each a paid licence; issue 12)
 */
import type { AdminApi, AdminRequest } from '../observability/admin-server.js';
import type { Store, WhitelistKind } from '../store/store.js';
import { PolicyChangeError, type PolicyService } from './policy-service.js';

const KINDS: readonly WhitelistKind[] = ['domain', 'user', 'group'];

/** The limits on accounts the operator sees next to the counts. */
export interface AccountLimits {
  readonly perDomain: number;
  /** The licence's limit on all accounts (evaluation mode); undefined: none. */
  readonly total: () => number | undefined;
}

export function policyAdminApi(token: string, policy: PolicyService, store: Store, accounts?: AccountLimits): AdminApi {
  return {
    token,
    async handle(r: AdminRequest) {
      if (r.path === '/admin/whitelist' && r.method === 'GET') return { status: 200, body: { entries: await policy.entries() } };
      if (r.path === '/admin/whitelist' && r.method === 'POST') {
        const b = (r.body ?? {}) as { op?: unknown; kind?: unknown; value?: unknown };
        if ((b.op !== 'add' && b.op !== 'remove') || !KINDS.includes(b.kind as WhitelistKind) || typeof b.value !== 'string') {
          return { status: 400, body: { error: "expected {op: 'add'|'remove', kind: 'domain'|'user'|'group', value: string}" } };
        }
        try {
          return { status: 200, body: { changed: await policy.change(b.op, b.kind as WhitelistKind, b.value, r.actor) } };
        } catch (err) {
          if (err instanceof PolicyChangeError) return { status: 400, body: { error: err.message } };
          throw err;
        }
      }
      if (r.path === '/admin/accounts' && r.method === 'GET') {
        return { status: 200, body: { perDomainLimit: accounts?.perDomain ?? null, totalLimit: accounts?.total() ?? null, domains: await store.puppetsPerDomain() } };
      }
      if (r.path === '/admin/audit' && r.method === 'GET') {
        const limit = Math.min(1000, Math.max(1, Number(r.query.get('limit') ?? 50) || 50));
        return { status: 200, body: { entries: await store.auditLog(limit) } };
      }
      return { status: 404, body: { error: `no such admin resource: ${r.method} ${r.path}` } };
    },
  };
}
