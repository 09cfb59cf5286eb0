/**
 * `npm run fuzz` (issue 12; not part of `npm test`): for a set time, mutated and random stanzas go to a gateway
 * node through the real Prosody (hostile peer servers, as in hostile-input.test.ts), and random bodies to its public
 * webhook and media links. It prints what was sent, what came back, whether the node crashed (it must not), its
 * peak memory and its event-loop delay, and exits 1 if the node died.
 *
 *   npm run fuzz -- [--seconds N (60)] [--seed N (random)] [--rate N stanzas/s (400)] [--webhook off]
 *   FUZZ_DEBUG=1 prints Prosody's log when it closes the peer's stream.
 *
 * Stanzas are built as elements, so they are well-formed XML and within Prosody's stanza size (what Prosody refuses
 * closes the peer's stream and never reaches the gateway: that would test Prosody). What varies is everything a peer controls: names,
 * namespaces, types, addresses (XEP-0106 escapes, IDN, long, malformed), attributes, nesting, sizes, counts.
 */
import { randomInt } from 'node:crypto';
import { resolve } from 'node:path';
import xml, { type Element } from '@xmpp/xml';
import { PROSODY, REDIS, ensureOsPackages } from '../../src/sandbox/os-deps.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { COMPONENT, Federation, XMPP_DOMAIN } from '../support/federation.js';
import { HostilePeer } from './support/hostile-peer.js';
import { cpuSeconds, memory, metric } from './support/measure.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const SECONDS = Number(arg('seconds') ?? 60);
const SEED = Number(arg('seed') ?? randomInt(2 ** 31));
const RATE = Number(arg('rate') ?? 400);
const WEBHOOK = arg('webhook') !== 'off';
const PARTNER = 'partner.example';
const SECRET = 'fuzz-peer-secret';
/** Below Prosody's component_stanza_size_limit (512 KiB): larger stanzas never reach the gateway. */
const MAX_STANZA_CHARS = 250_000;

