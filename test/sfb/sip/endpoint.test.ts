import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { makeResponse, newCallId, newTag } from '../../../src/sfb/sip/build.js';
import { uacDialog } from '../../../src/sfb/sip/dialog.js';
import { SipEndpoint, type IncomingRequest } from '../../../src/sfb/sip/endpoint.js';
import { header, type SipRequest } from '../../../src/sfb/sip/message.js';
import { SipTlsTransport, nameMatches, peerTrusted } from '../../../src/sfb/sip/transport.js';
import { loopbackHosts, testIdentity, waitFor } from '../support.js';
import { serialize } from '../../../src/sfb/sip/codec.js';

const GW = 'gw.test.example';
const FE = 'fe01.test.example';
const hosts = loopbackHosts(GW, FE, 'rogue.test.example');

interface Side {
  transport: SipTlsTransport;
  endpoint: SipEndpoint;
  requests: IncomingRequest[];
}

async function side(name: string, trusts: string[], o: { keepAliveMs?: number; idleMs?: number; port?: number } = {}): Promise<Side> {
  const transport = new SipTlsTransport({
    identity: await testIdentity(name),
    listen: { host: '127.0.0.1', port: o.port ?? 0 },
    trusted: (names) => names.some((n) => trusts.some((t) => nameMatches(n, t))),
    hosts,
    keepAliveMs: o.keepAliveMs ?? 0,
    idleMs: o.idleMs ?? 60_000,
  });
  await transport.start();
  const endpoint = new SipEndpoint({ transport, host: name, port: transport.port });
  const requests: IncomingRequest[] = [];
  endpoint.onRequest = (i) => requests.push(i);
  return { transport, endpoint, requests };
}

function invite(from: Side, to: Side, toUser = 'alice'): SipRequest {
  return {
    kind: 'request',
    method: 'INVITE',
    uri: `sip:${toUser}@${to.endpoint.host}:${to.transport.port};transport=tls`,
    headers: [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: `<sip:juliet@${from.endpoint.host}>;tag=${newTag()}` },
      { name: 'To', value: `<sip:${toUser}@${to.endpoint.host}>` },
      { name: 'Call-ID', value: newCallId() },
      { name: 'CSeq', value: '1 INVITE' },
      { name: 'Contact', value: `<sip:juliet@${from.endpoint.host}:${from.transport.port};transport=tls>` },
    ],
    body: Buffer.alloc(0),
  };
}

describe('which certificates name a trusted peer', () => {
  const table: [string[], string[], boolean][] = [
    [['fe01.contoso.example'], ['fe01.contoso.example'], true],
    [['fe01.contoso.example'], ['*.contoso.example'], true],
    [['a.b.contoso.example'], ['*.contoso.example'], false], // a wildcard covers one label (RFC 6125 §6.4.3)
    [['*.contoso.example'], ['fe01.contoso.example'], true], // a wildcard certificate for a configured host
    [['*.contoso.example'], ['*.contoso.example'], true], // the certificate covers the domain the configuration trusts
    [['rogue.example', 'fe01.contoso.example.evil'], ['fe01.contoso.example', '*.contoso.example'], false],
    [[], ['*.contoso.example'], false],
  ];
  for (const [names, trusted, ok] of table) it(`${names.join(',') || '(none)'} vs ${trusted.join(',')} -> ${ok}`, () => assert.equal(peerTrusted(names, trusted), ok));
});

