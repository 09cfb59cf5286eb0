/**
 * The SIP transaction layer (RFC 3261 §17, with the RFC 6026 "Accepted" states so that the 2xx responses of a
 * forked INVITE, and their retransmissions, reach the core instead of being taken for strays).
 *
 * Over a reliable transport (TLS, TCP: all this gateway uses) requests and final responses are never
 * retransmitted by the transaction layer: timers A, E and G are not set, and D, I, J and K are zero (§17.1.1.2,
 * §17.1.2.2, §17.2.1, §17.2.2). Only the time-outs remain: B and F (64*T1 for an answer), H (64*T1 for the ACK of
 * an INVITE failure) and L/M (RFC 6026, 64*T1 absorbing 2xx and ACK retransmissions). The retransmission timers are
 * implemented all the same, for an unreliable transport, and tested with a manual clock.
 */
import { ackForFailure } from './build.js';
import type { SipRequest, SipResponse } from './message.js';
import type { TimerHandle, TimerValues, Timers } from './timers.js';

export interface Wire {
  readonly reliable: boolean;
  /** Sends one message; a rejection is a transport error (§17.1.4, §17.2.4). */
  send(message: SipRequest | SipResponse): Promise<void>;
}

export type ClientState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';
export type ServerState = 'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export interface ClientEvents {
  /** Every response the TU must see: provisional ones, the final one, and (INVITE) each further 2xx of a fork. */
  onResponse(res: SipResponse): void;
  /** Timer B or F fired, or the transport failed: the TU acts as on a 408 or 503 (§8.1.3.1). */
  onFailure(reason: 'timeout' | 'transport', error?: unknown): void;
  onTerminated?(): void;
}

abstract class Transaction<S extends string> {
  protected timers = new Map<string, TimerHandle>();
  state: S;
  /** The current retransmission interval: T1 at first, doubled up to T2 by each kind's timer (§17.1.1.2, §17.2.1). */
  protected interval: number;

  constructor(
    protected readonly clock: Timers,
    protected readonly t: TimerValues,
    protected readonly wire: Wire,
    readonly request: SipRequest,
    initial: (invite: boolean) => S,
  ) {
    this.state = initial(this.isInvite);
    this.interval = t.T1;
  }

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  protected start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    this.timers.set(
      name,
      this.clock.set(() => {
        this.timers.delete(name);
        fn();
      }, ms),
    );
  }

  protected stop(name: string): void {
    this.clock.clear(this.timers.get(name));
    this.timers.delete(name);
  }

  protected stopAll(): void {
    for (const name of [...this.timers.keys()]) this.stop(name);
  }

  /** Names of the timers running now (for tests and diagnostics). */
  get runningTimers(): string[] {
    return [...this.timers.keys()].sort();
  }
}

/** §17.1.1 (INVITE) and §17.1.2 (non-INVITE) client transactions. */
export class ClientTransaction extends Transaction<ClientState> {
  /** Called once when the transaction terminates (the core drops what it tied to it). */
  onDone: (() => void) | undefined;

  constructor(
    clock: Timers,
    t: TimerValues,
    wire: Wire,
    request: SipRequest,
    private readonly events: ClientEvents,
  ) {
    super(clock, t, wire, request, (invite) => (invite ? 'calling' : 'trying'));
  }

  begin(): void {
    this.transmit();
    if (!this.wire.reliable) this.start(this.isInvite ? 'A' : 'E', this.interval, () => this.retransmit());
    this.start(this.isInvite ? 'B' : 'F', 64 * this.t.T1, () => {
      if (this.state === 'calling' || this.state === 'trying' || this.state === 'proceeding') {
        this.terminate();
        this.events.onFailure('timeout');
      }
    });
  }

  private transmit(): void {
    this.wire.send(this.request).catch((err: unknown) => {
      if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
      this.terminate();
      this.events.onFailure('transport', err);
    });
  }

  private retransmit(): void {
    if (this.isInvite) {
      if (this.state !== 'calling') return;
      this.interval *= 2; // Timer A doubles (§17.1.1.2)
    } else {
      if (this.state !== 'trying' && this.state !== 'proceeding') return;
      // Timer E doubles up to T2; in Proceeding it is T2 (§17.1.2.2).
      this.interval = this.state === 'proceeding' ? this.t.T2 : Math.min(2 * this.interval, this.t.T2);
    }
    this.transmit();
    this.start(this.isInvite ? 'A' : 'E', this.interval, () => this.retransmit());
  }

