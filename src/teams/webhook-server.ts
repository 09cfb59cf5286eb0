/**
 * The change-notification receiver (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks).
 * - Validation: a POST with ?validationToken=... is answered 200 text/plain with the decoded token, within 10 s;
 *   the token is echoed as plain text only (nosniff) and only up to {@link MAX_VALIDATION_TOKEN_CHARS}.
 * - Notifications: the items that authenticate (notification-intake.ts) are committed to the inbox, together with
 *   those of every request that arrived in the same instant (inbox-batcher.ts), and only then is 202 returned
 *   (DESIGN.md decision 4), well within Graph's 3-second deadline. If the commit fails the answer is 500, and Graph
 *   redelivers. A batch none of whose items authenticates is refused (403) and costs no commit.
 * Anyone can POST here (DESIGN.md decision 9): bodies are bounded before parsing, items per request before any
 * is looked at, each subscription is looked up once per request, and each request writes at most one log line,
 * within a budget of lines.
 * The same listener serves the media proxy's links, GET <publicUrl>/media/<token> (media-proxy.ts).
 */
import { readBody } from '../http/read-body.js';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { notificationCount, parseNotificationBody, type ParsedCollection } from '../protocol/graph-notification.js';
import { refusalLogBudget, type LogBudget } from '../observability/log-budget.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { InboundNotification, Store } from '../store/store.js';
import { InboxBatcher } from './inbox-batcher.js';
import type { MediaProxy } from './media-proxy.js';
import { SubscriptionCache } from './subscription-cache.js';
import { NotificationIntake, type IntakeSummary, type TokenVerdict } from './notification-intake.js';

const MAX_BODY_BYTES = 1_000_000;
/**
 * Graph's validation tokens are short ("Validation: Testing client application reachability for subscription
 * Request-Id: <guid>", https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation);
 * a longer one is not Graph's, and is not reflected.
 */
export const MAX_VALIDATION_TOKEN_CHARS = 1024;
/** Default cap on the items of one POST (teams.webhook.maxNotificationsPerRequest). */
export const DEFAULT_MAX_NOTIFICATIONS_PER_REQUEST = 1000;
/** Log lines about refused requests: at most this many at once, then this many a minute. */
const PLAIN = { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' };

export interface WebhookOptions {
  readonly listen: string;
  readonly publicUrl: string;
  readonly tls: { certFile: string; keyFile: string } | undefined;
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Called with the notifications just committed (not those already known), so processing starts at once. */
  readonly onRecorded: (recorded: readonly InboundNotification[]) => void;
  /** False while the node may not record notifications (cluster: unlicensed, no seat): they get 503. */
  readonly accepting?: () => boolean;
  readonly now?: () => number;
  /** Teams inline images for XMPP users (GET <publicUrl>/media/<token>). */
  readonly media?: MediaProxy | undefined;
  /** The gateway's tenant: notifications of another tenant are refused. */
  readonly tenantId?: string | undefined;
  /** Items one POST may carry; more is refused (413) before any is looked at. */
  readonly maxNotificationsPerRequest?: number | undefined;
  /** Checks the validation tokens of notifications with resource data (rich-notifications.ts). */
  readonly verifyValidationTokens?: ((tokens: readonly string[]) => Promise<TokenVerdict>) | undefined;
  /** A lifecycle notice repeated within this is recorded once. */
  readonly lifecycleReplayMs?: number | undefined;
  /** Whether this node posted that Teams message itself (own-posts.ts): its "created" notification is a duplicate. */
  readonly postedHere?: ((chatId: string, messageId: string) => boolean) | undefined;
  /**
   * In a cluster: which of a chat's Teams messages were relayed already (another node's posts, which postedHere
   * cannot know), asked of the store for the messages not posted here. Unset on a lone node: postedHere knows its
   * every post, and the notification of one it made before a restart, if Graph sends it after, is committed and
   * then finished by its pair, which checks the relayed ids itself (teams-to-xmpp.ts). The read cost 6% of the
   * event loop's samples in Teams -> XMPP (bench/relay.bench.ts --perf), for posts that on a lone node never come.
   */
  readonly relayedAmong?: ((chatId: string, messageIds: readonly string[]) => Promise<ReadonlySet<string>>) | undefined;
}

export function lifecycleUrl(publicUrl: string): string {
  const u = new URL(publicUrl);
  u.pathname = `${u.pathname.replace(/\/+$/u, '')}/lifecycle`;
  return u.toString();
}

/** How long a stopping webhook waits for open connections: Graph gives up on an answer after 3 s. */
const STOP_GRACE_MS = 5_000;

/**
 * Stops taking connections and lets the requests in progress finish. A client that keeps its connection alive
 * (Graph, a load balancer) must be answered with `Connection: close` from then on (the handler's job), so it
 * reconnects, to another node; a connection still open after STOP_GRACE_MS (longer than Graph waits for an
 * answer) is cut, so a busy client cannot hold the node's shutdown.
 */
export async function closeGracefully(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const grace = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS);
  await closed;
  clearTimeout(grace);
}

