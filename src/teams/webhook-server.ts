/**
 * The change-notification receiver (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks).
 * - Validation: a POST with ?validationToken=... is answered 200 text/plain with the decoded token, within 10 s.
 * - Notifications: each item's clientState must match the one the gateway gave its subscription; valid items
 *   are committed to the inbox before the response, and only then is 202 returned (DESIGN.md decision 4). If the
 *   commit fails the answer is 500, and Graph redelivers.
 * Bodies are bounded before parsing.
 * The same listener serves the media proxy's links, GET <publicUrl>/media/<token> (media-proxy.ts).
 */
import { readBody } from '../http/read-body.js';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { parseNotificationCollection, type ParsedNotification } from '../protocol/graph-notification.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { InboundNotification, Store } from '../store/store.js';
import type { MediaProxy } from './media-proxy.js';

const MAX_BODY_BYTES = 1_000_000;

export interface WebhookOptions {
  readonly listen: string;
  readonly publicUrl: string;
  readonly tls: { certFile: string; keyFile: string } | undefined;
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Called after new notifications were committed, so processing starts at once. */
  readonly onRecorded: () => void;
  /** False while the node serves nothing (cluster: unlicensed or leaving): notifications get 503. */
  readonly accepting?: () => boolean;
  readonly now?: () => number;
  /** Teams inline images for XMPP users (GET <publicUrl>/media/<token>). */
  readonly media?: MediaProxy | undefined;
}

export function lifecycleUrl(publicUrl: string): string {
  const u = new URL(publicUrl);
  u.pathname = `${u.pathname.replace(/\/+$/u, '')}/lifecycle`;
  return u.toString();
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The inbox dedup key. A "created" notification names one message once, so a redelivery has the same key; other
 * notifications (presence changes, edits) may legitimately repeat, and processing them twice is harmless.
 */
export function dedupKeyOf(n: ParsedNotification, arrivalId: string): string {
  if (n.target.kind === 'chatMessage' && n.changeType === 'created') return `created:${n.target.chatId}/${n.target.messageId}`;
  return `${n.lifecycleEvent ?? n.changeType}:${n.resource}:${arrivalId}`;
}

export class WebhookServer {
  private server: Server | undefined;
  private readonly notifyPath: string;
  private readonly lifecyclePath: string;
  private arrivals = 0;

  constructor(private readonly o: WebhookOptions) {
    this.notifyPath = new URL(o.publicUrl).pathname.replace(/\/+$/u, '') || '/';
    this.lifecyclePath = new URL(lifecycleUrl(o.publicUrl)).pathname;
  }

  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        this.o.log.error('webhook handler failed', { error: errorMessage(err) });
        if (!res.headersSent) res.writeHead(500).end();
      });
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
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
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
      res.writeHead(404).end();
      return;
    }
    const token = url.searchParams.get('validationToken');
    if (token !== null) {
      // URLSearchParams has already decoded the token, as Graph requires it back decoded.
      this.o.metrics.webhookNotifications.inc({ outcome: 'validation' });
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(token);
      return;
    }
    if (!(this.o.accepting?.() ?? true)) {
      // An unlicensed or leaving node records nothing: Graph retries, and the load balancer picks another node.
      this.o.metrics.webhookNotifications.inc({ outcome: 'not_serving' });
      res.writeHead(503, { 'retry-after': '5' }).end();
      return;
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) {
      this.o.metrics.webhookNotifications.inc({ outcome: 'too_large' });
      res.writeHead(413).end();
      return;
    }
    let items: ParsedNotification[];
    try {
      items = parseNotificationCollection(JSON.parse(body.toString('utf8')));
    } catch (err) {
      this.o.metrics.webhookNotifications.inc({ outcome: 'malformed' });
      this.o.log.warn('rejected a malformed notification body', { error: errorMessage(err) });
      res.writeHead(400).end();
      return;
    }
    const now = (this.o.now ?? Date.now)();
    let recorded = 0;
    for (const n of items) {
      const sub = await this.o.store.findSubscription(n.subscriptionId);
      if (!sub) {
        this.o.metrics.webhookNotifications.inc({ outcome: 'unknown_subscription' });
        this.o.log.warn('notification for an unknown subscription ignored', { subscriptionId: n.subscriptionId });
        continue;
      }
      if (n.clientState === undefined || !sameSecret(n.clientState, sub.clientState)) {
        this.o.metrics.webhookNotifications.inc({ outcome: 'bad_client_state' });
        this.o.log.warn('notification with a wrong clientState ignored (not from Graph?)', { subscriptionId: n.subscriptionId });
        continue;
      }
      // A new message that was already relayed (the gateway's own post, which Graph notifies too, or a redelivery)
      // needs no processing: acknowledged without a commit (issue 15: one XMPP -> Teams message would cost two).
      if (n.changeType === 'created' && n.target.kind === 'chatMessage' && (await this.o.store.findRelayed(n.target.chatId, n.target.messageId))) {
        this.o.metrics.webhookNotifications.inc({ outcome: 'duplicate' });
        continue;
      }
      const record: InboundNotification = {
        dedupKey: dedupKeyOf(n, `${now}.${++this.arrivals}`),
        kind: n.lifecycleEvent ? 'lifecycle' : n.target.kind === 'unknown' ? 'chatMessage' : n.target.kind,
        subscriptionId: n.subscriptionId,
        resource: n.resource,
        changeType: n.changeType,
        detail: n.lifecycleEvent,
      };
      const fresh = await this.o.store.recordNotification(record, now);
      this.o.metrics.webhookNotifications.inc({ outcome: fresh ? 'accepted' : 'duplicate' });
      if (fresh) recorded++;
    }
    res.writeHead(202).end();
    if (recorded > 0) this.o.onRecorded();
  }
}


export function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/gu, '');
  return [host, Number(hostPort.slice(i + 1))];
}

