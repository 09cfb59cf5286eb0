/**
 * Presence and contact cards of an SfB pair (issue 17):
 * - the gateway is the presence server of the XMPP user for SfB watchers: it answers their SUBSCRIBEs with the
 *   categories document ([MS-PRES]; piggy-backed in the 200 when offered, [MS-SIP] §3.3.5.1), sends changes as
 *   BENOTIFY (or NOTIFY), honours refresh and Expires: 0 (RFC 6665 §4.2.1);
 * - for the XMPP user, it subscribes to the SfB user's presence and maps her availability to <show/>/<status/>;
 * - RFC 6121 subscriptions on the XMPP side decide what flows, as on the Teams side;
 * - the SfB user's contactCard answers vCard requests; the XMPP user's vCard becomes the contactCard SfB sees;
 * - photos both ways: hers (a web address in her card) in the vCard PHOTO and as the XEP-0153 hash in presence,
 *   his (vCard PHOTO) at an address of the node's photo server in the contactCard (src/sfb/photos).
 */
import xml, { type Element } from '@xmpp/xml';
import { newTag } from '../../sfb/sip/build.js';
import { dialogId, dialogIdOfRequest, uasDialog, acceptRemoteSeq } from '../../sfb/sip/dialog.js';
import { header, headerValues, type SipRequest } from '../../sfb/sip/message.js';
import { CATEGORIES_TYPE, readCategories, writeCategories, type SfbCard } from '../../sfb/protocol/categories.js';
import { sfbToXmpp, xmppToSfb, type SfbState } from '../../sfb/protocol/presence.js';
import { sfbCardToVcard, vcardPhoto, vcardToSfbCard } from '../../sfb/protocol/card.js';
import { vcardRequest } from '../../sfb/photos/sfb-photos.js';
import { diagnosticEffect, diagnosticsLogFields } from '../../sfb/protocol/diagnostics.js';
import { avatarHash, avatarUpdate } from '../../protocol/vcard.js';
import { sipOfJid } from '../../sfb/sfb-directory.js';
import type { WireAnswer } from '../../sfb/wire.js';
import { aggregateResources, type ResourcePresence } from '../../protocol/presence-map.js';
import { presence, type InboundPresence } from '../../protocol/stanza.js';
import { NS } from '../../protocol/namespaces.js';
import { StanzaError, errorElement } from '../../protocol/stanza-error.js';
import { errorMessage, type Logger } from '../../observability/logger.js';
import { DONE, type SfbPairReply } from './messages.js';
import { MAX_WATCHERS, type Watcher } from './state.js';
import type { PairContext } from './sfb-pair-actor.js';

/** A watch the pool ended is taken up again after this long (not at once: a pool that keeps refusing is not hammered). */
const RESUBSCRIBE_DELAY_MS = 30_000;

export class SfbPresence {
  private readonly resources = new Map<string, ResourcePresence>();
  private refreshTimer: NodeJS.Timeout | undefined;
  /** What the XMPP user last saw of her (dedup), and her card (from the contactCard category). */
  private lastSent: string | undefined;
  private card: SfbCard | undefined;
  /** XEP-0153 §4.1 hash of her photo: '' none, undefined not known (not fetched yet, or it failed). */
  private photoHash: string | undefined;
  private lastState: SfbState | undefined;
  /** The XMPP user's card as SfB watchers see it; undefined until read (once per activation, again on a new avatar). */
  private xmppCard: SfbCard | undefined;
  private xmppCardHash: string | undefined;

  constructor(private readonly p: PairContext) {}

  stop(): void {
    clearTimeout(this.refreshTimer);
  }

  private get d() {
    return this.p.d;
  }

  // ---- the XMPP user's presence, for SfB watchers --------------------------------------------------------------

  async onXmppPresence(pr: InboundPresence, log: Logger): Promise<SfbPairReply> {
    if (pr.type !== 'unavailable') await this.syncCard(pr.avatarHash, log);
    const resource = pr.from.resource;
    if (pr.type === 'unavailable') this.resources.delete(resource);
    else this.resources.set(resource, { resource, available: true, show: pr.show, status: pr.status, priority: pr.priority });
    return this.publish(log, false);
  }

