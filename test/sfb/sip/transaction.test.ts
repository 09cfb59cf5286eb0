import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeResponse } from '../../../src/sfb/sip/build.js';
import { cseqOf, header, type SipRequest, type SipResponse } from '../../../src/sfb/sip/message.js';
import { ClientTransaction, ServerTransaction, type Wire } from '../../../src/sfb/sip/transaction.js';
import { DEFAULT_TIMER_VALUES, ManualTimers } from '../../../src/sfb/sip/timers.js';

function request(method: string): SipRequest {
  return {
    kind: 'request',
    method,
    uri: 'sip:alice@contoso.example',
    headers: [
      { name: 'Via', value: 'SIP/2.0/TLS gw.xmpp.example:5061;branch=z9hG4bKtest' },
      { name: 'From', value: '<sip:juliet@sfb.xmpp.example>;tag=j1' },
      { name: 'To', value: '<sip:alice@contoso.example>' },
      { name: 'Call-ID', value: 'call-1' },
      { name: 'CSeq', value: `1 ${method}` },
    ],
    body: Buffer.alloc(0),
  };
}

class RecordingWire implements Wire {
  readonly sent: { at: number; what: string }[] = [];
  fail = false;
  constructor(
    readonly reliable: boolean,
    private readonly clock: ManualTimers,
  ) {}
  async send(m: SipRequest | SipResponse): Promise<void> {
    if (this.fail) throw new Error('connection reset');
    this.sent.push({ at: this.clock.now(), what: m.kind === 'request' ? m.method : String(m.status) });
  }
}

const T = DEFAULT_TIMER_VALUES;
const flush = () => new Promise((r) => setImmediate(r));

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  it('over an unreliable transport retransmits with Timer A doubling, then times out with Timer B at 64*T1', () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(false, clock);
    const failures: string[] = [];
    const tx = new ClientTransaction(clock, T, wire, request('INVITE'), { onResponse: () => assert.fail(), onFailure: (r) => failures.push(r) });
    tx.begin();
    clock.advance(64 * T.T1);
    assert.deepEqual(wire.sent.map((s) => s.at), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert.deepEqual(failures, ['timeout']);
    assert.equal(tx.state, 'terminated');
  });

  it('over TLS sends once: only Timer B runs', () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(true, clock);
    const failures: string[] = [];
    const tx = new ClientTransaction(clock, T, wire, request('INVITE'), { onResponse: () => undefined, onFailure: (r) => failures.push(r) });
    tx.begin();
    assert.deepEqual(tx.runningTimers, ['B']);
    clock.advance(31_999);
    assert.deepEqual(failures, []);
    clock.advance(1);
    assert.equal(wire.sent.length, 1);
    assert.deepEqual(failures, ['timeout']);
  });

  it('a provisional response stops retransmission; a 2xx moves to Accepted and every fork 2xx reaches the TU', () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(false, clock);
    const seen: string[] = [];
    const invite = request('INVITE');
    const tx = new ClientTransaction(clock, T, wire, invite, { onResponse: (r) => seen.push(`${r.status}:${header(r, 'To')}`), onFailure: () => assert.fail() });
    tx.begin();
    tx.receive(makeResponse(invite, 180, { toTag: 'a' }));
    clock.advance(10_000);
    assert.equal(wire.sent.length, 1, 'no retransmission after a provisional');
    tx.receive(makeResponse(invite, 200, { toTag: 'a' }));
    assert.equal(tx.state, 'accepted');
    tx.receive(makeResponse(invite, 200, { toTag: 'b' }));
    tx.receive(makeResponse(invite, 200, { toTag: 'a' }));
    assert.deepEqual(seen.map((s) => s.split(';tag=')[1] ?? s), ['a', 'a', 'b', 'a']);
    clock.advance(64 * T.T1);
    assert.equal(tx.state, 'terminated', 'Timer M ends Accepted');
  });

  it('a failure is ACKed on the same branch, and again for each retransmission; Timer D is 0 over TLS', () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(true, clock);
    const invite = request('INVITE');
    const finals: number[] = [];
    const tx = new ClientTransaction(clock, T, wire, invite, { onResponse: (r) => finals.push(r.status), onFailure: () => assert.fail() });
    tx.begin();
    tx.receive(makeResponse(invite, 486, { toTag: 'x' }));
    tx.receive(makeResponse(invite, 486, { toTag: 'x' }));
    return flush().then(() => {
      assert.deepEqual(wire.sent.map((s) => s.what), ['INVITE', 'ACK', 'ACK']);
      assert.deepEqual(finals, [486], 'the retransmission is not the TU\'s business');
      clock.advance(0);
      assert.equal(tx.state, 'terminated');
    });
  });

  it('a transport failure ends the transaction and reads as 503 to the TU', async () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(true, clock);
    wire.fail = true;
    const failures: string[] = [];
    const tx = new ClientTransaction(clock, T, wire, request('INVITE'), { onResponse: () => undefined, onFailure: (r) => failures.push(r) });
    tx.begin();
    await flush();
    assert.deepEqual(failures, ['transport']);
    assert.equal(tx.state, 'terminated');
  });
});

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('Timer E doubles up to T2, stays at T2 in Proceeding, and Timer F fires at 64*T1', () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(false, clock);
    const req = request('MESSAGE');
    const failures: string[] = [];
    const tx = new ClientTransaction(clock, T, wire, req, { onResponse: () => undefined, onFailure: (r) => failures.push(r) });
    tx.begin();
    clock.advance(12_000);
    assert.deepEqual(wire.sent.map((s) => s.at), [0, 500, 1500, 3500, 7500, 11500]);
    tx.receive(makeResponse(req, 100));
    clock.advance(20_000);
    assert.deepEqual(wire.sent.slice(6).map((s) => s.at), [15500, 19500, 23500, 27500, 31500]);
    assert.deepEqual(failures, ['timeout']);
  });

  it('completes on a final response; Timer K waits T4 over UDP and 0 over TLS', () => {
    for (const reliable of [false, true]) {
      const clock = new ManualTimers();
      const wire = new RecordingWire(reliable, clock);
      const req = request('MESSAGE');
      const tx = new ClientTransaction(clock, T, wire, req, { onResponse: () => undefined, onFailure: () => assert.fail() });
      tx.begin();
      tx.receive(makeResponse(req, 200, { toTag: 'z' }));
      assert.equal(tx.state, 'completed');
      clock.advance(reliable ? 0 : T.T4 - 1);
      assert.equal(tx.state, reliable ? 'terminated' : 'completed');
      clock.advance(1);
      assert.equal(tx.state, 'terminated');
    }
  });
});

