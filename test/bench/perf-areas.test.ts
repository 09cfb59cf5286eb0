import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { areaOf, RICH_NOTIFICATIONS, threadRole } from '../../bench/relay/perf-areas.js';

// Frames as `perf script -F ip,sym,dso` prints them, leaf first.
const frame = (sym: string, dso = '/usr/bin/node') => `1f2e3d ${sym} (${dso})`;

describe('relay benchmark: where a perf sample of a node went', () => {
  const table: [string, string[], string][] = [
    [
      'the RSA step of a notification, under the decrypting thread',
      [frame('ossl_rsaz_amm52x20_x2_256'), frame('rsa_ossl_private_decrypt'), frame('node::crypto::PublicKeyCipher::Cipher<(node::crypto::PublicKeyCipher::Operation)1, &EVP_PKEY_decrypt_init, &EVP_PKEY_decrypt>'), frame('JS:*decryptResourceText file:///x/dist/src/teams/rich-notifications.js:87:36', '/tmp/perf-1.map')],
      RICH_NOTIFICATIONS,
    ],
    ['a stack perf cut short inside the RSA step', [frame('__bn_sqrx8x_reduction')], RICH_NOTIFICATIONS],
    ['AES of a notification (OpenSSL, yet rich notifications)', [frame('aesni_cbc_encrypt'), frame('EVP_DecryptUpdate'), frame('JS:*decryptResourceText file:///x/dist/src/teams/rich-notifications.js:87:36', '/tmp/perf-1.map')], RICH_NOTIFICATIONS],
    ['AES of a TLS record', [frame('aesni_gcm_encrypt'), frame('node::crypto::TLSWrap::ClearIn')], 'TLS (OpenSSL)'],
    ['a commit on the writer thread', [frame('sqlite3VdbeExec', '/x/better_sqlite3.node'), frame('JS:*runBatch file:///x/dist/src/store/sqlite/writes.js:175:10', '/tmp/perf-1.map')], 'store writer thread (SQLite, fsync)'],
    ['a system call counts for the area that made it', [frame('[k] do_syscall_64', '[kernel.kallsyms]'), frame('JS:*send file:///x/node_modules/@xmpp/connection/index.js:1:1', '/tmp/perf-1.map')], 'XMPP link (xmpp.js, ltx)'],
    ['nothing known', [frame('memcpy', '/lib/libc.so.6')], 'other'],
  ];
  for (const [what, frames, area] of table) it(what, () => assert.equal(areaOf(frames), area));
});

describe('relay benchmark: what a thread of a node is', () => {
  const areas = (entries: [string, number][]) => new Map(entries);
  const table: [string, boolean, Map<string, number>, string][] = [
    ['the process’s first thread', true, areas([[RICH_NOTIFICATIONS, 90]]), 'event loop'],
    ['mostly decrypting', false, areas([[RICH_NOTIFICATIONS, 95], ['other', 5]]), 'decrypting thread'],
    ['mostly SQLite', false, areas([['store writer thread (SQLite, fsync)', 80], ['other', 20]]), 'SQLite writer thread'],
    ['compiler and collector', false, areas([['JIT compiler threads', 30], ['garbage collector', 30], ['other', 40]]), "V8's threads (compiler, garbage collector)"],
    ['none of those', false, areas([['other', 10], ['HTTP (node:http, https)', 10]]), 'other threads'],
  ];
  for (const [what, main, a, role] of table) it(what, () => assert.equal(threadRole(main, a), role));
});
