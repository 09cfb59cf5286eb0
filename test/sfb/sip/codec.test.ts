import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SipParseError, SipStreamParser, parseMessage, serialize } from '../../../src/sfb/sip/codec.js';
import { header, headerLines, headerValues, splitList } from '../../../src/sfb/sip/message.js';
import { parseNameAddr, parseUri, parseVia, tagOf } from '../../../src/sfb/sip/address.js';

const crlf = (lines: string[], body = '') => `${lines.join('\r\n')}\r\n\r\n${body}`;

const INVITE = crlf(
  [
    'INVITE sip:juliet@sfb.xmpp.example SIP/2.0',
    'Via: SIP/2.0/TLS fe01.contoso.example:5061;branch=z9hG4bK1a;ms-received-port=50123;ms-received-cid=1200',
    'v: SIP/2.0/TLS 10.0.0.5:49152;branch=z9hG4bK2b',
    'Record-Route: <sip:fe01.contoso.example:5061;transport=tls;opaque=state:T;lr;ms-route-sig=aaBBcc>;tag=ABCDEF',
    'Max-Forwards: 69',
    'f: "Smith, Alice" <sip:alice@contoso.example>;tag=1234;epid=01010101',
    't: <sip:juliet@sfb.xmpp.example>',
    'i: 0f7a5e',
    'CSeq: 1 INVITE',
    'm: <sip:alice@contoso.example;opaque=user:epid:abc;gruu>',
    'ms-text-format: text/plain; charset=UTF-8;ms-body=SGVsbG8=',
    'Subject:',
    'c: application/sdp',
    'l: 11',
  ],
  'm=message\r\n',
);

