/**
 * SIP dialogs (RFC 3261 §12) as plain, serialisable state and pure functions over it, so that a dialog can be
 * stored and picked up by another node. The route set keeps each Record-Route entry verbatim: SfB's Front End
 * signs its own (ms-route-sig) and refuses a route it did not sign ([MS-SIPRE] 3.x Record-Route handling).
 */
import { formatNameAddr, parseNameAddr, parseUri, tagOf } from './address.js';
import { cseqOf, header, headerValues, type SipHeader, type SipRequest, type SipResponse } from './message.js';

export interface DialogState {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** The local party's From/To value without its tag. */
  readonly localUri: string;
  readonly remoteUri: string;
  readonly localSeq: number;
  /** Undefined until the remote side sent a request in the dialog (§12.1.2). */
  readonly remoteSeq: number | undefined;
  readonly remoteTarget: string;
  /** Route set, in the order requests carry it (§12.1.1 / §12.1.2), each entry as received. */
  readonly routeSet: readonly string[];
  readonly secure: boolean;
}

export function dialogId(d: Pick<DialogState, 'callId' | 'localTag' | 'remoteTag'>): string {
  return `${d.callId}|${d.localTag}|${d.remoteTag}`;
}

/** The id of the dialog a request belongs to, from the receiver's side (§12.2.2: To tag is local). */
export function dialogIdOfRequest(req: SipRequest): string | undefined {
  const local = tagOf(header(req, 'To'));
  const remote = tagOf(header(req, 'From'));
  if (!local || !remote) return undefined;
  return `${header(req, 'Call-ID') ?? ''}|${local}|${remote}`;
}

function withoutTag(value: string): string {
  const a = parseNameAddr(value);
  const params = new Map(a.params);
  params.delete('tag');
  return formatNameAddr({ display: a.display, uri: a.uri, params });
}

function contactUri(m: SipRequest | SipResponse): string {
  const c = headerValues(m, 'Contact')[0];
  if (!c) throw new Error('no Contact');
  return parseNameAddr(c).uri;
}

/** §12.1.1: the UAS's dialog, made by the response it sends with `localTag` to a dialog-creating request. */
export function uasDialog(req: SipRequest, localTag: string): DialogState {
  return {
    callId: header(req, 'Call-ID') ?? '',
    localTag,
    remoteTag: tagOf(header(req, 'From')) ?? '',
    localUri: withoutTag(header(req, 'To') ?? ''),
    remoteUri: withoutTag(header(req, 'From') ?? ''),
    localSeq: 0,
    remoteSeq: cseqOf(req).seq,
    remoteTarget: contactUri(req),
    routeSet: headerValues(req, 'Record-Route'),
    secure: /^sips:/iu.test(req.uri),
  };
}

/** §12.1.2: the UAC's dialog from a 2xx (or tagged 1xx) response; the route set is the Record-Route reversed. */
export function uacDialog(req: SipRequest, res: SipResponse): DialogState {
  return {
    callId: header(req, 'Call-ID') ?? '',
    localTag: tagOf(header(req, 'From')) ?? '',
    remoteTag: tagOf(header(res, 'To')) ?? '',
    localUri: withoutTag(header(req, 'From') ?? ''),
    remoteUri: withoutTag(header(res, 'To') ?? ''),
    localSeq: cseqOf(req).seq,
    remoteSeq: undefined,
    remoteTarget: contactUri(res),
    routeSet: headerValues(res, 'Record-Route').reverse(),
    secure: /^sips:/iu.test(req.uri),
  };
}

export interface InDialogOptions {
  readonly headers?: readonly SipHeader[];
  readonly body?: Buffer;
  /** ACK of a 2xx and CANCEL reuse the INVITE's CSeq number (§13.2.2.4); everything else takes the next one. */
  readonly cseq?: number;
}

/**
 * §12.2.1.1: a request within the dialog. Loose routing (the first route has "lr"): the Request-URI is the remote
 * target and the route set goes in Route as is. Strict routing: the first route becomes the Request-URI and the
 * remote target goes last.
 */
export function inDialogRequest(d: DialogState, method: string, o: InDialogOptions = {}): { request: SipRequest; dialog: DialogState } {
  const seq = o.cseq ?? d.localSeq + 1;
  let uri = d.remoteTarget;
  let routes = [...d.routeSet];
  const first = routes[0];
  if (first !== undefined && !parseUri(parseNameAddr(first).uri).params.has('lr')) {
    uri = parseNameAddr(first).uri;
    routes = [...routes.slice(1), `<${d.remoteTarget}>`];
  }
  const headers: SipHeader[] = [
    ...routes.map((value) => ({ name: 'Route', value })),
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: `${d.localUri};tag=${d.localTag}` },
    { name: 'To', value: `${d.remoteUri};tag=${d.remoteTag}` },
    { name: 'Call-ID', value: d.callId },
    { name: 'CSeq', value: `${seq} ${method}` },
    ...(o.headers ?? []),
  ];
  const dialog = o.cseq === undefined ? { ...d, localSeq: seq } : d;
  return { request: { kind: 'request', method, uri, headers, body: o.body ?? Buffer.alloc(0) }, dialog };
}

/**
 * §12.2.2: a request in the dialog must not go back in CSeq; returns the updated dialog, or undefined when the
 * request is out of order (answered 500).
 */
export function acceptRemoteSeq(d: DialogState, req: SipRequest): DialogState | undefined {
  if (req.method === 'ACK' || req.method === 'CANCEL') return d;
  const seq = cseqOf(req).seq;
  if (d.remoteSeq !== undefined && seq <= d.remoteSeq) return undefined;
  let next: DialogState = { ...d, remoteSeq: seq };
  // §12.2.2 target refresh: a re-INVITE (or UPDATE) with a Contact replaces the remote target.
  if ((req.method === 'INVITE' || req.method === 'UPDATE') && headerValues(req, 'Contact').length > 0) next = { ...next, remoteTarget: contactUri(req) };
  return next;
}
