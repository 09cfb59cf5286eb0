/**
 * The SQLite store's writes per relayed message, by page size of the database file (issue 15): the real store (its
 * writer thread, group commit, synchronous FULL) on a file made with 4, 8 or 16 KiB pages, each way:
 * - Teams -> XMPP: the notifications of a webhook POST recorded (each with about 2.3 KB of encrypted content, as a
 *   rich notification carries), then each finished (done, and its relayed id recorded);
 * - XMPP -> Teams: messages accepted into the outbox, then each delivered (and its relayed id recorded).
 * Prints the CPU time of the process (every thread: the writer's commits are most of it) and the bytes written
 * (WAL and checkpoints) per message; the page sizes run alternately, and the median of the rounds is printed.
 *
 *   node dist/bench/store-pages.bench.js [--messages 16000] [--rounds 3]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { NEW_FILE_PAGE_SIZE } from '../src/store/sqlite/connection.js';
import { median } from './relay/proc-stats.js';

const PAGE_SIZES = [4096, 8192, 16384];
/** Notifications per webhook POST, messages per outbox batch. */
const BATCH = 30;
const CHATS = 8;

/** Bytes this process has written to storage so far (Linux /proc/self/io), or undefined elsewhere. */
function writtenBytes(): number | undefined {
  try {
    const m = /write_bytes: (\d+)/u.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A new store on a file whose pages are `pageSize` bytes (set before the store's own connection makes it). */
function storeWithPages(dir: string, pageSize: number): SqliteStore {
  const path = join(dir, `pages-${pageSize}.sqlite`);
  const db = new Database(path);
  db.pragma(`page_size = ${pageSize}`);
  db.pragma('journal_mode = WAL');
  db.close();
  return SqliteStore.open(path, { synchronous: 'full' });
}

/** Encrypted content of the size Graph's rich notifications have (base64 data, key, signature). */
function encryptedContent(): string {
  return JSON.stringify({
    data: randomBytes(1100).toString('base64'),
    dataKey: randomBytes(256).toString('base64'),
    dataSignature: randomBytes(32).toString('base64'),
    encryptionCertificateId: 'bench-certificate',
    encryptionCertificateThumbprint: randomBytes(20).toString('hex'),
  });
}

const chats = Array.from({ length: CHATS }, () => `19:${randomBytes(16).toString('hex')}_${randomBytes(16).toString('hex')}@unq.gbl.spaces`);
let nextMessageId = 1_700_000_000_000;

/** A notification processed: done, and its message's relayed id recorded. */
function finish(store: SqliteStore, p: { id: number; chatId: string; messageId: string }, now: number): Promise<unknown> {
  return Promise.all([store.markNotificationDone(p.id, now), store.recordRelayed({ chatId: p.chatId, teamsMessageId: p.messageId, direction: 'teams_to_xmpp', xmppId: p.messageId }, now)]);
}

/** Teams -> XMPP: record a POST's notifications while the previous POST's are finished (as the inbox does). */
async function teamsToXmpp(store: SqliteStore, messages: number): Promise<void> {
  let previous: { id: number; chatId: string; messageId: string }[] = [];
  for (let done = 0; done < messages; done += BATCH) {
    const now = Date.now();
    const batch = Array.from({ length: BATCH }, (_, i) => {
      const chatId = chats[i % CHATS] as string;
      const messageId = String(++nextMessageId);
      return { chatId, messageId, resource: `chats('${chatId}')/messages('${messageId}')` };
    });
    const recording = store.recordNotifications(
      batch.map((b, i) => ({ dedupKey: `created:${b.messageId}/${b.chatId}`, kind: 'chatMessage' as const, subscriptionId: `sub-${i % CHATS}`, resource: b.resource, changeType: 'created', detail: encryptedContent() })),
      now,
    );
    const finishing = previous.map((p) => finish(store, p, now));
    await Promise.all([recording, ...finishing]);
    const due = await store.dueNotifications(Date.now(), BATCH, previous.at(-1)?.id ?? 0);
    previous = due.map((row, i) => ({ id: row.id, chatId: (batch[i] as { chatId: string }).chatId, messageId: (batch[i] as { messageId: string }).messageId }));
  }
  // The last POST's notifications are finished too, and the last batch delivered below: a run leaves none pending.
  await Promise.all(previous.map((p) => finish(store, p, Date.now())));
}

/** An accepted message posted to Teams: delivered, and its relayed id recorded. */
function deliver(store: SqliteStore, p: { id: number; chatId: string; stanzaId: string }, now: number): Promise<unknown> {
  const teamsMessageId = String(++nextMessageId);
  return Promise.all([store.markOutboundDelivered(p.id, teamsMessageId, now), store.recordRelayed({ chatId: p.chatId, teamsMessageId, direction: 'xmpp_to_teams', xmppId: p.stanzaId }, now)]);
}

/** XMPP -> Teams: accept a batch into the outbox while the previous batch is delivered. */
async function xmppToTeams(store: SqliteStore, messages: number): Promise<void> {
  let previous: { id: number; chatId: string; stanzaId: string }[] = [];
  for (let done = 0; done < messages; done += BATCH) {
    const now = Date.now();
    const accepting = Array.from({ length: BATCH }, (_, i) => {
      const stanzaId = randomBytes(8).toString('hex');
      const key = { teamsUserId: `user-${i % CHATS}`, remoteJid: `juliet${i % CHATS}@xmpp.example` };
      return store.enqueueOutbound({ ...key, dedupKey: `${key.teamsUserId}|${key.remoteJid}|${stanzaId}`, sender: `${key.remoteJid}/phone`, stanzaId, receiptRequested: true, body: `message ${done + i}: a line of text as people write them` }, now);
    });
    const delivering = previous.map((p) => deliver(store, p, now));
    const [accepted] = await Promise.all([Promise.all(accepting), ...delivering]);
    previous = accepted.map((a, i) => ({ id: a.row.id, chatId: chats[i % CHATS] as string, stanzaId: a.row.stanzaId ?? '' }));
  }
  await Promise.all(previous.map((p) => deliver(store, p, Date.now())));
}

interface Figures {
  readonly cpuMs: number;
  readonly kib: number | undefined;
}

async function measure(dir: string, pageSize: number, run: (s: SqliteStore, n: number) => Promise<void>, messages: number): Promise<Figures> {
  const store = storeWithPages(dir, pageSize);
  await run(store, 2000); // warm-up: statements prepared, code optimised
  const cpu0 = process.cpuUsage();
  const bytes0 = writtenBytes();
  await run(store, messages);
  const cpu = process.cpuUsage(cpu0);
  const bytes = writtenBytes();
  await store.close();
  return { cpuMs: (cpu.user + cpu.system) / 1000 / messages, kib: bytes !== undefined && bytes0 !== undefined ? (bytes - bytes0) / 1024 / messages : undefined };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '16000' }, rounds: { type: 'string', default: '3' } } });
  const messages = Number(values.messages);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(messages) || messages <= 0 || !Number.isInteger(rounds) || rounds <= 0) {
    console.error('usage: node dist/bench/store-pages.bench.js [--messages 16000] [--rounds 3]');
    process.exit(2);
  }
  console.log(`store writes by page size (SQLite, synchronous FULL, group commit; ${messages} messages each way, ${rounds} rounds alternated; new files use ${NEW_FILE_PAGE_SIZE / 1024} KiB):`);
  for (const [direction, run] of [
    ['Teams -> XMPP (inbox row with encrypted content, done, relayed id)', teamsToXmpp],
    ['XMPP -> Teams (outbox row, delivered, relayed id)', xmppToTeams],
  ] as const) {
    const results = new Map<number, Figures[]>(PAGE_SIZES.map((p) => [p, []]));
    for (let r = 0; r < rounds; r++) {
      for (const pageSize of PAGE_SIZES) {
        const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'xtg-bench-pages-'));
        try {
          results.get(pageSize)?.push(await measure(dir, pageSize, run, messages));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
    console.log(`  ${direction}:`);
    for (const [pageSize, figures] of results) {
      const kib = figures.map((f) => f.kib).filter((k): k is number => k !== undefined);
      console.log(
        `    ${String(pageSize / 1024).padStart(2)} KiB pages: CPU ${median(figures.map((f) => f.cpuMs)).toFixed(3)} ms/message ` +
          `(${figures.map((f) => f.cpuMs.toFixed(3)).join(', ')})` +
          (kib.length ? `, written ${median(kib).toFixed(1)} KiB/message` : ''),
      );
    }
  }
}

await main();
