import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrame, FrameError, FrameReader } from '../../src/cluster/transport/frames.js';

describe('node-to-node frames', () => {
  it('hands out whole messages however the bytes arrive', () => {
    const messages = [{ t: 'q', id: 1, b: 'héllo 👋' }, { t: 'r', id: 1, r: null }, { big: 'x'.repeat(70_000) }];
    const bytes = Buffer.concat(messages.map(encodeFrame));
    for (const size of [1, 3, 4, 5, 1000, bytes.length]) {
      const reader = new FrameReader(1_000_000);
      const out: unknown[] = [];
      for (let i = 0; i < bytes.length; i += size) out.push(...reader.push(bytes.subarray(i, i + size)));
      assert.deepEqual(out, messages, `chunks of ${size}`);
    }
  });

  it('refuses a frame over the limit and one that is not JSON', () => {
    assert.throws(() => new FrameReader(10).push(encodeFrame({ text: 'more than ten bytes' })), FrameError);
    const bad = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x}')]);
    assert.throws(() => new FrameReader(100).push(bad), (err: unknown) => err instanceof FrameError && /not JSON/u.test(err.message));
  });
});
