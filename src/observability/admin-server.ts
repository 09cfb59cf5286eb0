/**
 * The node's admin endpoint: GET /metrics (Prometheus text format from the node's registry), GET /healthz
 * (liveness: 200 while the process answers, with the checks in the body), GET /readyz (readiness: 200 when every
 * check passes, 503 with the failing ones named), and, when a token is configured, the /admin API (bearer token;
 * operator changes are audit-logged by the handler).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readBody } from '../http/read-body.js';
import type { Metrics } from './metrics.js';
import type { Logger } from './logger.js';
import { errorMessage } from './logger.js';

export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  /** Who acts, from the X-Admin-Actor header (for the audit log). */
  readonly actor: string;
  /** Whose token it was: the operator's ('*', every tenant) or one tenant's id (issue 16). */
  readonly scope?: string;
}

export interface AdminApi {
  /** The operator's token (every tenant); absent when only tenants' tokens are configured. */
  readonly token: string | undefined;
  /** Tenants' own tokens, each opening its tenant only (issue 16). */
  readonly tenantTokens?: readonly { readonly token: string; readonly tenant: string }[];
  handle(req: AdminRequest): Promise<{ status: number; body: unknown }>;
}

const MAX_ADMIN_BODY = 64 * 1024;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req, MAX_ADMIN_BODY);
  if (body === undefined) throw new Error('body too large');
  const text = body.toString('utf8');
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    throw new Error('body is not JSON');
  }
}

/** Compares digests, so that neither the token's bytes nor its length leak through timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const digest = (v: string) => createHash('sha256').update(v, 'utf8').digest();
  return timingSafeEqual(digest(header?.replace(/^Bearer\s+/iu, '') ?? ''), digest(token));
}

/** The audit log's "who": the header's text without control characters, at most 100 characters. */
function actorName(header: string | string[] | undefined): string {
  const raw = Array.isArray(header) ? header[0] : header;
  const clean = Array.from((raw ?? '').replace(/[\p{Cc}\p{Cf}]/gu, '').trim()).slice(0, 100).join('');
  return clean === '' ? 'admin-api' : clean;
}

/** true: fine; false or a text: not ready (the text says what is wrong). */
export type HealthCheck = () => Promise<boolean | string> | boolean | string;

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  readonly checks: Readonly<Record<string, HealthCheck>>;
  readonly log: Logger;
  readonly api?: AdminApi | undefined;
  /** Extra fields of the /healthz body (node id, licence state). */
  readonly details?: () => Record<string, unknown>;
  /** Read-only JSON views by path (e.g. /cluster). */
  readonly views?: Readonly<Record<string, () => Promise<unknown>>>;
  /** The operator console (src/console): every request under /console is handed to it. */
  readonly console?: { handle(req: IncomingMessage, res: ServerResponse): void } | undefined;
}

/** What /readyz reports. */
export type Readiness = Record<string, unknown> & { ok: boolean; checks: Record<string, boolean>; problems?: Record<string, string> };

export class AdminServer {
  private server: Server | undefined;
  private boundPort = 0;

  constructor(private readonly o: AdminServerOptions) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      const path = url.pathname;
      if (this.o.console && (path === '/console' || path.startsWith('/console/'))) {
        this.o.console.handle(req, res);
        return;
      }
      if (path.startsWith('/admin/')) {
        void this.admin(req, path, url.searchParams).then(
          (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body)),
          (err: unknown) => res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: errorMessage(err) })),
        );
        return;
      }
      if (req.method !== 'GET') {
        res.writeHead(405).end();
        return;
      }
      if (path === '/metrics') {
        this.o.metrics.registry
          .metrics()
          .then((text) => res.writeHead(200, { 'content-type': this.o.metrics.registry.contentType }).end(text))
          .catch((err: unknown) => res.writeHead(500).end(errorMessage(err)));
        return;
      }
      const view = this.o.views?.[path];
      if (view) {
        view().then(
          (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
          (err: unknown) => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: errorMessage(err) })),
        );
        return;
      }
      if (path === '/healthz') {
        // Liveness: the process answers. What it can or cannot do now is in the body and in /readyz.
        void this.readiness().then((h) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...h, alive: true })));
        return;
      }
      if (path === '/readyz') {
        void this.readiness().then((h) => res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h)));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.o.port, this.o.host, () => resolve());
    });
    const addr = this.server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : this.o.port;
    this.o.log.info('admin endpoint listening', { host: this.o.host, port: this.boundPort });
  }

  private async admin(req: IncomingMessage, path: string, query: URLSearchParams): Promise<{ status: number; body: unknown }> {
    const api = this.o.api;
    if (!api) return { status: 404, body: { error: 'the admin API is off (set admin.token)' } };
    // Every token is compared (no early exit), so timing does not tell which scope a token was close to.
    const matches = [...(api.token === undefined ? [] : [{ token: api.token, tenant: '*' }]), ...(api.tenantTokens ?? [])].map((t) => (bearerMatches(req.headers.authorization, t.token) ? t.tenant : undefined));
    const scope = matches.find((m) => m !== undefined);
    if (scope === undefined) return { status: 401, body: { error: 'missing or wrong bearer token' } };
    const body = req.method === 'POST' || req.method === 'DELETE' ? await readJson(req) : undefined;
    const actor = actorName(req.headers['x-admin-actor']);
    return api.handle({ method: req.method ?? 'GET', path, query, body, actor, scope });
  }

  /** Runs every check (each bounded to 3 s): the body of /readyz. */
  async readiness(): Promise<Readiness> {
    const checks: Record<string, boolean> = {};
    const problems: Record<string, string> = {};
    await Promise.all(
      Object.entries(this.o.checks).map(async ([name, check]) => {
        try {
          const r = await Promise.race([check(), new Promise<string>((resolve) => setTimeout(() => resolve('no answer within 3 s'), 3_000).unref())]);
          checks[name] = r === true;
          if (r !== true) problems[name] = typeof r === 'string' ? r : 'failed';
        } catch (err) {
          checks[name] = false;
          problems[name] = errorMessage(err);
        }
      }),
    );
    return { ok: Object.values(checks).every(Boolean), checks, ...(Object.keys(problems).length ? { problems } : {}), ...(this.o.details?.() ?? {}) };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