describe('SIP over mutual TLS: transport and user agent core', () => {
  let gw: Side;
  let fe: Side;
  before(async () => {
    gw = await side(GW, [FE]);
    fe = await side(FE, [GW]);
  });
  after(async () => {
    await gw.transport.stop();
    await fe.transport.stop();
  });

  it('INVITE, 200 with the core ACK, then a BYE the other way over the same connection', async () => {
    const inv = invite(gw, fe);
    const pending = gw.endpoint.request(inv);
    const incoming = await waitFor(() => fe.requests.find((r) => r.request.method === 'INVITE'), 5_000, 'INVITE at the FE');
    fe.requests.length = 0;
    incoming.respond(200, { toTag: 'fe1', headers: [{ name: 'Contact', value: `<sip:alice@${FE}:${fe.transport.port};transport=tls>` }] });
    const res = await pending;
    assert.equal(res.status, 200);
    const ack = await incoming.ackReceived;
    assert.equal(ack?.method, 'ACK');
    // The FE's BYE to the gateway reuses the gateway's connection (RFC 5923 aliasing by certificate name).
    const before = fe.transport.connectionCount;
    const d = uacDialog({ ...inv, headers: inv.headers }, res);
    const bye = fe.endpoint.request({
      kind: 'request',
      method: 'BYE',
      uri: `sip:juliet@${GW}:${gw.transport.port};transport=tls`,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `${d.remoteUri};tag=${d.remoteTag}` },
        { name: 'To', value: `${d.localUri};tag=${d.localTag}` },
        { name: 'Call-ID', value: d.callId },
        { name: 'CSeq', value: '1 BYE' },
      ],
      body: Buffer.alloc(0),
    });
    const gotBye = await waitFor(() => gw.requests.find((r) => r.request.method === 'BYE'), 5_000, 'BYE at the gateway');
    gotBye.respond(200);
    assert.equal((await bye).status, 200);
    assert.equal(fe.transport.connectionCount, before, 'no new connection for the BYE');
  });

  it('CANCEL: the caller gets 487, the callee is told, and the CANCEL itself gets 200', async () => {
    const inv = invite(gw, fe);
    const pending = gw.endpoint.request(inv, { onProvisional: () => undefined });
    const incoming = await waitFor(() => fe.requests.find((r) => r.request.method === 'INVITE' && header(r.request, 'Call-ID') === header(inv, 'Call-ID')), 5_000, 'INVITE');
    let cancelled = false;
    incoming.onCancel = () => (cancelled = true);
    incoming.respond(180, { toTag: 'fe2' });
    await new Promise((r) => setTimeout(r, 50));
    const cancel = gw.endpoint.cancel(inv);
    assert.ok(cancel);
    assert.equal((await cancel).status, 200);
    assert.equal((await pending).status, 487);
    assert.equal(cancelled, true);
  });

  it('a forked INVITE: each 2xx is ACKed and the extra dialog ended with BYE (§13.2.2.4)', async () => {
    fe.requests.length = 0;
    const inv = invite(gw, fe);
    const pending = gw.endpoint.request(inv);
    const incoming = await waitFor(() => fe.requests.find((r) => r.request.method === 'INVITE'), 5_000, 'INVITE');
    const contact = { name: 'Contact', value: `<sip:alice@${FE}:${fe.transport.port};transport=tls>` };
    incoming.respond(200, { toTag: 'dev1', headers: [contact] });
    // A second device's 200, as a forking proxy passes it on (RFC 3261 §16.7 step 5).
    await incoming.connection.send(makeResponse(incoming.request, 200, { toTag: 'dev2', headers: [contact] }));
    assert.equal((await pending).status, 200);
    const bye = await waitFor(() => fe.requests.find((r) => r.request.method === 'BYE'), 5_000, 'BYE of the extra fork');
    assert.match(header(bye.request, 'To') ?? '', /tag=dev2/u);
    bye.respond(200);
    const acks = await waitFor(() => (incoming.ackReceived ? incoming.ackReceived : undefined));
    assert.equal((await acks).method, 'ACK');
  });

  it('an unreachable peer reads as 503 (RFC 3261 §8.1.3.1; the 408 of a silent one is in transaction.test)', async () => {
    fe.requests.length = 0;
    const opts: SipRequest = { ...invite(gw, fe), method: 'OPTIONS', headers: invite(gw, fe).headers.map((h) => (h.name === 'CSeq' ? { ...h, value: '1 OPTIONS' } : h)) };
    const unreachable = await gw.endpoint.request(opts, { hop: { host: FE, port: 1 } });
    assert.equal(unreachable.status, 503);
  });

  it('refuses a peer whose certificate names a host it does not trust, both ways', async () => {
    const rogue = await side('rogue.test.example', [GW]);
    try {
      // rogue -> gateway: the gateway's listener drops it after the handshake.
      const inv = invite(rogue, gw);
      const res = await rogue.endpoint.request(inv);
      assert.equal(res.status, 503);
      // gateway -> rogue: the gateway does not talk to it either.
      const out = await gw.endpoint.request(invite(gw, rogue));
      assert.equal(out.status, 503);
    } finally {
      await rogue.transport.stop();
    }
  });

  it('answers a CRLF ping with a pong, closes a silent peer, and keeps one that pings', async () => {
    const strict = await side('fe01.test.example', [GW], { idleMs: 600 });
    try {
      const id = await testIdentity(GW);
      const open = () =>
        new Promise<tls.TLSSocket>((resolve, reject) => {
          const s = tls.connect({ host: '127.0.0.1', port: strict.transport.port, servername: FE, key: id.key, cert: id.cert, ca: id.ca }, () => resolve(s));
          s.once('error', reject);
        });
      const pinging = await open();
      const silent = await open();
      const pongs: string[] = [];
      pinging.on('data', (d: Buffer) => pongs.push(d.toString()));
      const timer = setInterval(() => pinging.write('\r\n\r\n'), 150);
      const silentClosed = new Promise((r) => silent.once('close', r));
      await silentClosed;
      clearInterval(timer);
      assert.ok(pongs.join('').startsWith('\r\n'), 'pong received');
      assert.equal(pinging.destroyed, false, 'a pinging peer stays connected');
      pinging.destroy();
    } finally {
      await strict.transport.stop();
    }
  });

  it('answers an oversized message with 513 and closes the connection', async () => {
    const id = await testIdentity(GW);
    const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port: fe.transport.port, servername: FE, key: id.key, cert: id.cert, ca: id.ca }, () => resolve(c));
      c.once('error', reject);
    });
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    const closed = new Promise((r) => s.once('close', r));
    const req = invite(gw, fe);
    const head = serialize({ ...req, headers: [{ name: 'Via', value: `SIP/2.0/TLS ${GW}:5061;branch=z9hG4bKbig` }, ...req.headers] }).toString().replace('Content-Length: 0', 'Content-Length: 10000000');
    s.write(head);
    await closed;
    assert.match(Buffer.concat(got).toString(), /^SIP\/2\.0 513 /u);
  });
});
