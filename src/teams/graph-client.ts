/**
 * Builds Microsoft Graph clients (@microsoft/microsoft-graph-client) on a TokenCredential (@azure/identity).
 * The endpoint comes from configuration only (teams.graphBaseUrl), so the same code talks to Graph or to the
 * emulator. The middleware chain is: authentication (tokens reused until shortly before expiry) -> retry
 * (429/503/504, honouring Retry-After) -> pacing (every attempt waits its turn under Graph's documented limits,
 * graph-pacing.ts) -> metrics -> HTTP (node:https keep-alive), so metrics see every attempt, 429s included.
 */
import type { TokenCredential } from '@azure/identity';
import {
  AuthenticationHandler,
  Client,
  RetryHandler,
  RetryHandlerOptions,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { graphEndpointTemplate, type Metrics } from '../observability/metrics.js';
import { PacingMiddleware, type GraphPacer } from './graph-pacing.js';
import { NodeHttpsTransport } from './graph-transport.js';
import { tokenProvider } from './token-cache.js';

/** One pool of keep-alive connections to Graph for every client of the node (the app and each puppet). */
const transport = new NodeHttpsTransport();

/** Methods whose retry after a 503/504 cannot post twice; a POST is retried only on 429 (rejected unprocessed). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH']);

class MetricsMiddleware implements Middleware {
  private next: Middleware | undefined;
  constructor(private readonly metrics: Metrics) {}

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === 'string' ? context.request : context.request.url;
    const method = (context.options?.method ?? 'GET').toUpperCase();
    const endpoint = graphEndpointTemplate(new URL(url).pathname);
    const stop = this.metrics.graphLatency.startTimer({ method, endpoint });
    try {
      await this.next?.execute(context);
      this.metrics.graphRequests.inc({ method, endpoint, status: String(context.response?.status ?? 0) });
    } catch (err) {
      this.metrics.graphRequests.inc({ method, endpoint, status: 'network_error' });
      throw err;
    } finally {
      stop();
    }
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

export interface GraphEndpoint {
  /** e.g. https://graph.microsoft.com, or the emulator's https://127.0.0.1:port */
  readonly graphBaseUrl: string;
}

/** The token audience of Graph in this cloud: `${graphBaseUrl}/.default` (client credentials and ROPC alike). */
export function graphScope(endpoint: GraphEndpoint): string {
  return `${endpoint.graphBaseUrl.replace(/\/+$/u, '')}/.default`;
}

export function createGraphClient(credential: TokenCredential, endpoint: GraphEndpoint, metrics: Metrics, pacer?: GraphPacer): Client {
  const base = new URL(endpoint.graphBaseUrl);
  const auth = new AuthenticationHandler(tokenProvider(credential, [graphScope(endpoint)]));
  const retry = new RetryHandler(
    new RetryHandlerOptions(3, 3, (_delay, _attempt, _request, options, response) => {
      const method = (options?.method ?? 'GET').toUpperCase();
      return response.status === 429 || IDEMPOTENT.has(method);
    }),
  );
  const chain: Middleware[] = [auth, retry, ...(pacer ? [new PacingMiddleware(pacer)] : []), new MetricsMiddleware(metrics), transport];
  return Client.initWithMiddleware({
    baseUrl: `${base.origin}/`,
    defaultVersion: 'v1.0',
    middleware: chain,
    // The client attaches the token only to Graph's own hosts and these (hostname only, no port).
    customHosts: new Set([base.hostname]),
  });
}