/** mulberry32: a small seeded generator, so that a run can be repeated with --seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
const chance = (p: number) => random() < p;

const NAMESPACES = [
  'urn:xmpp:receipts', 'urn:xmpp:chat-markers:0', 'urn:xmpp:reply:0', 'urn:xmpp:fallback:0', 'urn:xmpp:message-correct:0',
  'urn:xmpp:message-retract:1', 'urn:xmpp:reactions:0', 'urn:xmpp:sid:0', 'http://jabber.org/protocol/chatstates', 'vcard-temp',
  'vcard-temp:x:update', 'http://jabber.org/protocol/disco#info', 'http://jabber.org/protocol/disco#items', 'urn:xmpp:ping',
  'jabber:iq:version', 'urn:ietf:params:xml:ns:vcard-4.0', 'jabber:x:oob', 'urn:ietf:params:xml:ns:xmpp-stanzas', 'urn:example:unknown',
];
const TEXTS = ['hello', '', ' ', '\u202e\u200b', '😀'.repeat(50), '<b>&amp;</b>', 'x'.repeat(20_000), 'é'.repeat(3_000), '\\5c\\27', '%27 or 1 eq 1', 'null', '-1', '999999999999'];
const LOCALS = ['alice.smith', 'bob.jones', 'sean.o\\27brien', 'dave\\40fabrikam.example', 'eve.internal', 'nobody', 'x\\40xmpp.contoso.example', 'a%27b', 'john_gmail.com#ext#\\40contoso.example', 'ALICE.SMITH', '', 'a'.repeat(300)];

function text(): string {
  // Any character XML 1.0 allows (§2.2: not the C0 controls but tab and newlines), from the whole BMP below the surrogates.
  return chance(0.1) ? Array.from({ length: int(40) }, () => String.fromCodePoint(0x20 + int(0xd7ff - 0x20))).join('') : pick(TEXTS);
}

function jidTo(): string {
  if (chance(0.05)) return pick(['', '@', `@${COMPONENT}`, `${COMPONENT}/`, 'a@b@c', `x@${'d'.repeat(1100)}`]);
  const local = chance(0.15) ? '' : pick(LOCALS);
  return `${local ? `${local}@` : ''}${COMPONENT}${chance(0.2) ? `/${text().slice(0, 50) || 'r'}` : ''}`;
}

function jidFrom(): string {
  const domain = chance(0.6)
    ? PARTNER
    : pick([`r${int(1e6)}.evil.example`, XMPP_DOMAIN, COMPONENT, `sub.${COMPONENT}`, 'p\u0430rtner.example', 'partner\u3002example', 'xn--bcher-kva.example', 'PARTNER.example']);
  const local = chance(0.1) ? '' : pick([`u${int(50)}`, `u${int(5_000)}`, 'mallory', 'a\\20b', 'é', 'x'.repeat(chance(0.1) ? 2_000 : 5)]);
  return `${local ? `${local}@` : ''}${domain}${chance(0.7) ? `/${pick(['r', `r${int(40)}`, 'x'.repeat(int(300))])}` : ''}`;
}

/** An element with children, at most `budget.left` elements in all (the tree stays small, however random). */
function child(budget: { left: number }, depth = 0): Element {
  budget.left--;
  const name = pick(['body', 'reply', 'fallback', 'request', 'received', 'displayed', 'replace', 'retract', 'reactions', 'reaction', 'query', 'vCard', 'FN', 'x', 'photo', 'origin-id', 'show', 'status', 'priority', 'error', 'composing', 'a']);
  const attrs: Record<string, string> = {};
  if (chance(0.7)) attrs.xmlns = pick(NAMESPACES);
  for (const a of ['id', 'to', 'for', 'start', 'end', 'node', 'type'] as const) if (chance(0.2)) attrs[a] = pick([text().slice(0, 40), String(int(100) - 10), jidTo()]);
  const el = xml(name, attrs);
  if (chance(0.5)) el.t(text());
  const kids = depth > 40 ? 0 : chance(0.05) ? int(60) : int(3);
  for (let i = 0; i < kids && budget.left > 0; i++) el.append(child(budget, depth + 1));
  return el;
}

/** Nesting as text: an element tree this deep would overflow ltx's recursive serializer in the fuzzer itself. */
const DEEP_MARK = 'fuzz-deep-nesting-here';
function deep(n: number): string {
  return `<x xmlns='urn:example:deep'>${'<a>'.repeat(n)}${'</a>'.repeat(n)}</x>`;
}

