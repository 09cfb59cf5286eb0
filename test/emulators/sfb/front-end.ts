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
 * Presence subscriptions are in presence-server.ts, what the pool's users do in client-actions.ts.
 */
import { isIP } from 'node:net';
import { aorOf, parseNameAddr, parseUri, tagOf } from '../../../src/sfb/sip/address.js';
import { newTag } from '../../../src/sfb/sip/build.js';
import { acceptRemoteSeq, dialogIdOfRequest, uasDialog, type DialogState } from '../../../src/sfb/sip/dialog.js';
import { SipEndpoint, type Hop, type IncomingRequest } from '../../../src/sfb/sip/endpoint.js';
import { header, headerValues, type SipHeader, type SipRequest, type SipResponse } from '../../../src/sfb/sip/message.js';
import { SipTlsTransport, nameMatches, type TlsIdentity } from '../../../src/sfb/sip/transport.js';
import { record, type Device, type SfbUser } from './model.js';
import { RouteSigner } from './route-signature.js';
import { PresenceServer } from './presence-server.js';
import { SfbClients } from './client-actions.js';

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
  /**
   * Hybrid (shared SIP address space): users of the pool's SIP domains who were moved online. They stay in the
   * on-premises directory, homed on the hosting provider, and the pool routes requests for them on (presence-server.ts).
   */
  readonly homedOnline: ReadonlySet<string>;
  /** The hosting provider's FQDN those requests go to (Get-CsHostingProvider ProxyFqdn, sipfed.online.lync.com). */
  readonly hostingProvider: string;
  readonly port?: number;
}

export interface Session {
  readonly user: SfbUser;
  readonly device: Device;
  /** The dialog from the device's side; its route set is the Front End's own, so it is never sent. */
  dialog: DialogState;
  readonly remote: string;
  /** The Record-Route the Front End put in this dialog. */
  readonly recordRoute: string;
  /** After a Front End failover the dialog's route set no longer holds: the next request gets 1004. */
  routeSetInvalid?: boolean;
  lastActivity: number;
  idleTimer: NodeJS.Timeout | undefined;
}


/** A protocol event the tests can assert on (what crossed the wire, as SfB would log it). */
export interface TraceEntry {
  readonly at: number;
  readonly dir: 'in' | 'out';
  readonly method?: string;
  readonly status?: number;
  readonly note?: string;
}


export class FrontEnd {
  readonly transport: SipTlsTransport;
  endpoint!: SipEndpoint;
  signer!: RouteSigner;
  readonly sessions = new Map<string, Session>();
  /** Presence subscriptions of the trusted application to the pool's users. */
  readonly presence: PresenceServer;
  /** What the pool's users do (the control API acts through it). */
  readonly clients: SfbClients;
  readonly trace: TraceEntry[] = [];
  /** Breaches of the trusted-application contract the emulator saw (tests assert this stays empty). */
  readonly violations: string[] = [];
  /** Where users' pictures "from a web address" are served (the control server), once it listens. */
  photoBaseUrl: string | undefined;

  constructor(readonly o: FrontEndOptions) {
    this.presence = new PresenceServer(this);
    this.clients = new SfbClients(this);
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
    this.presence.stop();
    await this.transport.stop();
  }

  get port(): number {
    return this.transport.port;
  }

  log(dir: 'in' | 'out', method?: string, status?: number, note?: string): void {
    this.trace.push({ at: Date.now(), dir, method, status, note });
    if (this.trace.length > 2000) this.trace.splice(0, 500);
  }

  /** A failure with SfB's diagnostic header ([MS-SIPRE] ms-diagnostics: code;reason="..."). */
  fail(i: IncomingRequest, status: number, code: number, reason: string, extra: SipHeader[] = []): void {
    this.log('out', i.request.method, status, reason);
    i.respond(status, { toTag: newTag(), headers: [{ name: 'ms-diagnostics', value: `${code};reason="${reason}";source="${this.o.fqdn}"` }, ...extra] });
  }

