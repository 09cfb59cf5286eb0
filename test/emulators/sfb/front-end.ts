/**
 * The SfB Front End pool as a trusted application sees it, with the pool's users' devices behind it. It behaves as
 * [MS-SIP], [MS-SIPRE] and [MS-PRES] and SfB traces show, and never kinder:
 * - mutual TLS; a certificate that names no configured trusted application is refused (the connection drops);
 * - requests for a federated domain go to the trusted application by its static route;
 * - every dialog is Record-Routed through the Front End with a signed route (ms-route-sig), checked on each later
 *   request; a Route that was not copied verbatim gets 403;
 * - From/To carry epid, Contact a GRUU, the client's Via carries ms-received-port/ms-received-cid;
 * - an INVITE forks to every device of the user: the first 200 wins (after each device's delay), the others are
 *   cancelled; a user can also answer on two devices at once (two 200s, as a forking proxy passes them on);
 * - the first message rides in the INVITE's ms-text-format; MESSAGE bodies in text/plain, text/html and
 *   multipart/alternative; typing as RFC 3994 MESSAGE or as INFO KeyboardActivity;
 * - a device ends an idle IM session with BYE; failures carry ms-diagnostics;
 * - presence subscriptions are answered with the External container's categories, piggy-backed in the 200 when the
 *   subscriber supports it, updates as BENOTIFY (or NOTIFY), refresh and Expires: 0 honoured; a batch SUBSCRIBE is
 *   answered with every resource "deactivated" (subscribe to each singly).
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { aorOf, parseNameAddr, parseUri, tagOf } from '../../../src/sfb/sip/address.js';
import { newCallId, newTag } from '../../../src/sfb/sip/build.js';
import { acceptRemoteSeq, dialogIdOfRequest, inDialogRequest, uacDialog, uasDialog, type DialogState } from '../../../src/sfb/sip/dialog.js';
import { SipEndpoint, type Hop, type IncomingRequest } from '../../../src/sfb/sip/endpoint.js';
import { header, headerValues, type SipHeader, type SipRequest, type SipResponse } from '../../../src/sfb/sip/message.js';
import { SipTlsTransport, nameMatches, type TlsIdentity } from '../../../src/sfb/sip/transport.js';
import { record, type Device, type SfbUser } from './model.js';
import { RouteSigner } from './route-signature.js';

export interface StaticRoute {
  /** The federated (XMPP) domain, e.g. xmpp.example. */
  readonly domain: string;
  /** The trusted application pool's FQDN and port it listens on. */
  readonly host: string;
  readonly port: number;
  /**
   * The pool's other computers (on loopback: other ports). The pool FQDN resolves to all of them and the Front End
   * fails over to the next when one does not answer (a trusted application pool of several computers).
   */
  readonly alternates?: readonly number[];
}

export interface FrontEndOptions {
  readonly fqdn: string;
  readonly identity: TlsIdentity;
  /** Trusted application FQDNs (Get-CsTrustedApplicationComputer): only these may connect, both ways. */
  readonly trustedApplications: readonly string[];
  readonly routes: readonly StaticRoute[];
  readonly hosts: ReadonlyMap<string, string>;
  readonly users: Map<string, SfbUser>;
  /** A device ends an IM session after this long without a message (SfB clients: about 10 minutes). */
  readonly idleByeMs: number;
  /** Longest subscription the pool grants, in seconds. */
  readonly maxSubscriptionSeconds: number;
  readonly port?: number;
}

interface Session {
  readonly user: SfbUser;
  readonly device: Device;
  /** The dialog from the device's side; its route set is the Front End's own, so it is never sent. */
  dialog: DialogState;
  readonly remote: string;
  /** The Record-Route the Front End put in this dialog. */
  readonly recordRoute: string;
  lastActivity: number;
  idleTimer: NodeJS.Timeout | undefined;
}

