/**
 * Group commit for every write of the SQLite store: writes issued while the previous batch is being committed
 * (or in the same turn of the event loop) go together in the next batch, one transaction and one WAL sync. Under
 * load a batch holds hundreds of writes; alone, a write waits for nothing but its own commit.
 *
 * Batches run on the writer thread (WorkerBatches), or on this thread for an in-memory database, which a second
 * connection could not see (InlineBatches, for tests).
 */
import { Worker } from 'node:worker_threads';
import { StoreError } from '../store.js';
import type { FromWriter, ToWriter, WriterData } from './write-worker.js';
import { runBatch, type WriteArgs, type WriteContext, type WriteName, type WriteOutcome, type WriteRequest, type WriteResult } from './writes.js';

export interface BatchRunner {
  run(batch: readonly WriteRequest[]): Promise<WriteOutcome[]>;
  /** Resolves once writes can run (the writer thread has opened the database); rejects if it cannot. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export class InlineBatches implements BatchRunner {
  constructor(private readonly w: WriteContext) {}

  run(batch: readonly WriteRequest[]): Promise<WriteOutcome[]> {
    return Promise.resolve(runBatch(this.w, batch));
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {}
}

/** The writer thread (write-worker.ts) and the batches it is committing. */
export class WorkerBatches implements BatchRunner {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (o: WriteOutcome[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private broken: Error | undefined;
  private closed: Promise<void> | undefined;
  private readonly opened: Promise<void>;
  private settleOpened: { resolve: () => void; reject: (e: Error) => void } = { resolve: () => undefined, reject: () => undefined };

  constructor(data: WriterData) {
    this.opened = new Promise<void>((resolve, reject) => {
      this.settleOpened = { resolve, reject };
    });
    this.opened.catch(() => undefined); // reported by ready() and by every write
    this.worker = new Worker(new URL('./write-worker.js', import.meta.url), { workerData: data });
    // Only pending batches keep the process alive: a command that forgot to close the store still exits.
    this.worker.unref();
    this.worker.on('message', (m: FromWriter) => {
      if (m.kind === 'ready') {
        this.settleOpened.resolve();
      } else if (m.kind === 'done') {
        this.waiting.get(m.id)?.resolve([...m.outcomes]);
        this.waiting.delete(m.id);
        if (this.waiting.size === 0) this.worker.unref();
      } else if (m.kind === 'failed') {
        this.fail(new Error(`the SQLite writer thread could not open ${data.path}: ${m.message}`));
      }
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the SQLite writer thread exited (code ${code})`)));
  }

  run(batch: readonly WriteRequest[]): Promise<WriteOutcome[]> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ kind: 'batch', id, batch } satisfies ToWriter);
    });
  }

  ready(): Promise<void> {
    return this.opened;
  }

  private fail(err: Error): void {
    this.settleOpened.reject(err);
    this.broken ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.broken) {
        void this.worker.terminate().then(() => resolve());
        return;
      }
      this.worker.ref();
      this.worker.once('exit', () => resolve());
      this.worker.postMessage({ kind: 'close' } satisfies ToWriter);
    });
    return this.closed;
  }
}

/**
 * Under load (writes queued while a batch was committing), the next batch waits this long for more to join it, as
 * PostgreSQL's commit_delay does: each commit is a WAL sync, about 130 µs of CPU and 0.4 ms here
 * (bench/outbox-commit), so fewer, larger batches cost less. A write arriving at an idle store does not wait.
 */
const COMMIT_DELAY_MS = 3;
/** A batch this large goes at once. */
const MAX_BATCH = 512;

interface Queued {
  readonly request: WriteRequest;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

export class GroupCommit {
  private queue: Queued[] = [];
  private running = false;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly runner: BatchRunner,
    /** False: every write is its own transaction (for comparison in bench/outbox-commit). */
    private readonly grouped: boolean,
    /** Names the database in errors. */
    private readonly where: string,
  ) {}

  submit<N extends WriteName>(name: N, ...args: WriteArgs<N>): Promise<WriteResult<N>> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { name, args }, resolve: resolve as (v: unknown) => void, reject });
      this.kick();
    });
  }

  /** Resolves once every write submitted so far is committed (or failed). */
  settled(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * At the end of this turn, so that every write issued in it (and in its microtasks) joins the batch; under load
   * a little later (COMMIT_DELAY_MS).
   */
  private kick(busy = false): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      void this.flush();
    };
    if (busy && this.grouped && this.queue.length < MAX_BATCH) setTimeout(go, COMMIT_DELAY_MS);
    else setImmediate(go);
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.grouped ? this.queue.splice(0, MAX_BATCH) : this.queue.splice(0, 1);
    try {
      const outcomes = await this.runner.run(batch.map((q) => q.request));
      batch.forEach((q, i) => {
        const o = outcomes[i];
        if (o?.ok) q.resolve(o.value);
        else q.reject(new StoreError(`SQLite store ${this.where}: ${q.request.name} failed: ${o?.message ?? 'no outcome'}`, o));
      });
    } catch (err) {
      for (const q of batch) q.reject(new StoreError(`SQLite store ${this.where}: ${q.request.name} failed: ${err instanceof Error ? err.message : String(err)}`, err));
    } finally {
      this.running = false;
      if (this.queue.length > 0) this.kick(true);
      else for (const done of this.idle.splice(0)) done();
    }
  }
}
