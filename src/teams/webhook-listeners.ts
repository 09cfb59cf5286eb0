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
  private readonly servers = new Map<string, Server>();
  private readonly byListen = new Map<string, WebhookRoute[]>();
  private stopping = false;
  private started = false;

  constructor(
    routes: readonly WebhookRoute[],
    private readonly log: Logger,
  ) {
    for (const r of routes) this.byListen.set(r.listen, [...(this.byListen.get(r.listen) ?? []), r]);
  }

  async start(): Promise<void> {
    this.started = true;
    for (const [listen, routes] of this.byListen) await this.listen(listen, routes);
  }

  /** A tenant added at run time (issue 16): its path on its listener, which is opened if it is a new address. */
  async add(route: WebhookRoute): Promise<void> {
    const routes = this.byListen.get(route.listen);
    if (routes) {
      routes.push(route); // the listener's handler reads this list at each request
      return;
    }
    this.byListen.set(route.listen, [route]);
    if (this.started) await this.listen(route.listen, this.byListen.get(route.listen) ?? []);
  }

  /** A tenant removed at run time: its path answers 404 at once; a listener left with no tenant closes. */
  async remove(webhook: WebhookServer): Promise<void> {
    for (const [listen, routes] of this.byListen) {
      const i = routes.findIndex((r) => r.webhook === webhook);
      if (i === -1) continue;
      routes.splice(i, 1);
      if (routes.length === 0) {
        this.byListen.delete(listen);
        const server = this.servers.get(listen);
        this.servers.delete(listen);
        if (server) await closeGracefully(server);
      }
      await webhook.drained();
    }
  }

  private async listen(listen: string, routes: readonly WebhookRoute[]): Promise<void> {
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
    this.servers.set(listen, server);
    this.log.info('webhook listening', { listen, tenants: routes.length });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const servers = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(servers.map((server) => closeGracefully(server)));
    for (const routes of this.byListen.values()) for (const r of routes) await r.webhook.drained();
  }
}
