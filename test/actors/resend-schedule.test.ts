import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readResend, resendNotification } from '../../src/actors/user-pair/resend-schedule.js';

describe('resend schedule (a returned Teams message kept in the inbox)', () => {
  const r = { key: { teamsUserId: 'u-1', remoteJid: 'benvolio@partner.example' }, chatId: '19:a_b@unq.gbl.spaces', messageId: '1700000000001', bounces: 2 };

  it('reads back what it wrote', () => {
    const n = resendNotification(r, 1_000);
    assert.equal(n.kind, 'resend');
    assert.deepEqual(readResend(n), r);
  });

  it('gives each bounce its own dedup key, so a later one is not taken for a duplicate', () => {
    assert.notEqual(resendNotification(r, 1_000).dedupKey, resendNotification(r, 2_000).dedupKey);
    assert.notEqual(resendNotification(r, 1_000).dedupKey, resendNotification({ ...r, bounces: 3 }, 1_000).dedupKey);
  });

  it('refuses rows that are not resends or are damaged', () => {
    const n = resendNotification(r, 1_000);
    const table: [string, Parameters<typeof readResend>[0]][] = [
      ['a Graph notification', { ...n, kind: 'chatMessage' }],
      ['no detail', { ...n, detail: undefined }],
      ['not JSON', { ...n, detail: '{"teamsUserId":' }],
      ['JSON null', { ...n, detail: 'null' }],
      ['a field of the wrong type', { ...n, detail: JSON.stringify({ teamsUserId: 'u-1', remoteJid: 'x@y', bounces: '2' }) }],
      ['not a chat message resource', { ...n, resource: 'users/u-1/presence' }],
    ];
    for (const [what, row] of table) assert.equal(readResend(row), undefined, what);
  });
});
