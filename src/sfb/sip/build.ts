/**
 * Building the messages the SIP layers derive from others: responses (RFC 3261 §8.2.6), the ACK of a non-2xx
 * final response (§17.1.1.3), CANCEL (§9.1), and fresh tags, branches and Call-IDs (§19.3).
 */
import { randomBytes } from 'node:crypto';
import { BRANCH_COOKIE } from './address.js';
import { cseqOf, header, headerLines, reasonPhrase, type SipHeader, type SipRequest, type SipResponse } from './message.js';

export function randomToken(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}

export function newBranch(): string {
  return `${BRANCH_COOKIE}${randomToken(10)}`;
}

export function newTag(): string {
  return randomToken(5);
}

export function newCallId(): string {
  return randomToken(16);
}

export interface ResponseOptions {
  readonly reason?: string;
  /** The UAS's tag, added to To when the request's To has none (§8.2.6.2). */
  readonly toTag?: string;
  readonly headers?: readonly SipHeader[];
  readonly body?: Buffer;
}

/** §8.2.6.2: Via (all, in order), From, To, Call-ID and CSeq copied; a To tag added for anything but 100. */
export function makeResponse(req: SipRequest, status: number, o: ResponseOptions = {}): SipResponse {
  const copied: SipHeader[] = [];
  for (const v of headerLines(req, 'Via')) copied.push({ name: 'Via', value: v });
  copied.push({ name: 'From', value: header(req, 'From') ?? '' });
  let to = header(req, 'To') ?? '';
  if (status > 100 && o.toTag && !/;\s*tag=/iu.test(to)) to = `${to};tag=${o.toTag}`;
  copied.push({ name: 'To', value: to });
  copied.push({ name: 'Call-ID', value: header(req, 'Call-ID') ?? '' });
  copied.push({ name: 'CSeq', value: header(req, 'CSeq') ?? '' });
  return { kind: 'response', status, reason: o.reason ?? reasonPhrase(status), headers: [...copied, ...(o.headers ?? [])], body: o.body ?? Buffer.alloc(0) };
}

/** §17.1.1.3: the ACK a client INVITE transaction sends for a 300-699 response, on the same branch. */
export function ackForFailure(invite: SipRequest, res: SipResponse): SipRequest {
  const via = headerLines(invite, 'Via')[0] ?? '';
  const headers: SipHeader[] = [
    { name: 'Via', value: via },
    ...headerLines(invite, 'Route').map((value) => ({ name: 'Route', value })),
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: header(invite, 'From') ?? '' },
    { name: 'To', value: header(res, 'To') ?? '' },
    { name: 'Call-ID', value: header(invite, 'Call-ID') ?? '' },
    { name: 'CSeq', value: `${cseqOf(invite).seq} ACK` },
  ];
  return { kind: 'request', method: 'ACK', uri: invite.uri, headers, body: Buffer.alloc(0) };
}

/** §9.1: CANCEL of a pending request: same Request-URI, Call-ID, From, To, CSeq number, top Via and Route. */
export function cancelFor(req: SipRequest): SipRequest {
  const headers: SipHeader[] = [
    { name: 'Via', value: headerLines(req, 'Via')[0] ?? '' },
    ...headerLines(req, 'Route').map((value) => ({ name: 'Route', value })),
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: header(req, 'From') ?? '' },
    { name: 'To', value: header(req, 'To') ?? '' },
    { name: 'Call-ID', value: header(req, 'Call-ID') ?? '' },
    { name: 'CSeq', value: `${cseqOf(req).seq} CANCEL` },
  ];
  return { kind: 'request', method: 'CANCEL', uri: req.uri, headers, body: Buffer.alloc(0) };
}
