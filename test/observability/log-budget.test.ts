/** Log lines about refused input are bounded per window, and what was left out is summed up (issue 12). */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { LogBudget } from '../../src/observability/log-budget.js';
import { createLogger } from '../../src/observability/logger.js';

describe('log budget', () => {
  it('writes at most `lines` per window, then one summary line with the count left out', () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', nodeId: 't', stream: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }) });
    let now = 0;
    const budget = new LogBudget(log, 3, 1_000, () => now);
    for (let i = 0; i < 100; i++) budget.info('stanza refused', { i });
    assert.equal(lines.length, 3);
    now = 1_000;
    budget.info('stanza refused', { i: 100 });
    assert.deepEqual(lines.slice(3).map((l) => [l.message, l.suppressed]), [['log lines about refused input left out', 97], ['stanza refused', undefined]]);
  });
});
