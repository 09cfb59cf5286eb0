/**
 * Operations (issue 7) on one cluster node: /readyz goes not-ready with a reason when Redis or the XMPP server
 * stops, and ready again when it returns, while /healthz (liveness) stays 200; the log level changes at run time
 * through the admin API and the change is audit-logged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Federation, eventually } from '../support/federation.js';

describe('operations: readiness, liveness and run-time log level', { timeout: 180_000 }, () => {
  let f: Federation;
  const ready = async () => f.gateway.health('/readyz');

  before(async () => {
    f = await Federation.start({ redis: true, adminToken: 'ops-token' });
  });
  after(async () => f?.stop());

  it('is ready with every check passing', async () => {
    const r = await ready();
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.checks, { xmpp: true, store: true, graph: true, redis: true, licence: true });
  });

  it('goes not ready when Redis stops, says why, and is ready again when Redis returns', async () => {
    await f.stopRedis();
    const down = await eventually(async () => {
      const r = await ready();
      return r.status === 503 && (r.body.problems as Record<string, string> | undefined)?.redis ? r : undefined;
    }, 15_000, '/readyz 503 naming redis');
    assert.equal((down.body.checks as Record<string, boolean>).redis, false);
    assert.equal((await f.gateway.health('/healthz')).status, 200, 'still alive');
    await f.startRedis();
    await eventually(async () => ((await ready()).status === 200 ? true : undefined), 20_000, '/readyz 200 after Redis returned');
  });

  it('goes not ready when the XMPP server stops, and ready again when it returns', async () => {
    await f.stopProsody();
    const down = await eventually(async () => {
      const r = await ready();
      return r.status === 503 ? r : undefined;
    }, 15_000, '/readyz 503 naming xmpp');
    assert.match(String((down.body.problems as Record<string, string>).xmpp), /XMPP component link/u);
    await f.startProsody();
    await eventually(async () => ((await ready()).status === 200 ? true : undefined), 30_000, '/readyz 200 after Prosody returned');
    // And the link works again end to end.
    const juliet = await f.client('juliet');
    await juliet.sendPresence();
  });

  it('changes the log level at run time through the admin API, audit-logged', async () => {
    const api = (method: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${f.gateway.adminPort}/admin/log-level`, {
        method,
        headers: { authorization: 'Bearer ops-token', 'content-type': 'application/json', 'x-admin-actor': 'ops-test' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    assert.equal(((await (await api('GET')).json()) as { level: string }).level, 'debug');
    assert.equal((await api('POST', { level: 'loud' })).status, 400);
    const before = f.gateway.lines.length;
    assert.equal((await api('POST', { level: 'warn' })).status, 200);
    await new Promise((r) => setTimeout(r, 1500));
    const after = f.gateway.lines.slice(before);
    assert.ok(after.some((l) => l.message === 'log level changed at run time'));
    assert.ok(!after.some((l) => l.level === 'debug' || l.level === 'info'), 'no debug or info lines after the change');
    const { entries } = (await (await fetch(`http://127.0.0.1:${f.gateway.adminPort}/admin/audit`, { headers: { authorization: 'Bearer ops-token' } })).json()) as {
      entries: { action: string; detail?: string }[];
    };
    assert.ok(entries.some((e) => e.action === 'log-level' && e.detail === 'debug -> warn'));
  });
});
