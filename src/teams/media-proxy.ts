/**
 * The media proxy: Teams inline images (hosted contents) for XMPP users, who have no Graph token to open them.
 * The gateway hands out links <publicUrl>/media/<token> (XEP-0066 out-of-band data in the relayed message); the token
 * (media-token.ts) is signed and expires. Serving one: the signature and expiry are checked (403 forged or malformed,
 * 410 expired; no detail in the answer), then the bytes are streamed from
 * GET /chats/{chat}/messages/{message}/hostedContents/{id}/$value with the delegated token of the XMPP user's own
 * account, a member of that chat (https://learn.microsoft.com/en-us/graph/api/chatmessagehostedcontent-get), with
 * Graph's Content-Type and at most `maxBytes`. Any Graph failure is 502, logged with its reason (never the token).
 * Served on the webhook listener (webhook-server.ts), the one public HTTPS endpoint of a node; any node serves any
 * link, since every node derives the same key.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { HostedContentRef } from '../protocol/hosted-content.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import { refusalLogBudget, type LogBudget } from '../observability/log-budget.js';
import type { Metrics } from '../observability/metrics.js';
import type { HostedContentStream } from './graph-teams-adapter.js';
import { encodeMediaToken, verifyMediaToken } from './media-token.js';
import type { Puppet } from './teams-port.js';

export interface HostedContentSource {
  openHostedContent(puppet: Puppet, chatId: string, messageId: string, hostedContentId: string): Promise<HostedContentStream>;
}

export interface MediaProxyOptions {
  /** teams.webhook.publicUrl: links are <publicUrl>/media/<token>. */
  readonly publicUrl: string;
  readonly key: Buffer;
  readonly linkHours: number;
  /** Larger contents are refused with 502. */
  readonly maxBytes: number;
  readonly puppetByUserId: (userId: string) => Promise<Puppet | undefined>;
  readonly source: HostedContentSource;
  readonly log: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
}

export const DEFAULT_MEDIA_MAX_BYTES = 25 * 1024 * 1024;

/**
 * Fetches of one link per node and hour. Each fetch is a Graph read, and a link holder (an XMPP user who received
 * the image) could otherwise turn one link into unbounded Graph calls against the tenant's quota (issue 12).
 * Over the limit: 429 with Retry-After, and no Graph call.
 */
export const MEDIA_FETCHES_PER_LINK_PER_HOUR = 30;
/** Links whose fetches are counted at once (the oldest is forgotten first). */
const MEDIA_LINKS_COUNTED = 10_000;

