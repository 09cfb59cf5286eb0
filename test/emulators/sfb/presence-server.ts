/**
 * The pool's presence service as a trusted application meets it ([MS-PRES], [MS-SIP] §3.3): SUBSCRIBE answered
 * with the External container's categories (piggy-backed when offered), changes as BENOTIFY or NOTIFY, refresh and
 * Expires: 0, a batch SUBSCRIBE answered with "deactivated" for every resource (subscribe singly).
 */
import { createHash, randomBytes } from 'node:crypto';
import { aorOf } from '../../../src/sfb/sip/address.js';
import { newTag } from '../../../src/sfb/sip/build.js';
import { acceptRemoteSeq, inDialogRequest, uasDialog, type DialogState } from '../../../src/sfb/sip/dialog.js';
import type { IncomingRequest } from '../../../src/sfb/sip/endpoint.js';
import { header, headerValues, type SipHeader } from '../../../src/sfb/sip/message.js';
import type { FrontEnd } from './front-end.js';
import type { SfbUser } from './model.js';

const CATEGORIES = 'application/msrtc-event-categories+xml';
const EXTERNAL = 100;

export interface Subscription {
  readonly target: SfbUser;
  readonly watcher: string;
  dialog: DialogState;
  readonly recordRoute: string;
  readonly benotify: boolean;
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** A fault the control API arms for the next out-of-dialog SUBSCRIBEs: no answer at all, or 503 (an overloaded pool). */
export interface SubscribeFault {
  readonly mode: 'silent' | 503;
  left: number;
}

export class PresenceServer {
  private readonly subscriptions = new Map<string, Subscription>();
  fault: SubscribeFault | undefined;

  constructor(private readonly fe: FrontEnd) {}

  subscriptionOf(id: string): Subscription | undefined {
    return this.subscriptions.get(id);
  }

  stop(): void {
    for (const s of this.subscriptions.values()) clearTimeout(s.timer);
  }


