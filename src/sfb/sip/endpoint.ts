/**
 * The SIP user agent core (RFC 3261 §8, §13, §17.1.3/§17.2.3 matching): sends requests through client transactions
 * and resolves with their final response, hands new requests to the application with a way to answer them, and does
 * what the core owes on its own: the ACK of every 2xx to an INVITE (a fork's extra 2xx included, §13.2.2.4),
 * the retransmission of its own 2xx until the ACK comes (§13.3.1.4, end to end, so over TLS too), CANCEL both ways
 * (§9), and 481 for a CANCEL that matches nothing.
 */
import { BRANCH_COOKIE, parseNameAddr, parseUri, parseVia } from './address.js';
import { cancelFor, makeResponse, newBranch, type ResponseOptions } from './build.js';
import { callIdOf, cseqOf, header, headerLines, headerValues, type SipHeader, type SipRequest, type SipResponse } from './message.js';
import { inDialogRequest, uacDialog, type DialogState } from './dialog.js';
import { ClientTransaction, ServerTransaction, type Wire } from './transaction.js';
import { DEFAULT_TIMER_VALUES, realTimers, type TimerHandle, type TimerValues, type Timers } from './timers.js';
import type { SipConnection, SipTlsTransport } from './transport.js';

/** The keep-alive period announced in an Ms-Keep-Alive answer, in seconds (the transport's ping interval is below it). */
export const KEEP_ALIVE_SECONDS = 300;

export interface Hop {
  readonly host: string;
  readonly port: number;
}

export interface RequestOptions {
  /** Where to send; default: the next hop from Route / Request-URI, or the outbound proxy. */
  readonly hop?: Hop;
  readonly onProvisional?: (res: SipResponse) => void;
  /**
   * A forked INVITE's further 2xx (another device answered too). The core has ACKed it; the application should
   * end that dialog (§13.2.2.4). Default: the core sends BYE at once.
   */
  readonly onExtraSuccess?: (res: SipResponse) => void;
}

export interface EndpointOptions {
  readonly transport: SipTlsTransport;
  /** This side's FQDN and listening port, for Via sent-by (never an IP: SfB routes by name). */
  readonly host: string;
  readonly port: number;
  /** Next hop for requests outside a dialog without a Route (the Front End pool). */
  readonly outboundProxy?: Hop | undefined;
  readonly timers?: Timers;
  readonly timerValues?: TimerValues;
  readonly userAgent?: string;
  /** Via transport and default port: TLS/5061 (every SfB hop), TCP/5060 only for the standards smoke test. */
  readonly viaTransport?: 'TLS' | 'TCP';
}

/** A request received, and the one way to answer it. */
export class IncomingRequest {
  cancelled = false;
  onCancel: (() => void) | undefined;
  /** For an INVITE answered 2xx: resolves when its ACK arrives, rejects when none came in 64*T1 (§13.3.1.4). */
  ackReceived: Promise<SipRequest> | undefined;

  constructor(
    readonly request: SipRequest,
    readonly connection: SipConnection,
    private readonly endpoint: SipEndpoint,
    private readonly tx: ServerTransaction | undefined,
  ) {}

  respond(status: number, o: ResponseOptions = {}): SipResponse {
    const res = makeResponse(this.request, status, o);
    if (!this.tx) return res;
    if (this.tx.respond(res) && this.request.method === 'INVITE' && status >= 200 && status < 300) {
      this.ackReceived = this.endpoint.retransmitUntilAck(this.request, res, this.tx);
      this.ackReceived.catch(() => undefined);
    }
    return res;
  }

  /** The server transaction's state (RFC 3261 §17.2); undefined for a request answered outside one (BENOTIFY). */
  get transactionState(): string | undefined {
    return this.tx?.state;
  }

  get answered(): boolean {
    return !this.tx || (this.tx.lastResponse?.status ?? 0) >= 200;
  }
}

export class SipEndpoint {
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, { tx: ServerTransaction; incoming: IncomingRequest }>();
  /** 2xx responses to INVITEs awaiting their ACK, by Call-ID and CSeq number. */
  private readonly awaitingAck = new Map<string, { resolve: (ack: SipRequest) => void; timer: TimerHandle | undefined }>();
  private readonly timers: Timers;
  private readonly t: TimerValues;
  onRequest: (incoming: IncomingRequest) => void = (i) => void i.respond(501);

