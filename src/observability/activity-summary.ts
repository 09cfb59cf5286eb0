/**
 * Counters at info, lines at debug: a node relaying thousands of messages a second cannot write a line for each
 * at info (it would cost more than the relaying), so every message's lines are debug, and once a period the node
 * logs at info what it did since the last one, from its metrics. Nothing is logged for a quiet period.
 */
import type { Counter } from 'prom-client';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

type Totals = Record<string, number>;

async function byLabel(counter: Counter<string>, label: string, prefix: string, into: Totals): Promise<void> {
  for (const v of (await counter.get()).values) {
    const key = `${prefix}${String(v.labels[label] ?? 'all')}`;
    into[key] = (into[key] ?? 0) + v.value;
  }
}

export class ActivitySummary {
  private timer: NodeJS.Timeout | undefined;
  private last: Totals = {};

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly periodMs: number,
  ) {}

  start(): void {
    void this.totals().then((t) => {
      this.last = t;
    });
    this.timer = setInterval(() => void this.summarize(), this.periodMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.summarize();
  }

  private async totals(): Promise<Totals> {
    const t: Totals = {};
    await byLabel(this.metrics.messagesAccepted, 'direction', 'accepted.', t);
    await byLabel(this.metrics.messagesRelayed, 'direction', 'relayed.', t);
    await byLabel(this.metrics.presenceRelayed, 'direction', 'presence.', t);
    await byLabel(this.metrics.stanzaErrors, 'condition', 'stanzaErrors.', t);
    await byLabel(this.metrics.deadLetters, 'kind', 'deadLetters.', t);
    await byLabel(this.metrics.webhookNotifications, 'outcome', 'notifications.', t);
    return t;
  }

  /** Logs the counts since the last summary (only those that moved). */
  async summarize(): Promise<void> {
    const now = await this.totals();
    const delta: Totals = {};
    for (const [k, v] of Object.entries(now)) {
      const d = v - (this.last[k] ?? 0);
      if (d > 0) delta[k] = d;
    }
    this.last = now;
    if (Object.keys(delta).length > 0) this.log.info('activity since the last summary', { periodSeconds: this.periodMs / 1000, ...delta });
  }
}
