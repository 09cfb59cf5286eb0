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

/** Rows of the stanzas that wait for the pair's hand-over in progress. */
interface Waiting {
  readonly rows: OutboxRow[];
  /** The first stanza's: the actor message's correlation id (each row keeps its own, for the post). */
  readonly envelope: Envelope;
  stanzas: number;
}

export type TellPair = (key: PairKey, message: PairMessage, envelope: Envelope) => Promise<Outcome>;

export class AcceptedHandOver {
  /** Pairs with a hand-over in progress, and what waits for it to end. */
  private readonly busy = new Map<string, { waiting: Waiting | undefined }>();
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
    const state = this.busy.get(k);
    if (!state) {
      this.start(k, key, { rows: [...rows], envelope, stanzas: 1 });
      return;
    }
    if (state.waiting) {
      state.waiting.rows.push(...rows);
      state.waiting.stanzas++;
    } else {
      state.waiting = { rows: [...rows], envelope, stanzas: 1 };
    }
  }

  /** Before another message goes to the pair's actor: the rows that wait go first, so that it comes after them. */
  flush(key: PairKey): void {
    const state = this.busy.get(pairKey(key));
    const waiting = state?.waiting;
    if (!state || !waiting) return;
    state.waiting = undefined;
    void this.send(key, waiting);
  }

  /** Stanzas whose rows the actor has not finished taking (a graceful stop waits for them). */
  pending(): number {
    return this.stanzas;
  }

  /** A hand-over for a pair with none in progress; what accumulates meanwhile goes when it ends. */
  private start(k: string, key: PairKey, first: Waiting): void {
    const state: { waiting: Waiting | undefined } = { waiting: undefined };
    this.busy.set(k, state);
    const next = (w: Waiting): void => {
      void this.send(key, w).then(() => {
        const more = state.waiting;
        if (more) {
          state.waiting = undefined;
          next(more);
        } else if (this.busy.get(k) === state) {
          this.busy.delete(k);
        }
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
