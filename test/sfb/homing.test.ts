/** Homing by lookup (issue 17): reading the pool's answer, and the bounded, shared, budgeted cache of lookups. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { homingOf, type FetchAnswer, type Homing } from '../../src/sfb/protocol/homing.js';
import { HomingLookups, SfbLookupFailedError } from '../../src/sfb/homing-lookups.js';
import { SfbDirectory } from '../../src/sfb/sfb-directory.js';
import { LookupRefusedError, type LookupPayer } from '../../src/teams/directory.js';

const POOL = ['pool01.contoso.example', '*.fe.contoso.example'];
const diag = (code: number) => `${code};reason="r";source="fe01.contoso.example"`;

describe("what the pool's answer to a presence fetch says about homing", () => {
  const table: [string, FetchAnswer, Homing['home'], string?][] = [
    ['200 from the pool', { status: 200, contact: '<sip:pool01.contoso.example:5061;transport=tls>', diagnostics: undefined }, 'sfb'],
    ['200 from a Front End (wildcard)', { status: 200, contact: '<sip:fe01.fe.contoso.example;transport=tls>', diagnostics: undefined }, 'sfb'],
    ['200 from beyond the pool (routed to the hosting provider)', { status: 200, contact: '<sip:sipfed.online.lync.com:5061;transport=tls>', diagnostics: undefined }, 'elsewhere', 'routed-on'],
    ['200 naming a look-alike host', { status: 200, contact: '<sip:pool01.contoso.example.evil.example>', diagnostics: undefined }, 'elsewhere', 'routed-on'],
    ['200 without Contact', { status: 200, contact: undefined, diagnostics: undefined }, 'unknown'],
    ['404 with 4005', { status: 404, contact: undefined, diagnostics: diag(4005) }, 'elsewhere', 'no-such-user'],
    ['404 alone', { status: 404, contact: undefined, diagnostics: undefined }, 'elsewhere', 'no-such-user'],
    ['604', { status: 604, contact: undefined, diagnostics: undefined }, 'elsewhere', 'no-such-user'],
    ['480 with 1003 (user does not exist)', { status: 480, contact: undefined, diagnostics: diag(1003) }, 'elsewhere', 'no-such-user'],
    ['480 alone: nothing known', { status: 480, contact: undefined, diagnostics: undefined }, 'unknown'],
    ['503: nothing known', { status: 503, contact: undefined, diagnostics: undefined }, 'unknown'],
    ['504 with 1007 (temporarily cannot route)', { status: 504, contact: undefined, diagnostics: diag(1007) }, 'unknown'],
    ['408 (transaction timeout)', { status: 408, contact: undefined, diagnostics: undefined }, 'unknown'],
    ['403 (policy)', { status: 403, contact: undefined, diagnostics: diag(1002) }, 'unknown'],
  ];
  for (const [what, answer, home, why] of table) {
    it(`${what} -> ${home}${why ? ` (${why})` : ''}`, () => {
      const h = homingOf(answer, POOL);
      assert.equal(h.home, home);
      if (why) assert.equal('why' in h ? h.why : undefined, why);
    });
  }
});

const payer = (sender = 'juliet@xmpp.example'): LookupPayer => ({ sender, domain: 'xmpp.example' });

/** A scripted pool: answers per address, counted; `hold` keeps answers back until released. */
function pool(answers: Record<string, Homing | 'throw' | 'hang'>) {
  const asked: string[] = [];
  let release: () => void = () => undefined;
  let held: Promise<void> | undefined;
  return {
    asked,
    hold() {
      held = new Promise((r) => (release = r));
    },
    release: () => release(),
    probe: async (aor: string): Promise<Homing> => {
      asked.push(aor);
      if (held) await held;
      const a = answers[aor] ?? { home: 'elsewhere', why: 'no-such-user' };
      if (a === 'throw') throw new Error('connection refused');
      if (a === 'hang') return new Promise(() => undefined);
      return a;
    },
  };
}

function lookups(p: ReturnType<typeof pool>, o: { budget?: number; now?: () => number; maxEntries?: number; timeoutMs?: number } = {}) {
  let left = o.budget ?? Infinity;
  return new HomingLookups({
    probe: p.probe,
    budget: { admit: async () => left-- > 0 },
    positiveTtlMs: 1000,
    negativeTtlMs: 500,
    timeoutMs: o.timeoutMs ?? 200,
    maxEntries: o.maxEntries ?? 100,
    ...(o.now ? { now: o.now } : {}),
  });
}