export class WebhookServer {
  private server: Server | undefined;
  private stopping = false;
  private readonly notifyPath: string;
  private readonly lifecyclePath: string;
  private readonly intake: NotificationIntake;
  private readonly batcher: InboxBatcher;
  private readonly budget: LogBudget;
  private readonly maxItems: number;
  private readonly now: () => number;

  constructor(private readonly o: WebhookOptions) {
    this.budget = refusalLogBudget(o.log);
    this.notifyPath = new URL(o.publicUrl).pathname.replace(/\/+$/u, '') || '/';
    this.lifecyclePath = new URL(lifecycleUrl(o.publicUrl)).pathname;
    this.now = o.now ?? Date.now;
    this.maxItems = o.maxNotificationsPerRequest ?? DEFAULT_MAX_NOTIFICATIONS_PER_REQUEST;
    // Each POST names its subscription: read once per SUBSCRIPTION_TTL_MS, not per request (subscription-cache.ts).
    const subscriptions = new SubscriptionCache((id) => o.store.findSubscription(id), this.now);
    this.intake = new NotificationIntake({
      tenantId: o.tenantId,
      findSubscription: (id) => subscriptions.get(id),
      verifyValidationTokens: o.verifyValidationTokens,
      lifecycleReplayMs: o.lifecycleReplayMs,
      alreadyRelayed: async (chatId, messageIds) => {
        // The node's own posts are known in memory; only the others cost the store read, and only in a cluster.
        const posted = new Set(messageIds.filter((id) => o.postedHere?.(chatId, id) === true));
        const rest = messageIds.filter((id) => !posted.has(id));
        if (rest.length === 0 || !o.relayedAmong) return posted;
        const relayed = new Set(await o.relayedAmong(chatId, rest));
        for (const id of posted) relayed.add(id);
        return relayed;
      },
    });
    this.batcher = new InboxBatcher(o.store, this.now);
  }

  /** The request is this webhook's: its notification or lifecycle path, or one of its media links. */
  owns(pathname: string): boolean {
    const path = pathname.replace(/\/+$/u, '') || '/';
    return path === this.notifyPath || path === this.lifecyclePath || (this.o.media !== undefined && pathname.startsWith(this.o.media.pathPrefix));
  }

  /** Handles one request (its own listener, or one shared by several tenants: webhook-listeners.ts). */
  serve(req: IncomingMessage, res: ServerResponse): void {
    this.handle(req, res).catch((err: unknown) => {
      this.o.log.error('webhook handler failed', { error: errorMessage(err) });
      if (!res.headersSent) res.writeHead(500).end();
    });
  }

