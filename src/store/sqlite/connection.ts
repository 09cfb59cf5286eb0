/**
 * Opening a SQLite connection the way the store needs it (WAL, durability level, busy timeout, foreign keys), and
 * a cache of prepared statements: each SQL text is compiled once per connection, not at every call.
 */
import Database from 'better-sqlite3';

export interface ConnectionOptions {
  /** How long a statement waits for another connection's write lock before failing. */
  readonly busyTimeoutMs: number;
  readonly synchronous: 'full' | 'normal';
}

/**
 * The page size of a new database file (an existing file keeps its own: https://www.sqlite.org/pragma.html#pragma_page_size).
 * A relayed message's commits touch dozens of pages (its row, the random-key indexes' leaves, the relayed id), and
 * each page is a WAL frame written and checksummed: with 8 KiB pages the store does 13–24% less CPU
 * work per message than with 4 KiB, for 2% (Teams -> XMPP) to 40% (XMPP -> Teams) more bytes written
 * (bench/store-pages.bench.ts). PostgreSQL and SQL Server use 8 KiB pages too.
 */
export const NEW_FILE_PAGE_SIZE = 8192;

export function openConnection(path: string, o: ConnectionOptions): Database.Database {
  const db = new Database(path, { timeout: o.busyTimeoutMs });
  // Takes effect only while the file is empty (before the WAL switch below writes its header); a no-op afterwards.
  db.pragma(`page_size = ${NEW_FILE_PAGE_SIZE}`);
  // WAL lets several node processes on one host share the file, and lets this process read on its event loop
  // while its writer thread commits: readers never block the writer. Switching a new file to WAL needs an
  // exclusive lock and does not always wait on the busy handler: when several nodes create the file at once, the
  // losers retry until the winner is done.
  for (const deadline = Date.now() + o.busyTimeoutMs; ; ) {
    try {
      db.pragma('journal_mode = WAL');
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  db.pragma(`synchronous = ${o.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma('foreign_keys = ON');
  return db;
}

/** Prepared statements of one connection, by SQL text. */
export class Prepared {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  get(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }
}