  async subscribe(i: IncomingRequest): Promise<void> {
    const req = i.request;
    if ((header(req, 'Event') ?? '').split(';')[0]?.trim().toLowerCase() !== 'presence') {
      this.fe.fail(i, 489, 1008, 'Unsupported event package', [{ name: 'Allow-Events', value: 'presence' }]);
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
      this.fe.log('out', 'SUBSCRIBE', 200, 'batch answered with resubscribe (deactivated)');
      return;
    }
    if (this.fault && this.fault.left > 0) {
      this.fault.left--;
      if (this.fault.mode === 'silent') {
        this.fe.log('in', 'SUBSCRIBE', undefined, 'fault: left unanswered');
        return;
      }
      // Stand-in diagnostic: the pool's own overload answer is not documented for this request.
      this.fe.fail(i, 503, 1908, 'Service temporarily unavailable (emulator fault)', [{ name: 'Retry-After', value: '5' }]);
      return;
    }
    const target = this.fe.userOf(i);
    if (!target) {
      const online = this.onlineUser(i);
      if (online) return this.routeToHostingProvider(i, online);
      this.fe.fail(i, 404, 4005, 'Destination URI either not enabled for SIP or does not exist');
      return;
    }
    if (!(header(req, 'Accept') ?? '').includes(CATEGORIES)) {
      this.fe.fail(i, 415, 1009, 'The subscriber does not accept enhanced presence', [{ name: 'Accept', value: CATEGORIES }]);
      return;
    }
    const requested = Number(header(req, 'Expires') ?? '3600');
    const expires = Math.min(Number.isFinite(requested) ? requested : 3600, this.fe.o.maxSubscriptionSeconds);
    const supported = headerValues(req, 'Supported').map((s) => s.toLowerCase());
    const tag = newTag();
    const rr = this.fe.signer.recordRoute();
    const d = uasDialog(req, tag);
    const sub: Subscription = { target, watcher: aorOf(header(req, 'From') ?? ''), dialog: { ...d, routeSet: [] }, recordRoute: rr, benotify: supported.includes('ms-benotify'), expiresAt: Date.now() + expires * 1000, timer: undefined };
    const piggyback = supported.includes('ms-piggyback-first-notify');
    if (expires === 0) {
      // A fetch (RFC 6665 §4.4.3, RFC 3265 §3.3.6): answered by the user's home pool, with its Contact; the current
      // state rides in the 200 when the subscriber offers piggy-back ([MS-SIP] §3.3.5.1), and no subscription stays.
      const contact = { name: 'Contact', value: `<sip:${this.fe.o.fqdn}:${this.fe.port};transport=tls>` };
      if (piggyback) {
        i.respond(200, {
          toTag: tag,
          headers: [contact, { name: 'Expires', value: '0' }, { name: 'Event', value: 'presence' }, { name: 'subscription-state', value: 'terminated;reason=timeout' }, { name: 'Content-Type', value: CATEGORIES }],
          body: Buffer.from(this.categories(target)),
        });
      } else {
        i.respond(200, { toTag: tag, headers: [contact, { name: 'Expires', value: '0' }] });
      }
      this.fe.log('out', 'SUBSCRIBE', 200, 'fetch');
      return;
    }
    this.subscriptions.set(`${d.callId}|${tag}|${d.remoteTag}`, sub);
    this.armExpiry(sub);
    const headers: SipHeader[] = [
      { name: 'Record-Route', value: rr },
      { name: 'Contact', value: `<sip:${this.fe.o.fqdn}:${this.fe.port};transport=tls>` },
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
    this.fe.log('out', 'SUBSCRIBE', 200, piggyback ? 'piggybacked NOTIFY' : 'NOTIFY follows');
  }

  private onlineUser(i: IncomingRequest): string | undefined {
    try {
      const aor = aorOf(`<${i.request.uri}>`);
      return this.fe.o.homedOnline.has(aor) ? aor : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A user moved online (hybrid, shared SIP address space): the pool does not serve her; it routes the request on to
   * the hosting provider through the Edge, and "users from both environments can communicate with each other"
   * (learn.microsoft.com, Plan hybrid connectivity, Shared SIP Address Space). What comes back is Microsoft 365's
   * answer, not the pool's: the emulator plays it as the least convenient reading for a trusted application, a 200
   * whose Contact names the hosting provider (never a 404 that would say "no such user"). docs/sfb-conformance.md
   * pins this; the lab checklist (docs/sfb-setup.md) confirms the real answer.
   */
  private routeToHostingProvider(i: IncomingRequest, aor: string): void {
    const hp = this.fe.o.hostingProvider;
    i.respond(200, {
      toTag: newTag(),
      headers: [
        { name: 'Record-Route', value: this.fe.signer.recordRoute() },
        { name: 'Contact', value: `<sip:${hp}:5061;transport=tls>` },
        { name: 'Expires', value: header(i.request, 'Expires') ?? '0' },
      ],
    });
    this.fe.log('out', 'SUBSCRIBE', 200, `routed to the hosting provider ${hp} for ${aor}`);
  }

  async refresh(i: IncomingRequest, sub: Subscription): Promise<void> {
    const req = i.request;
    const next = acceptRemoteSeq(sub.dialog, req);
    if (!next) {
      this.fe.fail(i, 500, 2002, 'CSeq out of order');
      return;
    }
    sub.dialog = next;
    if (req.method !== 'SUBSCRIBE') {
      this.fe.fail(i, 405, 1005, 'Method not allowed in a subscription');
      return;
    }
    const expires = Math.min(Number(header(req, 'Expires') ?? '3600'), this.fe.o.maxSubscriptionSeconds);
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
    this.fe.log('out', 'SUBSCRIBE', 200, 'refreshed');
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
    this.fe.log('out', method);
    const hop = this.fe.hopOf(sub.dialog.remoteTarget);
    if (method === 'BENOTIFY') await this.fe.endpoint.sendUnanswered(request, hop).catch(() => undefined);
    else await this.fe.toApp(request, hop);
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
    // A picture from a web address: its uri and a hash of the image ([MS-PRES] §7.3 photo; SfB clients publish an
    // MD5-like hex digest, so the hash is an opaque cache key, not the XEP-0153 SHA-1).
    const photo = user.photo && this.fe.photoBaseUrl
      ? `<displayADPhoto>false</displayADPhoto><photo type="default" updated="${at}"><uri>${esc(`${this.fe.photoBaseUrl}/photos/${encodeURIComponent(user.uri)}`)}</uri><hash>${createHash('md5').update(user.photo.bytes).digest('hex').toUpperCase()}</hash></photo>`
      : '';
    const card = `<contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard"><identity><name><displayName>${esc(c.displayName)}</displayName></name>${c.email ? `<email>${esc(c.email)}</email>` : ''}</identity>${c.company ? `<company>${esc(c.company)}</company>` : ''}${c.title ? `<title>${esc(c.title)}</title>` : ''}${c.office ? `<office>${esc(c.office)}</office>` : ''}${photo}</contactCard>`;
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

  activeSubscriptions(): { target: string; watcher: string; benotify: boolean }[] {
    return [...this.subscriptions.values()].map((s) => ({ target: s.target.uri, watcher: s.watcher, benotify: s.benotify }));
  }
}
