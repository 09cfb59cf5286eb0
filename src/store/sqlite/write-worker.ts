/**
 * The SQLite store's writer thread: owns the write connection and runs each batch the event loop sends it in one
 * transaction, so the WAL sync (fsync, milliseconds on a disk) never blocks the event loop. Reads stay on the
 * event loop's own connection: WAL readers do not wait for this writer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openConnection, Prepared, type ConnectionOptions } from './connection.js';
import { runBatch, type WriteContext, type WriteOutcome, type WriteRequest } from './writes.js';

export interface WriterData extends ConnectionOptions {
  readonly path: string;
  readonly keepBodies: boolean;
}

/** Event loop -> writer. */
export type ToWriter = { readonly kind: 'batch'; readonly id: number; readonly batch: readonly WriteRequest[] } | { readonly kind: 'close' };

/** Writer -> event loop. */
export type FromWriter =
  | { readonly kind: 'ready' }
  | { readonly kind: 'done'; readonly id: number; readonly outcomes: readonly WriteOutcome[] }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'closed' };

const port = parentPort;
if (port) {
  const data = workerData as WriterData;
  let w: WriteContext | undefined;
  try {
    w = { sql: new Prepared(openConnection(data.path, data)), keepBodies: data.keepBodies };
    port.postMessage({ kind: 'ready' } satisfies FromWriter);
  } catch (err) {
    port.postMessage({ kind: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies FromWriter);
  }
  port.on('message', (m: ToWriter) => {
    if (m.kind === 'close') {
      w?.sql.db.close();
      port.postMessage({ kind: 'closed' } satisfies FromWriter);
      port.close();
      return;
    }
    const outcomes: WriteOutcome[] = w
      ? runBatch(w, m.batch)
      : m.batch.map(() => ({ ok: false, code: undefined, message: 'the SQLite writer could not open the database' }));
    port.postMessage({ kind: 'done', id: m.id, outcomes } satisfies FromWriter);
  });
}