  /** The connection the request went out on closed before a final response: a transport error (§17.1.4). */
  transportFailed(error?: unknown): void {
    if (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding') return;
    this.terminate();
    this.events.onFailure('transport', error);
  }

  receive(res: SipResponse): void {
    if (this.state === 'terminated') return;
    if (this.isInvite) this.receiveInvite(res);
    else this.receiveNonInvite(res);
  }

  private receiveInvite(res: SipResponse): void {
    const s = res.status;
    if (this.state === 'calling' || this.state === 'proceeding') {
      if (s < 200) {
        this.state = 'proceeding';
        this.stop('A');
        this.events.onResponse(res);
      } else if (s < 300) {
        // RFC 6026 §8.4: Accepted, Timer M; the TU sends the ACK for a 2xx (§13.2.2.4).
        this.state = 'accepted';
        this.stop('A');
        this.stop('B');
        this.start('M', 64 * this.t.T1, () => this.terminate());
        this.events.onResponse(res);
      } else {
        this.state = 'completed';
        this.stop('A');
        this.stop('B');
        this.sendAck(res);
        this.start('D', this.wire.reliable ? 0 : 32_000, () => this.terminate());
        this.events.onResponse(res);
      }
    } else if (this.state === 'accepted') {
      if (s >= 200 && s < 300) this.events.onResponse(res); // a retransmission or another fork's 2xx
    } else if (this.state === 'completed') {
      if (s >= 300) this.sendAck(res); // retransmitted failure: ACK again, not for the TU
    }
  }

  private sendAck(res: SipResponse): void {
    this.wire.send(ackForFailure(this.request, res)).catch(() => undefined);
  }

  private receiveNonInvite(res: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    if (res.status < 200) {
      this.state = 'proceeding';
      this.events.onResponse(res);
      return;
    }
    this.state = 'completed';
    this.stop('E');
    this.stop('F');
    this.start('K', this.wire.reliable ? 0 : this.t.T4, () => this.terminate());
    this.events.onResponse(res);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.stopAll();
    this.onDone?.();
    this.events.onTerminated?.();
  }
}

export interface ServerEvents {
  /** Timer H fired without an ACK, or the transport failed to send a response (§17.2.4). */
  onFailure(reason: 'timeout' | 'transport', error?: unknown): void;
  onTerminated?(): void;
}

/** §17.2.1 (INVITE) and §17.2.2 (non-INVITE) server transactions. */
export class ServerTransaction extends Transaction<ServerState> {
  private last: SipResponse | undefined;

  constructor(
    clock: Timers,
    t: TimerValues,
    wire: Wire,
    request: SipRequest,
    private readonly events: ServerEvents,
  ) {
    super(clock, t, wire, request, (invite) => (invite ? 'proceeding' : 'trying'));
  }

  get lastResponse(): SipResponse | undefined {
    return this.last;
  }

  /** The TU's response. Returns false when the transaction can no longer send one (already final). */
  respond(res: SipResponse): boolean {
    const s = res.status;
    if (this.isInvite) {
      if (this.state === 'accepted' && s >= 200 && s < 300) {
        this.transmit(res); // RFC 6026 §8.7: the TU's 2xx retransmissions pass through in Accepted
        return true;
      }
      if (this.state !== 'proceeding') return false;
      this.last = res;
      this.transmit(res);
      if (s < 200) return true;
      if (s < 300) {
        this.state = 'accepted';
        this.start('L', 64 * this.t.T1, () => this.terminate());
      } else {
        this.state = 'completed';
        if (!this.wire.reliable) this.start('G', this.interval, () => this.retransmitFinal());
        this.start('H', 64 * this.t.T1, () => {
          if (this.state !== 'completed') return;
          this.terminate();
          this.events.onFailure('timeout');
        });
      }
      return true;
    }
    if (this.state !== 'trying' && this.state !== 'proceeding') return false;
    this.last = res;
    this.transmit(res);
    if (s < 200) this.state = 'proceeding';
    else {
      this.state = 'completed';
      this.start('J', this.wire.reliable ? 0 : 64 * this.t.T1, () => this.terminate());
    }
    return true;
  }

  private retransmitFinal(): void {
    if (this.state !== 'completed' || !this.last) return;
    this.interval = Math.min(2 * this.interval, this.t.T2); // Timer G (§17.2.1)
    this.transmit(this.last);
    this.start('G', this.interval, () => this.retransmitFinal());
  }

  private transmit(res: SipResponse): void {
    this.wire.send(res).catch((err: unknown) => {
      if (this.state === 'terminated') return;
      this.terminate();
      this.events.onFailure('transport', err);
    });
  }

  /** The same request again (§17.2.1, §17.2.2): the last response is sent again; nothing reaches the TU. */
  retransmission(): void {
    if (this.last && (this.state === 'proceeding' || this.state === 'completed')) this.transmit(this.last);
  }

  /** An ACK matching this INVITE transaction (for a failure: §17.2.1 Confirmed; for a 2xx it belongs to the TU). */
  ack(): void {
    if (this.state !== 'completed') return;
    this.state = 'confirmed';
    this.stop('G');
    this.stop('H');
    this.start('I', this.wire.reliable ? 0 : this.t.T4, () => this.terminate());
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.stopAll();
    this.events.onTerminated?.();
  }
}