  constructor(private readonly o: EndpointOptions) {
    this.timers = o.timers ?? realTimers;
    this.t = o.timerValues ?? DEFAULT_TIMER_VALUES;
    o.transport.on('message', (m, conn) => (m.kind === 'request' ? this.receiveRequest(m, conn) : this.receiveResponse(m)));
  }

  get host(): string {
    return this.o.host;
  }

  get port(): number {
    return this.o.port;
  }

  /** The next hop of a request (§8.1.2, RFC 3263 without SRV): first Route if any, else the Request-URI. */
  nextHop(req: SipRequest): Hop {
    const route = headerValues(req, 'Route')[0];
    if (!route && this.o.outboundProxy) return this.o.outboundProxy;
    const uri = parseUri(route ? parseNameAddr(route).uri : req.uri);
    return { host: uri.host, port: uri.port ?? this.defaultPort };
  }

  private get defaultPort(): number {
    return this.o.viaTransport === 'TCP' ? 5060 : 5061;
  }

  private via(branch: string): SipHeader {
    return { name: 'Via', value: `SIP/2.0/${this.o.viaTransport ?? 'TLS'} ${this.o.host}:${this.o.port};branch=${branch}` };
  }

  /** Sends a transaction's messages to `hop`; when the connection closes while it waits, the transaction fails. */
  private wireTo(hop: Hop, tx: () => ClientTransaction | undefined): Wire {
    return {
      reliable: true,
      send: async (m) => {
        const conn = await this.o.transport.send(m, hop.host, hop.port);
        const t = tx();
        if (t && m.kind === 'request' && m.method !== 'ACK') {
          const off = conn.onClosed(() => t.transportFailed(new Error('connection closed before the answer')));
          const prev = t.onDone;
          t.onDone = () => {
            off();
            prev?.();
          };
        }
      },
    };
  }

  /** Sends a request (a Via with a fresh branch goes on top) and resolves with its final response. */
  request(req: SipRequest, o: RequestOptions = {}): Promise<SipResponse> {
    const branch = newBranch();
    const sent: SipRequest = {
      ...req,
      headers: [this.via(branch), ...req.headers, ...(this.o.userAgent && !header(req, 'User-Agent') ? [{ name: 'User-Agent', value: this.o.userAgent }] : [])],
    };
    const hop = o.hop ?? this.nextHop(sent);
    const key = `${branch}|${req.method}`;
    return new Promise<SipResponse>((resolve) => {
      let final: SipResponse | undefined;
      let txRef: ClientTransaction | undefined;
      const tx = new ClientTransaction(this.timers, this.t, this.wireTo(hop, () => txRef), sent, {
        onResponse: (res) => {
          if (res.status < 200) {
            o.onProvisional?.(res);
            return;
          }
          if (req.method === 'INVITE' && res.status < 300) {
            this.ackSuccess(sent, res, hop);
            if (final && final.status < 300 && header(final, 'To') !== header(res, 'To')) {
              // A fork: another device's 2xx (§13.2.2.4).
              if (o.onExtraSuccess) o.onExtraSuccess(res);
              else void this.byeFork(sent, res, hop);
              return;
            }
          }
          if (!final) {
            final = res;
            resolve(res);
          }
        },
        onFailure: (reason) => {
          if (final) return;
          // §8.1.3.1: a time-out reads as 408, a transport failure as 503.
          final = makeResponse(sent, reason === 'timeout' ? 408 : 503, { reason: reason === 'timeout' ? 'Request Timeout (no answer)' : 'Service Unavailable (transport)' });
          resolve(final);
        },
        onTerminated: () => this.clients.delete(key),
      });
      txRef = tx;
      this.clients.set(key, tx);
      tx.begin();
    });
  }

