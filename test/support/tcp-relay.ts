/**
 * A TCP relay on loopback standing for the network between two XMPP servers: the S2S records point at it, it
 * forwards bytes unchanged (TLS passes through end to end). `blackhole()` silently drops everything from then on
 * (each side's TCP stack has handed its bytes over and believes them sent: a path that died), and `cut()` breaks
 * every connection at once with a TCP reset, as a failing router or NAT does.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpRelay {
  private readonly pairs = new Set<[Socket, Socket]>();
  private dropping = false;
  /** Connections accepted so far (each S2S stream is one). */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpRelay> {
    let relay: TcpRelay | undefined;
    const server = createServer((inbound) => {
      const outbound = connect({ host: '127.0.0.1', port: targetPort });
      const pair: [Socket, Socket] = [inbound, outbound];
      relay!.pairs.add(pair);
      relay!.accepted++;
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (d: Buffer) => {
          if (!relay!.dropping) to.write(d);
        });
      forward(inbound, outbound);
      forward(outbound, inbound);
      const drop = () => {
        relay!.pairs.delete(pair);
        inbound.destroy();
        outbound.destroy();
      };
      for (const s of pair) {
        s.on('error', drop);
        s.on('close', drop);
      }
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
    const addr = server.address();
    relay = new TcpRelay(server, typeof addr === 'object' && addr ? addr.port : 0);
    return relay;
  }

  /** Live connections through the relay. */
  get connections(): number {
    return this.pairs.size;
  }

  /** From now on, bytes in either direction go nowhere (until `cut()`). */
  blackhole(): void {
    this.dropping = true;
  }

  /** Breaks every live connection (RST both ways); new connections are accepted and forwarded as before. */
  cut(): void {
    this.dropping = false;
    for (const [a, b] of [...this.pairs]) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
