/** The licence's maxRemoteDomains caps the domain whitelist (issue 5: optional limits per domain). */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { PolicyChangeError, PolicyService } from '../../src/policy/policy-service.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const lines: string[] = [];
const log = createLogger({ level: 'error', nodeId: 't', stream: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });

describe('remote domains under a licence limit', () => {
  const store = SqliteStore.open(':memory:');
  const service = (domains: string[]) =>
    new PolicyService({
      config: { domains, users: ['*'], groups: [], pairing: [], groupRefreshSeconds: 300, reloadSeconds: 10 },
      store,
      teams: { groupMemberIds: async () => [] },
      log,
    });
  after(async () => store.close());

  it('refuses a run-time domain beyond the limit, with the reason', async () => {
    const p = service(['a.example']);
    await p.reload();
    p.setDomainLimit(2);
    assert.equal(await p.change('add', 'domain', 'b.example', 'ops'), true);
    await assert.rejects(p.change('add', 'domain', 'c.example', 'ops'), (err: unknown) => err instanceof PolicyChangeError && /licence allows 2 remote domain rules/u.test(err.message));
    assert.equal(p.domainAllowed('b.example'), true);
    assert.equal(p.domainAllowed('c.example'), false);
    // Re-adding one already listed is not a new domain.
    assert.equal(await p.change('add', 'domain', 'b.example', 'ops'), false);
  });

  it('applies only the first rules when more are configured than the licence allows, and says so', async () => {
    const p = service(['a.example', '*.b.example', 'c.example']);
    await p.reload(); // the store still holds b.example from the test above
    p.setDomainLimit(2);
    assert.equal(p.domainAllowed('a.example'), true);
    assert.equal(p.domainAllowed('x.b.example'), true);
    assert.equal(p.domainAllowed('c.example'), false);
    assert.ok(lines.some((l) => l.includes('more remote domain rules than the licence allows')));
    // The lists are re-read every few seconds: the error is written again only when what is ignored changes.
    const count = () => lines.filter((l) => l.includes('more remote domain rules than the licence allows')).length;
    const before = count();
    for (let i = 0; i < 5; i++) await p.reload();
    assert.equal(count(), before);
    p.setDomainLimit(undefined);
    assert.equal(p.domainAllowed('c.example'), true, 'without a limit every rule applies');
  });
});
