/**
 * SfbPairActor (issue 17): one SfB user and one XMPP user, the SfB counterpart of UserPairActor. It owns the IM
 * session between them (one SIP dialog), the ordered outbox of XMPP messages on their way to SfB, both sides'
 * presence (the gateway is the presence server of the XMPP user for SfB watchers, and an SfB watcher for the XMPP
 * user), and the SfB user's contact card. Durable state is in the store (state.ts); presence is learnt again.
 *
 * Key: "<SfB address of record>|<XMPP bare JID>".
 */
import { createHash, randomUUID } from 'node:crypto';
import xml, { type Element } from '@xmpp/xml';
import { tagOf } from '../../sfb/sip/address.js';
import { newTag } from '../../sfb/sip/build.js';
import { acceptRemoteSeq, dialogId, dialogIdOfRequest, uasDialog } from '../../sfb/sip/dialog.js';
import { header, type SipRequest } from '../../sfb/sip/message.js';
import { firstMessageOf, imBodyToText, imSdp, isComposingBody, readTyping, sdpOffersIm, textToIm, typingToChatState, chatStateToTyping, ISCOMPOSING_TYPE, UnsupportedBodyError } from '../../sfb/protocol/im.js';
import { sipFailureIsTransient, sipToStanzaError, type SipFailure } from '../../sfb/protocol/errors.js';
import { diagnosticEffect, diagnosticsLogFields } from '../../sfb/protocol/diagnostics.js';
import { fromWire, type WireAnswer } from '../../sfb/wire.js';
import type { SfbPort } from '../../sfb/sfb-port.js';
import type { SfbDirectory } from '../../sfb/sfb-directory.js';
import type { SfbPhotos } from '../../sfb/photos/sfb-photos.js';
import { formatJid } from '../../protocol/jid.js';
import { NS } from '../../protocol/namespaces.js';
import { receipt } from '../../protocol/stanza.js';
import { StanzaError, messageError } from '../../protocol/stanza-error.js';
import type { InboundMessage } from '../../protocol/stanza.js';
import { errorMessage, type Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Admission, AdmissionResult, Direction } from '../../policy/throttle.js';
import type { OutboxRow, SfbPairKey, Store } from '../../store/store.js';
import { sendUnlessLinkDown, type XmppPort } from '../../xmpp/component-link.js';
import type { Actor, ActorContext, Envelope } from '../actor.js';
import { DONE, type SfbPairMessage, type SfbPairReply } from './messages.js';
import { SfbPresence } from './presence.js';
import { EMPTY_STATE, loadState, outboxUserId, parseSfbPairKey, saveState, type SfbPairState } from './state.js';

export interface SfbPairSettings {
  readonly componentDomain: string;
  readonly fqdn: string;
  readonly subscriptionSeconds: number;
  readonly sessionIdleSeconds: number;
  readonly outboxMaxAttempts: number;
  readonly outboxBackoffInitialMs: number;
  readonly outboxBackoffMaxMs: number;
  readonly onRateExceeded: 'refuse' | 'queue';
  readonly maxThrottleDelayMs: number;
}

export interface SfbPairDeps {
  readonly store: Store;
  readonly sip: SfbPort;
  readonly xmpp: XmppPort;
  readonly directory: SfbDirectory;
  /** Contact card photos, both ways (the node's cache and photo server). */
  readonly photos: SfbPhotos;
  /** The whitelist: may this SfB user federate with this XMPP domain? Checked on every message, both ways. */
  readonly allowed: (sfbAor: string, remoteDomain: string) => boolean;
  readonly throttle: { admit(direction: Direction, a: Admission, mode: 'refuse' | 'queue', maxWaitMs?: number): Promise<AdmissionResult> };
  readonly metrics: Metrics;
  readonly settings: SfbPairSettings;
  readonly now: () => number;
}

