import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from '../../src/observability/metrics.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { timedStore } from '../../src/store/timed-store.js';

async function counts(metrics: Metrics): Promise<Map<string, number>> {
  const m = await metrics.registry.getSingleMetric('xtg_store_latency_seconds')?.get();
  return new Map((m?.values ?? []).filter((v) => (v as { metricName?: string }).metricName === 'xtg_store_latency_seconds_count').map((v) => [String(v.labels.op), v.value]));
}

describe('timed store', () => {
  it("answers as the store does and times each call under its method's name", async () => {
    const store = SqliteStore.open(':memory:');
    const metrics = new Metrics({ defaultMetrics: false });
    const timed = timedStore(store, metrics);
    await timed.putPuppet({ remoteJid: 'juliet@xmpp.example', userId: 'u-1', upn: 'juliet@partner.example' });
    assert.deepEqual(await timed.getPuppetByUserId('u-1'), await store.getPuppetByUserId('u-1'));
    assert.equal(await timed.getPuppetByUserId('nobody'), undefined);
    await store.close();
    await assert.rejects(timed.findPairByChat('c'));
    const c = await counts(metrics);
    assert.equal(c.get('putPuppet'), 1);
    assert.equal(c.get('getPuppetByUserId'), 2);
    assert.equal(c.get('findPairByChat'), 1, 'a failed call is timed too');
  });
});
