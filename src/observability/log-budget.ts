/**
 * A budget of log lines for an edge anyone can reach (the Graph webhook): a token bucket of lines, so a flood of
 * bad requests costs at most `burst` lines at once and `perMinute` after that (DESIGN.md decision 9). Lines over
 * the budget are counted, and the next line that is written says how many were left out.
 */
export class LogBudget {
  private tokens: number;
  private last: number;
  private skipped = 0;

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Undefined when the line must be left out; otherwise how many lines were left out before it. */
  take(): { skipped: number } | undefined {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 60_000) * this.perMinute);
    this.last = t;
    if (this.tokens < 1) {
      this.skipped++;
      return undefined;
    }
    this.tokens--;
    const skipped = this.skipped;
    this.skipped = 0;
    return { skipped };
  }
}
