/**
 * A DNS responder of the loopback federation's own, so that XMPP servers find each other by `_xmpp-server._tcp`
 * SRV records (RFC 6120 §3.2.1) exactly as in production, without touching the machine's /etc/hosts or resolver:
 * Prosody reaches it through libunbound's forwarder (`unbound = { forward = ... }`), ejabberd through the Erlang
 * resolver's own configuration file (ERL_INETRC). It answers only the names it was given (authoritatively, over
 * UDP) and NXDOMAIN for anything else, so no lookup ever leaves the machine.
 *
 * Wire format: RFC 1035 §4 (header, question, resource records), SRV RDATA per RFC 2782.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface SrvRecord {
  readonly priority?: number;
  readonly weight?: number;
  readonly port: number;
  /** A host name the servers can resolve without this responder: `localhost` (from /etc/hosts or unbound's built-in zone). */
  readonly target: string;
}

const TYPE = { A: 1, SRV: 33 } as const;
const CLASS_IN = 1;
const RCODE = { noError: 0, formErr: 1, nxDomain: 3, notImp: 4 } as const;
/** Short, so that a test that moves a server is seen quickly; long enough that a conversation costs one lookup. */
const TTL_SECONDS = 30;

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/u, '').split('.').filter((l) => l !== '');
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

/** Reads the question's name (never compressed in a query); returns undefined when the packet is malformed. */
function readQuestion(msg: Buffer): { name: string; type: number; cls: number; end: number } | undefined {
  let pos = 12;
  const labels: string[] = [];
  for (;;) {
    const len = msg[pos];
    if (len === undefined || len > 63) return undefined;
    pos++;
    if (len === 0) break;
    if (pos + len > msg.length) return undefined;
    labels.push(msg.subarray(pos, pos + len).toString('ascii'));
    pos += len;
  }
  if (pos + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(pos), cls: msg.readUInt16BE(pos + 2), end: pos + 4 };
}

function rr(type: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's (RFC 1035 §4.1.4)
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(CLASS_IN, 4);
  head.writeUInt32BE(TTL_SECONDS, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

export class LoopbackDns {
  private readonly srv = new Map<string, SrvRecord[]>();
  private readonly a = new Map<string, string[]>();

  private constructor(private readonly socket: Socket) {
    socket.on('message', (msg, peer) => {
      const answer = this.answer(msg);
      if (answer) socket.send(answer, peer.port, peer.address);
    });
  }

  /** Listens on 127.0.0.1:`port` (0: any free port). */
  static async start(port = 0): Promise<LoopbackDns> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new LoopbackDns(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** `_xmpp-server._tcp.<domain>` → the server's s2s port on loopback (RFC 6120 §3.2.1). */
  setXmppServer(domain: string, port: number): void {
    this.setSrv(`_xmpp-server._tcp.${domain}`, [{ port, target: 'localhost' }]);
  }

  setSrv(name: string, records: readonly SrvRecord[]): void {
    this.srv.set(name.toLowerCase(), [...records]);
  }

  setA(name: string, addresses: readonly string[]): void {
    this.a.set(name.toLowerCase(), [...addresses]);
  }

  remove(name: string): void {
    this.srv.delete(name.toLowerCase());
    this.a.delete(name.toLowerCase());
  }

  /** The response to one query, or undefined for a packet not worth answering (a response, or too short). */
  private answer(msg: Buffer): Buffer | undefined {
    if (msg.length < 12 || (msg[2]! & 0x80) !== 0) return undefined;
    const id = msg.readUInt16BE(0);
    const opcode = (msg[2]! >> 3) & 0x0f;
    const rd = msg[2]! & 0x01;
    const q = msg.readUInt16BE(4) === 1 ? readQuestion(msg) : undefined;
    const header = (rcode: number, ancount: number, qdcount: number) => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(id, 0);
      h[2] = 0x80 | (opcode << 3) | 0x04 | rd; // QR, the opcode asked, AA, RD echoed
      h[3] = 0x80 | rcode; // RA
      h.writeUInt16BE(qdcount, 4);
      h.writeUInt16BE(ancount, 6);
      return h;
    };
    if (!q) return header(RCODE.formErr, 0, 0);
    const question = msg.subarray(12, q.end);
    if (opcode !== 0 || q.cls !== CLASS_IN) return Buffer.concat([header(RCODE.notImp, 0, 1), question]);
    const srv = this.srv.get(q.name);
    const a = this.a.get(q.name);
    if (!srv && !a) return Buffer.concat([header(RCODE.nxDomain, 0, 1), question]);
    const records: Buffer[] = [];
    if (q.type === TYPE.SRV) {
      for (const r of srv ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(r.priority ?? 0, 0);
        fixed.writeUInt16BE(r.weight ?? 0, 2);
        fixed.writeUInt16BE(r.port, 4);
        records.push(rr(TYPE.SRV, Buffer.concat([fixed, encodeName(r.target)])));
      }
    } else if (q.type === TYPE.A) {
      for (const ip of a ?? []) records.push(rr(TYPE.A, Buffer.from(ip.split('.').map(Number))));
    }
    // A known name asked for another type: NOERROR with no answer (NODATA, RFC 2308 §2.2).
    return Buffer.concat([header(RCODE.noError, records.length, 1), question, ...records]);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
