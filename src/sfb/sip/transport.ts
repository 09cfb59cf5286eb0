/**
 * SIP over mutual TLS (RFC 3261 §18, §26.3.1; [MS-SIPRE] and the SfB trusted application model): a listener that
 * demands a client certificate naming a trusted host, outbound connections that present this side's certificate
 * and check the peer's, and one connection per peer reused both ways: a connection the peer opened carries this
 * side's requests to the names its certificate proves (RFC 5923 §5 aliasing, where TLS is what makes it safe).
 * Idle connections are kept open with RFC 5626 §3.5.1 double-CRLF pings, answered with a CRLF pong.
 *
 * Bounded (DESIGN.md decision 9): connections accepted at once, bytes per message (codec limits), and a peer that
 * sends nothing at all (not even a keep-alive) for idleMs is closed.
 */
import { EventEmitter } from 'node:events';
import net, { isIP, type LookupFunction } from 'node:net';
import tls from 'node:tls';
import { DEFAULT_LIMITS, SipParseError, SipStreamParser, serialize, type CodecLimits } from './codec.js';
import { makeResponse } from './build.js';
import type { SipMessage, SipResponse } from './message.js';

export interface TlsIdentity {
  readonly key: string;
  readonly cert: string;
  /** CAs that sign the peers' certificates. */
  readonly ca: string;
}

export interface TransportOptions {
  readonly identity: TlsIdentity;
  /** Host and port to listen on; undefined: outbound only. */
  readonly listen?: { readonly host: string; readonly port: number } | undefined;
  /** Whether a certificate (its DNS names and CN, lower-cased) belongs to a peer this side trusts. */
  readonly trusted: (names: readonly string[]) => boolean;
  /** Static name -> address entries for hosts DNS does not know (tests, labs); others resolve through DNS. */
  readonly hosts?: ReadonlyMap<string, string> | undefined;
  readonly limits?: CodecLimits | undefined;
  readonly maxConnections?: number | undefined;
  /** Send a CRLF ping on a connection this idle (0: never). */
  readonly keepAliveMs?: number | undefined;
  /** Close a connection that received nothing (keep-alives included) for this long. */
  readonly idleMs?: number | undefined;
  readonly connectTimeoutMs?: number | undefined;
  /**
   * SIP over plain TCP instead of TLS, for the standards smoke test against Kamailio and baresip only (RFC 3261
   * §18 over TCP); the gateway's configuration cannot select it. No certificate is checked: `trusted` is not called.
   */
  readonly plainTcp?: boolean | undefined;
}

export class SipTransportError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'SipTransportError';
  }
}

/** One TLS connection and what its peer's certificate proved. */
export class SipConnection {
  private readonly parser: SipStreamParser;
  private lastReceived = Date.now();
  private lastSent = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly closeHandlers = new Set<() => void>();
  closed = false;

  constructor(
    readonly socket: net.Socket,
    readonly inbound: boolean,
    /** DNS names (and CN) of the peer's certificate, lower-cased. */
    readonly peerNames: readonly string[],
    private readonly owner: SipTlsTransport,
    limits: CodecLimits,
    keepAliveMs: number,
    idleMs: number,
  ) {
    this.parser = new SipStreamParser(limits);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => undefined); // 'close' follows
    const tick = Math.max(250, Math.min(keepAliveMs || idleMs, idleMs) / 2);
    this.timer = setInterval(() => {
      const now = Date.now();
      if (idleMs > 0 && now - this.lastReceived > idleMs) {
        this.owner.emit('log', 'info', 'SIP connection idle; closed', { peer: this.peerNames[0] });
        this.close();
      } else if (keepAliveMs > 0 && now - this.lastSent >= keepAliveMs) this.write(Buffer.from('\r\n\r\n'));
    }, tick);
    this.timer.unref();
  }

  get label(): string {
    return `${this.peerNames[0] ?? '?'}${this.inbound ? ' (in)' : ''}`;
  }

  private onData(chunk: Buffer): void {
    this.lastReceived = Date.now();
    let framed;
    try {
      framed = this.parser.push(chunk);
    } catch (err) {
      const e = err as SipParseError;
      this.owner.emit('log', 'warn', 'SIP stream unreadable; connection closed', { peer: this.label, reason: e.message });
      const partial = e.partial;
      if (partial?.kind === 'request' && partial.method !== 'ACK') this.write(serialize(makeResponse(partial, e.status)));
      this.close();
      return;
    }
    for (const f of framed) {
      if (f.type === 'ping') this.write(Buffer.from('\r\n')); // RFC 5626 §3.5.1 pong
      else if (f.type === 'message') this.owner.emit('message', f.message, this);
      else if (f.type === 'invalid') {
        this.owner.emit('log', 'info', 'bad SIP message refused', { peer: this.label, reason: f.error.message, status: f.error.status });
        const partial = f.error.partial;
        if (partial?.kind === 'request' && partial.method !== 'ACK' && partial.headers.some((h) => h.name === 'Via')) {
          this.write(serialize(makeResponse(partial, f.error.status, { reason: f.error.status === 400 ? `Bad Request (${f.error.message})` : undefined })));
        }
      }
    }
  }

  write(data: Buffer): boolean {
    if (this.closed) return false;
    this.lastSent = Date.now();
    return this.socket.write(data);
  }

  send(m: SipMessage): Promise<void> {
    if (this.closed) return Promise.reject(new SipTransportError(`connection to ${this.label} is closed`));
    return new Promise((resolve, reject) => {
      this.lastSent = Date.now();
      this.socket.write(serialize(m), (err) => (err ? reject(new SipTransportError(`send to ${this.label} failed`, err)) : resolve()));
    });
  }

  close(): void {
    if (this.closed) return;
    this.socket.destroy();
    this.onClose();
  }

  /** Called once when the connection closes (pending transactions on it fail as transport errors). */
  onClosed(fn: () => void): () => void {
    if (this.closed) {
      fn();
      return () => undefined;
    }
    this.closeHandlers.add(fn);
    return () => this.closeHandlers.delete(fn);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.owner.forget(this);
    for (const fn of this.closeHandlers) fn();
    this.closeHandlers.clear();
  }
}

