/**
 * The operator console (issue 18), served by the node's admin endpoint under /console/: the pages, their API, the
 * live feed, and sign-in. The gateway builds it with {@link ConsoleDeps} and the admin server hands it every
 * request under /console. Alongside, the node publishes its statistics (node-stats.ts), writes its refusal tallies
 * to the store, and, in a cluster, listens for drain commands.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Secret } from '../config/secret.js';
import { errorMessage } from '../observability/logger.js';
import { consoleTenant } from '../config/load.js';
import { ApiRoutes } from './api-routes.js';
import { loadAssets, PAGES, shellHtml, type Asset, type PageName } from './assets.js';
import { AuthRoutes } from './auth-routes.js';
import { ClusterViews } from './cluster-view.js';
import { ConsoleContext, type ConsoleDeps } from './context.js';
import { DrainCommands } from './drain-commands.js';
import { SECURITY_HEADERS, sendJson } from './http-security.js';
import { LiveFeed } from './live-feed.js';
import { NodeStatsSampler } from './node-stats.js';
import { OidcClient } from './oidc-client.js';
import { deriveSessionKey, Revocations, SessionCodec } from './session.js';

export type { ConsoleDeps } from './context.js';

/** How often the refusal tallies go to the store, and how long the store keeps them. */
const REFUSAL_FLUSH_MS = 10_000;
const REFUSAL_RETENTION_MS = 7 * 24 * 3_600_000;

export class ConsoleService {
  private readonly c: ConsoleContext;
  private readonly auth: AuthRoutes;
  private readonly api: ApiRoutes;
  private readonly feed: LiveFeed;
  private readonly sampler: NodeStatsSampler;
  private readonly drains: DrainCommands | undefined;
  private assets: Map<string, Asset> | undefined;
  private flusher: NodeJS.Timeout | undefined;
  private lastPrune = 0;

  constructor(private readonly deps: ConsoleDeps) {
    const cfg = deps.config;
    // The tenant whose directory signs operators in (console.oidc.tenant, else the first); its secrets seed the key.
    const home = consoleTenant(cfg);
    // Without Microsoft 365 (SfB Server only) and no secret configured: a key of this process (sessions end with it).
    const secret = cfg.console.sessionSecret ?? cfg.cluster.secret ?? home.teams?.clientSecret ?? home.teams?.puppets.passwordSecret ?? new Secret(randomBytes(32).toString('base64url'));
    const prefix = deps.cluster ? `${deps.cluster.keys.prefix}:console:` : 'xtg:console:';
    this.c = new ConsoleContext(deps, new SessionCodec(deriveSessionKey(secret.reveal())), new Revocations(deps.cluster ? deps.redis : undefined, `${prefix}revoked:`));
    const oidcCfg = cfg.console.oidc;
    const teams = home.teams;
    const oidc = oidcCfg && teams // (configuration refuses oidc for a tenant without teams)
      ? new OidcClient({
          authorityHost: teams.authorityHost,
          tenantId: teams.tenantId,
          clientId: oidcCfg.clientId ?? teams.clientId,
          clientSecret: (oidcCfg.clientSecret ?? teams.clientSecret)?.reveal() ?? '',
          adminGroups: oidcCfg.adminGroups,
          groupMemberIds: deps.groupMemberIds,
        })
      : undefined;
    this.auth = new AuthRoutes(this.c, oidc);
    const statsKey = (nodeId: string) => `${prefix}stats:${nodeId}`;
    this.sampler = new NodeStatsSampler({
      nodeId: deps.nodeId,
      metrics: deps.metrics,
      readiness: deps.readiness,
      redis: deps.cluster ? deps.redis : undefined,
      key: statsKey,
      log: deps.log,
    });
    const views = new ClusterViews({
      nodeId: deps.nodeId,
      version: deps.version,
      sampler: this.sampler,
      redis: deps.redis,
      cluster: deps.cluster,
      statsKey,
      roles: deps.roles,
    });
    this.drains = deps.cluster && deps.redis ? new DrainCommands({ nodeId: deps.nodeId, redis: deps.redis, cluster: deps.cluster, log: deps.log }) : undefined;
    this.api = new ApiRoutes(this.c, views, this.drains);
    this.feed = new LiveFeed({ views, maxViewers: cfg.console.maxLiveViewers, log: deps.log, now: this.c.now });
  }

  async start(): Promise<void> {
    this.sampler.start();
    await this.drains?.start();
    this.flusher = setInterval(() => void this.flushRefusals(), REFUSAL_FLUSH_MS);
    this.flusher.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.flusher);
    this.feed.close();
    await this.flushRefusals();
    await this.sampler.stop();
    await this.drains?.stop();
  }

  private async flushRefusals(): Promise<void> {
    const now = this.c.now();
    const entries = this.deps.metrics.refusalsByDomain.drain();
    if (entries.length === 0 && now - this.lastPrune < 3_600_000) return;
    this.lastPrune = now;
    const minute = Math.floor(now / 60_000) * 60_000;
    try {
      await this.deps.store.addRefusalCounts(
        entries.map((e) => ({ ...e, minute })),
        now - REFUSAL_RETENTION_MS,
      );
    } catch (err) {
      this.deps.log.warn('could not record refusal counts for the console', { error: errorMessage(err) });
    }
  }

  /** Every request under /console. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    void this.route(req, res).catch((err: unknown) => {
      this.deps.log.error('console request failed', { error: errorMessage(err) });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.end();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    if (!this.c.hostAllowed(req)) {
      req.resume();
      sendJson(res, 421, { error: 'this console is served under console.publicUrl only' });
      return;
    }
    if (path === '/console' || path === '/console/') {
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/console/overview' }).end();
      return;
    }
    if (path.startsWith('/console/assets/')) return this.asset(req, res, path.slice('/console/assets/'.length));
    if (await this.auth.handle(req, res, path, url.searchParams)) return;
    if (path === '/console/api/live') {
      const session = await this.c.session(req);
      if (!session) return sendJson(res, 401, { error: 'not signed in (or the session ended)' });
      this.feed.open(req, res, session);
      return;
    }
    if (path.startsWith('/console/api/')) return this.api.handle(req, res, path, url.searchParams);
    const page = PAGES.find(([p]) => path === `/console/${p}`)?.[0];
    if (page && req.method === 'GET') {
      // The shell holds no data; its script asks the API, which needs the session (a Strict cookie is not sent on a
      // navigation that came from Entra ID's sign-in page, but is on the page's own requests).
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(shellHtml(page as PageName, this.deps.nodeId));
      return;
    }
    req.resume();
    sendJson(res, 404, { error: `no such console page: ${req.method ?? 'GET'} ${path.slice(0, 200)}` });
  }

  private asset(req: IncomingMessage, res: ServerResponse, name: string): void {
    this.assets ??= loadAssets(this.deps.webDir);
    const a = this.assets.get(name);
    if (!a || (req.method !== 'GET' && req.method !== 'HEAD')) {
      sendJson(res, 404, { error: 'no such asset' });
      return;
    }
    const headers = { ...SECURITY_HEADERS, 'content-type': a.type, etag: a.etag, 'cache-control': 'no-cache' };
    if (req.headers['if-none-match'] === a.etag) res.writeHead(304, headers).end();
    else res.writeHead(200, { ...headers, 'content-length': String(a.body.length) }).end(req.method === 'HEAD' ? undefined : a.body);
  }
}
