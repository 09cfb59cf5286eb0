/**
 * A round-robin HTTP load balancer on loopback, standing in for the one an operator puts in front of a cluster's
 * webhooks: a backend that refuses the connection or answers 503 is skipped, as nginx's proxy_next_upstream does.
 */
import { createServer, request, type Server } from 'node:http';

export class HttpBalancer {
  private next = 0;
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly backends: number[],
  ) {}

  static async start(port: number, backends: number[]): Promise<HttpBalancer> {
    let self: HttpBalancer | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void self?.forward(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    self = new HttpBalancer(server, port, backends);
    return self;
  }

  setBackends(ports: number[]): void {
    this.backends.splice(0, this.backends.length, ...ports);
  }

  private async forward(method: string, url: string, headers: NodeJS.Dict<string | string[]>, body: Buffer, res: import('node:http').ServerResponse): Promise<void> {
    // Each backend once per request, from the round-robin position (as nginx tries each upstream once): with
    // requests in flight together, a shared counter alone could send one request's retry to the backend that failed.
    const start = this.next++;
    const ports = [...this.backends];
    for (let tries = 0; tries < ports.length; tries++) {
      const port = ports[(start + tries) % ports.length];
      if (port === undefined) break;
      const answer = await new Promise<{ status: number; headers: NodeJS.Dict<string | string[]>; body: Buffer } | undefined>((resolve) => {
        const r = request({ host: '127.0.0.1', port, method, path: url, headers: { ...headers, host: `127.0.0.1:${port}` } }, (up) => {
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.on('end', () => resolve({ status: up.statusCode ?? 502, headers: up.headers, body: Buffer.concat(parts) }));
          up.on('error', () => resolve(undefined));
        });
        r.on('error', () => resolve(undefined));
        r.end(body);
      });
      if (answer && answer.status !== 503) {
        res.writeHead(answer.status, answer.headers).end(answer.body);
        return;
      }
    }
    res.writeHead(502).end();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