  private async syncCard(advertised: string | undefined, log: Logger): Promise<void> {
    if (this.xmppCardHash !== undefined && (advertised === undefined || advertised === this.xmppCardHash)) return;
    this.xmppCardHash = advertised ?? '';
    try {
      const answer = await this.d.xmpp.request(vcardRequest(this.d.settings.componentDomain, this.p.key.remoteJid), 5_000);
      const vcard = answer.getChild('vCard', NS.vcardTemp);
      this.xmppCard = { ...vcardToSfbCard(vcard), photo: this.d.photos.publishXmpp(this.p.key.remoteJid, vcardPhoto(vcard)) };
    } catch (err) {
      log.info('XMPP user card not read', { reason: errorMessage(err) });
    }
  }

  /** The categories the gateway serves for the XMPP user: offline and nameless until he approved the SfB user. */
  private document(): string {
    const approved = this.p.state.subTo;
    const state = approved ? xmppToSfb(aggregateResources(this.resources.values())) : { availability: 18500, activity: undefined, note: undefined };
    return writeCategories({ uri: sipOfJid(this.p.key.remoteJid), state, card: approved ? this.xmppCard : undefined, at: new Date(this.d.now()).toISOString(), version: this.p.state.version });
  }

  /** Sends the XMPP user's presence to every SfB subscription on him: BENOTIFY where offered, else NOTIFY. */
  async publish(log: Logger, force: boolean): Promise<SfbPairReply> {
    const now = this.d.now();
    const live = this.p.state.watchers.filter((w) => w.expiresAt > now);
    if (live.length === 0) {
      if (this.p.state.watchers.length) await this.p.save({ watchers: [] });
      return DONE;
    }
    // Only a change goes out (the version and publish time differ in every document, so the content is compared).
    const fingerprint = JSON.stringify([this.p.state.subTo, aggregateResources(this.resources.values()), this.xmppCard]);
    if (!force && fingerprint === this.lastPublished) return DONE;
    this.lastPublished = fingerprint;
    await this.p.save({ version: this.p.state.version + 1 });
    const body = this.document();
    const next: Watcher[] = [];
    for (const w of live) {
      const headers = [
        { name: 'Event', value: 'presence' },
        { name: 'subscription-state', value: `active;expires=${Math.round((w.expiresAt - now) / 1000)}` },
        { name: 'Content-Type', value: CATEGORIES_TYPE },
      ];
      try {
        if (w.benotify) next.push({ ...w, dialog: await this.d.sip.unanswered(w.dialog, 'BENOTIFY', headers, Buffer.from(body)) });
        else {
          const r = await this.d.sip.inDialog(w.dialog, 'NOTIFY', headers, Buffer.from(body));
          // RFC 6665 §4.1.3: a 481 (or 408) ends the subscription.
          if (r.status !== 481 && r.status !== 408 && r.dialog) next.push({ ...w, dialog: r.dialog });
        }
      } catch (err) {
        log.info('presence not sent to an SfB watcher', { error: errorMessage(err) });
        next.push(w);
      }
    }
    await this.p.save({ watchers: next });
    this.d.metrics.presenceRelayed.inc({ direction: 'xmpp_to_sfb' }, next.length);
    return DONE;
  }
  private lastPublished: string | undefined;

