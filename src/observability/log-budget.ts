/**
 * A budget of log lines for what senders can cause at will (refused stanzas, requests to the public webhook and
 * media links): at most `lines` per window, then one summary line per window with how many were left out, so a
 * flood costs a constant number of lines and an operator still sees that it happened (DESIGN.md decision 9: log
 * lines are bounded before they are spent).
 */
import type { Logger } from './logger.js';

/** Lines about refused input per window, then one summary line per window. */
export const REFUSAL_LOG_LINES = 20;
export const REFUSAL_LOG_WINDOW_MS = 10_000;

export class LogBudget {
  private windowStart = 0;
  private used = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly lines: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs at info within the budget; `via` is the logger to write with (an actor's, with its key). */
  info(message: string, meta: Record<string, unknown>, via: Logger = this.log): void {
    this.write('info', message, meta, via);
  }

  /** Logs at warn within the budget (a refused request an operator should notice). */
  warn(message: string, meta: Record<string, unknown>, via: Logger = this.log): void {
    this.write('warn', message, meta, via);
  }

  private write(level: 'info' | 'warn', message: string, meta: Record<string, unknown>, via: Logger): void {
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.log.warn('log lines about refused input left out', { suppressed: this.suppressed, windowSeconds: this.windowMs / 1000 });
      this.windowStart = now;
      this.used = 0;
      this.suppressed = 0;
    }
    if (this.used < this.lines) {
      this.used++;
      via[level](message, meta);
    } else {
      this.suppressed++;
    }
  }
}

/** The budget for lines about refused input (stanzas, media links, bounces). */
export function refusalLogBudget(log: Logger): LogBudget {
  return new LogBudget(log, REFUSAL_LOG_LINES, REFUSAL_LOG_WINDOW_MS);
}
