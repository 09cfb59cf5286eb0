/**
 * The component link's parser bounds every stanza (issue 12 finding 1): depth, elements, bytes. A stanza over a
 * limit keeps its own element (so it can be answered) and nothing below; the stream goes on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Element } from '@xmpp/xml';
import { boundedParser, parseStanza, stanzaOverLimit, type StanzaLimits } from '../../src/xmpp/bounded-parser.js';

const LIMITS: StanzaLimits = { maxDepth: 32, maxElements: 2_000, maxBytes: 65_536 };
const deep = (n: number) => `${'<a>'.repeat(n)}${'</a>'.repeat(n)}`;

function stream(chunks: readonly string[], limits = LIMITS): { stanzas: Element[]; errors: Error[]; root: () => Element | null } {
  const Parser = boundedParser(limits);
  const p = new Parser();
  const stanzas: Element[] = [];
  const errors: Error[] = [];
  p.on('element', (el: Element) => stanzas.push(el));
  p.on('error', (err: Error) => errors.push(err));
  p.write("<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>");
  for (const c of chunks) p.write(c);
  return { stanzas, errors, root: () => p.root };
}

describe('bounded stanza parser', () => {
  it('keeps stanzas within the limits whole', () => {
    const { stanzas, errors } = stream([`<message from='a@b' to='c@d' id='1'><body>hi</body>${deep(30)}</message>`]);
    assert.deepEqual(errors, []);
    assert.equal(stanzas.length, 1);
    assert.equal(stanzaOverLimit(stanzas[0] as Element), undefined);
    assert.equal(stanzas[0]?.getChildText('body'), 'hi');
    assert.ok(stanzas[0]?.toString().includes('<a><a>'));
  });

  it('cuts a stanza nested 3,000 deep to its own element, which serializes, and goes on with the stream', () => {
    const { stanzas, errors } = stream([`<iq type='result' id='x' from='a@b' to='c'>${deep(3_000)}</iq>`, `<message id='next' from='a@b' to='c'><body>after</body></message>`]);
    assert.deepEqual(errors, []);
    assert.equal(stanzas.length, 2);
    const [cut, next] = stanzas as [Element, Element];
    assert.equal(stanzaOverLimit(cut), 'nested deeper than 32 elements');
    assert.deepEqual(cut.children, []);
    assert.equal(cut.attrs.id, 'x');
    assert.equal(cut.toString(), `<iq type="result" id="x" from="a@b" to="c"/>`);
    assert.equal(next.getChildText('body'), 'after');
    assert.equal(stanzaOverLimit(next), undefined);
  });

  it('counts depth across writes that split tags', () => {
    const text = `<message id='m' from='a@b' to='c'>${deep(40)}</message>`;
    const chunks = text.match(/.{1,7}/gsu) ?? [];
    const { stanzas } = stream(chunks);
    assert.equal(stanzaOverLimit(stanzas[0] as Element), 'nested deeper than 32 elements');
  });

  it('bounds elements and bytes', () => {
    const many = stream([`<message id='m' from='a@b' to='c'>${'<x/>'.repeat(2_500)}</message>`]);
    assert.equal(stanzaOverLimit(many.stanzas[0] as Element), 'more than 2000 elements');
    const big = stream([`<message id='m' from='a@b' to='c'><body>${'é'.repeat(40_000)}</body></message>`]);
    assert.equal(stanzaOverLimit(big.stanzas[0] as Element), 'larger than 65536 bytes');
    const attrs = stream([`<message id='m' from='a@b' to='c' ${Array.from({ length: 5_000 }, (_, i) => `a${i}='${'v'.repeat(20)}'`).join(' ')}/>`]);
    assert.equal(stanzaOverLimit(attrs.stanzas[0] as Element), 'larger than 65536 bytes');
    assert.equal(attrs.stanzas[0]?.attrs.id, 'm');
  });

  it('does not keep text between stanzas (whitespace keep-alives) on the stream root', () => {
    const { root } = stream(Array.from({ length: 1_000 }, () => ' \n'));
    assert.equal(root()?.children.length, 0);
  });

  it('parses one stanza from text within the same limits, and refuses one beyond them', () => {
    assert.equal(parseStanza("<iq type='result' id='1'><query/></iq>", LIMITS).attrs.id, '1');
    assert.throws(() => parseStanza(`<iq type='result' id='1'>${deep(100)}</iq>`, LIMITS), /nested deeper than 32/u);
    assert.throws(() => parseStanza('<iq', LIMITS), /no stanza/u);
  });
});
