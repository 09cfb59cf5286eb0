/**
 * Homing by lookup (issue 17), bounded (DESIGN.md decision 9): where a user of a lookup domain (sfb.lookup.domains)
 * is homed is asked of the Front End pool, and an XMPP user drives how often, so:
 * - a lookup that reaches the pool is paid from the sender's (and the sender's domain's) lookup budget first, the
 *   same budget the Teams directory lookups use (policy/lookup-budget.ts); a spent budget throws LookupRefusedError;
 * - concurrent lookups of one address share one request;
 * - answers are remembered for sfb.lookup.positiveCacheSeconds ("on SfB") or negativeCacheSeconds ("not on SfB"),
 *   in a cache of at most sfb.lookup.maxEntries addresses (the oldest goes first);
 * - a lookup that fails or takes longer than sfb.lookup.timeoutSeconds throws SfbLookupFailedError and is not
 *   remembered: a pool hiccup never sends an SfB user's messages to Teams.
 */
import type { LookupBudget, LookupPayer } from '../teams/directory.js';
import { LookupRefusedError } from '../teams/directory.js';
import type { Homing } from './protocol/homing.js';

/** The pool could not say where the user is homed (a failure or a timeout): the stanza gets a temporary error. */
export class SfbLookupFailedError extends Error {
  constructor(
    readonly aor: string,
    readonly reason: string,
  ) {
    super(`where ${aor} is homed could not be looked up: ${reason}`);
    this.name = 'SfbLookupFailedError';
  }
}

export interface HomingLookupOptions {
  /** Asks the pool (a one-time presence fetch on behalf of `sender`, the XMPP user who asks). */
  readonly probe: (aor: string, sender: string) => Promise<Homing>;
  readonly budget?: LookupBudget | undefined;
  readonly positiveTtlMs: number;
  readonly negativeTtlMs: number;
  readonly timeoutMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
  /** Told of every lookup that reached the pool and its outcome (metrics, logs). */
  readonly onLookup?: (aor: string, outcome: Homing['home'] | 'timeout', why?: string) => void;
}

interface Entry {
  readonly onSfb: boolean;
  readonly expires: number;
}

export class HomingLookups {
  private readonly cache = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly now: () => number;

  constructor(private readonly o: HomingLookupOptions) {
    this.now = o.now ?? Date.now;
  }

  /** What is remembered about `aor` (lower-case "sip:user@domain"), without asking anyone. */
  known(aor: string): boolean | undefined {
    const hit = this.cache.get(aor);
    return hit && hit.expires > this.now() ? hit.onSfb : undefined;
  }

  /**
   * Whether `aor` is homed on the pool: from the cache, else asked once (shared with concurrent askers), paid by
   * `payer`. Throws LookupRefusedError (budget spent) or SfbLookupFailedError (no definite answer in time).
   */
  async isOnSfb(aor: string, payer: LookupPayer): Promise<boolean> {
    for (;;) {
      const known = this.known(aor);
      if (known !== undefined) return known;
      const inFlight = this.pending.get(aor);
      if (!inFlight) break;
      try {
        return await inFlight;
      } catch (err) {
        // The sender who started it was over budget: this one asks on its own budget.
        if (!(err instanceof LookupRefusedError)) throw err;
      }
    }
    // In flight from here on (admission included), so that stanzas arriving together share one request.
    const lookup = (async () => {
      if (this.o.budget && !(await this.o.budget.admit(payer, 'sfb-pool'))) throw new LookupRefusedError(payer);
      return this.ask(aor, payer.sender);
    })();
    this.pending.set(aor, lookup);
    try {
      return await lookup;
    } finally {
      if (this.pending.get(aor) === lookup) this.pending.delete(aor);
    }
  }

  /** A request from the trusted pool from `aor` proves she is homed there (issue 17, SfB -> XMPP). */
  provenOnSfb(aor: string): void {
    this.remember(aor, true);
  }

  private async ask(aor: string, sender: string): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.o.timeoutMs);
    });
    try {
      const answer = await Promise.race([this.o.probe(aor, sender), timeout]).catch((err: unknown): Homing => ({ home: 'unknown', why: err instanceof Error ? err.message : String(err) }));
      if (answer === 'timeout') {
        this.o.onLookup?.(aor, 'timeout');
        // The late answer (if any) is dropped with this promise; the next stanza asks again.
        throw new SfbLookupFailedError(aor, `no answer from the pool within ${this.o.timeoutMs} ms`);
      }
      this.o.onLookup?.(aor, answer.home, 'why' in answer ? answer.why : undefined);
      if (answer.home === 'unknown') throw new SfbLookupFailedError(aor, answer.why);
      const onSfb = answer.home === 'sfb';
      this.remember(aor, onSfb);
      return onSfb;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Bounded: the oldest entry goes first (a flood of random addresses cannot grow the cache). */
  private remember(aor: string, onSfb: boolean): void {
    this.cache.delete(aor);
    if (this.cache.size >= this.o.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(aor, { onSfb, expires: this.now() + (onSfb ? this.o.positiveTtlMs : this.o.negativeTtlMs) });
  }

  /** Number of remembered addresses (tests, metrics). */
  get size(): number {
    return this.cache.size;
  }
}
