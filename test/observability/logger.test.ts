import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';

describe('logger', () => {
  it('writes lines at or above its level, from child loggers too, and follows a level changed at run time', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const log = createLogger({ level: 'info', nodeId: 'n1', stream });
    const child = log.child({ actorKey: 'k' });
    log.debug('hidden');
    child.debug('hidden too', { body: 'secret text' });
    child.info('shown', { n: 1 });
    log.warn('warned');
    log.level = 'debug';
    child.debug('now shown');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      lines.map((l) => [l.level, l.message, l.actorKey, l.nodeId]),
      [
        ['info', 'shown', 'k', 'n1'],
        ['warn', 'warned', undefined, 'n1'],
        ['debug', 'now shown', 'k', 'n1'],
      ],
    );
  });
});
