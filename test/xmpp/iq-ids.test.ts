/** iq ids (issue 12 findings 1 and 7): unguessable, and recognisable by the cluster that issued them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IqIds } from '../../src/xmpp/iq-ids.js';

describe('iq ids', () => {
  it('carry 128 random bits: no two alike, nothing sequential', () => {
    const ids = IqIds.random();
    const seen = Array.from({ length: 1_000 }, () => ids.issue());
    assert.equal(new Set(seen).size, seen.length);
    for (const id of seen) assert.match(id, /^xtg-[A-Za-z0-9_-]{34}$/u);
    // Consecutive ids share no more than a chance prefix after "xtg-".
    const common = (a: string, b: string) => [...a].findIndex((c, i) => c !== b[i]);
    assert.ok(seen.slice(1).every((id, i) => common(id, seen[i] as string) < 8));
  });

  it('are recognised by every node sharing the cluster secret, and by no one else', () => {
    const a = IqIds.fromSecret('cluster-secret');
    const b = IqIds.fromSecret('cluster-secret');
    const other = IqIds.fromSecret('another-secret');
    const id = a.issue();
    assert.equal(b.verify(id), true);
    assert.equal(other.verify(id), false);
    assert.equal(b.verify(`${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`), false);
    for (const forged of ['xtg-guess-1', 'xtg-1a2b3c4d-mx4b9h7p-301', '', 'x'.repeat(10_000)]) assert.equal(b.verify(forged), false);
  });
});