/** What the actor's parts share. */
export interface PairContext {
  readonly key: SfbPairKey;
  readonly sfbJid: string;
  readonly d: SfbPairDeps;
  state: SfbPairState;
  save(patch: Partial<SfbPairState>): Promise<void>;
  self(m: SfbPairMessage): void;
  send(stanza: Element): Promise<boolean>;
  remoteDomain(): string;
  admissionFor(body: string): Admission;
  tooMany(): WireAnswer;
}

export class SfbPairActor implements Actor<SfbPairMessage, SfbPairReply>, PairContext {
  readonly key: SfbPairKey;
  readonly sfbJid: string;
  state: SfbPairState = EMPTY_STATE;
  private readonly log: Logger;
  private readonly presence: SfbPresence;
  private idleTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  /** When this activation accepted each outbox row (relay latency; not durable). */
  private readonly acceptedAt = new Map<number, number>();

  constructor(
    ctx: ActorContext,
    readonly d: SfbPairDeps,
    readonly self: (message: SfbPairMessage) => void,
  ) {
    this.key = parseSfbPairKey(ctx.key);
    this.sfbJid = d.directory.jidOf(this.key.sfbUri);
    this.log = ctx.log;
    this.presence = new SfbPresence(this);
  }

  async activate(): Promise<void> {
    this.state = await loadState(this.d.store, this.key);
    if ((await this.d.store.pendingOutbound(this.outboxKey())).length > 0) this.self({ type: 'drain' });
    if (this.state.subFrom || this.state.watchers.length > 0) this.self({ type: 'resync' });
    if (this.state.im) this.armIdle();
  }

  async passivate(): Promise<void> {
    clearTimeout(this.idleTimer);
    clearTimeout(this.drainTimer);
    this.presence.stop();
  }

  /** A watch on her presence must be refreshed, and an open IM session ended when idle: the actor stays. */
  isBusy(): boolean {
    return this.state.watch !== null || this.state.im !== null;
  }

  async save(patch: Partial<SfbPairState>): Promise<void> {
    this.state = { ...this.state, ...patch };
    await saveState(this.d.store, this.key, this.state, this.d.now());
  }

  remoteDomain(): string {
    return this.key.remoteJid.slice(this.key.remoteJid.indexOf('@') + 1);
  }

  private outboxKey(): { teamsUserId: string; remoteJid: string } {
    return { teamsUserId: outboxUserId(this.key.sfbUri), remoteJid: this.key.remoteJid };
  }

  send(stanza: Element): Promise<boolean> {
    return sendUnlessLinkDown(this.d.xmpp, stanza);
  }

  async receive(m: SfbPairMessage, env: Envelope): Promise<SfbPairReply> {
    const log = this.log.child({ correlationId: env.correlationId });
    switch (m.type) {
      case 'xmpp-chat':
        return this.fromXmpp(m.message, log);
      case 'drain':
        return this.drain(log);
      case 'xmpp-presence':
        return this.presence.onXmppPresence(m.presence, log);
      case 'xmpp-subscription':
        return this.presence.onSubscription(m.presence, log);
      case 'xmpp-vcard':
        return this.presence.answerVcard(m.iq, m.vcard4, log);
      case 'sip':
        return { status: 'sip', answer: await this.onSip(fromWire(m.request), log) };
      case 'resync':
        return this.presence.resync(log);
      case 'refresh-watch':
        return this.presence.refreshWatch(log);
      case 'notify-watchers':
        return this.presence.publish(log, true);
      case 'session-idle':
        return this.endIdleSession(log);
    }
  }

  // ---- XMPP -> SfB messages ------------------------------------------------------------------------------------

  private admission(body: string): Admission {
    return {
      scopes: [
        { scope: 'domain', key: this.remoteDomain() },
        { scope: 'user', key: `sfb:${this.key.sfbUri}` },
        { scope: 'user', key: `xmpp:${this.key.remoteJid}` },
        { scope: 'pair', key: `${this.key.sfbUri}|${this.key.remoteJid}` },
      ],
      bytes: Buffer.byteLength(body, 'utf8'),
    };
  }