  /** An SfB user subscribes to the XMPP user (or refreshes, or ends with Expires: 0). */
  async onSfbSubscribe(req: SipRequest, log: Logger): Promise<WireAnswer> {
    if ((header(req, 'Event') ?? '').split(';')[0]?.trim().toLowerCase() !== 'presence') return { status: 489, headers: [{ name: 'Allow-Events', value: 'presence' }] };
    if (!(header(req, 'Accept') ?? CATEGORIES_TYPE).includes(CATEGORIES_TYPE)) return { status: 415, headers: [{ name: 'Accept', value: CATEGORIES_TYPE }] };
    const asked = Number(header(req, 'Expires') ?? this.d.settings.subscriptionSeconds);
    const expires = Math.max(0, Math.min(Number.isFinite(asked) ? asked : this.d.settings.subscriptionSeconds, this.d.settings.subscriptionSeconds));
    const now = this.d.now();
    const supported = headerValues(req, 'Supported').map((s) => s.toLowerCase());
    const stateHeaders = (exp: number) => [
      { name: 'Expires', value: String(exp) },
      { name: 'Event', value: 'presence' },
      { name: 'subscription-state', value: exp > 0 ? `active;expires=${exp}` : 'terminated;reason=timeout' },
    ];
    if (header(req, 'To')?.match(/;\s*tag=/iu)) {
      const id = dialogIdOfRequest(req);
      const w = this.p.state.watchers.find((x) => dialogId(x.dialog) === id);
      if (!w) return { status: 481 };
      const dialog = acceptRemoteSeq(w.dialog, req);
      if (!dialog) return { status: 500, headers: [{ name: 'Retry-After', value: '1' }] };
      const others = this.p.state.watchers.filter((x) => x !== w);
      await this.p.save({ watchers: expires > 0 ? [...others, { ...w, dialog, expiresAt: now + expires * 1000 }] : others });
      log.info(expires > 0 ? 'SfB presence subscription refreshed' : 'SfB presence subscription ended');
      return { status: 200, headers: stateHeaders(expires) };
    }
    if (expires === 0) {
      // A one-time query (Expires: 0): the current document, no subscription kept.
      return { status: 200, toTag: newTag(), headers: [...stateHeaders(0), { name: 'Content-Type', value: CATEGORIES_TYPE }], body: Buffer.from(this.document()).toString('base64') };
    }
    // A new subscription draws on the subscriber's rate buckets like a message (hostile input, DESIGN.md decision 9).
    if (!(await this.d.throttle.admit('sfb_to_xmpp', this.p.admissionFor(''), 'refuse')).ok) return this.p.tooMany();
    const tag = newTag();
    const watcher: Watcher = { dialog: uasDialog(req, tag), expiresAt: now + expires * 1000, benotify: supported.includes('ms-benotify') };
    // Bounded: a client that subscribes again and again replaces its oldest subscriptions.
    const watchers = [...this.p.state.watchers.filter((w) => w.expiresAt > now), watcher].slice(-MAX_WATCHERS);
    await this.p.save({ watchers });
    if (!this.p.state.subTo && !this.p.state.subToPending) {
      // RFC 6121 §3.1: the XMPP user is asked to share his presence with her.
      await this.p.save({ subToPending: true });
      await this.p.send(presence({ from: this.p.sfbJid, to: this.p.key.remoteJid, type: 'subscribe' }));
    }
    log.info('SfB presence subscription accepted', { piggyback: supported.includes('ms-piggyback-first-notify'), benotify: watcher.benotify });
    if (supported.includes('ms-piggyback-first-notify')) {
      return { status: 200, toTag: tag, headers: [...stateHeaders(expires), { name: 'Content-Type', value: CATEGORIES_TYPE }], body: Buffer.from(this.document()).toString('base64') };
    }
    this.p.self({ type: 'notify-watchers' }); // the first NOTIFY follows the 200
    return { status: 200, toTag: tag, headers: stateHeaders(expires) };
  }

  // ---- the SfB user's presence, for the XMPP user ----------------------------------------------------------------

  async onSubscription(pr: InboundPresence, log: Logger): Promise<SfbPairReply> {
    const remote = this.p.key.remoteJid;
    const me = this.p.sfbJid;
    switch (pr.type) {
      case 'subscribe':
        await this.p.save({ subFrom: true });
        await this.p.send(presence({ from: me, to: remote, type: 'subscribed' }));
        this.lastSent = undefined;
        await this.ensureWatch(log);
        if (!this.p.state.subTo && !this.p.state.subToPending) {
          await this.p.save({ subToPending: true });
          await this.p.send(presence({ from: me, to: remote, type: 'subscribe' }));
        }
        return DONE;
      case 'subscribed':
        if (!this.p.state.subToPending && !this.p.state.subTo) return DONE; // RFC 6121 §3.1.6: unasked, ignored
        await this.p.save({ subTo: true, subToPending: false });
        return this.publish(log, true);
      case 'unsubscribe':
        await this.p.save({ subFrom: false });
        await this.p.send(presence({ from: me, to: remote, type: 'unavailable' }));
        await this.endWatch(log);
        return DONE;
      case 'unsubscribed':
        await this.p.save({ subTo: false, subToPending: false });
        this.resources.clear();
        return this.publish(log, true);
      case 'probe':
        if (!this.p.state.subFrom) {
          await this.p.send(presence({ from: me, to: remote, type: 'unsubscribed' }));
          return DONE;
        }
        this.lastSent = undefined;
        if (this.lastState) await this.toXmpp(this.lastState);
        else await this.ensureWatch(log);
        return DONE;
      default:
        return DONE;
    }
  }

