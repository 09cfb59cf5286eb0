/**
 * Graph calls per relayed message, each way, with basic notifications (the gateway reads each Teams message from
 * Graph) and with rich notifications (the message comes encrypted in its notification): a loopback federation
 * (real Prosody, the Graph emulator, one gateway process) relays BENCH_MESSAGES messages each way after a
 * warm-up message (which creates the account, the chat and the subscriptions), and the emulator's request log is
 * counted per message: Graph requests (/v1.0) and token requests (the identity platform) apart.
 * Run (part of `npm run bench`; prosody installed): npm run build && node dist/bench/graph-calls.bench.js
 */
import { resolve } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { ensureTlsMaterial } from '../src/sandbox/tls.js';
import type { Federation } from '../test/support/federation.js';

const tlsDir = resolve('.test-tls');
const tls = await ensureTlsMaterial(tlsDir);
// As `npm test` does: the gateway child process trusts the emulator's CA.
process.env.XTG_TEST_TLS_DIR = tlsDir;
process.env.NODE_EXTRA_CA_CERTS = tls.caCertPath;
const { COMPONENT, Federation: FederationClass, XMPP_DOMAIN, eventually } = await import('../test/support/federation.js');

const N = Number(process.env.BENCH_MESSAGES ?? 20);
const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_RECEIPTS = 'urn:xmpp:receipts';

interface Counts {
  graph: number;
  tokens: number;
  byEndpoint: Map<string, number>;
}

function count(f: Federation, since: number, until: number): Counts {
  const c: Counts = { graph: 0, tokens: 0, byEndpoint: new Map() };
  for (const r of f.emulator.requests()) {
    if (r.at < since || r.at > until) continue;
    if (!r.path.startsWith('/v1.0/')) {
      c.tokens++;
      continue;
    }
    c.graph++;
    const shape = `${r.method} ${r.path.replace(/\?.*$/u, '').replace(/\/(19(:|%3A)[^/]+|[0-9a-f-]{36}|\d{10,})/giu, '/{id}')}`;
    c.byEndpoint.set(shape, (c.byEndpoint.get(shape) ?? 0) + 1);
  }
  return c;
}

function line(label: string, c: Counts): string {
  const per = (n: number) => (n / N).toFixed(2);
  const endpoints = [...c.byEndpoint].map(([k, v]) => `${k} ${per(v)}`).join('; ');
  return `${label}: ${per(c.graph)} Graph calls per message (${endpoints}), ${per(c.tokens)} token requests`;
}

async function run(certificates: string[]): Promise<void> {
  const f = await FederationClass.start({ certificates });
  try {
    const juliet = await f.client('juliet');
    await juliet.requestRoster();
    await juliet.sendPresence();
    await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'warm-up' }, xml('body', {}, 'warm-up'), xml('request', { xmlns: NS_RECEIPTS })));
    await juliet.waitFor((el: Element) => el.getChild('received', NS_RECEIPTS)?.attrs.id === 'warm-up', 30_000, 'warm-up receipt');
    await eventually(() => f.emulator.subscriptions().find((s) => s.resource.endsWith('/chats/getAllMessages')), 30_000, 'the subscription');
    await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, 'warm-up reply');
    await juliet.waitFor((el: Element) => el.getChildText('body') === 'warm-up reply', 30_000, 'warm-up reply');

    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      await juliet.send(xml('message', { to: ALICE, type: 'chat', id: `x${i}` }, xml('body', {}, `xmpp ${i}`), xml('request', { xmlns: NS_RECEIPTS })));
      await juliet.waitFor((el: Element) => el.getChild('received', NS_RECEIPTS)?.attrs.id === `x${i}`, 30_000, `receipt x${i}`);
    }
    const t1 = Date.now();
    for (let i = 0; i < N; i++) {
      await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, `teams ${i}`);
      await juliet.waitFor((el: Element) => el.getChildText('body') === `teams ${i}`, 30_000, `teams ${i}`);
    }
    const t2 = Date.now();
    const mode = certificates.length > 0 ? 'rich notifications' : 'basic notifications';
    console.log(line(`${mode}, XMPP -> Teams`, count(f, t0, t1)));
    const posts = new Set(f.emulator.deliveries().filter((d) => d.at >= t1 && d.at <= t2 && d.kind === 'change').map((d) => `${d.at}|${d.url}`)).size;
    console.log(`${line(`${mode}, Teams -> XMPP`, count(f, t1, t2))}; ${(posts / N).toFixed(2)} webhook POSTs per message`);
  } finally {
    await f.stop();
  }
}

await run([]);
await run(['bench-1']);
