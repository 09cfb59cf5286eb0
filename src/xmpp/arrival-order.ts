/**
 * Keeps stanzas between the same two addresses in arrival order (RFC 6120 §10.1) without making them wait for
 * each other's work: each takes a ticket on arrival, runs its checks at once (concurrently with the others), and
 * waits for its turn only at the step whose order matters (committing a message, telling the pair actor).
 * A ticket's turn comes once every earlier ticket of the key is done, whether it handed something over or not.
 */
export interface ArrivalTicket {
  /** Resolves when every earlier ticket of the same key is done. */
  turn(): Promise<void>;
  /** This stanza has handed over what it had to (or will hand over nothing): the next one may go. Idempotent. */
  done(): void;
}

/** A ticket for work with no order to keep (tests, stanzas handled outside the link). */
export const ANY_ORDER: ArrivalTicket = { turn: () => Promise.resolve(), done: () => undefined };

export class ArrivalOrder {
  private readonly tails = new Map<string, Promise<void>>();

  ticket(key: string): ArrivalTicket {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.tails.set(key, mine);
    void mine.then(() => {
      if (this.tails.get(key) === mine) this.tails.delete(key);
    });
    let released = false;
    return {
      turn: () => previous,
      done: () => {
        if (released) return;
        released = true;
        // Released in order: a ticket done early still holds the next one until the earlier ones are done.
        void previous.then(release);
      },
    };
  }

  /** Keys with tickets outstanding (for tests and a graceful stop). */
  get size(): number {
    return this.tails.size;
  }
}