describe('homing lookups: cached, shared, paid, bounded', () => {
  it('remembers both answers for their own lifetimes', async () => {
    let t = 0;
    const p = pool({ 'sip:carol@contoso.example': { home: 'sfb' } });
    const l = lookups(p, { now: () => t });
    assert.equal(await l.isOnSfb('sip:carol@contoso.example', payer()), true);
    assert.equal(await l.isOnSfb('sip:alice@contoso.example', payer()), false);
    t = 400;
    await l.isOnSfb('sip:carol@contoso.example', payer());
    await l.isOnSfb('sip:alice@contoso.example', payer());
    assert.deepEqual(p.asked, ['sip:carol@contoso.example', 'sip:alice@contoso.example'], 'both cached');
    t = 600; // past the negative lifetime, within the positive one
    await l.isOnSfb('sip:carol@contoso.example', payer());
    await l.isOnSfb('sip:alice@contoso.example', payer());
    assert.equal(p.asked.length, 3, '"not on SfB" asked again, "on SfB" still known');
    t = 1100;
    await l.isOnSfb('sip:carol@contoso.example', payer());
    assert.equal(p.asked.length, 4);
  });

  it('concurrent lookups of one address share one request, and one payment', async () => {
    const p = pool({ 'sip:carol@contoso.example': { home: 'sfb' } });
    const l = lookups(p, { budget: 1 });
    p.hold();
    const all = Promise.all([1, 2, 3].map((n) => l.isOnSfb('sip:carol@contoso.example', payer(`u${n}@xmpp.example`))));
    await new Promise((r) => setTimeout(r, 10));
    p.release();
    assert.deepEqual(await all, [true, true, true]);
    assert.equal(p.asked.length, 1);
  });

  it("one sender over budget does not refuse the others asking for the same address at once", async () => {
    const p = pool({ 'sip:carol@contoso.example': { home: 'sfb' } });
    const l = new HomingLookups({ probe: p.probe, budget: { admit: async (who) => who.sender !== 'mallory@xmpp.example' }, positiveTtlMs: 1000, negativeTtlMs: 500, timeoutMs: 200, maxEntries: 100 });
    const [m, j] = await Promise.allSettled([l.isOnSfb('sip:carol@contoso.example', payer('mallory@xmpp.example')), l.isOnSfb('sip:carol@contoso.example', payer())]);
    assert.ok(m.status === 'rejected' && m.reason instanceof LookupRefusedError);
    assert.deepEqual(j, { status: 'fulfilled', value: true });
    assert.equal(p.asked.length, 1);
  });

  it('a spent budget refuses before the pool is asked', async () => {
    const p = pool({});
    const l = lookups(p, { budget: 1 });
    await l.isOnSfb('sip:a@contoso.example', payer());
    await assert.rejects(l.isOnSfb('sip:b@contoso.example', payer()), LookupRefusedError);
    assert.equal(p.asked.length, 1);
    assert.equal(await l.isOnSfb('sip:a@contoso.example', payer()), false, 'a cached answer costs nothing');
  });

  it('a timeout or a failure is an error, never remembered: the next lookup asks again and succeeds', async () => {
    const answers: Record<string, Homing | 'throw' | 'hang'> = { 'sip:carol@contoso.example': 'hang', 'sip:dan@contoso.example': 'throw' };
    const p = pool(answers);
    const l = lookups(p, { timeoutMs: 50 });
    await assert.rejects(l.isOnSfb('sip:carol@contoso.example', payer()), SfbLookupFailedError);
    await assert.rejects(l.isOnSfb('sip:dan@contoso.example', payer()), SfbLookupFailedError);
    answers['sip:carol@contoso.example'] = { home: 'sfb' };
    answers['sip:dan@contoso.example'] = { home: 'unknown', why: 'the pool answered 503' };
    assert.equal(await l.isOnSfb('sip:carol@contoso.example', payer()), true);
    await assert.rejects(l.isOnSfb('sip:dan@contoso.example', payer()), /503/u);
    assert.equal(l.known('sip:dan@contoso.example'), undefined);
  });

  it('the cache is bounded: the oldest address goes first', async () => {
    const p = pool({});
    const l = lookups(p, { maxEntries: 100 });
    for (let i = 0; i < 250; i++) await l.isOnSfb(`sip:u${i}@contoso.example`, payer());
    assert.equal(l.size, 100);
    assert.equal(l.known('sip:u0@contoso.example'), undefined);
    assert.equal(l.known('sip:u249@contoso.example'), false);
  });
});

describe('the directory with a lookup domain', () => {
  const make = (p: ReturnType<typeof pool>) => {
    const l = lookups(p);
    return { l, d: new SfbDirectory({ domains: ['legacy.example'], users: [], lookupDomains: ['contoso.example'], defaultDomain: 'contoso.example', componentDomain: 'gw.xmpp.example' }, l) };
  };

  it('asks the pool for its users only, and sends the others to Teams', async () => {
    const p = pool({ 'sip:carol@contoso.example': { home: 'sfb' } });
    const { d } = make(p);
    assert.equal(await d.homeOf('carol', payer()), 'sip:carol@contoso.example');
    assert.equal(await d.homeOf('alice.smith', payer()), undefined);
    assert.equal(await d.homeOf('dan\\40legacy.example', payer()), 'sip:dan@legacy.example');
    assert.equal(await d.homeOf('dave\\40fabrikam.example', payer()), undefined);
    assert.deepEqual(p.asked, ['sip:carol@contoso.example', 'sip:alice.smith@contoso.example']);
  });

  it('without a payer nothing is asked: only what is known counts', async () => {
    const p = pool({ 'sip:carol@contoso.example': { home: 'sfb' } });
    const { d } = make(p);
    assert.equal(await d.homeOf('carol'), undefined);
    assert.equal(p.asked.length, 0);
  });

  it('a request from the pool proves she is homed there', async () => {
    const p = pool({});
    const { d } = make(p);
    assert.equal(d.acceptsFrom('sip:Erin@Contoso.example'), true);
    assert.equal(await d.homeOf('erin'), 'sip:erin@contoso.example');
    assert.equal(await d.homeOf('erin', payer()), 'sip:erin@contoso.example');
    assert.equal(p.asked.length, 0);
    assert.equal(d.acceptsFrom('sip:mallory@fabrikam.example'), false);
    assert.equal(d.isSfbAddress('sip:alice.smith@contoso.example'), true, 'an address of a lookup domain is never an XMPP user');
  });
});
