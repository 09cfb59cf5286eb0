/**
 * Tells a pair's actor of the messages committed on arrival (accept.ts): one actor message for the rows of every
 * stanza accepted while the pair's previous hand-over is still in its mailbox or being handled, instead of one per
 * stanza. The actor takes them in order behind the rows it has (xmpp-to-teams.ts); under a backlog it reads the
 * outbox ahead, so most per-stanza hand-overs brought rows it had already taken, while each of them waited in the
 * mailbox for seconds holding its promises, closures and rows: in a flood of 16,000 messages (bench/relay.bench.ts)
 * 11,800 of them held about 10 KB each, the heap V8's collector walked over and over.
 *
 * Order is kept: rows wait here only behind a hand-over of the same pair, and the stanza router sends what waits
 * before any other message of the pair (flush). Nothing is lost if a hand-over fails or a node dies: the rows are
 * durable in the outbox, which the pair drains when it is next woken (its sweep).
 */
import type { Envelope } from '../actors/actor.js';
import { pairKey } from '../actors/actor-keys.js';
import type { Outcome, PairMessage } from '../actors/user-pair-actor.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { OutboxRow, PairKey } from '../store/store.js';

/**
 * Rows one actor message carries at most, and characters of their bodies (a stanza's own rows always go together).
 * Between nodes an actor message is one frame of at most 2 MiB (cluster/node-transport.ts): 300,000 characters are
 * at most 900 KB of UTF-8, and a row's other fields a few hundred bytes.
 */
export const MAX_BATCH_ROWS = 200;
export const MAX_BATCH_CHARS = 300_000;

/** Rows of stanzas that wait for the pair's hand-over in progress: one actor message. */
interface Waiting {
  readonly rows: OutboxRow[];
  /** The first stanza's: the actor message's correlation id (each row keeps its own, for the post). */
  readonly envelope: Envelope;
  stanzas: number;
  chars: number;
}

const charsOf = (rows: readonly OutboxRow[]): number => rows.reduce((n, r) => n + r.body.length, 0);

export type TellPair = (key: PairKey, message: PairMessage, envelope: Envelope) => Promise<Outcome>;

export class AcceptedHandOver {
  /** Pairs with a hand-over in progress, and the actor messages that wait for it to end, in order. */
  private readonly busy = new Map<string, { waiting: Waiting[] }>();
  /** Stanzas whose rows wait or are being handed over. */
  private stanzas = 0;

  constructor(
    private readonly tell: TellPair,
    private readonly log: Logger,
  ) {}

  /** The rows of one stanza, in the pair's arrival order (called in the stanza's turn). */
  add(key: PairKey, rows: readonly OutboxRow[], envelope: Envelope): void {
    if (rows.length === 0) return;
    this.stanzas++;
    const k = pairKey(key);
    const chars = charsOf(rows);
    const state = this.busy.get(k);
    if (!state) {
      this.start(k, key, { rows: [...rows], envelope, stanzas: 1, chars });
      return;
    }
    const last = state.waiting.at(-1);
    if (last && last.rows.length + rows.length <= MAX_BATCH_ROWS && last.chars + chars <= MAX_BATCH_CHARS) {
      last.rows.push(...rows);
      last.stanzas++;
      last.chars += chars;
    } else {
      state.waiting.push({ rows: [...rows], envelope, stanzas: 1, chars });
    }
  }

  /** Before another message goes to the pair's actor: the rows that wait go first, so that it comes after them. */
  flush(key: PairKey): void {
    const state = this.busy.get(pairKey(key));
    if (!state) return;
    const waiting = state.waiting;
    state.waiting = [];
    for (const w of waiting) void this.send(key, w);
  }

  /** Stanzas whose rows the actor has not finished taking (a graceful stop waits for them). */
  pending(): number {
    return this.stanzas;
  }

  /** A hand-over for a pair with none in progress; what accumulates meanwhile goes when it ends. */
  private start(k: string, key: PairKey, first: Waiting): void {
    const state: { waiting: Waiting[] } = { waiting: [] };
    this.busy.set(k, state);
    const next = (w: Waiting): void => {
      void this.send(key, w).then(() => {
        const more = state.waiting.shift();
        if (more) next(more);
        else if (this.busy.get(k) === state) this.busy.delete(k);
      });
    };
    next(first);
  }

  /** One actor message for the rows; settles (never rejects) once the actor has handled it or could not be told. */
  private async send(key: PairKey, w: Waiting): Promise<void> {
    try {
      const outcome = await this.tell(key, { type: 'xmpp-accepted', rows: w.rows }, w.envelope);
      if (outcome.status !== 'done') this.log.warn('pair did not complete the accepted messages', { correlationId: w.envelope.correlationId, messages: w.stanzas, outcome: outcome.status, reason: outcome.reason });
    } catch (err) {
      this.log.warn('the pair actor was not told of accepted messages; the outbox sweep delivers them', { correlationId: w.envelope.correlationId, messages: w.stanzas, error: errorMessage(err) });
    } finally {
      this.stanzas -= w.stanzas;
    }
  }
}
