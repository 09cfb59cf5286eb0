/**
 * Messages between nodes: HTTP/1.1 with keep-alive on `cluster.listen`, JSON bodies, authenticated by the shared
 * `cluster.secret`. One request is one actor message and its reply (ask), or one stanza for the node that holds
 * the XMPP link.
 *
 * Why not comedy's remote mode: comedy creates remote actors by shipping their definition's source to a comedy
 * process it manages, and it has no directory or fencing. Our actors close over ports (store, Graph clients) that
 * cannot travel, and they live where the placement directory says; so nodes only need to pass messages, which
 * plain HTTP does with nothing more to run.
 */
import { timingSafeEqual } from 'node:crypto';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { readBody } from '../http/read-body.js';
import { errorMessage, type Logger } from '../observability/logger.js';

const MAX_BODY = 2 * 1024 * 1024;

/** A failure reported by the other node, carried back as a typed value. */
export class RemoteCallError extends Error {
  constructor(
    readonly remoteName: string,
    message: string,
    readonly detail: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'RemoteCallError';
  }
}

/** The other node could not be reached (dead, or not listening yet): the caller re-resolves and retries. */
export class NodeUnreachableError extends Error {
  constructor(
    readonly nodeId: string,
    cause: unknown,
  ) {
    super(`node ${nodeId} is unreachable: ${errorMessage(cause)}`, { cause });
    this.name = 'NodeUnreachableError';
  }
}

export type RpcHandler = (body: unknown) => Promise<unknown>;

export interface ErrorShape {
  readonly name: string;
  readonly message: string;
  readonly detail?: Record<string, unknown>;
}

export interface NodeTransportOptions {
  readonly host: string;
  readonly port: number;
  readonly secret: string;
  readonly log: Logger;
  /** Turns a handler's error into what the caller gets back (typed errors keep their fields). */
  readonly describeError: (err: unknown) => ErrorShape;
}

async function readText(req: IncomingMessage): Promise<string> {
  const body = await readBody(req, MAX_BODY);
  if (body === undefined) throw new Error('body too large');
  return body.toString('utf8');
}

export class NodeTransport {
  private server: Server | undefined;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly auth: string;
  private boundPort = 0;
  /** Keep-alive connections to the other nodes (about twice the call rate of fetch, measured in bench/cluster). */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly o: NodeTransportOptions) {
    this.auth = `Bearer ${o.secret}`;
  }

  handle(path: string, handler: RpcHandler): void {
    this.handlers.set(path, handler);
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const handler = this.handlers.get(req.url ?? '');
      const given = Buffer.from(req.headers.authorization ?? '');
      const want = Buffer.from(this.auth);
      if (given.length !== want.length || !timingSafeEqual(given, want)) {
        res.writeHead(401).end();
        return;
      }
      if (req.method !== 'POST' || !handler) {
        res.writeHead(404).end();
        return;
      }
      void readText(req)
        .then((text) => handler(JSON.parse(text) as unknown))
        .then(
          (reply) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reply: reply ?? null })),
          (err: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: this.o.describeError(err) })),
        );
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.o.port, this.o.host, () => resolve());
    });
    const addr = this.server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : this.o.port;
    this.o.log.info('cluster listener up', { host: this.o.host, port: this.boundPort });
  }

  /** Calls `path` on the node at `baseUrl`; rejects with RemoteCallError (its failure) or NodeUnreachableError. */
  async call(nodeId: string, baseUrl: string, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    const payload = JSON.stringify(body);
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${baseUrl}${path}`,
        { method: 'POST', agent: this.agent, headers: { authorization: this.auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    }).catch((err: unknown) => {
      throw new NodeUnreachableError(nodeId, err);
    });
    if (answer.status !== 200) throw new NodeUnreachableError(nodeId, new Error(`HTTP ${answer.status} (check cluster.secret on both nodes)`));
    const out = JSON.parse(answer.text) as { reply?: unknown; error?: ErrorShape };
    if (out.error) throw new RemoteCallError(out.error.name, out.error.message, out.error.detail ?? {});
    return out.reply;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeIdleConnections();
    this.agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
