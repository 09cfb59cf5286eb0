/**
 * Live updates of the overview and cluster pages: Server-Sent Events (same origin, a plain GET that the CSP's
 * connect-src 'self' allows; https://html.spec.whatwg.org/multipage/server-sent-events.html). One snapshot is
 * computed per interval for all viewers of the node, and only while someone watches; the number of viewers is
 * bounded (console.maxLiveViewers), and a viewer's stream ends with its session.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { ClusterViews } from './cluster-view.js';
import { SECURITY_HEADERS, sendJson } from './http-security.js';
import type { Session } from './session.js';

/** How often viewers get a new snapshot. */
export const LIVE_INTERVAL_MS = 2_000;
/** What the browser waits before reconnecting a dropped stream (the SSE retry field). */
const RECONNECT_MS = 3_000;

interface Viewer {
  readonly res: ServerResponse;
  readonly until: number;
}

export class LiveFeed {
  private readonly viewers = new Set<Viewer>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly o: { readonly views: ClusterViews; readonly maxViewers: number; readonly log: Logger; readonly now: () => number },
  ) {}

  get viewerCount(): number {
    return this.viewers.size;
  }

  open(req: IncomingMessage, res: ServerResponse, session: Session): void {
    if (this.viewers.size >= this.o.maxViewers) {
      sendJson(res, 503, { error: `already ${this.o.maxViewers} live console pages on this node (console.maxLiveViewers); reload later` });
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: ${RECONNECT_MS}\n\n`);
    const viewer: Viewer = { res, until: session.exp };
    this.viewers.add(viewer);
    const drop = () => this.viewers.delete(viewer);
    req.on('close', drop);
    res.on('error', drop);
    if (!this.timer) {
      this.timer = setInterval(() => void this.push(), LIVE_INTERVAL_MS);
      this.timer.unref();
    }
    void this.push(viewer);
  }

  private async push(only?: Viewer): Promise<void> {
    if (this.busy && !only) return;
    if (!only) this.busy = true;
    try {
      const now = this.o.now();
      for (const v of this.viewers) {
        if (v.until <= now) {
          v.res.end('event: ended\ndata: {"reason":"session ended"}\n\n');
          this.viewers.delete(v);
        }
      }
      if (this.viewers.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
        return;
      }
      const cluster = await this.o.views.cluster();
      const overview = await this.o.views.overview(cluster);
      const frame = `event: snapshot\ndata: ${JSON.stringify({ overview, cluster })}\n\n`;
      for (const v of only ? [only] : this.viewers) if (this.viewers.has(v)) v.res.write(frame);
    } catch (err) {
      this.o.log.warn('console live update failed', { error: errorMessage(err) });
    } finally {
      if (!only) this.busy = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const v of this.viewers) v.res.end();
    this.viewers.clear();
  }
}