/** The names a certificate proves: subjectAltName DNS entries and the subject CN, lower-cased. */
export function certificateNames(cert: tls.PeerCertificate | undefined): string[] {
  if (!cert || !cert.subject) return [];
  const names = new Set<string>();
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/u.exec(part);
    if (m?.[1]) names.add(m[1].trim().toLowerCase());
  }
  const cn = cert.subject.CN;
  if (typeof cn === 'string' && cn) names.add(cn.toLowerCase());
  return [...names];
}

/** A certificate name matches a host: exactly, or by a single-label wildcard (RFC 6125 §6.4.3). */
export function nameMatches(certName: string, host: string): boolean {
  const h = host.toLowerCase();
  if (certName === h) return true;
  if (certName.startsWith('*.')) {
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot + 1) === certName.slice(2);
  }
  return false;
}

/**
 * Whether a peer's certificate names one of the trusted hosts: a configured name matches a certificate name
 * exactly or by the certificate's wildcard, and a configured `*.domain` matches any one-label name under it.
 */
export function peerTrusted(certNames: readonly string[], trusted: readonly string[]): boolean {
  return certNames.some((n) => trusted.some((t) => nameMatches(n, t) || (t.startsWith('*.') && !n.startsWith('*.') && nameMatches(t, n))));
}

export declare interface SipTlsTransport {
  on(event: 'message', fn: (m: SipMessage, conn: SipConnection) => void): this;
  on(event: 'log', fn: (level: 'info' | 'warn' | 'debug', message: string, meta: Record<string, unknown>) => void): this;
}

export class SipTlsTransport extends EventEmitter {
  private server: net.Server | undefined;
  /** Connections by "host:port" they reach (outbound target or proven alias). */
  private readonly byTarget = new Map<string, SipConnection>();
  private readonly all = new Set<SipConnection>();
  private readonly connecting = new Map<string, Promise<SipConnection>>();
  private readonly limits: CodecLimits;
  private readonly keepAliveMs: number;
  private readonly idleMs: number;

  constructor(private readonly o: TransportOptions) {
    super();
    this.limits = o.limits ?? DEFAULT_LIMITS;
    this.keepAliveMs = o.keepAliveMs ?? 30_000;
    this.idleMs = o.idleMs ?? 180_000;
  }

  /** The port listened on (0 before start or when outbound only). */
  port = 0;

