import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { chatMessage, iqResult, mayReplyWithError, parseInbound, presence, receipt } from '../../src/protocol/stanza.js';
import { StanzaError, errorReply, isTransientBounce, readStanzaError, type Condition, type ErrorType } from '../../src/protocol/stanza-error.js';

const limits = { maxBodyBytes: 100 };
const base = { from: 'juliet@xmpp.example/balcony', to: 'alice@teams.xmpp.example' };

function condition(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof StanzaError) return err.condition;
    throw err;
  }
  return 'none';
}

describe('parsing inbound stanzas', () => {
  it('reads a chat message with a receipt request and origin-id', () => {
    const m = parseInbound(
      xml('message', { ...base, type: 'chat', id: 'm1' }, xml('body', {}, 'hi'), xml('request', { xmlns: 'urn:xmpp:receipts' }), xml('origin-id', { xmlns: 'urn:xmpp:sid:0', id: 'o1' })),
      limits,
    );
    assert.equal(m.kind, 'message');
    if (m.kind !== 'message') return;
    assert.equal(m.body, 'hi');
    assert.equal(m.receiptRequested, true);
    assert.equal(m.originId, 'o1');
    assert.equal(m.from.resource, 'balcony');
  });
  it('reads an XEP-0461 reply and drops its XEP-0428 fallback quote (code point offsets)', () => {
    const body = '> 😀 quoted\nthe answer';
    const m = parseInbound(
      xml('message', { ...base, type: 'chat', id: 'm2' }, xml('body', {}, body), xml('reply', { xmlns: 'urn:xmpp:reply:0', to: 'alice@teams.x', id: 'orig' }), xml('fallback', { xmlns: 'urn:xmpp:fallback:0', for: 'urn:xmpp:reply:0' }, xml('body', { start: '0', end: '11' }))),
      limits,
    );
    assert.deepEqual(m.kind === 'message' && m.reply, { id: 'orig', to: 'alice@teams.x', body: 'the answer' });
    const bad = parseInbound(
      xml('message', { ...base, type: 'chat' }, xml('body', {}, 'abc'), xml('reply', { xmlns: 'urn:xmpp:reply:0', id: 'o' }), xml('fallback', { xmlns: 'urn:xmpp:fallback:0', for: 'urn:xmpp:reply:0' }, xml('body', { start: '2', end: '99' }))),
      limits,
    );
    assert.equal(bad.kind === 'message' && bad.reply?.body, 'abc', 'an out-of-range fallback leaves the body whole');
  });

  it('cuts overlapping fallback ranges once, and refuses a reply with more ranges than a client marks (issue 12)', () => {
    const reply = (body: string, ranges: [number, number][]) =>
      xml(
        'message',
        { ...base, type: 'chat', id: 'r' },
        xml('body', {}, body),
        xml('reply', { xmlns: 'urn:xmpp:reply:0', id: 'o' }),
        xml('fallback', { xmlns: 'urn:xmpp:fallback:0', for: 'urn:xmpp:reply:0' }, ...ranges.map(([start, end]) => xml('body', { start: String(start), end: String(end) }))),
      );
    const m = parseInbound(reply('0123456789', [[0, 4], [2, 6], [8, 9]]), { maxBodyBytes: 1000 });
    assert.equal(m.kind === 'message' && m.reply?.body, '679');
    const many = Array.from({ length: 1_000 }, (_, i): [number, number] => [0, 2_000 - i]);
    assert.throws(
      () => parseInbound(reply('x'.repeat(2_000), many), { maxBodyBytes: 10_000 }),
      (err: unknown) => err instanceof StanzaError && err.condition === 'bad-request' && /at most 8 fallback ranges/u.test(err.text ?? ''),
    );
  });

  it('reads presence show, status and priority', () => {
    const p = parseInbound(xml('presence', base, xml('show', {}, 'dnd'), xml('status', {}, 'busy'), xml('priority', {}, '5')), limits);
    assert.deepEqual(p.kind === 'presence' && [p.type, p.show, p.status, p.priority], ['available', 'dnd', 'busy', 5]);
  });
  const errors: [string, () => unknown, string][] = [
    ['missing from', () => parseInbound(xml('message', { to: base.to }), limits), 'bad-request'],
    ['malformed JID', () => parseInbound(xml('message', { ...base, from: "o'brien@x" }), limits), 'jid-malformed'],
    ['unknown message type', () => parseInbound(xml('message', { ...base, type: 'shout' }), limits), 'bad-request'],
    ['oversized body', () => parseInbound(xml('message', base, xml('body', {}, 'é'.repeat(51))), limits), 'policy-violation'],
    ['bad show', () => parseInbound(xml('presence', base, xml('show', {}, 'sleepy')), limits), 'bad-request'],
    ['bad priority', () => parseInbound(xml('presence', base, xml('priority', {}, '300')), limits), 'bad-request'],
    ['iq without id', () => parseInbound(xml('iq', { ...base, type: 'get' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), limits), 'bad-request'],
    ['iq with two payloads', () => parseInbound(xml('iq', { ...base, type: 'get', id: '1' }, xml('a'), xml('b')), limits), 'bad-request'],
    ['unknown stanza', () => parseInbound(xml('foo', base), limits), 'bad-request'],
  ];
  for (const [name, fn, cond] of errors) it(`${name} -> <${cond}/>`, () => assert.equal(condition(fn), cond));
});

describe('building stanzas', () => {
  it('chat message, receipt, presence and iq result', () => {
    const m = chatMessage({ from: 'a@t', to: 'j@x', id: '1', body: 'x < y\nz' });
    assert.deepEqual([m.attrs.type, m.attrs.from, m.attrs.to, m.getChildText('body')], ['chat', 'a@t', 'j@x', 'x < y\nz']);
    assert.match(m.toString(), /<body>x &lt; y\nz<\/body>/u);
    assert.equal(m.getChild('stanza-id', 'urn:xmpp:sid:0')?.attrs.id, '1');
    const r = receipt({ from: 'a@t', to: 'j@x/r', forId: 'm1', id: '2' });
    assert.equal(r.getChild('received', 'urn:xmpp:receipts')?.attrs.id, 'm1');
    const p = presence({ from: 'a@t', to: 'j@x', show: 'dnd', status: 'In a call' });
    assert.equal(p.attrs.type, undefined);
    assert.equal(p.getChildText('show'), 'dnd');
    assert.equal(presence({ from: 'a@t', to: 'j@x', type: 'unavailable' }).attrs.type, 'unavailable');
    const res = iqResult(xml('iq', { from: 'j@x/r', to: 'a@t', id: '7', type: 'get' }));
    assert.deepEqual([res.attrs.type, res.attrs.to, res.attrs.from, res.attrs.id], ['result', 'j@x/r', 'a@t', '7']);
  });
  it('error replies swap addresses, keep the id and carry the condition (RFC 6120 §8.3)', () => {
    const req = xml('message', { ...base, id: 'm9', type: 'chat' }, xml('body', {}, 'x'));
    const err = errorReply(req, new StanzaError('item-not-found', 'no such user'));
    assert.deepEqual([err.attrs.type, err.attrs.to, err.attrs.from, err.attrs.id], ['error', base.from, base.to, 'm9']);
    const read = readStanzaError(err);
    assert.equal(read.condition, 'item-not-found');
    assert.equal(read.type, 'cancel');
    assert.equal(read.text, 'no such user');
  });
  it('tells a bounce worth sending again (the peer server unreachable, or "wait") from a final one', () => {
    const table: [Condition, ErrorType, boolean][] = [
      ['remote-server-not-found', 'cancel', true], // RFC 6120 §8.3.3.15: S2S to the peer's server failed
      ['remote-server-timeout', 'wait', true], // §8.3.3.16
      ['resource-constraint', 'wait', true], // §8.3.2: type wait, retry after waiting
      ['service-unavailable', 'cancel', false], // no such user, or not accepting messages
      ['item-not-found', 'cancel', false],
      ['not-acceptable', 'modify', false],
    ];
    for (const [cond, type, transient] of table) {
      const bounce = errorReply(xml('message', { ...base, id: 'b1', type: 'chat' }, xml('body', {}, 'x')), new StanzaError(cond, 'x', type));
      assert.equal(isTransientBounce(readStanzaError(bounce)), transient, cond);
    }
  });
  it('never answers an error with an error', () => {
    assert.equal(mayReplyWithError(xml('message', { type: 'error' })), false);
    assert.equal(mayReplyWithError(xml('iq', { type: 'result' })), false);
    assert.equal(mayReplyWithError(xml('iq', { type: 'get' })), true);
  });
});
