/**
 * Time for the SIP layers, injectable so the state machines are tested with a manual clock (RFC 3261 §17 timers).
 */

export interface Timers {
  now(): number;
  set(fn: () => void, ms: number): TimerHandle;
  clear(handle: TimerHandle | undefined): void;
}

export interface TimerHandle {
  readonly id: unknown;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { id: t };
  },
  clear(handle) {
    if (handle) clearTimeout(handle.id as NodeJS.Timeout);
  },
};

/**
 * RFC 3261 §17.1.1.1 and Table 4: T1 (round-trip estimate), T2 (longest retransmit interval for non-INVITE
 * requests and INVITE responses), T4 (longest a message stays in the network).
 */
export interface TimerValues {
  readonly T1: number;
  readonly T2: number;
  readonly T4: number;
}

export const DEFAULT_TIMER_VALUES: TimerValues = { T1: 500, T2: 4000, T4: 5000 };

/** A clock for tests: timers fire only when the test advances time. */
export class ManualTimers implements Timers {
  private t = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  set(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }

  clear(handle: TimerHandle | undefined): void {
    if (handle) this.pending.delete(handle.id as number);
  }

  /** Moves time forward, firing due timers in order (a timer set by a firing timer fires too if due). */
  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (e[1].at <= target && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.pending.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = target;
  }

  get scheduled(): number {
    return this.pending.size;
  }
}
