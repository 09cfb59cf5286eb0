/**
 * What the pool's users do, as their clients would ([MS-SIPRE], SfB client traces): IM (a new session whose INVITE
 * carries the first message, or MESSAGE in the open one; a new session when the gateway lost the old one), typing
 * in the device's form, BYE, conference invitations, and watching XMPP contacts (a single SUBSCRIBE after the
 * pool's batch resubscribe), each request passed on by the Front End with its Via, Record-Route and the client's
 * own Via under it.
 */
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { parseUri } from '../../../src/sfb/sip/address.js';
import { newCallId, newTag } from '../../../src/sfb/sip/build.js';
import { inDialogRequest, uacDialog, type DialogState } from '../../../src/sfb/sip/dialog.js';
import { header, headerValues, type SipHeader, type SipRequest, type SipResponse } from '../../../src/sfb/sip/message.js';
import type { FrontEnd, Session } from './front-end.js';
import { record, type SfbUser } from './model.js';

const CATEGORIES = 'application/msrtc-event-categories+xml';

export class SfbClients {
  /** Subscriptions of SfB users to XMPP users (the gateway is their presence server). */
  private readonly watches = new Map<string, { user: SfbUser; target: string; dialog: DialogState }>();

  constructor(private readonly fe: FrontEnd) {}

  watchOf(id: string): { user: SfbUser; target: string; dialog: DialogState } | undefined {
    return this.watches.get(id);
  }


  private sessionWith(user: SfbUser, remote: string): Session | undefined {
    return [...this.fe.sessions.values()].find((s) => s.user === user && s.remote === remote);
  }

  /**
   * The client's own Via under the Front End's, as the pool passes a device's request on: the device's address and
   * the ms-received-port / ms-received-cid the Front End stamps on it ([MS-SIPRE] Via extensions).
   */
  private clientVia(): SipHeader[] {
    const port = 50_000 + Math.floor(Math.random() * 10_000);
    return [{ name: 'Via', value: `SIP/2.0/TLS 192.0.2.10:${port};branch=z9hG4bK${randomBytes(6).toString('hex')};ms-received-port=${port};ms-received-cid=${randomBytes(2).toString('hex').toUpperCase()}00` }];
  }

  /** An IM from an SfB user: in the open session, or a new INVITE carrying it in ms-text-format. */
  async sendIm(user: SfbUser, remote: string, text: string, form: 'plain' | 'html' | 'multipart' = 'plain'): Promise<number> {
    const body = bodyOf(text, form);
    const existing = this.sessionWith(user, remote);
    if (existing) {
      const status = await this.inSession(existing, 'MESSAGE', [{ name: 'Content-Type', value: body.type }], body.bytes);
      if (status === 481 || status === 408) {
        // The gateway lost the session: SfB clients start a new one (re-INVITE of a dead session).
        this.fe.closeSession(existing, `remote answered ${status}`);
        return this.startSession(user, remote, text);
      }
      return status;
    }
    return this.startSession(user, remote, text);
  }

  private async startSession(user: SfbUser, remote: string, first: string | undefined, conference = false): Promise<number> {
    const device = user.devices[0];
    if (!device) throw new Error(`${user.uri} has no signed-in device`);
    const domain = parseUri(remote).host;
    const route = this.fe.routeFor(domain);
    if (!route) throw new Error(`no static route for ${domain}`);
    const rr = this.fe.signer.recordRoute();
    const tag = newTag();
    const headers: SipHeader[] = [
      ...this.clientVia(),
      { name: 'Record-Route', value: rr },
      { name: 'Max-Forwards', value: '69' },
      { name: 'From', value: `"${user.card.displayName}" <${user.uri}>;tag=${tag};epid=${device.epid}` },
      { name: 'To', value: `<${remote}>` },
      { name: 'Call-ID', value: newCallId() },
      { name: 'CSeq', value: '1 INVITE' },
      { name: 'Contact', value: `<${device.gruu}>` },
      { name: 'Supported', value: 'ms-dialog-route-set-update, timer, histinfo, ms-safe-transfer, ms-sender, ms-early-media, ms-conf-invite' },
      { name: 'ms-keep-alive', value: 'UAC;hop-hop=yes' },
      { name: 'Ms-Conversation-ID', value: randomBytes(12).toString('base64') },
    ];
    let body: Buffer;
    if (conference) {
      // An invitation to a multiparty IM conference ([MS-CONFIM]): the focus URI instead of an SDP offer.
      headers.push({ name: 'Content-Type', value: 'application/ms-conf-invite+xml' });
      body = Buffer.from(`<?xml version="1.0"?><Conferencing version="2.0"><focus-uri>${user.uri};gruu;opaque=app:conf:focus:id:${randomBytes(4).toString('hex').toUpperCase()}</focus-uri><subject></subject><im available="true"><first-im/></im></Conferencing>`);
    } else {
      if (first !== undefined) headers.push({ name: 'ms-text-format', value: `text/plain; charset=UTF-8;ms-body=${Buffer.from(first, 'utf8').toString('base64')}` });
      headers.push({ name: 'Content-Type', value: 'application/sdp' });
      body = Buffer.from('v=0\r\no=- 0 0 IN IP4 192.0.2.10\r\ns=session\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=message 5061 sip null\r\na=accept-types:text/plain text/html multipart/alternative application/im-iscomposing+xml\r\n');
    }
    const invite: SipRequest = { kind: 'request', method: 'INVITE', uri: remote, headers, body };
    this.fe.log('out', 'INVITE');
    const res = await this.fe.toApp(invite, { host: route.host, port: route.port });
    this.fe.log('in', 'INVITE', res.status);
    if (res.status >= 200 && res.status < 300) {
      this.checkCopiedRecordRoute(res, rr);
      const d = uacDialog(invite, res);
      const s = this.fe.openSession(user, device, d, remote, rr);
      s.dialog = { ...s.dialog, routeSet: [] };
      record(user, { at: Date.now(), from: remote, kind: 'session-start', device: device.epid });
    }
    return res.status;
  }

