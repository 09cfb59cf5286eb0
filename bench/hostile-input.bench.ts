/**
 * What hostile stanzas cost the node's CPU (issue 12, docs/security.md): parsing a stanza nested 3,000 deep with the
 * link's bounded parser, and reading an XEP-0461 reply whose fallback marks 1,000 ranges over a 16,000-character
 * body (before the fix: about 115 ms of CPU each). CPU time, median of several runs. Run: npm run bench.
 */
import xml, { type Element } from '@xmpp/xml';
import { parseInbound } from '../src/protocol/stanza.js';
import { MAX_STANZA_DEPTH, MAX_STANZA_ELEMENTS, boundedParser } from '../src/xmpp/bounded-parser.js';

function cpuMs(runs: number, fn: () => void): number {
  fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.cpuUsage();
    fn();
    const u = process.cpuUsage(t);
    times.push((u.user + u.system) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

const reply = (bodyChars: number, ranges: number): Element =>
  xml(
    'message',
    { from: 'mallory@partner.example/r', to: 'alice@teams.example', type: 'chat', id: 'r1' },
    xml('body', {}, 'x'.repeat(bodyChars)),
    xml('reply', { xmlns: 'urn:xmpp:reply:0', id: 'o' }),
    xml('fallback', { xmlns: 'urn:xmpp:fallback:0', for: 'urn:xmpp:reply:0' }, ...Array.from({ length: ranges }, (_, i) => xml('body', { start: '0', end: String(bodyChars - i) }))),
  );
const outcome = (el: Element) => {
  try {
    parseInbound(el, { maxBodyBytes: 16_000 });
    return 'parsed';
  } catch (err) {
    return `refused (${(err as { condition?: string }).condition ?? 'error'})`;
  }
};
const hostile = reply(16_000, 1_000);
const legit = reply(16_000, 8);
console.log('XEP-0461 fallback ranges (parseInbound, CPU ms, median of 15):');
console.log(`  1,000 ranges over 16,000 characters  ${cpuMs(15, () => outcome(hostile)).toFixed(2).padStart(7)} ms   ${outcome(hostile)}`);
console.log(`  8 ranges over 16,000 characters      ${cpuMs(15, () => outcome(legit)).toFixed(2).padStart(7)} ms   ${outcome(legit)}`);

const Parser = boundedParser({ maxDepth: MAX_STANZA_DEPTH, maxElements: MAX_STANZA_ELEMENTS, maxBytes: 262_144 });
const parse = (text: string) => {
  const p = new Parser();
  let el: Element | undefined;
  p.on('element', (e: never) => (el = e));
  p.write(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>${text}`);
  return el as Element | undefined;
};
const deep = `<iq type='result' id='x' from='mallory@partner.example' to='teams.example'>${'<a>'.repeat(3_000)}${'</a>'.repeat(3_000)}</iq>`;
const wide = `<message type='chat' id='w' from='mallory@partner.example' to='alice@teams.example'>${'<x/>'.repeat(20_000)}</message>`;
console.log('bounded stanza parser (one stanza, CPU ms, median of 15):');
console.log(`  nested 3,000 deep (18 KB)            ${cpuMs(15, () => parse(deep)?.toString()).toFixed(2).padStart(7)} ms   kept ${parse(deep)?.toString().length} bytes; serializes`);
console.log(`  20,000 sibling elements (80 KB)      ${cpuMs(15, () => parse(wide)).toFixed(2).padStart(7)} ms   kept ${parse(wide)?.children.length} children`);
