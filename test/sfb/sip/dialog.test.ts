import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMessage } from '../../../src/sfb/sip/codec.js';
import { acceptRemoteSeq, dialogId, dialogIdOfRequest, inDialogRequest, uacDialog, uasDialog } from '../../../src/sfb/sip/dialog.js';
import { header, headerValues, type SipRequest, type SipResponse } from '../../../src/sfb/sip/message.js';
import { makeResponse } from '../../../src/sfb/sip/build.js';

const lines = (l: string[]) => `${l.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;

const INVITE = parseMessage(
  lines([
    'INVITE sip:juliet@sfb.xmpp.example SIP/2.0',
    'Via: SIP/2.0/TLS fe01.contoso.example:5061;branch=z9hG4bKa',
    'Record-Route: <sip:fe01.contoso.example:5061;transport=tls;lr;ms-route-sig=S1>',
    'Record-Route: <sip:fe02.contoso.example:5061;transport=tls;lr;ms-route-sig=S2>',
    'From: "Alice" <sip:alice@contoso.example>;tag=A1;epid=e1',
    'To: <sip:juliet@sfb.xmpp.example>',
    'Call-ID: c1',
    'CSeq: 7 INVITE',
    'Contact: <sip:alice@contoso.example;opaque=user:epid:x;gruu>',
  ]),
) as SipRequest;

describe('dialogs (RFC 3261 §12)', () => {
  it('UAS: route set in Record-Route order, verbatim; remote target from Contact; remote CSeq kept', () => {
    const d = uasDialog(INVITE, 'G1');
    assert.deepEqual(d.routeSet, ['<sip:fe01.contoso.example:5061;transport=tls;lr;ms-route-sig=S1>', '<sip:fe02.contoso.example:5061;transport=tls;lr;ms-route-sig=S2>']);
    assert.equal(d.remoteTarget, 'sip:alice@contoso.example;opaque=user:epid:x;gruu');
    assert.equal(d.remoteSeq, 7);
    assert.equal(dialogId(d), 'c1|G1|A1');
    const { request, dialog } = inDialogRequest(d, 'BYE');
    assert.equal(request.uri, d.remoteTarget, 'loose routing: Request-URI is the remote target');
    assert.deepEqual(headerValues(request, 'Route'), d.routeSet);
    assert.equal(header(request, 'To'), '"Alice" <sip:alice@contoso.example>;epid=e1;tag=A1');
    assert.equal(header(request, 'CSeq'), '1 BYE');
    assert.equal(dialog.localSeq, 1);
    assert.equal(dialogIdOfRequest({ ...request, headers: request.headers.map((h) => (h.name === 'From' ? { ...h, value: header(request, 'To') ?? '' } : h.name === 'To' ? { ...h, value: header(request, 'From') ?? '' } : h)) }), 'c1|G1|A1');
  });

  it('UAC: the route set is the Record-Route of the 2xx reversed', () => {
    const ok: SipResponse = makeResponse(INVITE, 200, { toTag: 'B9', headers: [{ name: 'Contact', value: '<sip:juliet@gw.xmpp.example:5061;transport=tls>' }] });
    const withRr: SipResponse = { ...ok, headers: [...ok.headers, { name: 'Record-Route', value: '<sip:p1.example;lr>, <sip:p2.example;lr>' }] };
    const d = uacDialog(INVITE, withRr);
    assert.deepEqual(d.routeSet, ['<sip:p2.example;lr>', '<sip:p1.example;lr>']);
    assert.equal(d.remoteTag, 'B9');
    assert.equal(d.localSeq, 7);
    assert.equal(inDialogRequest(d, 'MESSAGE').request.uri, 'sip:juliet@gw.xmpp.example:5061;transport=tls');
  });

  it('strict routing: the first route becomes the Request-URI and the remote target goes last', () => {
    const d = { ...uasDialog(INVITE, 'G1'), routeSet: ['<sip:strict.example>'] };
    const { request } = inDialogRequest(d, 'INFO');
    assert.equal(request.uri, 'sip:strict.example');
    assert.deepEqual(headerValues(request, 'Route'), [`<${d.remoteTarget}>`]);
  });

  it('refuses a request that goes back in CSeq (§12.2.2) and refreshes the target on re-INVITE', () => {
    const d = uasDialog(INVITE, 'G1');
    const msg = (method: string, seq: number, contact?: string): SipRequest => ({
      ...INVITE,
      method,
      headers: [...INVITE.headers.filter((h) => h.name !== 'CSeq' && h.name !== 'Contact'), { name: 'CSeq', value: `${seq} ${method}` }, ...(contact ? [{ name: 'Contact', value: contact }] : [])],
    });
    assert.equal(acceptRemoteSeq(d, msg('MESSAGE', 7)), undefined);
    const next = acceptRemoteSeq(d, msg('MESSAGE', 8));
    assert.equal(next?.remoteSeq, 8);
    const refreshed = next && acceptRemoteSeq(next, msg('INVITE', 9, '<sip:alice@contoso.example;opaque=user:epid:y;gruu>'));
    assert.equal(refreshed?.remoteTarget, 'sip:alice@contoso.example;opaque=user:epid:y;gruu');
  });
});