  /** The UAS must copy Record-Route into its 2xx verbatim (RFC 3261 §12.1.1); SfB relies on its signature. */
  private checkCopiedRecordRoute(res: SipResponse, rr: string): void {
    if (!headerValues(res, 'Record-Route').includes(rr)) this.fe.violations.push('a 2xx did not copy the Record-Route verbatim');
  }

  private async inSession(s: Session, method: string, headers: SipHeader[], body: Buffer): Promise<number> {
    const { request, dialog } = inDialogRequest(s.dialog, method, { headers: [...this.clientVia(), ...headers], body });
    s.dialog = dialog;
    this.fe.touch(s);
    this.fe.log('out', method);
    const res = await this.fe.toApp(request, this.fe.hopOf(s.dialog.remoteTarget));
    this.fe.log('in', method, res.status);
    return res.status;
  }

  async typing(user: SfbUser, remote: string, state: 'composing' | 'idle'): Promise<number> {
    const s = this.sessionWith(user, remote);
    if (!s) throw new Error('no IM session: typing goes in an open conversation');
    if (s.device.typingForm === 'info') {
      return this.inSession(s, 'INFO', [{ name: 'Content-Type', value: 'application/xml' }], Buffer.from(`<?xml version="1.0"?><KeyboardActivity><status status="${state === 'composing' ? 'type' : 'idle'}"/></KeyboardActivity>`));
    }
    const inner = state === 'composing' ? '<state>active</state><contenttype>text/plain</contenttype><refresh>60</refresh>' : '<state>idle</state>';
    return this.inSession(s, 'MESSAGE', [{ name: 'Content-Type', value: 'application/im-iscomposing+xml' }], Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">${inner}</isComposing>`));
  }

  async bye(s: Session | { user: SfbUser; remote: string }, why = 'user'): Promise<number> {
    const session = 'dialog' in s ? s : this.sessionWith(s.user, s.remote);
    if (!session) return 481;
    this.fe.closeSession(session, why);
    const { request } = inDialogRequest(session.dialog, 'BYE', { headers: this.clientVia() });
    this.fe.log('out', 'BYE', undefined, why);
    return (await this.fe.toApp(request, this.fe.hopOf(session.dialog.remoteTarget))).status;
  }

  async conference(user: SfbUser, remote: string): Promise<number> {
    return this.startSession(user, remote, undefined, true);
  }

  /**
   * An SfB user adds an XMPP contact: her client's batch SUBSCRIBE is answered by her pool with "resubscribe" for
   * the federated resource, and her client then subscribes to it singly, routed to the trusted application.
   */
  async watch(user: SfbUser, remote: string, expires = 3600): Promise<number> {
    const device = user.devices[0];
    if (!device) throw new Error(`${user.uri} has no signed-in device`);
    const route = this.fe.routeFor(parseUri(remote).host);
    if (!route) throw new Error('no static route');
    this.fe.log('out', 'SUBSCRIBE', undefined, 'batch answered internally with resubscribe; single SUBSCRIBE follows');
    const rr = this.fe.signer.recordRoute();
    const req: SipRequest = {
      kind: 'request',
      method: 'SUBSCRIBE',
      uri: remote,
      headers: [
        ...this.clientVia(),
        { name: 'Record-Route', value: rr },
        { name: 'Max-Forwards', value: '69' },
        { name: 'From', value: `<${user.uri}>;tag=${newTag()};epid=${device.epid}` },
        { name: 'To', value: `<${remote}>` },
        { name: 'Call-ID', value: newCallId() },
        { name: 'CSeq', value: '1 SUBSCRIBE' },
        { name: 'Contact', value: `<${device.gruu}>` },
        { name: 'Event', value: 'presence' },
        { name: 'Accept', value: `${CATEGORIES}, application/rlmi+xml, multipart/related` },
        { name: 'Supported', value: 'ms-benotify, ms-piggyback-first-notify' },
        { name: 'Proxy-Require', value: 'ms-benotify' },
        { name: 'Expires', value: String(expires) },
        { name: 'Content-Type', value: 'application/msrtc-adrl-categorylist+xml' },
      ],
      body: Buffer.from(
        `<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="${user.uri}" name=""><action name="subscribe" id="1"><adhocList><resource uri="${remote}"/></adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist"><category name="state"/><category name="note"/><category name="contactCard"/></categoryList></action></batchSub>`,
      ),
    };
    const res = await this.fe.toApp(req, { host: route.host, port: route.port });
    if (res.status >= 200 && res.status < 300) {
      this.checkCopiedRecordRoute(res, rr);
      const d = { ...uacDialog(req, res), routeSet: [] };
      this.watches.set(`${d.callId}|${d.localTag}|${d.remoteTag}`, { user, target: remote, dialog: d });
      if (res.body.length) this.presenceFromGateway({ user, target: remote }, res);
    }
    return res.status;
  }

  /** Ends an SfB user's subscription to an XMPP user (Expires: 0). */
  async unwatch(user: SfbUser, remote: string): Promise<number> {
    const entry = [...this.watches.entries()].find(([, w]) => w.user === user && w.target === remote);
    if (!entry) return 481;
    const [key, w] = entry;
    this.watches.delete(key);
    const { request } = inDialogRequest(w.dialog, 'SUBSCRIBE', { headers: [{ name: 'Event', value: 'presence' }, { name: 'Expires', value: '0' }, { name: 'Accept', value: CATEGORIES }] });
    return (await this.fe.toApp(request, this.fe.hopOf(w.dialog.remoteTarget))).status;
  }

  /** Refreshes every watch of a user (what SfB clients do before a subscription lapses). */
  async refreshWatches(user: SfbUser, expires = 3600): Promise<number[]> {
    const out: number[] = [];
    for (const w of this.watches.values()) {
      if (w.user !== user) continue;
      const { request, dialog } = inDialogRequest(w.dialog, 'SUBSCRIBE', { headers: [{ name: 'Event', value: 'presence' }, { name: 'Expires', value: String(expires) }, { name: 'Accept', value: CATEGORIES }, { name: 'Supported', value: 'ms-benotify, ms-piggyback-first-notify' }] });
      w.dialog = dialog;
      out.push((await this.fe.toApp(request, this.fe.hopOf(w.dialog.remoteTarget))).status);
    }
    return out;
  }

  /**
   * What her client shows as a watched XMPP contact's photo: the https address in the contact's contactCard photo,
   * fetched with the organisation's trust (the test CA) as SfB clients fetch a picture from a web address.
   */
  async contactPhoto(user: SfbUser, remote: string): Promise<{ status: number; url?: string; type?: string; base64?: string }> {
    const doc = user.watching.get(remote)?.body ?? '';
    const url = /<photo\b[^>]*>\s*<uri>([^<]+)<\/uri>/u.exec(doc)?.[1]?.replace(/&amp;/gu, '&');
    if (!url) return { status: 0 };
    const u = new URL(url);
    if (u.protocol !== 'https:') {
      this.fe.violations.push(`a contactCard photo address that is not https: ${url}`);
      return { status: 0, url };
    }
    const address = this.fe.o.hosts.get(u.hostname);
    if (!address) return { status: 0, url };
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: address, port: Number(u.port || 443), path: u.pathname, servername: u.hostname, ca: this.fe.o.identity.ca, headers: { Host: u.host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, url, type: res.headers['content-type'], base64: Buffer.concat(chunks).toString('base64') }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  presenceFromGateway(w: { user: SfbUser; target: string }, m: SipRequest | SipResponse): void {
    const body = m.body.toString('utf8');
    const state = header(m, 'subscription-state') ?? 'active';
    if ((header(m, 'Content-Type') ?? '').startsWith(CATEGORIES)) w.user.watching.set(w.target, { at: Date.now(), body, state });
    else w.user.watching.set(w.target, { at: Date.now(), body: w.user.watching.get(w.target)?.body ?? '', state });
  }
}

function bodyOf(text: string, form: 'plain' | 'html' | 'multipart'): { type: string; bytes: Buffer } {
  const esc = text.replace(/&/gu, '&amp;').replace(/</gu, '&lt;').replace(/\n/gu, '<br/>');
  if (form === 'html') return { type: 'text/html; charset=UTF-8', bytes: Buffer.from(`<div style="font-family:Segoe UI">${esc}</div>`) };
  if (form === 'multipart') {
    const b = `----=_NextPart_${randomBytes(6).toString('hex')}`;
    return {
      type: `multipart/alternative; boundary="${b}"`,
      bytes: Buffer.from(`--${b}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n${text}\r\n--${b}\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<div>${esc}</div>\r\n--${b}--\r\n`),
    };
  }
  return { type: 'text/plain; charset=UTF-8', bytes: Buffer.from(text) };
}
