/**
 * The console's JSON API under /console/api/ (same origin; the pages call it). Every request needs a session;
 * every change also needs the same origin, a JSON body and the session's CSRF token, and is written to the audit
 * log with who did it and why. Inputs are bounded and validated before they cost a store query.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http/read-body.js';
import { errorMessage } from '../observability/logger.js';
import { PolicyChangeError } from '../policy/policy-service.js';
import type { AuditQuery, DeadLetterQueue, WhitelistKind } from '../store/store.js';
import type { ClusterViews } from './cluster-view.js';
import { TenantScopeError, type ConsoleContext, type ConsoleTenant } from './context.js';
import { csvRow } from './csv.js';
import type { DrainCommands } from './drain-commands.js';
import { SECURITY_HEADERS, sendJson } from './http-security.js';
import type { Session } from './session.js';

const MAX_JSON_BYTES = 16 * 1024;
const PAGE_SIZE = 100;
/** Rows an audit export holds at most (read in pages of PAGE_SIZE * 10). */
export const AUDIT_EXPORT_MAX = 100_000;
const REFUSAL_ROWS = 200;
const DOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/u;
const KINDS: readonly WhitelistKind[] = ['domain', 'user', 'group'];

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function text(v: unknown, what: string, max: number, required = true): string {
  if (v === undefined || v === null || v === '') {
    if (required) throw new ApiError(400, `${what} is required`);
    return '';
  }
  if (typeof v !== 'string') throw new ApiError(400, `${what} must be a string`);
  const s = v.replace(/\p{C}/gu, ' ').trim();
  if (s.length > max) throw new ApiError(400, `${what} is longer than ${max} characters`);
  if (required && s === '') throw new ApiError(400, `${what} is required`);
  return s;
}

function queueOf(v: unknown): DeadLetterQueue {
  if (v !== 'outbox' && v !== 'inbox') throw new ApiError(400, "queue must be 'outbox' or 'inbox'");
  return v;
}

function idOf(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ApiError(400, 'id must be a positive whole number');
  return n;
}

function optionalNumber(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ApiError(400, `${name} must be a number`);
  return n;
}

