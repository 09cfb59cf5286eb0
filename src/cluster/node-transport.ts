/**
 * Messages between nodes (actor messages and their replies, stanzas for the node holding the XMPP link): one
 * long-lived connection per pair of nodes, carrying many requests at once, each a length-prefixed JSON frame
 * (transport/frames.ts) with an id its reply carries back. Both sides first prove they hold `cluster.secret`
 * without sending it (transport/handshake.ts). With `cluster.tls` the connection is mutual TLS: each node shows a
 * certificate of the cluster's CA and checks the other's, so messages are private, untampered and not replayable
 * on a network shared with other workloads (DESIGN.md decision 9). A peer advertises `https://` when it speaks
 * TLS, `http://` when it does not (loopback, a private network).
 *
 * Why not HTTP per message (as before): a request cost each side an HTTP parse, headers and a socket turn; the
 * frames of many messages share one write and one TLS record, which is what makes cross-node messages cheap
 * (bench/cluster.bench.ts). Why not comedy's remote mode: comedy creates remote actors by shipping their
 * definition's source to a comedy process it manages, and it has no directory or fencing. Our actors close over
 * ports (store, Graph clients) that cannot travel, and they live where the placement directory says; so nodes
 * only need to pass messages.
 */
import { createServer as createTcpServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as connectTls } from 'node:tls';
import { errorMessage, type Logger } from '../observability/logger.js';
import { encodeFrame, FrameReader } from './transport/frames.js';
import { PROTOCOL, nonce, proof, sameProof, type Auth, type Challenge, type Hello, type Refused } from './transport/handshake.js';

/** Largest message (a stanza with a large body, a batch of presence): beyond it the connection is dropped. */
const MAX_FRAME = 2 * 1024 * 1024;
/** Until a peer has authenticated, only the small handshake frames are read. */
const MAX_HANDSHAKE_FRAME = 4096;
/** A connection that has not completed its handshake by then is closed. */
const HANDSHAKE_TIMEOUT_MS = 5_000;

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

/** The other node could not be reached (dead, not listening yet, or refused us): the caller re-resolves and retries. */
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

/** PEM texts of this node's certificate and key and of the cluster CA (cluster.tls). */
export interface ClusterTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly ca: string | Buffer;
}

export interface NodeTransportOptions {
  readonly host: string;
  readonly port: number;
  readonly secret: string;
  readonly log: Logger;
  /** Turns a handler's error into what the caller gets back (typed errors keep their fields). */
  readonly describeError: (err: unknown) => ErrorShape;
  /** This node's id, which it gives in the handshake (for the other node's logs). */
  readonly nodeId?: string;
  /** Mutual TLS; without it the transport is plain TCP (only the handshake is protected). */
  readonly tls?: ClusterTls | undefined;
}

type Request = { readonly t: 'q'; readonly id: number; readonly p: string; readonly b: unknown };
type Reply = { readonly t: 'r'; readonly id: number; readonly r: unknown } | { readonly t: 'e'; readonly id: number; readonly e: ErrorShape };

/** Frames written in the same turn go out in one write (and one TLS record). */
function writer(socket: Socket): (frame: Buffer) => void {
  let corked = false;
  return (frame) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(frame);
  };
}

/** Reads frames off a socket; the handler gets each message, and a bad frame closes the socket. */
function readFrames(socket: Socket, reader: FrameReader, onMessage: (m: Record<string, unknown>) => void, log: Logger): void {
  socket.on('data', (chunk: Buffer) => {
    let messages: unknown[];
    try {
      messages = reader.push(chunk);
    } catch (err) {
      log.warn('cluster connection closed: bad frame', { remote: socket.remoteAddress, error: errorMessage(err) });
      socket.destroy();
      return;
    }
    for (const m of messages) if (typeof m === 'object' && m !== null) onMessage(m as Record<string, unknown>);
  });
}

/** The calling side of one connection to another node. */
class PeerConnection {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 0;
  private readonly write: (frame: Buffer) => void;
  closed = false;