  routeFor(domain: string): StaticRoute | undefined {
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
      this.fail(i, 400, 1901, 'Malformed From header');
      return;
    }
    // A trusted application speaks only for the domains routed to it.
    if (!this.routeFor(fromDomain) && req.method !== 'BENOTIFY') {
      this.fail(i, 403, 1902, 'From domain is not routed to this trusted application');
      return;
    }
    const contact = headerValues(req, 'Contact')[0];
    if (contact && isIP(parseUri(parseNameAddr(contact).uri).host)) {
      this.fail(i, 400, 1903, 'Contact must carry an FQDN, not an IP address');
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
        return this.presence.subscribe(i);
      case 'OPTIONS':
        i.respond(200, { toTag: newTag(), headers: [{ name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, MESSAGE, INFO, SUBSCRIBE, NOTIFY, BENOTIFY, OPTIONS' }] });
        return;
      case 'MESSAGE':
        // SfB carries IM in sessions: a MESSAGE outside an INVITE dialog is refused.
        this.fail(i, 403, 1904, 'Page-mode MESSAGE is not allowed; start an IM session with INVITE');
        return;
      default:
        this.fail(i, 405, 1005, 'Method not allowed outside a dialog');
    }
  }

  userOf(i: IncomingRequest): SfbUser | undefined {
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
      this.fail(i, 488, 1907, 'Only IM sessions are routed to this pool from this application');
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

  openSession(user: SfbUser, device: Device, d: DialogState, remote: string, rr: string): Session {
    const s: Session = { user, device, dialog: { ...d, routeSet: [] }, remote, recordRoute: rr, lastActivity: Date.now(), idleTimer: undefined };
    this.sessions.set(`${d.callId}|${d.localTag}|${d.remoteTag}`, s);
    this.touch(s);
    return s;
  }

  touch(s: Session): void {
    s.lastActivity = Date.now();
    clearTimeout(s.idleTimer);
    // SfB clients end an IM session that stayed idle ([MS-SIPRE]; about 10 minutes in Lync/SfB clients).
    s.idleTimer = setTimeout(() => void this.clients.bye(s, 'idle'), this.o.idleByeMs);
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
    const sub = id ? this.presence.subscriptionOf(id) : undefined;
    const watch = id ? this.clients.watchOf(id) : undefined;
    if (watch && (req.method === 'NOTIFY' || req.method === 'BENOTIFY')) {
      this.clients.presenceFromGateway(watch, req);
      if (req.method === 'NOTIFY') i.respond(200);
      return;
    }
    if (!session && !sub) {
      if (req.method === 'BENOTIFY') return;
      this.fail(i, 481, 2001, 'Dialog does not exist (ended or never started)');
      return;
    }
    if (session?.routeSetInvalid) {
      // [MS-OCER] §7.2 ErrorId 1004 "Route set is no longer valid"; the dialog is gone (the status is the emulator's
      // choice: [MS-OCER] does not tie the id to one).
      this.closeSession(session, 'route set no longer valid');
      this.fail(i, 403, 1004, 'Route set is no longer valid');
      return;
    }
    const rr = session?.recordRoute ?? sub?.recordRoute ?? '';
    if (!this.routeOk(req, rr)) {
      this.violations.push(`${req.method} without the Front End's signed Route`);
      this.fail(i, 403, 1018, 'Route header does not carry the signed Record-Route of this dialog');
      return;
    }
    if (sub) return this.presence.refresh(i, sub);
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

  closeSession(s: Session, why: string): void {
    clearTimeout(s.idleTimer);
    this.sessions.delete(`${s.dialog.callId}|${s.dialog.localTag}|${s.dialog.remoteTag}`);
    record(s.user, { at: Date.now(), from: s.remote, kind: 'session-end', text: why, device: s.device.epid });
  }

  hopOf(target: string): Hop {
    const u = parseUri(target);
    return { host: u.host, port: u.port ?? 5061 };
  }

  /**
   * A request to the trusted application: to `hop`, and when that computer does not answer (transport failure), to
   * the other computers of its pool, as a pool FQDN that resolves to several addresses gives.
   */
  async toApp(req: SipRequest, hop: Hop): Promise<SipResponse> {
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

  /** A Front End failover: the route sets of the user's IM sessions no longer hold (their next request gets 1004). */
  invalidateRoutes(user: SfbUser): number {
    let n = 0;
    for (const s of this.sessions.values()) {
      if (s.user !== user) continue;
      s.routeSetInvalid = true;
      n++;
    }
    return n;
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
