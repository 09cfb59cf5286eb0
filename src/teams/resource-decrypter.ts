/**
 * Decrypts rich notifications' resource data off the event loop, on a few threads for the whole process (every
 * tenant of a node shares them). The notifications asked for in one turn of the event loop go in slices of SLICE,
 * handed to the threads in turn, whose results come back one after another: the event loop relays the first while
 * the threads decrypt the next. One RSA unwrap per notification (decrypt-worker.ts) caps what one thread decrypts
 * at about 3,000 notifications a second (bench/decrypt.bench.ts), so a node with cores to spare decrypts on one
 * thread per core but one (the event loop's), at most MAX_THREADS; they start as slices need them. On two cores
 * that is one: a second thread there only competed with the event loop (bench/relay.bench.ts, alternated runs: the
 * same rate, webhook answers slower). If a thread cannot start or dies, decryption goes on here, on the event loop
 * (slower, nothing lost), logged once.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../observability/logger.js';
import type { DecryptedBatch, ToDecrypter } from './decrypt-worker.js';
import { decryptRecorded, parseDecrypted, type DecryptedText, type DecryptResult, type NotificationCertificate } from './rich-notifications.js';

/** Notifications sent to a thread in one message at most. */
const SLICE = 16;

/** Decrypting threads at most, whatever the cores. */
const MAX_THREADS = 4;

/** The threads a process decrypts on by default: one per core but one, at least one, at most MAX_THREADS. */
export function defaultDecryptThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(MAX_THREADS, cores - 1));
}

type Certificates = ReadonlyMap<string, NotificationCertificate>;

interface Job {
  /** The encrypted content as recorded (JSON). */
  readonly content: string;
  readonly certificates: Certificates;
  readonly resolve: (r: DecryptResult) => void;
}

function inline(j: Job): void {
  j.resolve(parseDecrypted(decryptRecorded(j.content, j.certificates)));
}

interface Thread {
  readonly worker: Worker;
  /** The certificate sets this thread holds, by number. */
  readonly sets: Set<number>;
  /** Its batches waiting for their results. */
  waiting: number;
}

export class ResourceDecrypter {
  private threads: Thread[] = [];
  /** Which busy thread the next slice goes to, once every thread is busy and there are maxThreads. */
  private turn = 0;
  /** True once a thread failed (or the decrypter was closed): everything is decrypted inline from then on. */
  private inline = false;
  private queued: Job[] = [];
  private scheduled = false;
  private readonly sent = new Map<number, { readonly jobs: Job[]; readonly thread: Thread }>();
  private nextId = 0;
  /** The certificate maps the threads are given, by the number they know each by. */
  private readonly sets = new Map<Certificates, number>();

  constructor(
    private readonly log?: Logger,
    /** Threads at most (default {@link defaultDecryptThreads}). */
    private readonly maxThreads = defaultDecryptThreads(),
  ) {}

  /** Decrypts one notification's encrypted content, as the inbox recorded it (JSON). */
  decrypt(content: string, certificates: Certificates): Promise<DecryptResult> {
    return new Promise((resolve) => {
      const job = { content, certificates, resolve };
      // Without certificates nothing can be decrypted: answered here, no thread started for it.
      if (this.inline || certificates.size === 0) return inline(job);
      this.queued.push(job);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.send());
      }
    });
  }

  /** Stops the threads; what they still had is decrypted inline. */
  async close(): Promise<void> {
    const threads = this.threads;
    this.threads = [];
    this.inline = true;
    this.send();
    this.takeBack();
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  private send(): void {
    this.scheduled = false;
    const jobs = this.queued;
    this.queued = [];
    for (let i = 0; i < jobs.length; i += SLICE) {
      const thread = this.inline ? undefined : this.next();
      if (!thread) {
        jobs.slice(i).forEach(inline);
        return;
      }
      this.post(thread, jobs.slice(i, i + SLICE));
    }
  }

  private post(thread: Thread, jobs: Job[]): void {
    const items = jobs.map((j) => {
      let set = this.sets.get(j.certificates);
      if (set === undefined) this.sets.set(j.certificates, (set = this.sets.size + 1));
      if (!thread.sets.has(set)) {
        thread.sets.add(set);
        thread.worker.postMessage({ kind: 'certificates', set, certificates: [...j.certificates.values()] } satisfies ToDecrypter);
      }
      return { content: j.content, set };
    });
    const id = ++this.nextId;
    this.sent.set(id, { jobs, thread });
    if (thread.waiting++ === 0) thread.worker.ref();
    thread.worker.postMessage({ kind: 'batch', id, items } satisfies ToDecrypter);
  }

  /** The thread for the next slice: an idle one, else a new one while there are fewer than maxThreads, else the next in turn. */
  private next(): Thread | undefined {
    const idle = this.threads.find((t) => t.waiting === 0);
    if (idle) return idle;
    if (this.threads.length >= this.maxThreads) return this.threads[this.turn++ % this.threads.length];
    try {
      const w = new Worker(new URL('./decrypt-worker.js', import.meta.url));
      const thread: Thread = { worker: w, sets: new Set(), waiting: 0 };
      // Only batches waiting for their results keep the process alive.
      w.unref();
      w.on('message', (m: DecryptedBatch) => this.answered(m));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => this.fail(new Error(`a decrypting thread exited (code ${code})`)));
      this.threads.push(thread);
      return thread;
    } catch (err) {
      this.fail(err);
      return undefined;
    }
  }

  private answered(m: DecryptedBatch): void {
    const batch = this.sent.get(m.id);
    if (!batch) return;
    this.sent.delete(m.id);
    batch.jobs.forEach((j, i) => {
      const r: DecryptedText | undefined = m.results[i];
      if (r) j.resolve(parseDecrypted(r));
      else inline(j);
    });
    if (--batch.thread.waiting === 0) batch.thread.worker.unref();
  }

  private fail(err: unknown): void {
    if (this.inline) return;
    this.inline = true;
    const threads = this.threads;
    this.threads = [];
    this.log?.warn('rich notifications are decrypted on the event loop: a decrypting thread failed', { error: err instanceof Error ? err.message : String(err) });
    this.takeBack();
    // The others stop too: from here on everything is decrypted on the event loop.
    for (const t of threads) void t.worker.terminate();
  }

  /** Batches the threads did not answer are decrypted here. */
  private takeBack(): void {
    const lost = [...this.sent.values()].flatMap((b) => b.jobs);
    this.sent.clear();
    lost.forEach(inline);
  }
}

let shared: ResourceDecrypter | undefined;

/** The process's decrypter (created on first use; its thread starts with the first notification to decrypt). */
export function sharedResourceDecrypter(log?: Logger): ResourceDecrypter {
  shared ??= new ResourceDecrypter(log);
  return shared;
}
