/**
 * Decrypts rich notifications' resource data off the event loop, on one thread for the whole process (every tenant
 * of a node shares it). The notifications asked for in one turn of the event loop go in slices of SLICE, whose
 * results come back one after another: the event loop relays the first while the thread decrypts the next. If the
 * thread cannot start or dies, decryption goes on here, on the event loop (slower, nothing lost), logged once.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../observability/logger.js';
import type { DecryptedBatch, ToDecrypter } from './decrypt-worker.js';
import { decryptRecorded, parseDecrypted, type DecryptedText, type DecryptResult, type NotificationCertificate } from './rich-notifications.js';

/** Notifications sent to the thread in one message at most. */
const SLICE = 16;

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

export class ResourceDecrypter {
  private worker: Worker | undefined;
  /** True once the thread failed (or was closed): everything is decrypted inline from then on. */
  private inline = false;
  private queued: Job[] = [];
  private scheduled = false;
  private readonly sent = new Map<number, Job[]>();
  private nextId = 0;
  /** The certificate maps the thread holds, by the number it knows each by. */
  private readonly sets = new Map<Certificates, number>();

  constructor(private readonly log?: Logger) {}

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

  /** Stops the thread; what it still had is decrypted inline. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.inline = true;
    this.send();
    this.takeBack();
    if (w) await w.terminate();
  }

  private send(): void {
    this.scheduled = false;
    const jobs = this.queued;
    this.queued = [];
    const worker = jobs.length === 0 || this.inline ? undefined : this.thread();
    if (!worker) {
      jobs.forEach(inline);
      return;
    }
    for (let i = 0; i < jobs.length; i += SLICE) this.post(worker, jobs.slice(i, i + SLICE));
  }

  private post(worker: Worker, jobs: Job[]): void {
    const items = jobs.map((j) => {
      let set = this.sets.get(j.certificates);
      if (set === undefined) {
        this.sets.set(j.certificates, (set = this.sets.size + 1));
        worker.postMessage({ kind: 'certificates', set, certificates: [...j.certificates.values()] } satisfies ToDecrypter);
      }
      return { content: j.content, set };
    });
    const id = ++this.nextId;
    this.sent.set(id, jobs);
    worker.ref();
    worker.postMessage({ kind: 'batch', id, items } satisfies ToDecrypter);
  }

  private thread(): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      const w = new Worker(new URL('./decrypt-worker.js', import.meta.url));
      // Only batches waiting for their results keep the process alive.
      w.unref();
      w.on('message', (m: DecryptedBatch) => this.answered(w, m));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => this.fail(new Error(`the decrypting thread exited (code ${code})`)));
      this.worker = w;
      return w;
    } catch (err) {
      this.fail(err);
      return undefined;
    }
  }

  private answered(w: Worker, m: DecryptedBatch): void {
    const jobs = this.sent.get(m.id) ?? [];
    this.sent.delete(m.id);
    jobs.forEach((j, i) => {
      const r: DecryptedText | undefined = m.results[i];
      if (r) j.resolve(parseDecrypted(r));
      else inline(j);
    });
    if (this.sent.size === 0) w.unref();
  }

  private fail(err: unknown): void {
    if (this.inline) return;
    this.inline = true;
    this.worker = undefined;
    this.log?.warn('rich notifications are decrypted on the event loop: the decrypting thread failed', { error: err instanceof Error ? err.message : String(err) });
    this.takeBack();
  }

  /** Batches the thread did not answer are decrypted here. */
  private takeBack(): void {
    const lost = [...this.sent.values()].flat();
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