  async start(): Promise<void> {
    const l = this.o.listen;
    if (!l) return;
    if (this.o.plainTcp) return this.listenPlain(l);
    const server = tls.createServer({
      key: this.o.identity.key,
      cert: this.o.identity.cert,
      ca: this.o.identity.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    });
    server.maxConnections = this.o.maxConnections ?? 256;
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const names = certificateNames(socket.getPeerCertificate());
      if (!this.o.trusted(names)) {
        // The chain is valid, but the certificate names no host this side trusts (a stray or hostile server).
        this.emit('log', 'warn', 'SIP peer refused: its certificate names no trusted host', { names: names.slice(0, 5) });
        socket.destroy();
        return;
      }
      const conn = new SipConnection(socket, true, names, this, this.limits, 0, this.idleMs);
      this.all.add(conn);
      this.emit('log', 'info', 'SIP connection accepted', { peer: conn.label });
    });
    server.on('tlsClientError', (err: Error) => this.emit('log', 'info', 'SIP TLS handshake failed', { error: err.message }));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(l.port, l.host, () => {
        server.off('error', reject);
        const a = server.address();
        this.port = typeof a === 'object' && a ? a.port : 0;
        resolve();
      });
    });
  }

  private async listenPlain(l: { host: string; port: number }): Promise<void> {
    const server = net.createServer((socket) => {
      const conn = new SipConnection(socket, true, [], this, this.limits, 0, this.idleMs);
      this.all.add(conn);
    });
    server.maxConnections = this.o.maxConnections ?? 256;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(l.port, l.host, () => {
        const a = server.address();
        this.port = typeof a === 'object' && a ? a.port : 0;
        resolve();
      });
    });
  }

  /**
   * A request arrived on `conn` from `host:port` (its top Via): when the certificate proves that name, later
   * requests to it reuse the connection (RFC 5923 §5; SfB Front Ends send from ephemeral ports).
   */
  alias(conn: SipConnection, host: string, port: number): void {
    if (!this.o.plainTcp && !conn.peerNames.some((n) => nameMatches(n, host))) return;
    const key = `${host.toLowerCase()}:${port}`;
    const current = this.byTarget.get(key);
    if (!current || current.closed) this.byTarget.set(key, conn);
  }

  /** The connection to host:port: an open one (either direction), or a new outbound one. */
  async connection(host: string, port: number): Promise<SipConnection> {
    const key = `${host.toLowerCase()}:${port}`;
    const existing = this.byTarget.get(key);
    if (existing && !existing.closed) return existing;
    let pending = this.connecting.get(key);
    if (!pending) {
      pending = this.connect(host.toLowerCase(), port).finally(() => this.connecting.delete(key));
      this.connecting.set(key, pending);
    }
    return pending;
  }

  private connect(host: string, port: number): Promise<SipConnection> {
    const mapped = this.o.hosts?.get(host);
    const lookup: LookupFunction | undefined = mapped
      ? (_h, opts, cb) => {
          const family = isIP(mapped) || 4;
          if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: mapped, family }]);
          else cb(null, mapped, family);
        }
      : undefined;
    if (this.o.plainTcp) return this.connectPlain(host, port, mapped);
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        servername: isIP(host) ? undefined : host,
        key: this.o.identity.key,
        cert: this.o.identity.cert,
        ca: this.o.identity.ca,
        minVersion: 'TLSv1.2',
        ...(lookup ? { lookup } : {}),
      });
      const timer = setTimeout(() => socket.destroy(new SipTransportError(`connect to ${host}:${port} timed out`)), this.o.connectTimeoutMs ?? 10_000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new SipTransportError(`cannot connect to ${host}:${port}: ${err.message}`, err));
      });
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        const names = certificateNames(socket.getPeerCertificate());
        if (!this.o.trusted(names)) {
          socket.destroy();
          reject(new SipTransportError(`${host}:${port} presented a certificate naming no trusted host (${names.slice(0, 3).join(', ')})`));
          return;
        }
        const conn = new SipConnection(socket, false, names, this, this.limits, this.keepAliveMs, this.idleMs);
        this.all.add(conn);
        this.byTarget.set(`${host}:${port}`, conn);
        this.emit('log', 'info', 'SIP connection opened', { peer: conn.label, port });
        resolve(conn);
      });
    });
  }

  private connectPlain(host: string, port: number, mapped: string | undefined): Promise<SipConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: mapped ?? host, port });
      socket.once('error', (err) => reject(new SipTransportError(`cannot connect to ${host}:${port}: ${err.message}`, err)));
      socket.once('connect', () => {
        const conn = new SipConnection(socket, false, [host], this, this.limits, this.keepAliveMs, this.idleMs);
        this.all.add(conn);
        this.byTarget.set(`${host}:${port}`, conn);
        resolve(conn);
      });
    });
  }

  /** Sends to host:port over the reused or a new connection; resolves with the connection used. */
  async send(m: SipMessage, host: string, port: number): Promise<SipConnection> {
    const conn = await this.connection(host, port);
    await conn.send(m);
    return conn;
  }

  /**
   * §18.2.2: a response goes back on the connection the request came on; if it closed, to the Via sent-by.
   */
  async respond(res: SipResponse, conn: SipConnection, viaHost: string, viaPort: number): Promise<void> {
    if (!conn.closed) return conn.send(res);
    await this.send(res, viaHost, viaPort);
  }

  /** @internal */
  forget(conn: SipConnection): void {
    this.all.delete(conn);
    for (const [k, c] of this.byTarget) if (c === conn) this.byTarget.delete(k);
  }

  get connectionCount(): number {
    return this.all.size;
  }

  async stop(): Promise<void> {
    for (const c of [...this.all]) c.close();
    if (this.server) await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}