  /** The gateway's subscription to the SfB user, for the XMPP user: made, or refreshed before it lapses. */
  private async ensureWatch(log: Logger): Promise<void> {
    const w = this.p.state.watch;
    if (w && w.expiresAt > this.d.now() + 60_000) {
      if (this.lastState) await this.toXmpp(this.lastState);
      this.armRefresh(w.expiresAt);
      return;
    }
    const r = await this.d.sip.subscribe(this.p.key.remoteJid, this.p.key.sfbUri, this.d.settings.subscriptionSeconds).catch((err: unknown) => {
      log.warn('presence SUBSCRIBE to SfB failed', { error: errorMessage(err) });
      return undefined;
    });
    if (!r || r.status >= 300 || !r.dialog) {
      log.info('SfB presence subscription refused', { status: r?.status, ...diagnosticsLogFields(r?.diagnostics) });
      if (r?.status === 404 || r?.status === 604 || diagnosticEffect(r?.diagnostics) === 'no-such-user') {
        // No such SfB user: the XMPP user's subscription cannot stand (RFC 6121 §3.2.1).
        await this.p.save({ subFrom: false, watch: null });
        await this.p.send(presence({ from: this.p.sfbJid, to: this.p.key.remoteJid, type: 'unsubscribed' }));
        return;
      }
      this.armRefresh(this.d.now() + RESUBSCRIBE_DELAY_MS / 0.8);
      return;
    }
    const expires = Number(header(r, 'Expires') ?? this.d.settings.subscriptionSeconds);
    const expiresAt = this.d.now() + (Number.isFinite(expires) && expires > 0 ? expires : this.d.settings.subscriptionSeconds) * 1000;
    await this.p.save({ watch: { dialog: r.dialog, expiresAt } });
    this.armRefresh(expiresAt);
    if (r.body.length && (headerValue(r.headers, 'Content-Type') ?? '').startsWith(CATEGORIES_TYPE)) await this.fromSfb(r.body.toString('utf8'), log);
  }

  /** Refresh at 80% of the lifetime (RFC 6665 §4.1.2.1: before it expires). */
  private armRefresh(expiresAt: number): void {
    clearTimeout(this.refreshTimer);
    const ms = Math.max(1_000, (expiresAt - this.d.now()) * 0.8);
    this.refreshTimer = setTimeout(() => this.p.self({ type: 'refresh-watch' }), ms);
    this.refreshTimer.unref();
  }

  async refreshWatch(log: Logger): Promise<SfbPairReply> {
    const w = this.p.state.watch;
    if (!this.p.state.subFrom) return DONE;
    if (!w) {
      await this.ensureWatch(log);
      return DONE;
    }
    const r = await this.d.sip
      .inDialog(w.dialog, 'SUBSCRIBE', [
        { name: 'Event', value: 'presence' },
        { name: 'Accept', value: CATEGORIES_TYPE },
        { name: 'Supported', value: 'ms-benotify, ms-piggyback-first-notify' },
        { name: 'Expires', value: String(this.d.settings.subscriptionSeconds) },
      ])
      .catch(() => undefined);
    if (r && r.status < 300 && r.dialog) {
      const expires = Number(header(r, 'Expires') ?? this.d.settings.subscriptionSeconds);
      const expiresAt = this.d.now() + (Number.isFinite(expires) && expires > 0 ? expires : this.d.settings.subscriptionSeconds) * 1000;
      await this.p.save({ watch: { dialog: r.dialog, expiresAt } });
      this.armRefresh(expiresAt);
      return DONE;
    }
    // The pool lost it (481) or did not answer: a new subscription.
    log.info('SfB presence subscription lost; subscribing again', { status: r?.status });
    await this.p.save({ watch: null });
    await this.ensureWatch(log);
    return DONE;
  }

  private async endWatch(log: Logger): Promise<void> {
    clearTimeout(this.refreshTimer);
    const w = this.p.state.watch;
    if (!w) return;
    await this.p.save({ watch: null });
    const r = await this.d.sip.inDialog(w.dialog, 'SUBSCRIBE', [{ name: 'Event', value: 'presence' }, { name: 'Accept', value: CATEGORIES_TYPE }, { name: 'Expires', value: '0' }]).catch(() => undefined);
    log.info('SfB presence subscription ended', { status: r?.status });
  }