describe('SIP parsing (RFC 3261 §7, §20)', () => {
  it('reads a request with compact forms, several Vias, quoted commas and an empty header', () => {
    const m = parseMessage(INVITE);
    assert.equal(m.kind, 'request');
    assert.equal(m.kind === 'request' && m.method, 'INVITE');
    assert.equal(headerLines(m, 'Via').length, 2);
    assert.equal(header(m, 'Call-ID'), '0f7a5e');
    assert.equal(header(m, 'content-type'), 'application/sdp');
    assert.equal(header(m, 'Subject'), '');
    assert.equal(header(m, 'ms-text-format'), 'text/plain; charset=UTF-8;ms-body=SGVsbG8=');
    assert.equal(tagOf(header(m, 'From')), '1234');
    assert.equal(parseNameAddr(header(m, 'From') ?? '').display, 'Smith, Alice');
    assert.equal(m.body.toString(), 'm=message\r\n');
  });

  const table: [string, string, 400 | 513, boolean][] = [
    ['no Call-ID', crlf(['MESSAGE sip:a@b SIP/2.0', 'Via: SIP/2.0/TLS h:5061;branch=z9hG4bKx', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'CSeq: 1 MESSAGE', 'Content-Length: 0']), 400, false],
    ['CSeq of another method', crlf(['MESSAGE sip:a@b SIP/2.0', 'Via: SIP/2.0/TLS h:5061;branch=z9hG4bKx', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: 1', 'CSeq: 1 INVITE', 'Content-Length: 0']), 400, false],
    ['no Content-Length over a stream', crlf(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/TLS h:5061;branch=z9hG4bKx', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: 1', 'CSeq: 1 OPTIONS']), 400, false],
    ['a bad start line', crlf(['HELLO', 'Content-Length: 0']), 400, true],
    ['a bad Content-Length', crlf(['OPTIONS sip:a@b SIP/2.0', 'Content-Length: -1']), 400, true],
    ['a header without a colon', crlf(['OPTIONS sip:a@b SIP/2.0', 'Via SIP/2.0/TLS h', 'Content-Length: 0']), 400, true],
  ];
  for (const [what, text, status, fatal] of table) {
    it(`refuses ${what} (${status}${fatal ? ', framing lost' : ''})`, () => {
      assert.throws(
        () => parseMessage(text),
        (e: unknown) => e instanceof SipParseError && e.status === status && e.fatal === fatal,
      );
    });
  }

  it('bounds the header count, the header block and the body before reading them', () => {
    const limits = { maxHeaderBytes: 2048, maxHeaders: 20, maxBodyBytes: 100 };
    const many = crlf(['OPTIONS sip:a@b SIP/2.0', ...Array.from({ length: 25 }, (_, i) => `X-H${i}: v`), 'Content-Length: 0']);
    assert.throws(() => parseMessage(many, limits), (e: unknown) => e instanceof SipParseError && e.status === 513);
    const p = new SipStreamParser(limits);
    assert.throws(() => p.push(Buffer.from(`OPTIONS sip:a@b SIP/2.0\r\nX: ${'a'.repeat(3000)}`)), (e: unknown) => e instanceof SipParseError && e.status === 513 && e.fatal);
    const big = crlf(['MESSAGE sip:a@b SIP/2.0', 'Via: SIP/2.0/TLS h:5061;branch=z9hG4bKx', 'Content-Length: 1000000']);
    assert.throws(() => parseMessage(big, limits), (e: unknown) => e instanceof SipParseError && e.status === 513 && e.fatal && e.partial?.kind === 'request');
  });

  it('frames messages split anywhere and several in one chunk, and reports keep-alives', () => {
    const msg = Buffer.from(INVITE);
    const p = new SipStreamParser();
    const got: string[] = [];
    const all = Buffer.concat([Buffer.from('\r\n\r\n'), msg, msg, Buffer.from('\r\n')]);
    for (let i = 0; i < all.length; i += 7) for (const f of p.push(all.subarray(i, i + 7))) got.push(f.type);
    assert.deepEqual(got, ['ping', 'message', 'message', 'pong']);
    assert.equal(p.buffered, 0);
  });

  it('counts Content-Length in bytes, not characters (UTF-8 bodies)', () => {
    const body = 'Grüße 👋';
    const out = serialize({
      kind: 'request',
      method: 'MESSAGE',
      uri: 'sip:a@b',
      headers: [
        { name: 'Via', value: 'SIP/2.0/TLS h:5061;branch=z9hG4bKx' },
        { name: 'From', value: '<sip:x@y>;tag=1' },
        { name: 'To', value: '<sip:a@b>' },
        { name: 'Call-ID', value: 'c' },
        { name: 'CSeq', value: '2 MESSAGE' },
        { name: 'Content-Length', value: '3' },
      ],
      body: Buffer.from(body),
    });
    assert.equal(body.length, 8);
    assert.match(out.toString(), /Content-Length: 12\r\n\r\n/u);
    const back = parseMessage(out);
    assert.equal(back.body.toString('utf8'), body);
  });

  it('refuses to write a header holding a line break (header injection)', () => {
    assert.throws(() => serialize({ kind: 'response', status: 200, reason: 'OK', headers: [{ name: 'Subject', value: 'a\r\nVia: x' }], body: Buffer.alloc(0) }));
  });
});

describe('SIP addresses (RFC 3261 §19.1, §20.10, §20.42)', () => {
  it('parses SIP URIs, name-addr and addr-spec forms, and Via', () => {
    const u = parseUri('sip:alice%40x@FE01.Contoso.example:5061;transport=tls;lr;ms-route-sig=ab');
    assert.equal(u.user, 'alice@x');
    assert.equal(u.host, 'fe01.contoso.example');
    assert.equal(u.port, 5061);
    assert.equal(u.params.get('lr'), '');
    assert.equal(u.params.get('ms-route-sig'), 'ab');
    const a = parseNameAddr('sip:bob@contoso.example;tag=99');
    assert.equal(a.uri, 'sip:bob@contoso.example');
    assert.equal(a.params.get('tag'), '99');
    const v = parseVia('SIP/2.0/TLS gw.xmpp.example:5061;branch=z9hG4bKabc;received=10.0.0.1');
    assert.deepEqual([v.transport, v.host, v.port, v.params.get('branch')], ['TLS', 'gw.xmpp.example', 5061, 'z9hG4bKabc']);
    assert.throws(() => parseUri('http://x'));
    assert.throws(() => parseUri('sip:a@b c'));
  });

  it('splits lists at top-level commas only', () => {
    assert.deepEqual(splitList('<sip:a,b@c>;x=1, "D, E" <sip:d@e>,sip:f@g'), ['<sip:a,b@c>;x=1', '"D, E" <sip:d@e>', 'sip:f@g']);
    const m = parseMessage(crlf(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/TLS a:1;branch=z9hG4bK1, SIP/2.0/TLS b:2;branch=z9hG4bK2', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: 1', 'CSeq: 1 OPTIONS', 'Content-Length: 0']));
    assert.equal(headerValues(m, 'Via').length, 2);
  });
});
