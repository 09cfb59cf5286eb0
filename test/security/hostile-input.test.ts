/**
 * The hostile-input suite (issue 12, docs/security.md): attacks driven through the real paths — real Prosody
 * routing stanzas from hostile peer servers (XEP-0114 components playing remote domains, as S2S would deliver
 * them), the real gateway process in a one-node cluster with Redis and `xmpp.links: every-node`, the Graph
 * emulator. Each test asserts the node stays up, what the attack cost (actors, accounts, pair rows, Graph calls,
 * log lines) stays bounded, and the attacker gets the documented error. The figures are printed as TAP comments.
 *
 * Domains: partner.example, ally.example and flood.example are whitelisted partners (any of their users may be
 * malicious); partner.example may also send from any address, which plays strangers and spoofed senders.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml, { type Element } from '@xmpp/xml';
import { Redis } from 'ioredis';
import { escapeLocalpart } from '../../src/protocol/jid.js';
import { puppetUpn } from '../../src/protocol/puppet-identity.js';
import { DEMO } from '../../src/sandbox/demo-tenant.js';
import { COMPONENT, Federation, XMPP_DOMAIN, eventually } from '../support/federation.js';
import { HostilePeer } from './support/hostile-peer.js';
import { drained, graphCalls, memory, metric, rows, tenantUsers } from './support/measure.js';

const PARTNER = 'partner.example';
const ALLY = 'ally.example';
const FLOOD = 'flood.example';
const SECRET = 'hostile-peer-secret';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NS_DISCO = 'http://jabber.org/protocol/disco#info';

const condition = (el: Element) => el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS && c.name !== 'text')?.name;
const isError = (id: string) => (el: Element) => el.attrs.id === id && el.attrs.type === 'error';

describe('hostile input', { timeout: 600_000 }, () => {
  let f: Federation;
  let partner: HostilePeer;
  let ally: HostilePeer;
  let flood: HostilePeer;
  const figures: string[] = [];
  const note = (line: string) => figures.push(line);

  before(async () => {
    f = await Federation.start({
      redis: true,
      xmppLinks: 'every-node',
      components: [
        { domain: PARTNER, secret: SECRET, validateFrom: false },
        { domain: ALLY, secret: SECRET },
        { domain: FLOOD, secret: SECRET },
      ],
      policy: { domains: [XMPP_DOMAIN, PARTNER, ALLY, FLOOD], users: ['*'], reloadSeconds: 1 },
      // The issue's figures: a domain limited to 1 message/s.
      throttle: { onExceeded: 'refuse', domain: { messagesPerSecond: 1, messageBurst: 5 } },
    });
    const connect = (domain: string) => HostilePeer.connect({ port: f.ports.component, domain, secret: SECRET });
    [partner, ally, flood] = await Promise.all([connect(PARTNER), connect(ALLY), connect(FLOOD)]);
  });

  after(async () => {
    if (figures.length > 0) process.stdout.write(`${figures.map((l) => `# ${l}`).join('\n')}\n`);
    for (const p of [partner, ally, flood]) await p?.stop();
    if (f?.gateway.alive === false) process.stdout.write(`# the node exited:\n${f.gateway.dump().split('\n').slice(-30).map((l) => `# ${l}`).join('\n')}\n`);
    await f?.stop();
  });

  it('a stranger costs a constant: 10,000 stanzas from random domains activate no actor, ask Graph nothing, log little', async () => {
    const graphBefore = f.emulator.requests().length;
    const activationsBefore = await metric(f, 'xtg_actor_activations_total');
    const linesBefore = f.gateway.lines.length;
    const stanzasBefore = await metric(f, 'xtg_xmpp_stanzas_received_total');
    const n = 10_000;
    const started = Date.now();
    for (let batch = 0; batch < n; batch += 500) {
      let text = '';
      for (let i = batch; i < batch + 500; i++) {
        const from = `u${i}@r${i}.evil.example/x`;
        const to = i % 7 === 0 ? `nobody${i}@${COMPONENT}` : ALICE;
        switch (i % 5) {
          case 0:
            text += `<message from='${from}' to='${to}' type='chat' id='s${i}'><body>hello</body></message>`;
            break;
          case 1:
            text += `<presence from='${from}' to='${to}' type='subscribe'/>`;
            break;
          case 2:
            text += `<iq from='${from}' to='${to}' type='get' id='s${i}'><query xmlns='${NS_DISCO}'/></iq>`;
            break;
          case 3:
            // RFC 6120 §8.3: an error is never answered; it must still cost a stranger's constant only.
            text += `<message from='${from}' to='${to}' type='error' id='s${i}'><error type='cancel'><item-not-found xmlns='${NS_STANZAS}'/></error></message>`;
            break;
          default:
            text += `<presence from='${from}' to='${to}'/>`;
        }
      }
      await partner.raw(text);
    }
    // Spoofed: a stanza claiming to come from one of the gateway's own addresses.
    await partner.raw(`<message from='bob.jones@${COMPONENT}/x' to='${ALICE}' type='chat' id='spoof1'><body>hi</body></message>`);
    await drained(f, stanzasBefore, n);
    const seconds = (Date.now() - started) / 1000;
    const activations = (await metric(f, 'xtg_actor_activations_total')) - activationsBefore;
    const graph = graphCalls(f, graphBefore);
    const lines = f.gateway.lines.slice(linesBefore).filter((l) => l.level !== 'debug').length;
    note(`strangers: ${n} stanzas from ${n} random domains in ${seconds.toFixed(1)} s -> ${activations} actor activations, ${graph.length} Graph calls, ${lines} log lines at info or above`);
    assert.equal(f.gateway.alive, true);
    assert.equal(activations, 0, 'no actor for a stranger');
    assert.deepEqual(graph.map((r) => `${r.method} ${r.path}`), [], 'no Graph call for a stranger');
    assert.ok(lines < 50, `log lines bounded (${lines})`);
  });

  it('presence from 300 JIDs of a partner domain creates no account, no pair, no actor; subscriptions pass the rate limit first', async () => {
    const usersBefore = (await tenantUsers(f)).length;
    const pairsBefore = rows(f, 'pairs');
    const actorsBefore = await metric(f, 'xtg_actors_live', { kind: 'user-pair' });
    const graphBefore = f.emulator.requests().length;
    const stanzasBefore = await metric(f, 'xtg_xmpp_stanzas_received_total');
    const started = Date.now();
    let text = '';
    for (let i = 0; i < 300; i++) text += `<presence from='u${i}@${FLOOD}/r' to='${ALICE}'/>`;
    await flood.raw(text);
    await drained(f, stanzasBefore, 300);
    const ms = Date.now() - started;
    // Whatever a presence sets off (a vCard request with its 5 s timeout, then an account) has had time to happen.
    await new Promise((r) => setTimeout(r, 8_000));
    const accounts = (await tenantUsers(f)).length - usersBefore;
    const pairs = rows(f, 'pairs') - pairsBefore;
    const actors = (await metric(f, 'xtg_actors_live', { kind: 'user-pair' })) - actorsBefore;
    const graph = graphCalls(f, graphBefore).length;
    note(`presence flood: 300 directed presences from 300 JIDs (domain limit 1/s) in ${ms} ms -> ${accounts} accounts, ${pairs} pair rows, ${actors} live pair actors, ${graph} Graph calls`);
    assert.equal(accounts, 0, 'a bare presence creates no account');
    assert.equal(pairs, 0, 'a bare presence creates no pair row');
    assert.equal(actors, 0, 'a bare presence activates no pair actor');

    // Subscriptions want federation, but pass the domain's rate limit before any actor or account exists.
    await new Promise((r) => setTimeout(r, 6_000)); // the domain bucket refills (burst 5 at 1/s)
    const graphBefore2 = f.emulator.requests().length;
    text = '';
    for (let i = 0; i < 300; i++) text += `<presence from='s${i}@${FLOOD}' to='${ALICE}' type='subscribe' id='sub${i}'/>`;
    await flood.raw(text);
    const refused = await eventually(() => {
      const n = flood.count((el) => el.name === 'presence' && el.attrs.type === 'error' && condition(el) === 'resource-constraint');
      return n >= 280 ? n : undefined;
    }, 60_000, 'resource-constraint errors for the subscriptions over the limit');
    await new Promise((r) => setTimeout(r, 3_000)); // let the admitted ones finish
    const accounts2 = (await tenantUsers(f)).length - usersBefore;
    const creates = graphCalls(f, graphBefore2).filter((r) => r.method === 'POST' && r.path.startsWith('/v1.0/users')).length;
    note(`subscribe flood: 300 subscriptions from 300 JIDs -> ${refused} refused with <resource-constraint/>, ${accounts2} accounts (${creates} POST /users)`);
    assert.ok(accounts2 <= 8, `accounts bounded by the domain rate limit (${accounts2})`);
  });

  it('random addresses cost a bounded number of directory lookups', async () => {
    const graphBefore = f.emulator.requests().length;
    const stanzasBefore = await metric(f, 'xtg_xmpp_stanzas_received_total');
    const n = 2_000;
    let text = '';
    for (let i = 0; i < n; i++) text += `<message from='spammer@${ALLY}/r' to='r${i}x${Math.random().toString(36).slice(2, 8)}@${COMPONENT}' type='chat' id='rnd${i}'><body>hi</body></message>`;
    const started = Date.now();
    await ally.raw(text);
    await drained(f, stanzasBefore, n);
    const answered = (c: string) => ally.count((el) => el.attrs.type === 'error' && /^rnd\d+$/u.test(el.attrs.id ?? '') && condition(el) === c);
    await eventually(() => (answered('item-not-found') + answered('resource-constraint') >= n ? true : undefined), 60_000, 'an answer to every message');
    const lookups = graphCalls(f, graphBefore).filter((r) => r.method === 'GET' && r.path.startsWith('/v1.0/users'));
    note(
      `random addresses: ${n} messages to random localparts in ${Date.now() - started} ms -> ${lookups.length} GET /users; answers: ${answered('item-not-found')} <item-not-found/>, ${answered('resource-constraint')} <resource-constraint/>`,
    );
    assert.ok(lookups.length <= 40, `directory lookups bounded (${lookups.length})`);
  });

  it('a crafted address cannot inject into the directory filter (disco#info yes/no oracle)', async () => {
    // userPrincipalName eq '<upn>' with %27 closing the string: "is Alice's surname Smi…?"
    const probe = (prefix: string) =>
      escapeLocalpart(`alice.smith@contoso.example%27 and startswith(surname,%27${prefix}%27) and mail eq %27alice.smith@contoso.example`);
    const ask = async (prefix: string) => {
      const id = `odata-${prefix}`;
      await ally.send(xml('iq', { from: `curious@${ALLY}/r`, to: `${probe(prefix)}@${COMPONENT}`, type: 'get', id }, xml('query', { xmlns: NS_DISCO })));
      return ally.waitFor((el) => el.attrs.id === id, 15_000, `answer to ${id}`);
    };
    await new Promise((r) => setTimeout(r, 6_000)); // the domain bucket refills
    const yes = await ask('Smi');
    const no = await ask('Xyz');
    note(`OData injection: disco#info "surname starts with Smi" -> ${yes.attrs.type}${condition(yes) ? ` (${condition(yes)})` : ''}; "Xyz" -> ${no.attrs.type}${condition(no) ? ` (${condition(no)})` : ''}`);
    assert.equal(yes.attrs.type, 'error', 'a crafted address names no user');
    assert.equal(condition(yes), condition(no), 'the answer does not depend on the injected condition');
  });

  it("iq answers are matched by id and sender, ids are unguessable, and a vCard cannot hide an account's origin", async () => {
    const victim = `victim@${PARTNER}`;
    const ids: string[] = [];
    let forged = 0;
    let card = { fn: 'Victor Victim', title: 'Engineer', org: 'Partner GmbH' };
    partner.onIq = (iq) => {
      if (!iq.getChild('vCard', 'vcard-temp') || iq.attrs.to !== victim) return;
      const id = iq.attrs.id ?? '';
      ids.push(id);
      const vcard = (c: typeof card) => xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, c.fn), xml('TITLE', {}, c.title), xml('ORG', {}, xml('ORGNAME', {}, c.org)));
      // Another user of the same domain answers first, with the id the request carried (RFC 6120 §8.2.3 says the
      // answer must come from the entity the request went to).
      forged++;
      void partner.send(xml('iq', { type: 'result', id, from: `mallory@${PARTNER}`, to: iq.attrs.from }, vcard({ fn: 'Alice Smith', title: 'Chief Financial Officer', org: 'Contoso Ltd' })));
      setTimeout(() => void partner.send(xml('iq', { type: 'result', id, from: victim, to: iq.attrs.from }, vcard(card))), 300);
    };
    await new Promise((r) => setTimeout(r, 6_000)); // the domain bucket refills
    await partner.send(xml('presence', { from: victim, to: ALICE, type: 'subscribe' }));
    await partner.waitFor((el) => el.name === 'presence' && el.attrs.type === 'subscribed' && el.attrs.to === victim, 20_000, 'subscribed');
    await partner.send(xml('presence', { from: `${victim}/desk`, to: ALICE }));
    const upn = puppetUpn(victim, DEMO.puppetDomain);
    const account = async () => (await tenantUsers(f)).find((u) => u.userPrincipalName.toLowerCase() === upn.toLowerCase() || u.displayName.includes(victim));
    const first = await eventually(async () => {
      const u = await account();
      return u && u.displayName !== `${victim} (XMPP)` ? f.emulator.user(u.id) : undefined;
    }, 20_000, "the victim's card on its account");
    note(`iq spoofing: a forged vCard result from another user of the domain -> account shows "${first.displayName}"`);
    assert.match(first.displayName, /Victor Victim/u, 'the forged answer did not complete the request');

    // The genuine card now claims to be someone of the tenant.
    card = { fn: 'Alice Smith', title: 'Chief Financial Officer', org: 'Contoso Ltd' };
    await partner.send(xml('presence', { from: `${victim}/desk`, to: ALICE }, xml('x', { xmlns: 'vcard-temp:x:update' }, xml('photo', {}, 'a'.repeat(40)))));
    const second = await eventually(() => {
      const u = f.emulator.user(first.id);
      return u && u.displayName !== first.displayName ? u : undefined;
    }, 20_000, 'the second card');
    note(`vCard impersonation: card "Alice Smith, CFO, Contoso Ltd" -> displayName "${second.displayName}", companyName "${second.companyName ?? ''}", jobTitle "${second.jobTitle ?? ''}"`);
    assert.ok(second.displayName.includes(PARTNER), 'the domain stays in the name');
    assert.ok(second.displayName.includes('(XMPP)'), 'the external marker stays');
    assert.equal(second.companyName, PARTNER, 'the company is the XMPP domain');

    note(`iq ids: ${ids.slice(0, 3).join(', ')}`);
    assert.ok(ids.length >= 2 && forged >= 2);
    for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22,}$/u, `unguessable id: ${id}`);
  });

  it("the gateway's own accounts are not addressable as Teams users", async () => {
    const upn = puppetUpn(`victim@${PARTNER}`, DEMO.puppetDomain);
    const to = `${escapeLocalpart(upn)}@${COMPONENT}`;
    await new Promise((r) => setTimeout(r, 6_000)); // the domain bucket refills
    const chatsBefore = f.emulator.chatsOf(upn).length;
    await ally.send(xml('message', { from: `relay@${ALLY}/r`, to, type: 'chat', id: 'relay1' }, xml('body', {}, 'relay me')));
    const answer = await ally.waitFor((el) => el.attrs.id === 'relay1', 15_000, 'answer to relay1');
    note(`puppet as a Teams user: message to ${to} -> ${answer.attrs.type} ${condition(answer) ?? ''}`);
    assert.equal(condition(answer), 'item-not-found');
    assert.equal(f.emulator.chatsOf(upn).length, chatsBefore);
  });

  it('an XEP-0461 fallback with 1,000 ranges is refused', async () => {
    await new Promise((r) => setTimeout(r, 6_000)); // the domain bucket refills
    const body = 'x'.repeat(2_000);
    let ranges = '';
    for (let i = 0; i < 1_000; i++) ranges += `<body start='0' end='${2_000 - i}'/>`;
    await ally.raw(
      `<message from='quoter@${ALLY}/r' to='${ALICE}' type='chat' id='fb1'><body>${body}</body><reply xmlns='urn:xmpp:reply:0' id='x'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>${ranges}</fallback></message>`,
    );
    const answer = await ally.waitFor((el) => el.attrs.id === 'fb1', 15_000, 'answer to fb1');
    note(`fallback ranges: 1,000 ranges -> ${answer.attrs.type} ${condition(answer) ?? ''}`);
    assert.equal(condition(answer), 'bad-request');
  });

  it('a deeply nested stanza cannot crash the node; forged iq ids are not relayed between nodes', async () => {
    const redis = new Redis(f.redis?.url ?? '');
    const relayed: string[] = [];
    await redis.subscribe('xtg:chan:iq');
    redis.on('message', (_c: string, text: string) => relayed.push(text));
    try {
      const deep = (n: number) => `${'<a>'.repeat(n)}${'</a>'.repeat(n)}`;
      // The finding: an iq result is relayed between nodes before the whitelist, re-serialized recursively.
      for (let i = 0; i < 3; i++) {
        await partner.raw(`<iq from='deep@${PARTNER}/r' to='${COMPONENT}' type='result' id='guess-${i}'>${deep(3_000)}</iq>`);
        await partner.raw(`<iq from='x@r${i}.evil.example' to='${COMPONENT}' type='result' id='xtg-guess-${i}'><query/></iq>`);
      }
      await new Promise((r) => setTimeout(r, 2_000));
      note(`deep nesting: 3 iq results with 3,000 levels -> node ${f.gateway.alive ? 'up' : 'DOWN'}; ${relayed.length} iq answers relayed to other nodes`);
      assert.equal(f.gateway.alive, true, 'the node is up');
      assert.equal((await f.gateway.health('/healthz')).status, 200);
      assert.equal(relayed.length, 0, 'answers to iqs this cluster did not issue are not relayed');
      await new Promise((r) => setTimeout(r, 4_000)); // the domain bucket refills
      await partner.raw(`<message from='deep@${PARTNER}/r' to='${ALICE}' type='chat' id='deep1'><body>hi</body><x xmlns='urn:example'>${deep(3_000)}</x></message>`);
      const answer = await partner.waitFor(isError('deep1'), 15_000, 'answer to deep1');
      note(`deep nesting: message with 3,000 levels -> error ${condition(answer) ?? ''}`);
      assert.equal(condition(answer), 'policy-violation');
    } finally {
      redis.disconnect();
    }
  });

  it('the node stays up, its memory bounded', async () => {
    const m = memory(f);
    const lag = await metric(f, 'xtg_nodejs_eventloop_lag_p99_seconds');
    note(`node after the suite: up=${f.gateway.alive}, RSS ${m.rssMiB} MiB, peak RSS ${m.peakMiB} MiB, event-loop lag p99 ${(lag * 1000).toFixed(1)} ms`);
    assert.equal(f.gateway.alive, true);
    assert.ok(m.peakMiB < 600, `peak RSS ${m.peakMiB} MiB`);
  });
});
