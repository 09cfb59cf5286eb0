/**
 * The webhook listeners of a node with several tenants (issue 16): one HTTP(S) server per configured
 * teams.webhook.listen address, each request handed to the tenant whose path it is (its notifications, lifecycle
 * notices and media links; the paths never overlap, config/tenant-config.ts checks). Anything else is 404, the same
 * for every path, so the listener does not tell which tenants it serves.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { Logger } from '../observability/logger.js';
import { closeGracefully, splitHostPort, type WebhookServer } from './webhook-server.js';

export interface WebhookRoute {
  readonly listen: string;
  readonly tls: { certFile: string; keyFile: string } | undefined;
  readonly webhook: WebhookServer;
}

export class WebhookListeners {
  private readonly servers: Server[] = [];
  private readonly byListen = new Map<string, WebhookRoute[]>();
  private stopping = false;

  constructor(
    routes: readonly WebhookRoute[],
    private readonly log: Logger,
  ) {
    for (const r of routes) this.byListen.set(r.listen, [...(this.byListen.get(r.listen) ?? []), r]);
  }

  async start(): Promise<void> {
    for (const [listen, routes] of this.byListen) {
      const handler = (req: IncomingMessage, res: ServerResponse) => {
        if (this.stopping) res.setHeader('connection', 'close'); // see closeGracefully
        const path = new URL(req.url ?? '/', 'http://webhook').pathname;
        const route = routes.find((r) => r.webhook.owns(path));
        if (route) return route.webhook.serve(req, res);
        req.resume();
        res.writeHead(404).end();
      };
      const tls = routes[0]?.tls;
      const server = tls ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, handler) : createHttpServer(handler);
      const [host, port] = splitHostPort(listen);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      this.servers.push(server);
      this.log.info('webhook listening', { listen, tenants: routes.length });
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.servers.splice(0).map((server) => closeGracefully(server)));
    for (const routes of this.byListen.values()) for (const r of routes) await r.webhook.drained();
  }
}
