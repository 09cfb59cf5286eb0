/**
 * An attacker's tool, not a server: a raw S2S stream (RFC 6120 §4, STARTTLS §5, SASL EXTERNAL per XEP-0178)
 * opened to the front server with a real certificate for a domain the attacker controls, over which the test
 * writes whatever stanzas it likes, e.g. ones claiming to come from another organisation's domain. It reads
 * just enough of the server's answers to follow the negotiation and to notice a stream error.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface AttackerOptions {
  readonly port: number;
  /** The domain the attacker authenticates as (its certificate names it). */
  readonly from: string;
  /** The front server's domain the stream is addressed to. */
  readonly to: string;
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

const header = (from: string, to: string) =>
  `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='${from}' to='${to}' version='1.0'>`;

export class S2sAttacker {
  private input = '';
  private closed = false;
  private waiters: (() => void)[] = [];

  private constructor(private socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.input += d;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Everything the server wrote (after TLS, decrypted). */
  get transcript(): string {
    return this.input;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Waits until the server's output matches `re` (from `since` on), or fails with what was read. */
  async expect(re: RegExp, since = 0, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.input.slice(since));
      if (m) return m;
      if (this.closed || Date.now() > deadline) throw new Error(`expected ${re} from the server; ${this.closed ? 'it closed the stream' : 'timed out'} after:\n${this.input}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  write(data: string): void {
    this.socket.write(data);
  }

  /** Connects, negotiates STARTTLS and authenticates with SASL EXTERNAL; resolves on a ready stream. */
  static async open(o: AttackerOptions): Promise<S2sAttacker> {
    const tcp = tcpConnect({ host: '127.0.0.1', port: o.port });
    await new Promise<void>((resolve, reject) => tcp.once('connect', resolve).once('error', reject));
    const a = new S2sAttacker(tcp);
    a.write(header(o.from, o.to));
    await a.expect(/<\/stream:features>/u);
    a.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await a.expect(/<proceed/u);
    tcp.removeAllListeners('data');
    tcp.removeAllListeners('close');
    const secure = tlsConnect({ socket: tcp, servername: o.to, ca: o.ca, key: o.key, cert: o.cert });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    a.socket = secure;
    a.input = '';
    a.attach(secure);
    a.write(header(o.from, o.to));
    await a.expect(/<mechanism>EXTERNAL<\/mechanism>/u);
    // XEP-0178 §3: the authorization identity is the initiating domain, base64-encoded.
    a.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>${Buffer.from(o.from).toString('base64')}</auth>`);
    await a.expect(/<success/u);
    const mark = a.input.length;
    a.write(header(o.from, o.to));
    await a.expect(/<\/stream:features>|<stream:features\/>/u, mark);
    return a;
  }

  close(): void {
    if (!this.closed) this.socket.end('</stream:stream>');
    this.socket.destroy();
  }
}
