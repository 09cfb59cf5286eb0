/**
 * The node's admin endpoint: GET /metrics (Prometheus text format from the node's registry) and GET /healthz
 * (200 when the node serves: XMPP link up and store reachable; 503 with the failing checks otherwise).
 */
import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.js';
import type { Logger } from './logger.js';
import { errorMessage } from './logger.js';

export type HealthCheck = () => Promise<boolean> | boolean;

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  readonly checks: Readonly<Record<string, HealthCheck>>;
  readonly log: Logger;
}

export class AdminServer {
  private server: Server | undefined;
  private boundPort = 0;

  constructor(private readonly o: AdminServerOptions) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://admin').pathname;
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
      if (path === '/healthz') {
        void this.health().then((h) => res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h)));
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

  private async health(): Promise<{ ok: boolean; checks: Record<string, boolean> }> {
    const checks: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(this.o.checks)) {
      try {
        checks[name] = await check();
      } catch {
        checks[name] = false;
      }
    }
    return { ok: Object.values(checks).every(Boolean), checks };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