interface Subscription {
  readonly target: SfbUser;
  readonly watcher: string;
  dialog: DialogState;
  readonly recordRoute: string;
  readonly benotify: boolean;
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** A protocol event the tests can assert on (what crossed the wire, as SfB would log it). */
export interface TraceEntry {
  readonly at: number;
  readonly dir: 'in' | 'out';
  readonly method?: string;
  readonly status?: number;
  readonly note?: string;
}

const CATEGORIES = 'application/msrtc-event-categories+xml';
const EXTERNAL = 100;

export class FrontEnd {
  readonly transport: SipTlsTransport;
  endpoint!: SipEndpoint;
  private signer!: RouteSigner;
  private readonly sessions = new Map<string, Session>();
  private readonly subscriptions = new Map<string, Subscription>();
  /** Subscriptions of SfB users to XMPP users (the gateway is their presence server). */
  private readonly watches = new Map<string, { user: SfbUser; target: string; dialog: DialogState }>();
  readonly trace: TraceEntry[] = [];
  /** Breaches of the trusted-application contract the emulator saw (tests assert this stays empty). */
  readonly violations: string[] = [];

  constructor(private readonly o: FrontEndOptions) {
    this.transport = new SipTlsTransport({
      identity: o.identity,
      listen: { host: '127.0.0.1', port: o.port ?? 0 },
      trusted: (names) => names.some((n) => o.trustedApplications.some((t) => nameMatches(n, t))),
      hosts: o.hosts,
      keepAliveMs: 15_000,
      idleMs: 300_000,
    });
  }

  async start(): Promise<void> {
    await this.transport.start();
    // Record-Route names the port the Front End listens on (5061 in production).
    this.signer = new RouteSigner(this.o.fqdn, this.transport.port);
    this.endpoint = new SipEndpoint({ transport: this.transport, host: this.o.fqdn, port: this.transport.port, userAgent: 'RTCC/7.0.0.0 (emulated SfB Front End)' });
    this.endpoint.onRequest = (i) => {
      this.log('in', i.request.method);
      void this.onRequest(i).catch((err: unknown) => {
        this.violations.push(`handler failed: ${(err as Error).message}`);
        if (!i.answered) this.fail(i, 500, 1, 'Internal error');
      });
    };
  }

  async stop(): Promise<void> {
    for (const s of this.sessions.values()) clearTimeout(s.idleTimer);
    for (const s of this.subscriptions.values()) clearTimeout(s.timer);
    await this.transport.stop();
  }

  get port(): number {
    return this.transport.port;
  }

  private log(dir: 'in' | 'out', method?: string, status?: number, note?: string): void {
    this.trace.push({ at: Date.now(), dir, method, status, note });
    if (this.trace.length > 2000) this.trace.splice(0, 500);
  }

  /** A failure with SfB's diagnostic header ([MS-SIPRE] ms-diagnostics: code;reason="..."). */
  private fail(i: IncomingRequest, status: number, code: number, reason: string, extra: SipHeader[] = []): void {
    this.log('out', i.request.method, status, reason);
    i.respond(status, { toTag: newTag(), headers: [{ name: 'ms-diagnostics', value: `${code};reason="${reason}";source="${this.o.fqdn}"` }, ...extra] });
  }

  private routeFor(domain: string): StaticRoute | undefined {
    return this.o.routes.find((r) => r.domain === domain.toLowerCase());
  }

  // ---- requests from the trusted application ----------------------------------------------------------------