/** The public URL prefix of media links: "<publicUrl>/media/". */
export function mediaUrlPrefix(publicUrl: string): string {
  const u = new URL(publicUrl);
  u.pathname = `${u.pathname.replace(/\/+$/u, '')}/media/`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** A content type as Graph gave it, if it is a plain type/subtype (with parameters); otherwise a neutral one. */
function safeContentType(t: string): string {
  return /^[\w.+-]+\/[\w.+-]+(\s*;\s*[\w.+-]+=("[^"\r\n]*"|[\w.+-]+))*$/u.test(t.trim()) ? t.trim() : 'application/octet-stream';
}

export class MediaProxy {
  private readonly prefix: string;
  private readonly fetches = new Map<string, { readonly since: number; count: number }>();
  /** Refused links are logged within a budget: anyone can GET the public endpoint. */
  private readonly refusals: LogBudget;
  /** The path of the prefix on the listener, e.g. "/graph/notifications/media/". */
  readonly pathPrefix: string;

  constructor(private readonly o: MediaProxyOptions) {
    this.refusals = refusalLogBudget(o.log);
    this.prefix = mediaUrlPrefix(o.publicUrl);
    this.pathPrefix = new URL(this.prefix).pathname;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** The link an XMPP user gets for a hosted content of the chat between `puppetUserId` and a Teams user. */
  link(ref: HostedContentRef, puppetUserId: string): string {
    const token = encodeMediaToken({ ...ref, puppetUserId, expiresAt: this.now() + this.o.linkHours * 3_600_000 }, this.o.key);
    return `${this.prefix}${token}`;
  }

  /** Counts a fetch of the link; the seconds until it may be fetched again when it is over the limit. */
  private overLimit(token: string): number | undefined {
    const now = this.now();
    let w = this.fetches.get(token);
    if (!w || now - w.since >= 3_600_000) {
      this.fetches.delete(token);
      if (this.fetches.size >= MEDIA_LINKS_COUNTED) this.fetches.delete(this.fetches.keys().next().value as string);
      w = { since: now, count: 0 };
      this.fetches.set(token, w);
    }
    w.count++;
    return w.count > MEDIA_FETCHES_PER_LINK_PER_HOUR ? Math.ceil((w.since + 3_600_000 - now) / 1000) : undefined;
  }

  private count(outcome: string): void {
    this.o.metrics?.mediaRequests.inc({ outcome });
  }

  /** Serves GET <pathPrefix><token>; `token` is the path segment after the prefix. */
  async serve(token: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const check = verifyMediaToken(token, this.o.key, this.now());
    if (!check.ok) {
      this.count(check.reason);
      this.refusals.info('media link refused', { reason: check.reason });
      res.writeHead(check.reason === 'expired' ? 410 : 403, { 'cache-control': 'no-store' }).end();
      return;
    }
    const retryAfter = this.overLimit(token);
    if (retryAfter !== undefined) {
      this.count('throttled');
      this.refusals.info('media link fetched too often', { chatId: check.ref.chatId, messageId: check.ref.messageId });
      res.writeHead(429, { 'cache-control': 'no-store', 'retry-after': String(retryAfter) }).end();
      return;
    }
    const ref = check.ref;
    const where = { chatId: ref.chatId, messageId: ref.messageId };
    const fail = (reason: string) => {
      this.count('graph_error');
      this.o.log.warn('media link not served', { ...where, reason });
      if (!res.headersSent) res.writeHead(502, { 'cache-control': 'no-store' }).end();
      else res.destroy();
    };
    const puppet = await this.o.puppetByUserId(ref.puppetUserId);
    if (!puppet) {
      fail('the XMPP user account of the link is unknown');
      return;
    }
    let content: HostedContentStream;
    try {
      content = await this.o.source.openHostedContent(puppet, ref.chatId, ref.messageId, ref.hostedContentId);
    } catch (err) {
      fail(errorMessage(err));
      return;
    }
    const body = content.body;
    if (content.contentLength !== undefined && content.contentLength > this.o.maxBytes) {
      await body?.cancel().catch(() => undefined);
      fail(`the image is larger than ${this.o.maxBytes} bytes (${content.contentLength})`);
      return;
    }
    const headers: Record<string, string> = {
      'content-type': safeContentType(content.contentType),
      'x-content-type-options': 'nosniff',
      // An image served from the gateway's origin must not run as a document there (SVG scripts, HTML).
      'content-security-policy': "default-src 'none'; sandbox",
      'referrer-policy': 'no-referrer',
      'cache-control': `private, max-age=${Math.max(0, Math.floor((ref.expiresAt - this.now()) / 1000))}`,
    };
    if (content.contentLength !== undefined) headers['content-length'] = String(content.contentLength);
    if (!body || req.method === 'HEAD') {
      await body?.cancel().catch(() => undefined);
      res.writeHead(200, headers).end();
      this.count('served');
      return;
    }
    let sent = 0;
    const max = this.o.maxBytes;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length;
        if (sent > max) cb(new Error(`the image is larger than ${max} bytes`));
        else cb(null, chunk);
      },
    });
    res.writeHead(200, headers);
    try {
      await pipeline(Readable.fromWeb(body as NodeReadableStream<Uint8Array>), cap, res);
      this.count('served');
    } catch (err) {
      fail(`streaming failed after ${sent} bytes: ${errorMessage(err)}`);
    }
  }
}
