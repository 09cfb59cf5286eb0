import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { line, summary, unwrapsPerMessage, type Direction } from '../../bench/relay/report.js';

const run = (cpuMsPerMessage: number, rsaUnwrapMs: number, unwraps: number): Direction => ({
  rate: 1500,
  seconds: 10,
  cpuMsPerMessage,
  failed: 0,
  harnessLoad: 0.5,
  xmppServerLoad: 0.25,
  machineBusyCores: 1.9,
  machineCores: 2,
  rsaUnwrapMs,
  unwrapsPerMessage: unwraps,
});

describe('relay benchmark report: the RSA unwraps in a run', () => {
  it('counts every decryption outcome of the nodes as an unwrap, per message of the run', () => {
    const before = new Map([['decrypted decrypted', 100], ['store markNotificationDone', 100]]);
    const after = new Map([['decrypted decrypted', 1050], ['decrypted old_certificate', 50], ['store markNotificationDone', 1100]]);
    assert.equal(unwrapsPerMessage(before, after, 1000), 1);
  });

  it('prints the CPU beyond the unwraps, each at what one cost just before its run', () => {
    const l = line('Teams -> XMPP', run(0.7, 0.3, 1));
    assert.match(l, /1\.00 RSA unwraps a message at 0\.30 ms each .*: 0\.40 ms\/message beyond them/u);
    const s = summary('Teams -> XMPP', [run(0.7, 0.3, 1), run(0.8, 0.35, 1), run(0.75, 0.4, 1)]);
    assert.match(s, /gateway CPU 0\.75 \(0\.70–0\.80\) ms\/message, 0\.40 \(0\.35–0\.45\) beyond its RSA unwraps \(one cost 0\.35 \(0\.30–0\.40\) ms here\)/u);
  });

  it('says nothing of unwraps for a run that decrypted nothing (XMPP -> Teams on one node)', () => {
    assert.doesNotMatch(line('XMPP -> Teams', run(0.5, 0.3, 0)), /RSA/u);
    assert.doesNotMatch(summary('XMPP -> Teams', [run(0.5, 0.3, 0), run(0.45, 0.3, 0)]), /RSA/u);
  });
});
