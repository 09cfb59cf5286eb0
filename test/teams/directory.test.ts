/**
 * The user lookup as XMPP users drive it (issue 12 findings 4, 6, 11), on the real Graph adapter and the Graph
 * emulator: a crafted address cannot inject into $filter; Graph's answer must be the user asked for; the
 * gateway's own accounts and guests are nobody to XMPP; lookups that reach Graph are paid from a budget.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { escapeLocalpart } from '../../src/protocol/jid.js';
import { puppetUpn } from '../../src/protocol/puppet-identity.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { Directory, LookupRefusedError, type LookupBudget, type LookupPayer } from '../../src/teams/directory.js';
import type { TeamsPort } from '../../src/teams/teams-port.js';
import { startDemoGraph, type DemoGraph } from '../support/demo-graph.js';

const book = { defaultUpnDomain: DEMO.teamsDomain };
const payer: LookupPayer = { sender: 'mallory@partner.example', domain: 'partner.example' };

describe('the user lookup', { timeout: 60_000 }, () => {
  let g: DemoGraph;
  const directory = (o: { budget?: LookupBudget; allowGuests?: boolean; teams?: TeamsPort } = {}) =>
    new Directory({ teams: o.teams ?? g.teams, book, componentDomain: DEMO.componentDomain, puppetUpnDomain: DEMO.puppetDomain, ...o });
  const graphCalls = (since: number) => g.emulator.requests().slice(since).filter((r) => r.path.startsWith('/v1.0/'));

  before(async () => {
    g = await startDemoGraph();
  });
  after(async () => g?.close());

  it('finds a user by localpart, escaped (XEP-0106) or not', async () => {
    const d = directory();
    assert.equal((await d.byLocalpart('alice.smith'))?.upn, 'alice.smith@contoso.example');
    assert.equal((await d.byLocalpart(escapeLocalpart("sean.o'brien")))?.upn, "sean.o'brien@contoso.example");
    assert.equal((await d.byLocalpart(escapeLocalpart('dave@fabrikam.example')))?.upn, 'dave@fabrikam.example');
    assert.equal(await d.byLocalpart('nobody'), undefined);
  });

  it('keeps a crafted "%27" inside the $filter string literal: no yes/no oracle on any attribute', async () => {
    const d = directory();
    const probe = (prefix: string) => escapeLocalpart(`alice.smith@contoso.example%27 and startswith(surname,%27${prefix}%27) and mail eq %27alice.smith@contoso.example`);
    const since = g.emulator.requests().length;
    assert.equal(await d.byLocalpart(probe('Smi')), undefined);
    assert.equal(await d.byLocalpart(probe('Xyz')), undefined);
    const filters = graphCalls(since).map((r) => new URL(r.path, 'https://graph').searchParams.get('$filter'));
    assert.deepEqual(filters, [
      "userPrincipalName eq 'alice.smith@contoso.example%27 and startswith(surname,%27smi%27) and mail eq %27alice.smith@contoso.example'",
      "userPrincipalName eq 'alice.smith@contoso.example%27 and startswith(surname,%27xyz%27) and mail eq %27alice.smith@contoso.example'",
    ]);
  });

  it('answers "no such user" when Graph returns another user than the one asked for', async () => {
    const mismatches: string[] = [];
    const wrong: TeamsPort = Object.create(g.teams, { userByUpn: { value: () => g.teams.userByUpn('alice.smith@contoso.example') } }) as TeamsPort;
    const d = new Directory({ teams: wrong, book, componentDomain: DEMO.componentDomain, puppetUpnDomain: DEMO.puppetDomain, onMismatch: (a, b) => mismatches.push(`${a} -> ${b}`) });
    assert.equal(await d.byLocalpart('bob.jones'), undefined);
    assert.deepEqual(mismatches, ['bob.jones@contoso.example -> alice.smith@contoso.example']);
  });

  it("refuses the gateway's own accounts and, unless allowed, guests, without asking Graph", async () => {
    const account = await g.teams.ensurePuppet('victim@partner.example');
    const d = directory();
    const since = g.emulator.requests().length;
    assert.equal(await d.byLocalpart(escapeLocalpart(account.upn)), undefined);
    assert.equal(await d.byLocalpart(escapeLocalpart(puppetUpn('other@partner.example', DEMO.puppetDomain).toUpperCase())), undefined);
    assert.equal(await d.byLocalpart(escapeLocalpart('john_gmail.com#EXT#@contoso.example')), undefined);
    assert.deepEqual(graphCalls(since), []);
    assert.equal(await d.byId(account.userId), undefined, 'not by id either (a pair actor keyed on it)');
    const since2 = g.emulator.requests().length;
    await directory({ allowGuests: true }).byLocalpart(escapeLocalpart('john_gmail.com#EXT#@contoso.example'));
    assert.equal(graphCalls(since2).length, 1, 'guests are looked up when allowed');
  });

  it('charges lookups that reach Graph to the sender, and remembers that nobody is there', async () => {
    let left = 3;
    const charged: string[] = [];
    const budget: LookupBudget = { admit: async (p) => (charged.push(p.sender), left-- > 0) };
    const d = directory({ budget });
    const since = g.emulator.requests().length;
    for (const n of ['r1', 'r2', 'r3']) assert.equal(await d.byLocalpart(n, payer), undefined);
    await assert.rejects(d.byLocalpart('r4', payer), LookupRefusedError);
    assert.equal(await d.byLocalpart('r1', payer), undefined, 'a remembered "no such user" costs nothing');
    assert.equal((await d.byLocalpart('alice.smith'))?.id !== undefined, true, 'a lookup without a payer (the gateway itself) is not charged');
    assert.deepEqual(charged, ['mallory@partner.example', 'mallory@partner.example', 'mallory@partner.example', 'mallory@partner.example']);
    assert.equal(graphCalls(since).length, 4);
  });
});