  private async onRequest(i: IncomingRequest): Promise<void> {
    const req = i.request;
    const from = header(req, 'From') ?? '';
    let fromDomain = '';
    try {
      fromDomain = parseUri(parseNameAddr(from).uri).host;
    } catch {
      this.fail(i, 400, 1001, 'Malformed From header');
      return;
    }
    // A trusted application speaks only for the domains routed to it.
    if (!this.routeFor(fromDomain) && req.method !== 'BENOTIFY') {
      this.fail(i, 403, 1002, 'From domain is not routed to this trusted application');
      return;
    }
    const contact = headerValues(req, 'Contact')[0];
    if (contact && isIP(parseUri(parseNameAddr(contact).uri).host)) {
      this.fail(i, 400, 1003, 'Contact must carry an FQDN, not an IP address');
      return;
    }
    if (tagOf(header(req, 'To'))) {
      await this.inDialog(i);
      return;
    }
    switch (req.method) {
      case 'INVITE':
        return this.invite(i);
      case 'SUBSCRIBE':
        return this.subscribe(i);
      case 'OPTIONS':
        i.respond(200, { toTag: newTag(), headers: [{ name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, MESSAGE, INFO, SUBSCRIBE, NOTIFY, BENOTIFY, OPTIONS' }] });
        return;
      case 'MESSAGE':
        // SfB carries IM in sessions: a MESSAGE outside an INVITE dialog is refused.
        this.fail(i, 403, 1004, 'Page-mode MESSAGE is not allowed; start an IM session with INVITE');
        return;
      default:
        this.fail(i, 405, 1005, 'Method not allowed outside a dialog');
    }
  }

  private userOf(i: IncomingRequest): SfbUser | undefined {
    try {
      return this.o.users.get(aorOf(`<${i.request.uri}>`));
    } catch {
      return undefined;
    }
  }

  private async invite(i: IncomingRequest): Promise<void> {
    const req = i.request;
    const user = this.userOf(i);
    if (!user) {
      this.fail(i, 404, 4005, 'Destination URI either not enabled for SIP or does not exist');
      return;
    }
    const type = (header(req, 'Content-Type') ?? '').toLowerCase();
    if (!type.startsWith('application/sdp')) {
      this.fail(i, 415, 1006, 'Unsupported content type', [{ name: 'Accept', value: 'application/sdp' }]);
      return;
    }
    const sdp = req.body.toString('utf8');
    if (!/^m=message \d+ sip /mu.test(sdp)) {
      this.fail(i, 488, 1007, 'Only IM sessions are routed to this pool from this application');
      return;
    }
    if (user.devices.length === 0) {
      this.fail(i, 480, 15010, 'User is offline');
      return;
    }
    const rr = this.signer.recordRoute();
    const first = header(req, 'ms-text-format');
    // Fork to every device; the first 200 wins, the others are cancelled ([MS-SIPRE] forking to endpoints).
    const outcomes = await Promise.all(
      user.devices.map(
        (d) =>
          new Promise<{ device: Device; status: number }>((resolve) => {
            const status = d.answer === 'auto' ? 200 : d.answer === 'busy' ? 486 : d.answer === 'decline' ? 603 : 0;
            if (status === 0) setTimeout(() => resolve({ device: d, status: 480 }), Math.min(20_000, 2_000));
            else setTimeout(() => resolve({ device: d, status }), d.answerDelayMs);
          }),
      ),
    );
    if (i.cancelled) return;
    const answered = outcomes.filter((o) => o.status === 200).sort((a, b) => a.device.answerDelayMs - b.device.answerDelayMs);
    if (answered.length === 0) {
      const best = outcomes.map((o) => o.status).sort((a, b) => (a === 486 ? -1 : b === 486 ? 1 : a - b))[0] ?? 480;
      this.fail(i, best, best === 486 ? 15002 : best === 603 ? 15003 : 15010, best === 486 ? 'User is busy' : best === 603 ? 'User declined' : 'No answer from any endpoint');
      return;
    }
    const winner = answered[0] as { device: Device };
    const tag = newTag();
    const ok = (d: Device, t: string) => ({
      toTag: t,
      headers: [
        { name: 'Record-Route', value: rr },
        { name: 'Contact', value: `<${d.gruu}>` },
        { name: 'Content-Type', value: 'application/sdp' },
      ],
      body: Buffer.from('v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=session\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=message 5061 sip sip:' + user.uri.slice(4) + '\r\n'),
    });
    i.respond(200, ok(winner.device, tag));
    this.log('out', 'INVITE', 200);
    const session = this.openSession(user, winner.device, uasDialog(req, tag), aorOf(header(req, 'From') ?? ''), rr);
    if (first) record(user, { at: Date.now(), from: session.remote, kind: 'message', text: decodeMsTextFormat(first), contentType: 'ms-text-format', device: winner.device.epid });
    record(user, { at: Date.now(), from: session.remote, kind: 'session-start', device: winner.device.epid });
    // A second device answering at the same moment: its 200 goes out too (RFC 3261 §16.7 step 5).
    const second = answered[1];
    if (second && second.device.answerDelayMs === winner.device.answerDelayMs) {
      const tag2 = newTag();
      const res = makeSecond(req, ok(second.device, tag2));
      await i.connection.send(res).catch(() => undefined);
      this.openSession(user, second.device, uasDialog(req, tag2), aorOf(header(req, 'From') ?? ''), rr);
    }
    const ack = await i.ackReceived?.catch(() => undefined);
    if (!ack) this.violations.push('no ACK for a 200 to INVITE');
  }

  private openSession(user: SfbUser, device: Device, d: DialogState, remote: string, rr: string): Session {
    const s: Session = { user, device, dialog: { ...d, routeSet: [] }, remote, recordRoute: rr, lastActivity: Date.now(), idleTimer: undefined };
    this.sessions.set(`${d.callId}|${d.localTag}|${d.remoteTag}`, s);
    this.touch(s);
    return s;
  }

  private touch(s: Session): void {
    s.lastActivity = Date.now();
    clearTimeout(s.idleTimer);
    // SfB clients end an IM session that stayed idle ([MS-SIPRE]; about 10 minutes in Lync/SfB clients).
    s.idleTimer = setTimeout(() => void this.bye(s, 'idle'), this.o.idleByeMs);
    s.idleTimer.unref();
  }

  /** The Route a trusted application's in-dialog request must carry: the Front End's Record-Route, verbatim. */
  private routeOk(req: SipRequest, rr: string): boolean {
    const routes = headerValues(req, 'Route');
    const expected = parseNameAddr(rr).uri;
    return routes.length > 0 && routes.some((r) => parseNameAddr(r).uri === expected && this.signer.verify(r));
  }

  private async inDialog(i: IncomingRequest): Promise<void> {
    const req = i.request;
    const id = dialogIdOfRequest(req);
    const session = id ? this.sessions.get(id) : undefined;
    const sub = id ? this.subscriptions.get(id) : undefined;
    const watch = id ? this.watches.get(id) : undefined;
    if (watch && (req.method === 'NOTIFY' || req.method === 'BENOTIFY')) {
      this.presenceFromGateway(watch, req);
      if (req.method === 'NOTIFY') i.respond(200);
      return;
    }
    if (!session && !sub) {
      if (req.method === 'BENOTIFY') return;
      this.fail(i, 481, 2001, 'Dialog does not exist (ended or never started)');
      return;
    }
    const rr = session?.recordRoute ?? sub?.recordRoute ?? '';
    if (!this.routeOk(req, rr)) {
      this.violations.push(`${req.method} without the Front End's signed Route`);
      this.fail(i, 403, 1018, 'Route header does not carry the signed Record-Route of this dialog');
      return;
    }
    if (sub) return this.refresh(i, sub);
    if (!session) return;
    const next = acceptRemoteSeq(session.dialog, req);
    if (!next) {
      this.fail(i, 500, 2002, 'CSeq out of order');
      return;
    }
    session.dialog = next;
    switch (req.method) {
      case 'MESSAGE': {
        const type = (header(req, 'Content-Type') ?? 'text/plain').toLowerCase();
        if (type.startsWith('application/im-iscomposing+xml')) {
          record(session.user, { at: Date.now(), from: session.remote, kind: 'typing', text: /<state>\s*active\s*<\/state>/u.test(req.body.toString()) ? 'composing' : 'idle', device: session.device.epid });
          i.respond(200);
          return;
        }
        if (!type.startsWith('text/plain') && !type.startsWith('text/html') && !type.startsWith('multipart/alternative')) {
          this.fail(i, 415, 1006, 'Unsupported content type', [{ name: 'Accept', value: 'text/plain, text/html, multipart/alternative, application/im-iscomposing+xml' }]);
          return;
        }
        this.touch(session);
        record(session.user, { at: Date.now(), from: session.remote, kind: 'message', text: req.body.toString('utf8'), contentType: type, device: session.device.epid });
        i.respond(200);
        return;
      }
      case 'INFO':
        record(session.user, { at: Date.now(), from: session.remote, kind: 'typing', text: /status="type"/u.test(req.body.toString()) ? 'composing' : 'idle', device: session.device.epid });
        i.respond(200);
        return;
      case 'BYE':
        this.closeSession(session, 'remote');
        i.respond(200);
        return;
      case 'INVITE':
        // A re-INVITE in the session (a session refresh): accepted as is.
        i.respond(200, { headers: [{ name: 'Contact', value: `<${session.device.gruu}>` }, { name: 'Record-Route', value: session.recordRoute }] });
        return;
      default:
        this.fail(i, 405, 1005, 'Method not allowed in an IM session');
    }
  }

  private closeSession(s: Session, why: string): void {
    clearTimeout(s.idleTimer);
    this.sessions.delete(`${s.dialog.callId}|${s.dialog.localTag}|${s.dialog.remoteTag}`);
    record(s.user, { at: Date.now(), from: s.remote, kind: 'session-end', text: why, device: s.device.epid });
  }

  // ---- presence: the trusted application watches SfB users ------------------------------------------------

  private async subscribe(i: IncomingRequest): Promise<void> {
    const req = i.request;
    if ((header(req, 'Event') ?? '').split(';')[0]?.trim().toLowerCase() !== 'presence') {
      this.fail(i, 489, 1008, 'Unsupported event package', [{ name: 'Allow-Events', value: 'presence' }]);
      return;
    }
    if (headerValues(req, 'Require').some((r) => r.toLowerCase() === 'adhoclist')) {
      // A batch subscription from a trusted application: every resource is to be subscribed to singly.
      const resources = [...req.body.toString('utf8').matchAll(/<resource uri="([^"]+)"/gu)].map((m) => m[1] ?? '');
      const boundary = randomBytes(8).toString('hex');
      const list = `<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="${aorOf(header(req, 'From') ?? '')}" version="0" fullState="true">${resources
        .map((u) => `<resource uri="${u}"><instance id="${randomBytes(3).toString('hex')}" state="terminated" reason="deactivated"/></resource>`)
        .join('')}</list>`;
      const body = `--${boundary}\r\nContent-Type: application/rlmi+xml\r\n\r\n${list}\r\n--${boundary}--\r\n`;
      i.respond(200, {
        toTag: newTag(),
        headers: [
          { name: 'Expires', value: '0' },
          { name: 'Event', value: 'presence' },
          { name: 'subscription-state', value: 'terminated;reason=deactivated' },
          { name: 'Content-Type', value: `multipart/related; type="application/rlmi+xml"; boundary=${boundary}` },
        ],
        body: Buffer.from(body),
      });
      this.log('out', 'SUBSCRIBE', 200, 'batch answered with resubscribe (deactivated)');
      return;
    }
    const target = this.userOf(i);
    if (!target) {
      this.fail(i, 404, 4005, 'Destination URI either not enabled for SIP or does not exist');
      return;
    }
    if (!(header(req, 'Accept') ?? '').includes(CATEGORIES)) {
      this.fail(i, 415, 1009, 'The subscriber does not accept enhanced presence', [{ name: 'Accept', value: CATEGORIES }]);
      return;
    }
    const requested = Number(header(req, 'Expires') ?? '3600');
    const expires = Math.min(Number.isFinite(requested) ? requested : 3600, this.o.maxSubscriptionSeconds);
    const supported = headerValues(req, 'Supported').map((s) => s.toLowerCase());
    const tag = newTag();
    const rr = this.signer.recordRoute();
    const d = uasDialog(req, tag);
    const sub: Subscription = { target, watcher: aorOf(header(req, 'From') ?? ''), dialog: { ...d, routeSet: [] }, recordRoute: rr, benotify: supported.includes('ms-benotify'), expiresAt: Date.now() + expires * 1000, timer: undefined };
    const piggyback = supported.includes('ms-piggyback-first-notify');
    if (expires === 0) {
      i.respond(200, { toTag: tag, headers: [{ name: 'Expires', value: '0' }] });
      return;
    }
    this.subscriptions.set(`${d.callId}|${tag}|${d.remoteTag}`, sub);
    this.armExpiry(sub);
    const headers: SipHeader[] = [
      { name: 'Record-Route', value: rr },
      { name: 'Contact', value: `<sip:${this.o.fqdn}:${this.transport.port};transport=tls>` },
      { name: 'Expires', value: String(expires) },
      { name: 'Supported', value: 'ms-benotify, ms-piggyback-first-notify' },
    ];
    if (piggyback) {
      // [MS-SIP] §3.3.5.1 / §4.3: the first NOTIFY rides in the 200 OK.
      i.respond(200, {
        toTag: tag,
        headers: [...headers, { name: 'Event', value: 'presence' }, { name: 'subscription-state', value: `active;expires=${expires}` }, { name: 'Content-Type', value: CATEGORIES }],
        body: Buffer.from(this.categories(target)),
      });
    } else {
      i.respond(200, { toTag: tag, headers });
      await this.notify(sub, false);
    }
    this.log('out', 'SUBSCRIBE', 200, piggyback ? 'piggybacked NOTIFY' : 'NOTIFY follows');
  }

  private async refresh(i: IncomingRequest, sub: Subscription): Promise<void> {
    const req = i.request;
    const next = acceptRemoteSeq(sub.dialog, req);
    if (!next) {
      this.fail(i, 500, 2002, 'CSeq out of order');
      return;
    }
    sub.dialog = next;
    if (req.method !== 'SUBSCRIBE') {
      this.fail(i, 405, 1005, 'Method not allowed in a subscription');
      return;
    }
    const expires = Math.min(Number(header(req, 'Expires') ?? '3600'), this.o.maxSubscriptionSeconds);
    if (expires <= 0) {
      // RFC 6665 §4.2.1.4 (RFC 3265 §3.1.4.3): unsubscribe; a final NOTIFY says terminated.
      i.respond(200, { headers: [{ name: 'Expires', value: '0' }] });
      this.endSubscription(sub);
      await this.notify(sub, false, 'terminated;reason=timeout');
      return;
    }
    sub.expiresAt = Date.now() + expires * 1000;
    this.armExpiry(sub);
    i.respond(200, { headers: [{ name: 'Expires', value: String(expires) }, { name: 'Record-Route', value: sub.recordRoute }] });
    this.log('out', 'SUBSCRIBE', 200, 'refreshed');
  }

  private armExpiry(sub: Subscription): void {
    clearTimeout(sub.timer);
    sub.timer = setTimeout(() => {
      this.endSubscription(sub);
      void this.notify(sub, false, 'terminated;reason=timeout');
    }, Math.max(0, sub.expiresAt - Date.now()));
    sub.timer.unref();
  }

  private endSubscription(sub: Subscription): void {
    clearTimeout(sub.timer);
    this.subscriptions.delete(`${sub.dialog.callId}|${sub.dialog.localTag}|${sub.dialog.remoteTag}`);
  }

  /** Sends the target's categories on a subscription: BENOTIFY when the subscriber supports it, else NOTIFY. */
  private async notify(sub: Subscription, change: boolean, state?: string): Promise<void> {
    const method = change && sub.benotify && !state ? 'BENOTIFY' : 'NOTIFY';
    const remaining = Math.max(0, Math.round((sub.expiresAt - Date.now()) / 1000));
    const { request, dialog } = inDialogRequest(sub.dialog, method, {
      headers: [
        { name: 'Event', value: 'presence' },
        { name: 'subscription-state', value: state ?? `active;expires=${remaining}` },
        { name: 'Content-Type', value: CATEGORIES },
      ],
      body: Buffer.from(this.categories(sub.target)),
    });
    sub.dialog = dialog;
    this.log('out', method);
    const hop = this.hopOf(sub.dialog.remoteTarget);
    if (method === 'BENOTIFY') await this.endpoint.sendUnanswered(request, hop).catch(() => undefined);
    else await this.toApp(request, hop);
  }

  private hopOf(target: string): Hop {
    const u = parseUri(target);
    return { host: u.host, port: u.port ?? 5061 };
  }

  /**
   * A request to the trusted application: to `hop`, and when that computer does not answer (transport failure), to
   * the other computers of its pool, as a pool FQDN that resolves to several addresses gives.
   */
  private async toApp(req: SipRequest, hop: Hop): Promise<SipResponse> {
    const route = this.o.routes.find((r) => r.host === hop.host);
    const ports = route ? [hop.port, ...[route.port, ...(route.alternates ?? [])].filter((p) => p !== hop.port)] : [hop.port];
    let res: SipResponse | undefined;
    for (const port of ports) {
      res = await this.endpoint.request(req, { hop: { host: hop.host, port } });
      if (!(res.status === 503 && /transport/u.test(res.reason))) return res;
      this.log('out', req.method, 503, `computer on port ${port} unreachable; next in the pool`);
    }
    return res as SipResponse;
  }

  /**
   * The categories a federated watcher sees: the instances in the External container (100) only. A note published
   * to Company/Team only, and the card's phone numbers, never leave the pool ([MS-PRES] §3.7 container rules).
   */
  categories(user: SfbUser): string {
    const p = user.presence;
    const v = user.version;
    const at = new Date().toISOString();
    const cat = (name: string, body: string) => `<category name="${name}" instance="0" publishTime="${at}" container="${EXTERNAL}" version="${v}" expireType="static">${body}</category>`;
    const note = p.note !== undefined && p.noteContainers.includes(EXTERNAL) ? p.note : '';
    const c = user.card;
    const esc = (s: string) => s.replace(/&/gu, '&amp;').replace(/</gu, '&lt;').replace(/"/gu, '&quot;');
    const card = `<contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard"><identity><name><displayName>${esc(c.displayName)}</displayName></name>${c.email ? `<email>${esc(c.email)}</email>` : ''}</identity>${c.company ? `<company>${esc(c.company)}</company>` : ''}${c.title ? `<title>${esc(c.title)}</title>` : ''}${c.office ? `<office>${esc(c.office)}</office>` : ''}</contactCard>`;
    return `<?xml version="1.0" encoding="utf-8"?><categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="${user.uri}">${cat(
      'state',
      `<state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="false" xsi:type="aggregateState"><availability>${p.availability}</availability>${p.activity ? `<activity token="${esc(p.activity)}"/>` : ''}</state>`,
    )}${cat('note', `<note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">${esc(note)}</body></note>`)}${cat('contactCard', card)}</categories>`;
  }

  /** The user's presence changed (control API or script): every subscription on her hears it. */
  async presenceChanged(user: SfbUser): Promise<void> {
    user.version++;
    await Promise.all([...this.subscriptions.values()].filter((s) => s.target === user).map((s) => this.notify(s, true)));
  }

  // ---- what SfB users do (control API) --------------------------------------------------------------------

  private sessionWith(user: SfbUser, remote: string): Session | undefined {
    return [...this.sessions.values()].find((s) => s.user === user && s.remote === remote);
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
        this.closeSession(existing, `remote answered ${status}`);
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
    const route = this.routeFor(domain);
    if (!route) throw new Error(`no static route for ${domain}`);
    const rr = this.signer.recordRoute();
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
    this.log('out', 'INVITE');
    const res = await this.toApp(invite, { host: route.host, port: route.port });
    this.log('in', 'INVITE', res.status);
    if (res.status >= 200 && res.status < 300) {
      this.checkCopiedRecordRoute(res, rr);
      const d = uacDialog(invite, res);
      const s = this.openSession(user, device, d, remote, rr);
      s.dialog = { ...s.dialog, routeSet: [] };
      record(user, { at: Date.now(), from: remote, kind: 'session-start', device: device.epid });
    }
    return res.status;
  }

  /** The UAS must copy Record-Route into its 2xx verbatim (RFC 3261 §12.1.1); SfB relies on its signature. */
  private checkCopiedRecordRoute(res: SipResponse, rr: string): void {
    if (!headerValues(res, 'Record-Route').includes(rr)) this.violations.push('a 2xx did not copy the Record-Route verbatim');
  }

  private async inSession(s: Session, method: string, headers: SipHeader[], body: Buffer): Promise<number> {
    const { request, dialog } = inDialogRequest(s.dialog, method, { headers: [...this.clientVia(), ...headers], body });
    s.dialog = dialog;
    this.touch(s);
    this.log('out', method);
    const res = await this.toApp(request, this.hopOf(s.dialog.remoteTarget));
    this.log('in', method, res.status);
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
    this.closeSession(session, why);
    const { request } = inDialogRequest(session.dialog, 'BYE', { headers: this.clientVia() });
    this.log('out', 'BYE', undefined, why);
    return (await this.toApp(request, this.hopOf(session.dialog.remoteTarget))).status;
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
    const route = this.routeFor(parseUri(remote).host);
    if (!route) throw new Error('no static route');
    this.log('out', 'SUBSCRIBE', undefined, 'batch answered internally with resubscribe; single SUBSCRIBE follows');
    const rr = this.signer.recordRoute();
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
    const res = await this.toApp(req, { host: route.host, port: route.port });
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
    return (await this.toApp(request, this.hopOf(w.dialog.remoteTarget))).status;
  }

  /** Refreshes every watch of a user (what SfB clients do before a subscription lapses). */
  async refreshWatches(user: SfbUser, expires = 3600): Promise<number[]> {
    const out: number[] = [];
    for (const w of this.watches.values()) {
      if (w.user !== user) continue;
      const { request, dialog } = inDialogRequest(w.dialog, 'SUBSCRIBE', { headers: [{ name: 'Event', value: 'presence' }, { name: 'Expires', value: String(expires) }, { name: 'Accept', value: CATEGORIES }, { name: 'Supported', value: 'ms-benotify, ms-piggyback-first-notify' }] });
      w.dialog = dialog;
      out.push((await this.toApp(request, this.hopOf(w.dialog.remoteTarget))).status);
    }
    return out;
  }

  private presenceFromGateway(w: { user: SfbUser; target: string }, m: SipRequest | SipResponse): void {
    const body = m.body.toString('utf8');
    const state = header(m, 'subscription-state') ?? 'active';
    if ((header(m, 'Content-Type') ?? '').startsWith(CATEGORIES)) w.user.watching.set(w.target, { at: Date.now(), body, state });
    else w.user.watching.set(w.target, { at: Date.now(), body: w.user.watching.get(w.target)?.body ?? '', state });
  }

  /** The pool forgets a user's IM sessions without BYE (a Front End restart or failover): later requests get 481. */
  dropSessions(user: SfbUser): number {
    let n = 0;
    for (const [k, s] of this.sessions) {
      if (s.user !== user) continue;
      clearTimeout(s.idleTimer);
      this.sessions.delete(k);
      n++;
    }
    return n;
  }

  openSessions(user: SfbUser): { remote: string; device: string }[] {
    return [...this.sessions.values()].filter((s) => s.user === user).map((s) => ({ remote: s.remote, device: s.device.epid }));
  }

  activeSubscriptions(): { target: string; watcher: string; benotify: boolean }[] {
    return [...this.subscriptions.values()].map((s) => ({ target: s.target.uri, watcher: s.watcher, benotify: s.benotify }));
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

function decodeMsTextFormat(v: string): string {
  const m = /ms-body=([A-Za-z0-9+/=]+)/u.exec(v);
  return m?.[1] ? Buffer.from(m[1], 'base64').toString('utf8') : '';
}

function makeSecond(req: SipRequest, o: { toTag: string; headers: SipHeader[]; body: Buffer }): SipResponse {
  const copy = (n: string) => req.headers.filter((h) => h.name === n);
  return {
    kind: 'response',
    status: 200,
    reason: 'OK',
    headers: [...copy('Via'), ...copy('From'), { name: 'To', value: `${header(req, 'To') ?? ''};tag=${o.toTag}` }, ...copy('Call-ID'), ...copy('CSeq'), ...o.headers],
    body: o.body,
  };
}