  /** Resolves once every commit of a request already answered has settled. */
  drained(): Promise<void> {
    return this.batcher.drained();
  }

  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      if (this.stopping) res.setHeader('connection', 'close');
      this.serve(req, res);
    };
    const tls = this.o.tls;
    this.server = tls
      ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, handler)
      : createHttpServer(handler);
    const [host, port] = splitHostPort(this.o.listen);
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, host, () => resolve());
    });
    this.o.log.info('webhook listening', { listen: this.o.listen, publicUrl: this.o.publicUrl });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.stopping = true;
    await closeGracefully(server);
    await this.batcher.drained();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://webhook');
    const media = this.o.media;
    if (media && url.pathname.startsWith(media.pathPrefix)) {
      const token = url.pathname.slice(media.pathPrefix.length);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      req.resume();
      await media.serve(token, req, res);
      return;
    }
    const path = url.pathname.replace(/\/+$/u, '') || '/';
    if (req.method !== 'POST' || (path !== this.notifyPath && path !== this.lifecyclePath)) {
      req.resume();
      res.writeHead(404).end();
      return;
    }
    const token = url.searchParams.get('validationToken');
    if (token !== null) {
      req.resume();
      if (token.length > MAX_VALIDATION_TOKEN_CHARS) {
        this.o.metrics.webhookNotifications.inc({ outcome: 'bad_validation_request' });
        this.refused('refused a validation request with an overlong token (not from Graph?)', { chars: token.length });
        res.writeHead(400, PLAIN).end();
        return;
      }
      // URLSearchParams has already decoded the token, as Graph requires it back decoded. Plain text, never
      // sniffed as HTML by a browser that is led here.
      this.o.metrics.webhookNotifications.inc({ outcome: 'validation' });
      res.writeHead(200, PLAIN).end(token);
      return;
    }
    if (!(this.o.accepting?.() ?? true)) {
      // An unlicensed node records nothing: Graph retries, and the load balancer picks another node.
      req.resume();
      this.o.metrics.webhookNotifications.inc({ outcome: 'not_serving' });
      res.writeHead(503, { 'retry-after': '5' }).end();
      return;
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) {
      this.o.metrics.webhookNotifications.inc({ outcome: 'too_large' });
      this.refused('refused a notification body over the size limit', { maxBytes: MAX_BODY_BYTES });
      res.writeHead(413).end();
      return;
    }
    let collection: ParsedCollection;
    try {
      const json: unknown = JSON.parse(body.toString('utf8'));
      const items = notificationCount(json);
      if (items > this.maxItems) {
        this.o.metrics.webhookNotifications.inc({ outcome: 'too_many' });
        this.refused('refused a notification body with too many items', { items, maxItems: this.maxItems });
        res.writeHead(413).end();
        return;
      }
      collection = parseNotificationBody(json);
    } catch (err) {
      this.o.metrics.webhookNotifications.inc({ outcome: 'malformed' });
      this.refused('refused a malformed notification body', { error: errorMessage(err) });
      res.writeHead(400).end();
      return;
    }
    const { records, summary } = await this.intake.admit(collection, this.now());
    // Items already relayed (counted as duplicates by the intake) authenticated: they are acknowledged, not refused.
    const known = summary.duplicates;
    if (records.length === 0 && known === 0 && summary.items > 0) {
      this.count(summary);
      this.refused('refused a notification batch in which no item authenticates (not from Graph?)', { ...summary });
      res.writeHead(403).end();
      return;
    }
    const fresh = await this.batcher.record(records);
    summary.accepted = fresh.filter(Boolean).length;
    summary.duplicates = known + fresh.length - summary.accepted;
    this.count(summary);
    res.writeHead(202).end();
    if (summary.accepted > 0) this.o.onRecorded(records.filter((_, i) => fresh[i] === true));
    const rejected = summary.items - records.length - known;
    if (rejected > 0) this.refused('notification items that do not authenticate ignored (not from Graph?)', { ...summary });
    else this.o.log.debug('notifications committed', { ...summary });
  }

  private count(s: IntakeSummary): void {
    const m = this.o.metrics.webhookNotifications;
    const outcomes: [string, number][] = [
      ['accepted', s.accepted],
      ['duplicate', s.duplicates],
      ['unknown_subscription', s.unknownSubscription],
      ['bad_client_state', s.badClientState],
      ['wrong_tenant', s.wrongTenant],
      ['bad_validation_token', s.badValidationToken],
    ];
    for (const [outcome, n] of outcomes) if (n > 0) m.inc({ outcome }, n);
  }

  /** One warn line per refused request, within the node's budget for refused input (observability/log-budget.ts). */
  private refused(message: string, fields: Record<string, unknown>): void {
    this.budget.warn(message, fields);
  }
}

export function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/gu, '');
  return [host, Number(hostPort.slice(i + 1))];
}

