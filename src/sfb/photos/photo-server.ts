/**
 * The node's photo server (sfb.photos.listen): XMPP users' photos over HTTPS, at the addresses their contactCards
 * give SfB watchers ([MS-PRES] §7.3 contactCard photo uri: the watcher's client fetches the picture; docs/sfb-setup.md checklist).
 * GET and HEAD only; each address names one image by its SHA-1, so it never changes and may be cached for long.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, type Logger } from '../../observability/logger.js';
import { PhotoServerBusyError, type SfbPhotos } from './sfb-photos.js';

/** Connections the photo server holds at once, and how long a request may take to arrive. */
export const MAX_PHOTO_CONNECTIONS = 256;
export const PHOTO_REQUEST_TIMEOUT_MS = 10_000;

export interface PhotoServerOptions {
  readonly host: string;
  readonly port: number;
  readonly cert: string;
  readonly key: string;
  readonly photos: SfbPhotos;
  readonly log: Logger;
}

export class PhotoServer {
  private server: Server | undefined;
  private boundPort = 0;

  constructor(private readonly o: PhotoServerOptions) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const server = createServer({ cert: this.o.cert, key: this.o.key, requestTimeout: PHOTO_REQUEST_TIMEOUT_MS, headersTimeout: PHOTO_REQUEST_TIMEOUT_MS }, (req, res) => void this.answer(req, res));
    server.maxConnections = MAX_PHOTO_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    this.boundPort = typeof a === 'object' && a ? a.port : 0;
    this.server = server;
    this.o.log.info('SfB photo server listening', { port: this.boundPort });
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'https://photos').pathname;
    } catch {
      res.writeHead(400).end();
      return;
    }
    try {
      const photo = await this.o.photos.serve(path);
      if (!photo) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no such photo\n');
        return;
      }
      res.writeHead(200, {
        'Content-Type': photo.type,
        'Content-Length': photo.bytes.length,
        // The address names the image by its hash: it never changes (RFC 9111 §5.2.2.1 max-age; RFC 8246 immutable).
        'Cache-Control': 'private, max-age=86400, immutable',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : photo.bytes);
    } catch (err) {
      if (err instanceof PhotoServerBusyError) {
        res.writeHead(503, { 'Retry-After': '5' }).end();
        return;
      }
      this.o.log.warn('photo request failed', { error: errorMessage(err) });
      if (!res.headersSent) res.writeHead(500).end();
    }
  }
}
