import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { StoreError } from '../../src/store/store.js';
import { defineStoreContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'xtg-sqlite-'));
let n = 0;
defineStoreContract('SQLite', async () => SqliteStore.open(join(dir, `contract-${++n}.sqlite`)));
defineStoreContract('SQLite with group commit', async () => SqliteStore.open(join(dir, `contract-${++n}.sqlite`), { groupCommit: true }));

describe('SQLite store specifics', () => {
  it('is shared by two connections (two node processes on one host) in WAL mode', async () => {
    const file = join(dir, 'shared.sqlite');
    const a = SqliteStore.open(file);
    const b = SqliteStore.open(file);
    await a.putPuppet({ remoteJid: 'x@y', userId: 'u', upn: 'x@p' });
    assert.equal((await b.getPuppet('x@y'))?.userId, 'u');
    await a.close();
    await b.close();
  });

  it('makes a new file with 8 KiB pages, and opens a file made with other pages as it is, its rows intact', async () => {
    const fresh = join(dir, 'pages-new.sqlite');
    const a = SqliteStore.open(fresh);
    await a.putPuppet({ remoteJid: 'x@y', userId: 'u', upn: 'x@p' });
    await a.close();
    const pageSize = (file: string) => {
      const db = new Database(file, { readonly: true });
      try {
        return db.pragma('page_size', { simple: true });
      } finally {
        db.close();
      }
    };
    assert.equal(pageSize(fresh), 8192);
    // A file from an earlier version (4 KiB pages, WAL) keeps its pages: SQLite cannot change them in WAL mode.
    const old = join(dir, 'pages-old.sqlite');
    const made = new Database(old);
    made.pragma('page_size = 4096');
    made.pragma('journal_mode = WAL');
    made.close();
    const b = SqliteStore.open(old);
    await b.putPuppet({ remoteJid: 'x@y', userId: 'u', upn: 'x@p' });
    await b.close();
    const c = SqliteStore.open(old);
    assert.equal((await c.getPuppet('x@y'))?.userId, 'u');
    await c.close();
    assert.equal(pageSize(old), 4096);
  });

  it('migrates once when several processes open a new file at the same time', async () => {
    const file = join(dir, 'race.sqlite');
    const module = fileURLToPath(new URL('../../src/store/sqlite-store.js', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then(async (m) => { const s = m.SqliteStore.open(${JSON.stringify(file)}); console.log(await s.schemaVersion()); await s.close(); })`;
    const runs = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (out += d.toString()));
        c.on('exit', (code) => resolve({ code, out }));
      })),
    );
    for (const r of runs) assert.deepEqual([r.code, r.out.trim()], [0, String(MIGRATIONS.at(-1)?.version)]);
    const db = new Database(file, { readonly: true });
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), MIGRATIONS.map((m) => ({ version: m.version })));
    db.close();
  });

  it('keeps no rich notification content once the notification is processed (data minimisation)', async () => {
    const file = join(dir, 'minimise.sqlite');
    const s = SqliteStore.open(file);
    const detail = JSON.stringify({ data: 'ciphertext of a chat message', dataKey: 'k', encryptionCertificateId: 'c' });
    await s.recordNotification({ dedupKey: 'n1', kind: 'chatMessage', subscriptionId: 'sub', resource: "chats('c')/messages('m')", changeType: 'created', detail }, 100);
    const [row] = await s.dueNotifications(200, 10);
    assert.ok(row);
    assert.equal(row.detail, detail, 'kept until processed');
    await s.markNotificationDone(row.id, 300);
    await s.close();
    const db = new Database(file, { readonly: true });
    assert.deepEqual(db.prepare("SELECT dedup_key, state, detail FROM inbox").all(), [{ dedup_key: 'n1', state: 'delivered', detail: null }]);
    db.close();
  });

  it('a store written before tenants (schema 6, with rows) migrates to the tenant "default" with its rows unchanged (issue 16)', async () => {
    const file = join(dir, 'single-tenant-v6.sqlite');
    const old = new Database(file);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.filter((x) => x.version <= 6)) {
      old.exec(m.sqlite);
      old.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, 1);
    }
    old.prepare('INSERT INTO puppets (remote_jid, user_id, upn, created_at) VALUES (?, ?, ?, 1)').run('juliet@xmpp.example', 'p-1', 'juliet@p.example');
    old.close();
    const s = SqliteStore.open(file);
    assert.deepEqual(await s.getPuppet('juliet@xmpp.example'), { remoteJid: 'juliet@xmpp.example', userId: 'p-1', upn: 'juliet@p.example' });
    assert.equal(await s.claimTenant('contoso'), 'default', 'the old rows stay the single-tenant layout\'s');
    await s.close();
  });

  it('fails with a clear error on a file that is not a database', () => {
    const file = join(dir, 'garbage.sqlite');
    writeFileSync(file, 'not a database '.repeat(1000));
    assert.throws(() => SqliteStore.open(file), (err: unknown) => err instanceof StoreError && /garbage\.sqlite: file is not a database \(the file is damaged or not a gateway database\)/u.test(err.message));
  });

  it('fails with a clear error on a corrupted database', async () => {
    const file = join(dir, 'corrupt.sqlite');
    const s = SqliteStore.open(file);
    await s.close(); // the writer thread lets go of the file too
    const db = new Database(file);
    db.pragma('journal_mode = DELETE');
    db.close();
    // Overwrite pages after the header: the schema is unreadable.
    const bytes = Buffer.alloc(8192, 0x41);
    writeFileSync(file, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(84, 0), bytes]));
    assert.throws(() => SqliteStore.open(file), (err: unknown) => err instanceof StoreError && /corrupt\.sqlite/u.test(err.message) && /(malformed|corrupt|not a database)/u.test(err.message));
  });

  it('fails with a clear error when another process holds the write lock too long', () => {
    const file = join(dir, 'locked.sqlite');
    const holder = new Database(file);
    holder.exec('CREATE TABLE t (x)');
    holder.exec('BEGIN EXCLUSIVE');
    try {
      assert.throws(() => SqliteStore.open(file, { busyTimeoutMs: 200 }), (err: unknown) => err instanceof StoreError && /locked\.sqlite: the database is locked by another process for more than 200 ms/u.test(err.message));
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  });

  it('group commit: concurrent enqueues share a transaction and still dedup within the batch', async () => {
    const s = SqliteStore.open(join(dir, 'group.sqlite'), { groupCommit: true });
    const m = (i: number, dedupKey?: string) => ({ teamsUserId: 'u', remoteJid: 'j@x', dedupKey, sender: 'j@x/r', stanzaId: `s${i}`, receiptRequested: false, body: `b${i}` });
    const results = await Promise.all([s.enqueueOutbound(m(1, 'same'), 1), s.enqueueOutbound(m(2, 'same'), 1), ...Array.from({ length: 50 }, (_, i) => s.enqueueOutbound(m(i + 3), 1))]);
    assert.deepEqual([results[0]?.inserted, results[1]?.inserted], [true, false]);
    assert.equal(results[1]?.row.id, results[0]?.row.id);
    assert.equal((await s.pendingOutbound({ teamsUserId: 'u', remoteJid: 'j@x' })).length, 51);
    await s.close();
  });

  it('group commit: one failing write of a batch fails alone, with an error naming it', async () => {
    const s = SqliteStore.open(join(dir, 'batch-failure.sqlite'));
    const m = (i: number) => ({ teamsUserId: 'u', remoteJid: 'j@x', dedupKey: undefined, sender: 'j@x/r', stanzaId: `s${i}`, receiptRequested: false, body: `b${i}` });
    const bad = { ...m(2), sender: null as unknown as string }; // outbox.sender is NOT NULL
    const [a, b, c] = await Promise.allSettled([s.enqueueOutbound(m(1), 1), s.enqueueOutbound(bad, 1), s.enqueueOutbound(m(3), 1)]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(c.status, 'fulfilled');
    assert.ok(b.status === 'rejected' && b.reason instanceof StoreError && /enqueueOutbound failed: NOT NULL constraint failed: outbox\.sender/u.test(b.reason.message), String(b.status === 'rejected' ? b.reason : b.status));
    assert.deepEqual((await s.pendingOutbound({ teamsUserId: 'u', remoteJid: 'j@x' })).map((r) => r.stanzaId), ['s1', 's3']);
    await s.close();
  });

  it('keeps bodies after delivery only when configured', async () => {
    const keep = SqliteStore.open(join(dir, 'keep.sqlite'), { keepBodies: true });
    const { row } = await keep.enqueueOutbound({ teamsUserId: 'u', remoteJid: 'j@x', dedupKey: 'd', sender: 'j@x/r', stanzaId: 's', receiptRequested: false, body: 'kept' }, 1);
    await keep.markOutboundDelivered(row.id, 'tm', 2);
    assert.equal((await keep.enqueueOutbound({ teamsUserId: 'u', remoteJid: 'j@x', dedupKey: 'd', sender: 'j@x/r', stanzaId: 's', receiptRequested: false, body: 'kept' }, 3)).row.body, 'kept');
    await keep.close();
  });
});