  private constructor(
    private readonly nodeId: string,
    private readonly socket: Socket,
    reader: FrameReader,
    log: Logger,
    onClose: () => void,
  ) {
    this.write = writer(socket);
    // The handshake's reader goes on, now for replies of any size.
    reader.maxBytes = MAX_FRAME;
    socket.removeAllListeners('data');
    readFrames(socket, reader, (m) => this.onReply(m as Reply), log);
    socket.on('close', () => {
      this.closed = true;
      onClose();
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new NodeUnreachableError(this.nodeId, new Error('the connection closed before the answer')));
      }
      this.pending.clear();
    });
  }

  /** Connects and authenticates (both ways) within `timeoutMs`. */
  static async open(o: { nodeId: string; url: URL; self: string; secret: string; tls: ClusterTls | undefined; timeoutMs: number; log: Logger; onClose: () => void }): Promise<PeerConnection> {
    const host = o.url.hostname.replace(/^\[|\]$/gu, '');
    const port = Number(o.url.port || (o.url.protocol === 'https:' ? 443 : 80));
    if (o.url.protocol === 'https:' && !o.tls) throw new Error('the node advertises TLS (https) but this node has no cluster.tls');
    if (o.url.protocol === 'http:' && o.tls) throw new Error('the node advertises plain TCP (http) but this node requires TLS (cluster.tls)');
    const socket: Socket = o.tls
      ? connectTls({ host, port, cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, minVersion: 'TLSv1.3', ...(/^[\d.:]+$/u.test(host) ? {} : { servername: host }) })
      : connectTcp({ host, port });
    socket.setNoDelay(true);
    const reader = new FrameReader(MAX_HANDSHAKE_FRAME);
    const mine = nonce();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no handshake within ${o.timeoutMs} ms`)), o.timeoutMs);
        const fail = (err: Error) => {
          clearTimeout(timer);
          reject(err);
        };
        socket.once('error', fail);
        socket.once('close', () => fail(new Error('the connection closed during the handshake')));
        socket.once(o.tls ? 'secureConnect' : 'connect', () => socket.write(encodeFrame({ t: 'hello', v: PROTOCOL, node: o.self, nonce: mine } satisfies Hello)));
        readFrames(
          socket,
          reader,
          (m) => {
            if (m.t === 'challenge') {
              const c = m as unknown as Challenge;
              if (!sameProof(c.proof, proof(o.secret, 'server', String(c.node), mine, String(c.nonce)))) {
                fail(new Error('the other node does not hold this cluster.secret'));
                return;
              }
              socket.write(encodeFrame({ t: 'auth', proof: proof(o.secret, 'client', o.self, String(c.nonce), mine) } satisfies Auth));
            } else if (m.t === 'ready') {
              clearTimeout(timer);
              socket.removeAllListeners('error');
              socket.removeAllListeners('close');
              resolve();
            } else if (m.t === 'refused') {
              fail(new Error(`refused: ${String((m as unknown as Refused).reason)} (check cluster.secret on both nodes)`));
            }
          },
          o.log,
        );
      });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    socket.on('error', () => undefined); // 'close' follows and fails what is pending
    socket.setKeepAlive(true, 10_000);
    return new PeerConnection(o.nodeId, socket, reader, o.log, o.onClose);
  }

  call(path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closed) return Promise.reject(new NodeUnreachableError(this.nodeId, new Error('connection closed')));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new NodeUnreachableError(this.nodeId, new Error(`no answer within ${timeoutMs} ms`)));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.write(encodeFrame({ t: 'q', id, p: path, b: body } satisfies Request));
    });
  }

  private onReply(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return; // timed out already
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.t === 'r') p.resolve(m.r);
    else p.reject(new RemoteCallError(m.e.name, m.e.message, m.e.detail ?? {}));
  }

  close(): void {
    this.socket.destroy();
  }
}

export class NodeTransport {
  private server: Server | undefined;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly peers = new Map<string, Promise<PeerConnection>>();
  private readonly inbound = new Set<Socket>();
  private boundPort = 0;

  constructor(private readonly o: NodeTransportOptions) {}

  handle(path: string, handler: RpcHandler): void {
    this.handlers.set(path, handler);
  }

  get port(): number {
    return this.boundPort;
  }

  /** Whether peers must reach this node over TLS (its advertise URL is https://). */
  get secure(): boolean {
    return this.o.tls !== undefined;
  }

  async start(): Promise<void> {
    const onSocket = (socket: Socket) => this.accept(socket);
    const tls = this.o.tls;
    this.server = tls
      ? createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, onSocket)
      : createTcpServer(onSocket);
    // A TLS handshake that fails (no client certificate, not from the cluster CA) never reaches accept().
    this.server.on('tlsClientError', (err: Error, socket: Socket) => {
      this.o.log.warn('cluster connection refused: TLS', { remote: socket.remoteAddress, error: err.message });
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.o.port, this.o.host, () => resolve());
    });
    const addr = this.server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : this.o.port;
    this.o.log.info('cluster listener up', { host: this.o.host, port: this.boundPort, tls: tls !== undefined });
    if (!tls && !isLoopback(this.o.host)) {
      this.o.log.warn('node-to-node messages are not encrypted (no cluster.tls): use this only on a network no other workload shares', { host: this.o.host });
    }
  }

  /** The answering side of a connection: handshake, then requests. */
  private accept(socket: Socket): void {
    this.inbound.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.inbound.delete(socket));
    socket.on('error', () => undefined);
    const write = writer(socket);
    const reader = new FrameReader(MAX_HANDSHAKE_FRAME);
    const mine = nonce();
    let peer: { node: string; nonce: string } | undefined;
    let authenticated = false;
    const deadline = setTimeout(() => {
      if (!authenticated) socket.destroy();
    }, HANDSHAKE_TIMEOUT_MS);
    deadline.unref();
    const refuse = (reason: string) => {
      this.o.log.warn('cluster connection refused', { remote: socket.remoteAddress, reason });
      socket.end(encodeFrame({ t: 'refused', reason } satisfies Refused));
    };
    readFrames(
      socket,
      reader,
      (m) => {
        if (authenticated) {
          if (m.t === 'q') this.serve(m as unknown as Request, write);
          return;
        }
        if (m.t === 'hello' && !peer) {
          const h = m as unknown as Hello;
          if (h.v !== PROTOCOL) return refuse(`protocol ${String(h.v)} is not ${PROTOCOL}`);
          peer = { node: String(h.node).slice(0, 128), nonce: String(h.nonce) };
          const self = this.o.nodeId ?? 'node';
          write(encodeFrame({ t: 'challenge', node: self, nonce: mine, proof: proof(this.o.secret, 'server', self, peer.nonce, mine) } satisfies Challenge));
        } else if (m.t === 'auth' && peer) {
          if (!sameProof((m as unknown as Auth).proof, proof(this.o.secret, 'client', peer.node, mine, peer.nonce))) return refuse('wrong proof of the cluster secret');
          authenticated = true;
          clearTimeout(deadline);
          reader.maxBytes = MAX_FRAME;
          write(encodeFrame({ t: 'ready' }));
        } else {
          refuse('unexpected message during the handshake');
        }
      },
      this.o.log,
    );
  }

  private serve(q: Request, write: (frame: Buffer) => void): void {
    const handler = this.handlers.get(q.p);
    const run = handler ? handler(q.b) : Promise.reject(Object.assign(new Error(`no handler for ${q.p}`), { name: 'UnknownPath' }));
    run.then(
      (reply) => write(encodeFrame({ t: 'r', id: q.id, r: reply ?? null } satisfies Reply)),
      (err: unknown) => write(encodeFrame({ t: 'e', id: q.id, e: this.o.describeError(err) } satisfies Reply)),
    );
  }

  /** Calls `path` on the node at `baseUrl`; rejects with RemoteCallError (its failure) or NodeUnreachableError. */
  async call(nodeId: string, baseUrl: string, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    let connection: PeerConnection;
    try {
      connection = await this.connection(nodeId, baseUrl, timeoutMs);
    } catch (err) {
      throw err instanceof NodeUnreachableError ? err : new NodeUnreachableError(nodeId, err);
    }
    return connection.call(path, body, timeoutMs);
  }

  private connection(nodeId: string, baseUrl: string, timeoutMs: number): Promise<PeerConnection> {
    const existing = this.peers.get(baseUrl);
    if (existing) return existing;
    const opening = PeerConnection.open({
      nodeId,
      url: new URL(baseUrl),
      self: this.o.nodeId ?? 'node',
      secret: this.o.secret,
      tls: this.o.tls,
      timeoutMs: Math.min(timeoutMs, HANDSHAKE_TIMEOUT_MS),
      log: this.o.log,
      onClose: () => {
        if (this.peers.get(baseUrl) === opening) this.peers.delete(baseUrl);
      },
    });
    this.peers.set(baseUrl, opening);
    opening.catch(() => {
      if (this.peers.get(baseUrl) === opening) this.peers.delete(baseUrl);
    });
    return opening;
  }

  async stop(): Promise<void> {
    for (const p of this.peers.values()) void p.then((c) => c.close(), () => undefined);
    this.peers.clear();
    const server = this.server;
    if (!server) return;
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}
