/**
 * Drain and resume, asked from the console of any node and carried out by the node concerned: over a Redis
 * channel of the cluster (Redis is what every node already trusts for placement), or directly when the console's
 * own node is the one to drain.
 */
import type { Redis } from 'ioredis';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { ConsoleCluster } from './context.js';

export type DrainOp = 'drain' | 'resume';

interface Command {
  readonly node: string;
  readonly op: DrainOp;
  readonly by: string;
}

export class DrainCommands {
  private subscriber: Redis | undefined;

  constructor(
    private readonly o: { readonly nodeId: string; readonly redis: Redis; readonly cluster: ConsoleCluster; readonly log: Logger },
  ) {}

  private get channel(): string {
    return this.o.cluster.keys.channel('console-drain');
  }

  async start(): Promise<void> {
    this.subscriber = this.o.redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let c: Command;
      try {
        c = JSON.parse(text) as Command;
      } catch {
        return;
      }
      if (c.node === this.o.nodeId && (c.op === 'drain' || c.op === 'resume')) void this.apply(c);
    });
    await this.subscriber.subscribe(this.channel).catch((err: unknown) => this.o.log.warn('console: cannot listen for drain commands', { error: errorMessage(err) }));
  }

  private async apply(c: Command): Promise<void> {
    this.o.log.warn(c.op === 'drain' ? 'node drained from the console: its actors move to the other nodes' : 'node drain ended from the console', { by: c.by });
    try {
      if (c.op === 'drain') await this.o.cluster.drain(String(c.by).slice(0, 120));
      else await this.o.cluster.resume();
    } catch (err) {
      this.o.log.error('console drain command failed', { op: c.op, error: errorMessage(err) });
    }
  }

  /** Asks `node` to drain or resume; resolves once the command is carried out (here) or sent (elsewhere). */
  async send(node: string, op: DrainOp, by: string): Promise<void> {
    if (node === this.o.nodeId) return this.apply({ node, op, by });
    await this.o.redis.publish(this.channel, JSON.stringify({ node, op, by } satisfies Command));
  }

  async stop(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }
}