  private async fromXmpp(msg: InboundMessage, log: Logger): Promise<SfbPairReply> {
    const body = msg.body ?? '';
    if (body.trim() === '') {
      // XEP-0085: SfB has typing notices, so composing and its end are relayed in the open session.
      const typing = chatStateToTyping(msg.chatState);
      if (typing && this.state.im) {
        const r = await this.d.sip.inDialog(this.state.im, 'MESSAGE', [{ name: 'Content-Type', value: ISCOMPOSING_TYPE }], Buffer.from(isComposingBody(typing))).catch(() => undefined);
        if (r?.dialog && r.status < 300) await this.save({ im: r.dialog });
        else if (r && (r.status === 481 || r.status === 408)) await this.save({ im: null });
      }
      return DONE;
    }
    if (!this.d.allowed(this.key.sfbUri, this.remoteDomain())) throw new StanzaError('item-not-found', 'no such Skype for Business user');
    const stableId = msg.originId ?? (msg.id ? `${msg.id}#${createHash('sha256').update(body).digest('base64url').slice(0, 16)}` : undefined);
    const dedupKey = stableId ? `sfb|${this.key.sfbUri}|${formatJid({ ...msg.from, resource: '' })}|${stableId}` : undefined;
    const known = dedupKey ? await this.d.store.findOutbound(dedupKey) : undefined;
    if (known) {
      if (known.state === 'delivered' && msg.receiptRequested && msg.id) await this.send(receipt({ from: this.sfbJid, to: formatJid(msg.from), forId: msg.id, id: randomUUID() }));
      return DONE;
    }
    const admitted = await this.d.throttle.admit('xmpp_to_sfb', this.admission(body), this.d.settings.onRateExceeded, this.d.settings.maxThrottleDelayMs);
    if (!admitted.ok) {
      await this.send(messageError({ from: this.sfbJid, to: formatJid(msg.from), id: msg.id }, new StanzaError('resource-constraint', `rate limit exceeded (${admitted.scope}); slow down and retry later`, 'wait')));
      return DONE;
    }
    // Accepted: committed before anything waits on SfB (DESIGN.md decision 4).
    const r = await this.d.store.enqueueOutbound(
      { ...this.outboxKey(), dedupKey, sender: formatJid(msg.from), stanzaId: msg.id, receiptRequested: msg.receiptRequested, body },
      this.d.now(),
    );
    if (!r.inserted) return DONE;
    this.acceptedAt.set(r.row.id, this.d.now());
    log.debug('message accepted into the outbox for SfB', { outboxId: r.row.id, body });
    return this.drain(log);
  }

  private async drain(log: Logger): Promise<SfbPairReply> {
    clearTimeout(this.drainTimer);
    for (const row of await this.d.store.pendingOutbound(this.outboxKey())) {
      if (row.nextAttemptAt > this.d.now()) {
        this.scheduleDrain(row.nextAttemptAt - this.d.now());
        return DONE;
      }
      if (!(await this.deliver(row, log))) return DONE;
    }
    return DONE;
  }