  /** §13.2.2.4: the ACK of a 2xx is the core's, on a new branch, along the dialog's route set. */
  private ackSuccess(invite: SipRequest, res: SipResponse, hop: Hop): void {
    const routes = headerValues(res, 'Record-Route').reverse();
    const contact = headerValues(res, 'Contact')[0];
    const target = contact ? parseNameAddr(contact).uri : invite.uri;
    const headers: SipHeader[] = [
      this.via(newBranch()),
      ...routes.map((value) => ({ name: 'Route', value })),
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: header(invite, 'From') ?? '' },
      { name: 'To', value: header(res, 'To') ?? '' },
      { name: 'Call-ID', value: callIdOf(invite) },
      { name: 'CSeq', value: `${cseqOf(invite).seq} ACK` },
    ];
    const ack: SipRequest = { kind: 'request', method: 'ACK', uri: target, headers, body: Buffer.alloc(0) };
    const next = routes.length ? this.nextHop(ack) : hop;
    this.o.transport.send(ack, next.host, next.port).catch(() => undefined);
  }

  private async byeFork(invite: SipRequest, res: SipResponse, hop: Hop): Promise<void> {
    const d = uacDialog(invite, res);
    const { request } = inDialogRequest(d, 'BYE');
    await this.request(request, headerValues(res, 'Record-Route').length ? {} : { hop });
  }

  /**
   * Sends a request outside any transaction: BENOTIFY ([MS-SIP] ms-benotify, a best-effort NOTIFY that gets no
   * response) and nothing else.
   */
  async sendUnanswered(req: SipRequest, hop?: Hop): Promise<void> {
    const sent: SipRequest = { ...req, headers: [this.via(newBranch()), ...req.headers] };
    const next = hop ?? this.nextHop(sent);
    await this.o.transport.send(sent, next.host, next.port);
  }

  /** Sends a request within a dialog; returns its outcome and the dialog with its CSeq advanced. */
  sendInDialog(d: DialogState, method: string, o: Parameters<typeof inDialogRequest>[2] = {}): { sent: Promise<SipResponse>; dialog: DialogState } {
    const { request, dialog } = inDialogRequest(d, method, o);
    return { sent: this.request(request), dialog };
  }

  /**
   * §9.1: cancels a pending INVITE sent by {@link request}; the INVITE then completes with 487 (or a 2xx that
   * crossed the CANCEL, which the application ends with BYE).
   */
  cancel(invite: SipRequest): Promise<SipResponse> | undefined {
    for (const [key, tx] of this.clients) {
      if (!key.endsWith('|INVITE') || callIdOf(tx.request) !== callIdOf(invite) || cseqOf(tx.request).seq !== cseqOf(invite).seq) continue;
      if (tx.state !== 'calling' && tx.state !== 'proceeding') return undefined;
      const cancel = cancelFor(tx.request);
      const branch = parseVia(headerLines(cancel, 'Via')[0] ?? '').params.get('branch') ?? '';
      const hop = this.nextHop(tx.request);
      return new Promise((resolve) => {
        let ref: ClientTransaction | undefined;
        const ctx = new ClientTransaction(this.timers, this.t, this.wireTo(hop, () => ref), cancel, {
          onResponse: (r) => r.status >= 200 && resolve(r),
          onFailure: () => resolve(makeResponse(cancel, 408)),
          onTerminated: () => this.clients.delete(`${branch}|CANCEL`),
        });
        ref = ctx;
        this.clients.set(`${branch}|CANCEL`, ctx);
        ctx.begin();
      });
    }
    return undefined;
  }

  /** §13.3.1.4: the UAS core resends its 2xx (T1 doubling to T2) until the ACK; 64*T1 without one fails. */
  retransmitUntilAck(invite: SipRequest, res: SipResponse, tx: ServerTransaction): Promise<SipRequest> {
    const key = `${callIdOf(invite)}|${cseqOf(invite).seq}`;
    return new Promise<SipRequest>((resolve, reject) => {
      let interval = this.t.T1;
      const started = this.timers.now();
      const entry: { resolve: (ack: SipRequest) => void; timer: TimerHandle | undefined } = { resolve, timer: undefined };
      const tick = () => {
        if (this.timers.now() - started >= 64 * this.t.T1) {
          this.awaitingAck.delete(key);
          reject(new Error('no ACK for the 2xx (RFC 3261 §13.3.1.4)'));
          return;
        }
        tx.respond(res);
        interval = Math.min(2 * interval, this.t.T2);
        entry.timer = this.timers.set(tick, interval);
      };
      entry.timer = this.timers.set(tick, interval);
      this.awaitingAck.set(key, entry);
    });
  }

  private receiveResponse(res: SipResponse): void {
    const via = headerLines(res, 'Via')[0];
    if (!via) return;
    let branch: string | undefined;
    try {
      branch = parseVia(via).params.get('branch');
    } catch {
      return;
    }
    const tx = branch ? this.clients.get(`${branch}|${cseqOf(res).method}`) : undefined;
    tx?.receive(res); // §18.1.2: a response matching no transaction is dropped
  }

  private serverKey(req: SipRequest): string | undefined {
    const via = parseVia(headerLines(req, 'Via')[0] ?? '');
    const branch = via.params.get('branch') ?? '';
    const method = req.method === 'ACK' || req.method === 'CANCEL' ? 'INVITE' : req.method;
    // §17.2.3: RFC 3261 branches match by branch, sent-by and method; older ones are not supported here.
    if (!branch.startsWith(BRANCH_COOKIE)) return undefined;
    return `${branch}|${via.host}:${via.port ?? this.defaultPort}|${method}`;
  }

  private receiveRequest(req: SipRequest, conn: SipConnection): void {
    let via;
    try {
      via = parseVia(headerLines(req, 'Via')[0] ?? '');
    } catch {
      return; // unanswerable without a Via
    }
    this.o.transport.alias(conn, via.host, via.port ?? this.defaultPort);
    const key = this.serverKey(req);
    const wire: Wire = { reliable: true, send: (m) => this.o.transport.respond(m as SipResponse, conn, via.host, via.port ?? this.defaultPort) };
    if (!key) {
      if (req.method !== 'ACK') void wire.send(makeResponse(req, 400, { reason: 'Bad Request (Via branch without the RFC 3261 magic cookie)' }));
      return;
    }
    if (req.method === 'ACK') {
      const existing = this.servers.get(key);
      if (existing && existing.tx.state === 'completed') {
        existing.tx.ack();
        return;
      }
      const waiting = this.awaitingAck.get(`${callIdOf(req)}|${cseqOf(req).seq}`);
      if (waiting) {
        this.timers.clear(waiting.timer);
        this.awaitingAck.delete(`${callIdOf(req)}|${cseqOf(req).seq}`);
        waiting.resolve(req);
      }
      return;
    }
    if (req.method === 'BENOTIFY') {
      // [MS-SIP] ms-benotify: best-effort NOTIFY, never answered; the application sees it once.
      this.onRequest(new IncomingRequest(req, conn, this, undefined));
      return;
    }
    if (req.method === 'CANCEL') {
      const target = this.servers.get(key);
      const cancelTx = new ServerTransaction(this.timers, this.t, wire, req, { onFailure: () => undefined });
      if (!target) {
        cancelTx.respond(makeResponse(req, 481));
        return;
      }
      cancelTx.respond(makeResponse(req, 200));
      if (!target.incoming.answered) {
        target.incoming.cancelled = true;
        target.incoming.respond(487);
        target.incoming.onCancel?.();
      }
      return;
    }
    const fullKey = `${key}|${req.method}`;
    const existing = this.servers.get(fullKey) ?? (req.method === 'INVITE' ? this.servers.get(key) : undefined);
    if (existing) {
      existing.tx.retransmission();
      return;
    }
    const storeKey = req.method === 'INVITE' ? key : fullKey;
    const tx = new ServerTransaction(this.timers, this.t, wire, req, {
      onFailure: () => undefined,
      onTerminated: () => this.servers.delete(storeKey),
    });
    const incoming = new IncomingRequest(req, conn, this, tx);
    this.servers.set(storeKey, { tx, incoming });
    if (req.method === 'INVITE') tx.respond(makeResponse(req, 100)); // §17.2.1: at once, the TU may take longer
    if (req.method === 'NEGOTIATE' && header(req, 'Ms-Keep-Alive')) {
      // [MS-CONMGMT] §2.2.1, §3.4.5: keep-alive negotiation; this side answers as UAS and keeps the connection
      // alive with RFC 5626 CRLF pings (its transport sends them) while it is idle.
      incoming.respond(200, { headers: [{ name: 'ms-keep-alive', value: `UAS;tcp=no;hop-hop=yes;end-end=no;timeout=${KEEP_ALIVE_SECONDS}` }] });
      return;
    }
    const maxForwards = header(req, 'Max-Forwards');
    if (maxForwards !== undefined && Number(maxForwards) <= 0 && req.method !== 'OPTIONS') {
      incoming.respond(483);
      return;
    }
    this.onRequest(incoming);
  }

  /** Requests still in flight (client) and being answered (server). */
  get pendingTransactions(): number {
    return this.clients.size + this.servers.size;
  }
}