export class ApiRoutes {
  constructor(
    private readonly c: ConsoleContext,
    private readonly views: ClusterViews,
    private readonly drains: DrainCommands | undefined,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    try {
      const session = await this.c.session(req);
      if (!session) throw new ApiError(401, 'not signed in (or the session ended)');
      if (req.method === 'GET') {
        if (path === '/console/api/audit.csv') return await this.auditCsv(res, query, session, await this.c.tenantFor(session, query.get('tenant') ?? undefined));
        return sendJson(res, 200, await this.get(path, query, session));
      }
      if (req.method !== 'POST') throw new ApiError(405, 'use GET or POST');
      const origin = this.c.sameOrigin(req);
      if (!origin.ok) {
        this.c.log.warn('console change refused', { reason: origin.why, actor: session.actor });
        throw new ApiError(403, `refused: ${origin.why}`);
      }
      if (!this.c.codec.csrfMatches(session, typeof req.headers['x-csrf-token'] === 'string' ? req.headers['x-csrf-token'] : undefined)) {
        this.c.log.warn('console change without a valid CSRF token refused', { actor: session.actor, path });
        throw new ApiError(403, 'refused: missing or wrong CSRF token');
      }
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) throw new ApiError(415, 'send JSON (Content-Type: application/json)');
      const raw = await readBody(req, MAX_JSON_BYTES);
      if (raw === undefined) throw new ApiError(413, `body larger than ${MAX_JSON_BYTES} bytes`);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        throw new ApiError(400, 'the body is not JSON');
      }
      if (typeof body !== 'object' || body === null) throw new ApiError(400, 'the body must be a JSON object');
      sendJson(res, 200, await this.post(path, body, session));
    } catch (err) {
      if (err instanceof ApiError || err instanceof TenantScopeError) return sendJson(res, err.status, { error: err.message });
      this.c.log.error('console request failed', { path, error: errorMessage(err) });
      sendJson(res, 503, { error: `could not be done now: ${errorMessage(err)}` });
    }
  }

  /** Node-wide resources (every tenant's traffic, the nodes themselves) are the operator's. */
  private operatorOnly(s: Session, what: string): void {
    if (s.tenant !== undefined) throw new ApiError(403, `${what} concerns every tenant of the node: the operator's admin token or Entra sign-in sees it`);
  }

  private async get(path: string, q: URLSearchParams, s: Session): Promise<unknown> {
    const d = this.c.deps;
    // The tenant the page shows (issue 16): ?tenant=, else the session's own, else the first.
    const tenant = () => this.c.tenantFor(s, q.get('tenant') ?? undefined);
    switch (path) {
      case '/console/api/session':
        return {
          actor: s.actor,
          name: s.name,
          via: s.via,
          expiresAt: s.exp,
          csrfToken: this.c.codec.csrfToken(s),
          node: d.nodeId,
          clustered: d.cluster !== undefined,
          keepBodies: d.config.store.retention.keepBodies,
          tenant: s.tenant ?? null,
          tenants: this.c.visibleTenants(s).map((t) => t.id),
        };
      case '/console/api/overview':
        return this.views.overview();
      case '/console/api/cluster':
        return this.views.cluster();
      case '/console/api/federation':
        return this.federation(await tenant());
      case '/console/api/federation/users': {
        const t = await tenant();
        const domain = text(q.get('domain') ?? undefined, 'domain', 253).toLowerCase();
        if (!DOMAIN.test(domain)) throw new ApiError(400, 'domain must be a DNS domain (a *.suffix rule has no one list of users)');
        return { domain, users: await t.store.remoteUsersOfDomain(domain, PAGE_SIZE) };
      }
      case '/console/api/dead-letters': {
        const t = await tenant();
        const queue = q.get('queue');
        return {
          tenant: t.id,
          keepBodies: d.config.store.retention.keepBodies,
          deadLetters: await t.store.deadLetters({ queue: queue ? queueOf(queue) : undefined, beforeId: optionalNumber(q, 'before'), limit: PAGE_SIZE }),
        };
      }
      case '/console/api/refusals': {
        this.operatorOnly(s, 'the refusal tally');
        const hours = Math.min(24 * 7, Math.max(1, optionalNumber(q, 'hours') ?? 24));
        return { hours, totals: await d.store.refusalTotals(this.c.now() - hours * 3_600_000, REFUSAL_ROWS) };
      }
      case '/console/api/audit': {
        const t = await tenant();
        return { tenant: t.id, entries: await t.store.searchAudit({ ...this.auditQuery(q), limit: PAGE_SIZE }) };
      }
      default:
        throw new ApiError(404, `no such console resource: GET ${path}`);
    }
  }

  private auditQuery(q: URLSearchParams): Omit<AuditQuery, 'limit'> {
    return {
      text: text(q.get('text') ?? undefined, 'text', 200, false) || undefined,
      actor: text(q.get('actor') ?? undefined, 'actor', 450, false) || undefined,
      action: text(q.get('action') ?? undefined, 'action', 128, false) || undefined,
      from: optionalNumber(q, 'from'),
      to: optionalNumber(q, 'to'),
      beforeId: optionalNumber(q, 'before'),
    };
  }

  private async federation(t: ConsoleTenant): Promise<unknown> {
    const d = this.c.deps;
    const stored = new Map((await t.store.whitelist()).map((e) => [`${e.kind}:${e.value}`, e]));
    return {
      tenant: t.id,
      entries: (await t.policy.entries()).map((e) => {
        const s = e.source === 'store' ? stored.get(`${e.kind}:${e.value}`) : undefined;
        return { ...e, addedAt: s?.addedAt, addedBy: s?.addedBy };
      }),
      maxRemoteDomains: d.cluster?.licence().maxRemoteDomains,
    };
  }

  private async post(path: string, b: Record<string, unknown>, s: Session): Promise<unknown> {
    const tenant = () => this.c.tenantFor(s, typeof b.tenant === 'string' ? b.tenant : undefined);
    switch (path) {
      case '/console/api/federation': {
        const t = await tenant();
        if (b.op !== 'add' && b.op !== 'remove') throw new ApiError(400, "op must be 'add' or 'remove'");
        if (!KINDS.includes(b.kind as WhitelistKind)) throw new ApiError(400, "kind must be 'domain', 'user' or 'group'");
        const value = text(b.value, 'value', 400);
        const reason = text(b.reason, 'reason', 500);
        try {
          const changed = await t.policy.change(b.op, b.kind as WhitelistKind, value, s.actor, reason);
          return { changed };
        } catch (err) {
          if (err instanceof PolicyChangeError) throw new ApiError(400, err.message);
          throw err;
        }
      }
      case '/console/api/cluster/drain': {
        this.operatorOnly(s, 'draining a node');
        if (b.op !== 'drain' && b.op !== 'resume') throw new ApiError(400, "op must be 'drain' or 'resume'");
        const node = text(b.node, 'node', 63);
        const reason = text(b.reason, 'reason', 500);
        if (!this.drains) throw new ApiError(409, 'this node is not in a cluster: there is no other node to take its actors (stop it with SIGTERM instead)');
        const live = (await this.views.cluster()).nodes.some((n) => n.id === node);
        if (!live) throw new ApiError(404, `no live node ${node}`);
        await this.drains.send(node, b.op, s.actor);
        await this.c.audit(s.actor, `cluster.${b.op}`, `node:${node}`, reason);
        return { sent: true };
      }
      case '/console/api/dead-letters/retry': {
        const t = await tenant();
        const ref = { queue: queueOf(b.queue), id: idOf(b.id) };
        const r = await t.store.retryDeadLetter(ref, this.c.now());
        if (!r.retried) {
          const why = { 'not-found': 'no such dead letter', 'not-dead': 'it is not dead-lettered (already retried?)', 'no-body': 'its text was erased when it was dead-lettered (store.retention.keepBodies is off): it cannot be sent again' }[r.reason];
          throw new ApiError(r.reason === 'not-found' ? 404 : 409, why);
        }
        await this.c.audit(s.actor, 'dead-letter.retry', `${ref.queue}:${ref.id}`, text(b.reason, 'reason', 500, false) || undefined, t);
        if (r.pair) t.wakePair(r.pair);
        else t.inboxChanged();
        return { retried: true };
      }
      case '/console/api/dead-letters/discard': {
        const t = await tenant();
        const ref = { queue: queueOf(b.queue), id: idOf(b.id) };
        if (!(await t.store.discardDeadLetter(ref))) throw new ApiError(404, 'no such dead letter');
        await this.c.audit(s.actor, 'dead-letter.discard', `${ref.queue}:${ref.id}`, text(b.reason, 'reason', 500, false) || undefined, t);
        return { discarded: true };
      }
      default:
        throw new ApiError(404, `no such console action: POST ${path}`);
    }
  }

  /** The audit log as CSV, newest first, every row matching the filters up to AUDIT_EXPORT_MAX. */
  private async auditCsv(res: ServerResponse, q: URLSearchParams, s: Session, t: ConsoleTenant): Promise<void> {
    const filters = this.auditQuery(q);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="gateway-audit-${new Date(this.c.now()).toISOString().slice(0, 10)}.csv"`,
      'cache-control': 'no-store',
    });
    res.write(csvRow(['id', 'time (UTC)', 'actor', 'action', 'subject', 'detail']));
    let before = filters.beforeId;
    let written = 0;
    while (written < AUDIT_EXPORT_MAX) {
      const page = await t.store.searchAudit({ ...filters, beforeId: before, limit: Math.min(PAGE_SIZE * 10, AUDIT_EXPORT_MAX - written) });
      for (const e of page) res.write(csvRow([e.id, new Date(e.at).toISOString(), e.actor, e.action, e.subject, e.detail]));
      written += page.length;
      if (page.length < PAGE_SIZE * 10) break;
      before = page[page.length - 1]?.id;
    }
    res.end();
    // Recorded after the export, so that it is not part of what it exports.
    await this.c.audit(s.actor, 'audit.export', 'audit-log', `${written} rows; filters ${JSON.stringify(filters)}`, t);
  }
}