  private scheduleDrain(ms: number): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => this.self({ type: 'drain' }), Math.max(50, ms));
    this.drainTimer.unref();
  }

  /** Delivers one row; false when the rest must wait (a retry is scheduled). */
  private async deliver(row: OutboxRow, log: Logger): Promise<boolean> {
    let outcome = await this.post(row.body, log);
    if (outcome.status === 481 || outcome.status === 408 || outcome.status === 480 || diagnosticEffect(outcome.diagnostics) === 'session-lost') {
      if (this.state.im && outcome.via === 'message') {
        // The session died on the SfB side (RFC 3261 §12.2.1.2: 481/408 end the dialog; [MS-OCER] 1004: its route
        // set no longer holds): a new one carries the message.
        log.info('SfB IM session gone; starting a new one', { status: outcome.status, ...diagnosticsLogFields(outcome.diagnostics) });
        if (outcome.status !== 481) void this.d.sip.inDialog(this.state.im, 'BYE', []).catch(() => undefined);
        await this.save({ im: null });
        outcome = await this.post(row.body, log);
      }
    }
    if (outcome.status >= 200 && outcome.status < 300) {
      await this.d.store.markOutboundDelivered(row.id, `sip:${outcome.status}`, this.d.now());
      this.d.metrics.messagesRelayed.inc({ direction: 'xmpp_to_sfb' });
      this.d.metrics.messageBytes.inc({ direction: 'xmpp_to_sfb' }, Buffer.byteLength(row.body));
      const accepted = this.acceptedAt.get(row.id);
      if (accepted !== undefined) this.d.metrics.relayLatency.observe({ direction: 'xmpp_to_sfb' }, (this.d.now() - accepted) / 1000);
      this.acceptedAt.delete(row.id);
      if (row.receiptRequested && row.stanzaId) await this.send(receipt({ from: this.sfbJid, to: row.sender, forId: row.stanzaId, id: randomUUID() }));
      log.info('message relayed to SfB', { outboxId: row.id });
      return true;
    }
    if (sipFailureIsTransient(outcome) && row.attempts + 1 < this.d.settings.outboxMaxAttempts) {
      const delay = Math.min(this.d.settings.outboxBackoffMaxMs, this.d.settings.outboxBackoffInitialMs * 2 ** row.attempts);
      await this.d.store.markOutboundRetry(row.id, `SIP ${outcome.status}`, this.d.now() + delay);
      log.info('SfB did not take the message; retrying', { outboxId: row.id, status: outcome.status, delayMs: delay, ...diagnosticsLogFields(outcome.diagnostics) });
      this.scheduleDrain(delay);
      return false;
    }
    await this.d.store.markOutboundDead(row.id, `SIP ${outcome.status}`, this.d.now());
    const err = sipToStanzaError(outcome);
    log.info('SfB refused the message; the sender is told', { outboxId: row.id, status: outcome.status, condition: err.condition, ...diagnosticsLogFields(outcome.diagnostics) });
    this.d.metrics.stanzaErrors.inc({ condition: err.condition });
    await this.send(messageError({ from: this.sfbJid, to: row.sender, id: row.stanzaId }, err));
    return true;
  }

  /** One message to SfB: MESSAGE in the open session, or a new session whose INVITE carries it (ms-text-format). */
  private async post(body: string, log: Logger): Promise<SipFailure & { via: 'invite' | 'message' }> {
    try {
      if (this.state.im) {
        const im = textToIm(body);
        const r = await this.d.sip.inDialog(this.state.im, 'MESSAGE', [{ name: 'Content-Type', value: im.contentType }], im.body);
        if (r.dialog) await this.save({ im: r.dialog, imLastActivity: this.d.now() });
        return { status: r.status, warning: r.warning, diagnostics: r.diagnostics, publicDiagnostics: r.publicDiagnostics, via: 'message' };
      }
      const r = await this.d.sip.invite(this.key.remoteJid, this.key.sfbUri, body);
      if (r.dialog && r.status < 300) {
        await this.save({ im: r.dialog, imLastActivity: this.d.now() });
        this.armIdle();
      }
      return { status: r.status, warning: r.warning, diagnostics: r.diagnostics, publicDiagnostics: r.publicDiagnostics, via: 'invite' };
    } catch (err) {
      log.warn('SIP request failed', { error: errorMessage(err) });
      return { status: 503, via: this.state.im ? 'message' : 'invite' };
    }
  }

  // ---- SIP from SfB ----------------------------------------------------------------------------------------------

  private async onSip(req: SipRequest, log: Logger): Promise<WireAnswer | undefined> {
    switch (req.method) {
      case 'INVITE':
        return tagOf(header(req, 'To')) ? this.reInvite(req) : this.invite(req, log);
      case 'MESSAGE':
      case 'INFO':
        return this.inSession(req, log);
      case 'BYE':
        return this.bye(req);
      case 'SUBSCRIBE':
        return this.presence.onSfbSubscribe(req, log);
      case 'NOTIFY':
      case 'BENOTIFY':
        return this.presence.onNotify(req, log);
      default:
        return { status: 405, headers: [{ name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, MESSAGE, INFO, SUBSCRIBE, NOTIFY, BENOTIFY, OPTIONS' }] };
    }
  }

  private async invite(req: SipRequest, log: Logger): Promise<WireAnswer> {
    const type = (header(req, 'Content-Type') ?? '').toLowerCase();
    if (type.includes('ms-conf-invite') || !type.startsWith('application/sdp')) {
      // A multiparty conference (or another body): the gateway relays one-to-one IM only; the XMPP user is told.
      log.info('SfB conference invitation declined', { contentType: type.split(';')[0] });
      await this.send(xml('message', { from: this.sfbJid, to: this.key.remoteJid, type: 'chat', id: randomUUID() }, xml('body', {}, 'invited you to a group conversation in Skype for Business, which the gateway does not support; write here for a one-to-one chat.')));
      return { status: 415, headers: [{ name: 'Accept', value: 'application/sdp' }, { name: 'Warning', value: `399 ${this.d.settings.fqdn} "Multiparty conversations are not supported through the XMPP gateway"` }] };
    }
    const offer = sdpOffersIm(req.body.toString('utf8'));
    if (!offer.im) return { status: 488, headers: [{ name: 'Warning', value: `304 ${this.d.settings.fqdn} "Only instant messaging is supported"` }] };
    if (!this.d.allowed(this.key.sfbUri, this.remoteDomain())) return { status: 403 };
    const first = (() => {
      try {
        return firstMessageOf(header(req, 'ms-text-format'));
      } catch {
        return undefined;
      }
    })();
    // A new session costs the sender a message from its rate buckets, its first message or not (DESIGN.md decision 9).
    if (!(await this.d.throttle.admit('sfb_to_xmpp', this.admission(first ?? ''), 'queue', this.d.settings.maxThrottleDelayMs)).ok) return this.tooMany();
    if (first !== undefined && !(await this.relayText(first, log))) return { status: 480, headers: [{ name: 'Retry-After', value: '10' }] };
    const tag = newTag();
    await this.save({ im: uasDialog(req, tag), imLastActivity: this.d.now() });
    this.armIdle();
    log.info('SfB IM session accepted', { firstMessage: first !== undefined });
    return { status: 200, toTag: tag, headers: [{ name: 'Content-Type', value: 'application/sdp' }], body: Buffer.from(imSdp(this.d.settings.fqdn)).toString('base64') };
  }

  private sameSession(req: SipRequest): boolean {
    return this.state.im !== null && dialogIdOfRequest(req) === dialogId(this.state.im);
  }

  private async reInvite(req: SipRequest): Promise<WireAnswer> {
    // A re-INVITE of a session this side no longer has: 481, and the SfB client starts a new one.
    if (!this.sameSession(req) || !this.state.im) return { status: 481 };
    const next = acceptRemoteSeq(this.state.im, req);
    if (!next) return { status: 500, headers: [{ name: 'Retry-After', value: '1' }] };
    await this.save({ im: next, imLastActivity: this.d.now() });
    return { status: 200, headers: [{ name: 'Content-Type', value: 'application/sdp' }], body: Buffer.from(imSdp(this.d.settings.fqdn)).toString('base64') };
  }

  private async inSession(req: SipRequest, log: Logger): Promise<WireAnswer> {
    if (!this.sameSession(req) || !this.state.im) return { status: 481 };
    const next = acceptRemoteSeq(this.state.im, req);
    if (!next) return { status: 500, headers: [{ name: 'Retry-After', value: '1' }] };
    const contentType = header(req, 'Content-Type');
    const typing = readTyping(contentType, req.body);
    if (typing) {
      await this.save({ im: next });
      await this.send(xml('message', { from: this.sfbJid, to: this.key.remoteJid, type: 'chat', id: randomUUID() }, xml(typingToChatState(typing), { xmlns: NS.chatStates })));
      return { status: 200 };
    }
    if (req.method === 'INFO') return { status: 415, headers: [{ name: 'Accept', value: 'application/xml' }] };
    let text: string;
    try {
      text = imBodyToText(contentType, req.body);
    } catch (err) {
      if (err instanceof UnsupportedBodyError) return { status: 415, headers: [{ name: 'Accept', value: 'text/plain, text/html, multipart/alternative, application/im-iscomposing+xml' }] };
      throw err;
    }
    if (!this.d.allowed(this.key.sfbUri, this.remoteDomain())) return { status: 403 };
    const admitted = await this.d.throttle.admit('sfb_to_xmpp', this.admission(text), 'queue', this.d.settings.maxThrottleDelayMs);
    if (!admitted.ok) return this.tooMany();
    if (!(await this.relayText(text, log))) return { status: 480, headers: [{ name: 'Retry-After', value: '10' }] };
    await this.save({ im: next, imLastActivity: this.d.now() });
    this.armIdle();
    return { status: 200 };
  }

  /** RFC 3261 §21.5.4: 503 with Retry-After; the Warning says why (SfB clients show it). */
  tooMany(): WireAnswer {
    return { status: 503, headers: [{ name: 'Retry-After', value: '5' }, { name: 'Warning', value: `399 ${this.d.settings.fqdn} "Too many messages to XMPP; wait a moment"` }] };
  }

  admissionFor(body: string): Admission {
    return this.admission(body);
  }

  /** SfB -> XMPP: sent before SfB hears 200, so a message SfB was told is delivered was handed to the XMPP server. */
  private async relayText(text: string, log: Logger): Promise<boolean> {
    if (text.trim() === '') return true;
    const sent = await this.send(xml('message', { from: this.sfbJid, to: this.key.remoteJid, type: 'chat', id: randomUUID() }, xml('body', {}, text), xml('active', { xmlns: NS.chatStates })));
    if (!sent) return false;
    this.d.metrics.messagesRelayed.inc({ direction: 'sfb_to_xmpp' });
    this.d.metrics.messageBytes.inc({ direction: 'sfb_to_xmpp' }, Buffer.byteLength(text));
    log.info('message relayed to XMPP from SfB');
    log.debug('relayed body', { body: text });
    return true;
  }

  private async bye(req: SipRequest): Promise<WireAnswer> {
    if (!this.sameSession(req)) return { status: 481 };
    await this.save({ im: null });
    clearTimeout(this.idleTimer);
    await this.send(xml('message', { from: this.sfbJid, to: this.key.remoteJid, type: 'chat', id: randomUUID() }, xml('gone', { xmlns: NS.chatStates })));
    return { status: 200 };
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.self({ type: 'session-idle' }), this.d.settings.sessionIdleSeconds * 1000);
    this.idleTimer.unref();
  }

  /** SfB clients end idle IM sessions; the gateway does the same, so sessions do not pile up in the pool. */
  private async endIdleSession(log: Logger): Promise<SfbPairReply> {
    const im = this.state.im;
    if (!im) return DONE;
    const idleMs = this.d.now() - this.state.imLastActivity;
    if (idleMs < this.d.settings.sessionIdleSeconds * 1000) {
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => this.self({ type: 'session-idle' }), this.d.settings.sessionIdleSeconds * 1000 - idleMs);
      this.idleTimer.unref();
      return DONE;
    }
    await this.save({ im: null });
    await this.d.sip.inDialog(im, 'BYE', []).catch(() => undefined);
    log.info('idle SfB IM session ended');
    return DONE;
  }
}