describe('server transactions (RFC 3261 §17.2)', () => {
  it('INVITE failure: resent on each retransmitted INVITE, Timer G over UDP, Timer H without ACK', async () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(false, clock);
    const invite = request('INVITE');
    const failures: string[] = [];
    const tx = new ServerTransaction(clock, T, wire, invite, { onFailure: (r) => failures.push(r) });
    tx.respond(makeResponse(invite, 100));
    tx.retransmission();
    tx.respond(makeResponse(invite, 486, { toTag: 's' }));
    clock.advance(64 * T.T1);
    await flush();
    assert.deepEqual(wire.sent.map((s) => `${s.what}@${s.at}`), ['100@0', '100@0', '486@0', '486@500', '486@1500', '486@3500', '486@7500', '486@11500', '486@15500', '486@19500', '486@23500', '486@27500', '486@31500']);
    assert.deepEqual(failures, ['timeout']);
  });

  it('INVITE failure over TLS: the ACK confirms, Timer I is 0', () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(true, clock);
    const invite = request('INVITE');
    const tx = new ServerTransaction(clock, T, wire, invite, { onFailure: () => assert.fail() });
    tx.respond(makeResponse(invite, 603, { toTag: 's' }));
    assert.deepEqual(tx.runningTimers, ['H']);
    tx.ack();
    assert.equal(tx.state, 'confirmed');
    clock.advance(0);
    assert.equal(tx.state, 'terminated');
  });

  it('INVITE 2xx: Accepted for 64*T1 (Timer L), and a second final response is refused', () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(true, clock);
    const invite = request('INVITE');
    const tx = new ServerTransaction(clock, T, wire, invite, { onFailure: () => assert.fail() });
    assert.equal(tx.respond(makeResponse(invite, 200, { toTag: 's' })), true);
    assert.equal(tx.state, 'accepted');
    assert.equal(tx.respond(makeResponse(invite, 486, { toTag: 's' })), false);
    clock.advance(64 * T.T1);
    assert.equal(tx.state, 'terminated');
  });

  it('non-INVITE: a retransmitted request gets the last response again; Timer J', async () => {
    const clock = new ManualTimers();
    const wire = new RecordingWire(false, clock);
    const req = request('MESSAGE');
    const tx = new ServerTransaction(clock, T, wire, req, { onFailure: () => assert.fail() });
    tx.retransmission(); // nothing to resend yet
    tx.respond(makeResponse(req, 200, { toTag: 's' }));
    tx.retransmission();
    await flush();
    assert.deepEqual(wire.sent.map((s) => s.what), ['200', '200']);
    clock.advance(64 * T.T1);
    assert.equal(tx.state, 'terminated');
    assert.equal(cseqOf(req).method, 'MESSAGE');
  });
});