  /** NOTIFY / BENOTIFY on the gateway's subscription. */
  async onNotify(req: SipRequest, log: Logger): Promise<WireAnswer | undefined> {
    const w = this.p.state.watch;
    const answer = (a: WireAnswer) => (req.method === 'BENOTIFY' ? undefined : a);
    if (!w || dialogIdOfRequest(req) !== dialogId(w.dialog)) return answer({ status: 481 });
    const dialog = acceptRemoteSeq(w.dialog, req) ?? w.dialog;
    const state = (header(req, 'subscription-state') ?? '').toLowerCase();
    if (state.startsWith('terminated')) {
      await this.p.save({ watch: null });
      if (this.p.state.subFrom) this.armRefresh(this.d.now() + RESUBSCRIBE_DELAY_MS / 0.8);
    } else await this.p.save({ watch: { ...w, dialog } });
    if (req.body.length && (header(req, 'Content-Type') ?? '').startsWith(CATEGORIES_TYPE)) await this.fromSfb(req.body.toString('utf8'), log);
    return answer({ status: 200 });
  }

  private async fromSfb(body: string, log: Logger): Promise<void> {
    let doc;
    try {
      doc = readCategories(body);
    } catch (err) {
      log.info('unreadable categories document from SfB', { error: errorMessage(err) });
      return;
    }
    if (doc.card) {
      // The photo is what this document says: none is a removed photo, not an unchanged one.
      this.card = { ...this.card, ...doc.card, photo: doc.card.photo };
      const photo = await this.d.photos.ofSfbCard(this.card.photo, log);
      this.photoHash = photo ? avatarHash(photo) : this.card.photo?.url ? undefined : '';
      if (!doc.state && this.lastState) await this.toXmpp(this.lastState); // a new photo is a presence change (XEP-0153 §4.2)
    }
    if (doc.state) {
      this.lastState = doc.state;
      await this.toXmpp(doc.state);
    }
  }

  private async toXmpp(s: SfbState): Promise<void> {
    if (!this.p.state.subFrom || !this.d.allowed(this.p.key.sfbUri, this.p.remoteDomain())) return;
    const x = sfbToXmpp(s);
    const fingerprint = JSON.stringify([x, this.photoHash]);
    if (fingerprint === this.lastSent) return;
    // XEP-0153 §4.1: the photo's hash on available presence, when known (undefined: say nothing, "not ready").
    const extra = x.available && this.photoHash !== undefined ? [avatarUpdate(this.photoHash)] : [];
    const sent = await this.p.send(presence({ from: this.p.sfbJid, to: this.p.key.remoteJid, type: x.available ? undefined : 'unavailable', show: x.show, status: x.status, extra }));
    if (sent) {
      this.lastSent = fingerprint;
      this.d.metrics.presenceRelayed.inc({ direction: 'sfb_to_xmpp' });
    }
  }

  /** After activation: presence is learnt again (watch made or refreshed; the XMPP user probed, RFC 6121 §4.3). */
  async resync(log: Logger): Promise<SfbPairReply> {
    if (this.p.state.subFrom) await this.ensureWatch(log);
    if (this.p.state.subTo) await this.p.send(presence({ from: this.p.sfbJid, to: this.p.key.remoteJid, type: 'probe' }));
    return DONE;
  }

  // ---- cards ---------------------------------------------------------------------------------------------------

  /** XEP-0054 / XEP-0292: her contactCard (External container fields only), read once with a one-time query. */
  async answerVcard(iq: { id: string; from: string; to: string }, vcard4: boolean, log: Logger): Promise<SfbPairReply> {
    if (!this.card) {
      const r = await this.d.sip.subscribe(this.p.key.remoteJid, this.p.key.sfbUri, 0).catch(() => undefined);
      if (r && r.status < 300 && r.body.length) {
        try {
          this.card = readCategories(r.body.toString('utf8')).card ?? {};
        } catch (err) {
          log.info('unreadable categories in the card query', { error: errorMessage(err) });
        }
      }
      if (!this.card) {
        const err = r?.status === 404 ? new StanzaError('item-not-found') : new StanzaError('remote-server-timeout', 'the Skype for Business card is not reachable; try again later');
        await this.p.send(xml('iq', { type: 'error', id: iq.id, from: iq.to, to: iq.from }, errorElement(err)));
        return DONE;
      }
    }
    const card: Element = sfbCardToVcard(this.card, iq.to, vcard4, await this.d.photos.ofSfbCard(this.card.photo, log));
    await this.p.send(xml('iq', { type: 'result', id: iq.id, from: iq.to, to: iq.from }, card));
    return DONE;
  }
}

function headerValue(headers: readonly { name: string; value: string }[], name: string): string | undefined {
  return headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
}
