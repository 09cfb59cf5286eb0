/**
 * Group commit for the SQL Server store: the writes of one kind issued while the previous batch of that kind is on
 * its way (or in the same turn of the event loop) go together as one statement, one round trip and one
 * transaction (one log flush). One batch of a kind at a time keeps their order, which is what the outbox's arrival
 * order per pair rests on. A batch that fails for another reason than its own writes (a deadlock is retried
 * first) is tried again one write at a time, so that one bad write fails alone.
 */
export interface BatchKind<I, O> {
  /** Runs the batch; returns one result per input, in order. */
  readonly many: (inputs: readonly I[]) => Promise<O[]>;
  /** Runs one write alone (after a failed batch). */
  readonly one: (input: I) => Promise<O>;
}

/** A batch is one JSON parameter: kept well below what one request should carry. */
const MAX_BATCH = 500;

interface Queued<I, O> {
  readonly input: I;
  readonly resolve: (o: O) => void;
  readonly reject: (e: unknown) => void;
}

export class WriteBatches<I, O> {
  private queue: Queued<I, O>[] = [];
  private running = false;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly kind: BatchKind<I, O>) {}

  submit(input: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.kick();
    });
  }

  /** Resolves once every write submitted so far is done. */
  settled(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private kick(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0, MAX_BATCH);
    try {
      let outputs: O[] | undefined;
      if (batch.length > 1) {
        try {
          outputs = await this.kind.many(batch.map((q) => q.input));
        } catch {
          outputs = undefined; // one at a time below
        }
      }
      if (outputs && outputs.length === batch.length) {
        batch.forEach((q, i) => q.resolve(outputs[i] as O));
      } else {
        for (const q of batch) await this.kind.one(q.input).then(q.resolve, q.reject);
      }
    } finally {
      this.running = false;
      if (this.queue.length > 0) this.kick();
      else for (const done of this.idle.splice(0)) done();
    }
  }
}