/** A stanza a peer could send, as text: one of the kinds the gateway reads, with everything it controls varied. */
function stanza(n: number): { name: string; type: string | undefined; text: string } {
  const name = pick(['message', 'message', 'presence', 'iq']);
  const attrs: Record<string, string> = { from: jidFrom(), to: jidTo() };
  if (chance(0.9)) attrs.id = chance(0.1) ? `xtg-${text().slice(0, 40)}` : `f${n}`;
  const types: Record<string, string[]> = {
    message: ['chat', 'normal', 'groupchat', 'headline', 'error', 'bogus'],
    presence: ['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'unavailable', 'error', 'bogus'],
    iq: ['get', 'set', 'result', 'error', 'bogus'],
  };
  if (chance(0.85) && types[name]) attrs.type = pick(types[name] as string[]);
  if (chance(0.05)) attrs['xml:lang'] = text().slice(0, 10);
  const el = xml(name, attrs);
  const kids = name === 'iq' && chance(0.7) ? 1 : int(5);
  const budget = { left: chance(0.02) ? 3_000 : 40 };
  for (let i = 0; i < kids && budget.left > 0; i++) el.append(child(budget));
  const nested = chance(0.03);
  if (nested) el.append(xml(DEEP_MARK));
  if (chance(0.02)) for (let i = 0; i < 1_500; i++) el.append(xml('body', { start: String(int(50)), end: String(int(50)) }));
  const serialized = el.toString();
  return { name, type: attrs.type, text: nested ? serialized.replace(`<${DEEP_MARK}/>`, deep(40 + int(3_000))) : serialized };
}

/** A body for the public webhook: JSON shaped like change notifications, or not. */
function webhookBody(): string {
  const notification = () => ({
    subscriptionId: chance(0.5) ? `sub-${int(100)}` : text().slice(0, 60),
    clientState: chance(0.5) ? text().slice(0, 60) : undefined,
    changeType: pick(['created', 'updated', 'deleted', text().slice(0, 10)]),
    resource: pick([`chats('19:${int(1e6)}@thread.v2')/messages('${int(1e9)}')`, `communications/presences/${int(1e6)}`, text().slice(0, 200)]),
    tenantId: chance(0.5) ? '8c6e2a43-5d1f-4b8e-9a7c-2f0d4e6b1a90' : text().slice(0, 40),
    lifecycleEvent: chance(0.1) ? pick(['missed', 'reauthorizationRequired', 'subscriptionRemoved']) : undefined,
    resourceData: chance(0.5) ? { id: String(int(1e9)), '@odata.type': text().slice(0, 30) } : text(),
  });
  switch (int(6)) {
    case 0:
      return JSON.stringify({ value: Array.from({ length: int(5) + 1 }, notification) });
    case 1:
      return JSON.stringify({ value: Array.from({ length: 2_000 + int(20_000) }, notification) });
    case 2:
      return JSON.stringify({ value: text() });
    case 3:
      return '{"value":['.repeat(int(5_000));
    case 4:
      return Buffer.from(Array.from({ length: int(4_000) }, () => int(256))).toString('latin1');
    default:
      return JSON.stringify(notification());
  }
}

async function main(): Promise<void> {
  const tls = await ensureTlsMaterial(resolve('.test-tls'));
  process.env.XTG_TEST_TLS_DIR = resolve('.test-tls');
  process.env.NODE_EXTRA_CA_CERTS = tls.caCertPath;
  ensureOsPackages([PROSODY, REDIS]);
  process.stdout.write(`fuzz: ${SECONDS} s at about ${RATE} stanzas/s, seed ${SEED}\n`);
  const f = await Federation.start({
    redis: true,
    xmppLinks: 'every-node',
    components: [{ domain: PARTNER, secret: SECRET, validateFrom: false }],
    policy: { domains: [XMPP_DOMAIN, PARTNER], users: ['*'], reloadSeconds: 1 },
    throttle: { onExceeded: 'refuse', domain: { messagesPerSecond: 20, messageBurst: 40 }, user: { messagesPerSecond: 2, messageBurst: 5 } },
  });
  const pid = f.gateway.pid;
  let peer = await HostilePeer.connect({ port: f.ports.component, domain: PARTNER, secret: SECRET });
  let reconnects = 0;
  const answers: Element[] = [];
  const sent = new Map<string, number>();
  const webhook = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  let peakLagMs = 0;
  let crashed = false;
  const cpuBefore = cpuSeconds(f);
  const deadline = Date.now() + SECONDS * 1000;
  const sampler = setInterval(() => {
    if (!f.gateway.alive) crashed = true;
    void metric(f, 'xtg_nodejs_eventloop_lag_p99_seconds')
      .then((s) => (peakLagMs = Math.max(peakLagMs, s * 1000)))
      .catch(() => undefined);
  }, 1_000);
  let n = 0;
  const stanzas = async () => {
    while (Date.now() < deadline && !crashed) {
      const started = Date.now();
      let text = '';
      for (let i = 0; i < Math.max(1, Math.round(RATE / 10)); i++) {
        let s = stanza(++n);
        // Prosody closes a peer's stream over a stanza larger than its limit (512 KiB): stay under it.
        while (s.text.length > MAX_STANZA_CHARS) s = stanza(n);
        bump(sent, `${s.name}${s.type ? `/${s.type}` : ''}`);
        text += s.text;
      }
      try {
        await peer.raw(text);
      } catch {
        // Prosody closed the peer's stream: connect again.
        answers.push(...peer.received);
        if (process.env.FUZZ_DEBUG) process.stdout.write(`${await f.prosody.logTail(6)}\n`);
        await peer.stop();
        peer = await HostilePeer.connect({ port: f.ports.component, domain: PARTNER, secret: SECRET });
        reconnects++;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
    }
  };
  const webhookRequests = async () => {
    while (Date.now() < deadline && !crashed) {
      const token = Buffer.from(Array.from({ length: int(200) }, () => int(256))).toString('base64url');
      const validation = encodeURIComponent(Array.from(webhookBody()).slice(0, 300).join(''));
      const path = chance(0.2) ? `/graph/notifications/media/${token}.${int(1e6)}` : chance(0.2) ? `/graph/notifications?validationToken=${validation}` : '/graph/notifications';
      const method = path.includes('/media/') ? 'GET' : 'POST';
      try {
        const r = await fetch(`http://127.0.0.1:${f.ports.webhook}${path}`, { method, ...(method === 'POST' ? { body: webhookBody(), headers: { 'content-type': 'application/json' } } : {}) });
        await r.arrayBuffer();
        bump(webhook, String(r.status));
      } catch (err) {
        bump(webhook, `error: ${(err as Error).message.slice(0, 40)}`);
      }
    }
  };
  try {
    await Promise.all([stanzas(), ...(WEBHOOK ? [webhookRequests(), webhookRequests()] : [])]);
    await new Promise((r) => setTimeout(r, 3_000)); // answers still on their way
  } finally {
    clearInterval(sampler);
  }
  crashed ||= !f.gateway.alive;
  const errors = new Map<string, number>();
  for (const el of [...answers, ...peer.received]) {
    if (el.attrs.type !== 'error') continue;
    const c = el.getChild('error')?.getChildElements().find((x) => x.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && x.name !== 'text')?.name ?? '(none)';
    bump(errors, c);
  }
  const m = crashed ? { rssMiB: 0, peakMiB: 0 } : memory(f);
  const cpu = crashed ? 0 : cpuSeconds(f) - cpuBefore;
  const levels = new Map<string, number>();
  const messages = new Map<string, number>();
  for (const l of f.gateway.lines) {
    bump(levels, String(l.level));
    if (l.level !== 'debug') bump(messages, `${String(l.level)}: ${String(l.message)}`);
  }
  const table = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  const total = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    [
      '',
      `fuzz results (seed ${SEED}, ${SECONDS} s, node pid ${pid ?? '?'})`,
      `  stanzas sent:        ${total(sent)}, ${(total(sent) / SECONDS).toFixed(0)}/s (${table(sent)})`,
      `  peer reconnects:     ${reconnects}`,
      `  errors returned:     ${total(errors)} (${table(errors)})`,
      `  webhook requests:    ${total(webhook)} (${table(webhook)})`,
      `  crashes:             ${crashed ? 1 : 0}`,
      `  peak RSS:            ${m.peakMiB} MiB (now ${m.rssMiB} MiB)`,
      `  event-loop delay:    p99 at most ${peakLagMs.toFixed(1)} ms (sampled every second; includes waiting for a shared CPU)`,
      `  node CPU:            ${cpu.toFixed(1)} s, ${((cpu * 1000) / Math.max(1, total(sent) + total(webhook))).toFixed(2)} ms per stanza or request`,
      `  node log lines:      ${table(levels)}`,
      ...[...messages].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `    ${v} x ${k}`),
      '',
    ].join('\n'),
  );
  if (crashed) process.stdout.write(`the node exited:\n${f.gateway.dump().split('\n').slice(-40).join('\n')}\n`);
  await peer.stop().catch(() => undefined);
  await f.stop();
  process.exitCode = crashed ? 1 : 0;
}

await main();
