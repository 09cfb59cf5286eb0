import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { ActivitySummary } from '../../src/observability/activity-summary.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';

describe('ActivitySummary', () => {
  it('logs at info the counts since the last summary, and nothing for a quiet period', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.messagesRelayed.inc({ direction: 'xmpp_to_teams' }, 5); // before the first period: not counted
    const summary = new ActivitySummary(metrics, createLogger({ level: 'info', nodeId: 'n', stream }), 3_600_000);
    summary.start();
    await new Promise((r) => setImmediate(r));
    metrics.messagesRelayed.inc({ direction: 'xmpp_to_teams' }, 3);
    metrics.messagesRelayed.inc({ direction: 'teams_to_xmpp' });
    metrics.stanzaErrors.inc({ condition: 'resource-constraint' }, 2);
    await summary.summarize();
    await summary.summarize(); // quiet
    await summary.stop();
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 1);
    assert.deepEqual(
      [lines[0]?.level, lines[0]?.message, lines[0]?.['relayed.xmpp_to_teams'], lines[0]?.['relayed.teams_to_xmpp'], lines[0]?.['stanzaErrors.resource-constraint']],
      ['info', 'activity since the last summary', 3, 1, 2],
    );
  });
});
