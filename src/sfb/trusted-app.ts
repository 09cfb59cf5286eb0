/**
 * The gateway as an SfB trusted application (issue 17; docs/sfb-setup.md): listens for SIP over mutual TLS from
 * the Front End pool (its certificate must name a trusted peer), connects out to the pool on its SIP/TLS port, and
 * reuses connections both ways. Each request from an SfB user goes to the actor of its pair (SfB user, XMPP user)
 * wherever it lives; this node answers it. Dialog-creating answers copy Record-Route verbatim (RFC 3261 §12.1.1:
 * SfB signs its routes, ms-route-sig) and carry a Contact with the application's FQDN, never an IP.
 */
import { aorOf, tagOf } from './sip/address.js';
import { newCallId, newTag } from './sip/build.js';
import { inDialogRequest, uacDialog, type DialogState } from './sip/dialog.js';
import { SipEndpoint, type IncomingRequest } from './sip/endpoint.js';
import { header, headerValues, type SipHeader, type SipRequest, type SipResponse } from './sip/message.js';
import { SipTlsTransport, peerTrusted, type TlsIdentity } from './sip/transport.js';
import { imSdp, msTextFormatHeader } from './protocol/im.js';
import { CATEGORIES_TYPE } from './protocol/categories.js';
import { ADRL_TYPE, BATCH_TYPE, batchAnswer, isBatchSubscribe, readBatchResources, type ResourceAnswer } from './protocol/batch.js';
import { SfbXmlError } from './protocol/xml.js';
import type { DialogOutcome, SfbPort } from './sfb-port.js';
import { SfbDirectory, jidOfSip, sipOfJid } from './sfb-directory.js';
import { toWire, type WireAnswer, type WireRequest } from './wire.js';
import { tryParseJid } from '../protocol/jid.js';
import type { SfbPairKey } from '../store/store.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import { randomUUID } from 'node:crypto';

export interface TrustedAppConfig {
  readonly listen: string;
  readonly fqdn: string;
  readonly applicationFqdn?: string | undefined;
  readonly pool: { readonly fqdn: string; readonly port: number };
  readonly trustedPeers: readonly string[];
  readonly hosts: Readonly<Record<string, string>>;
  readonly keepAliveSeconds: number;
  readonly idleConnectionSeconds: number;
  readonly maxMessageBytes: number;
  readonly maxConnections: number;
}

export interface TrustedAppOptions {
  readonly config: TrustedAppConfig;
  readonly identity: TlsIdentity;
  readonly directory: SfbDirectory;
  /** Whether an SfB user may federate with an XMPP domain (the whitelist); refused requests get 403. */
  readonly allowed: (sfbAor: string, remoteDomain: string) => boolean;
  /** The pair actor's answer to a request (undefined: no answer, e.g. BENOTIFY). */
  readonly deliver: (key: SfbPairKey, request: WireRequest, correlationId: string) => Promise<WireAnswer | undefined>;
  readonly log: Logger;
  readonly userAgent: string;
}

const ALLOW = 'INVITE, ACK, CANCEL, BYE, MESSAGE, INFO, SUBSCRIBE, NOTIFY, BENOTIFY, OPTIONS';

export class SfbTrustedApp implements SfbPort {
  readonly transport: SipTlsTransport;
  private endpoint: SipEndpoint | undefined;
  private readonly appFqdn: string;

  constructor(private readonly o: TrustedAppOptions) {
    const c = o.config;
    const [host, port] = splitListen(c.listen);
    this.appFqdn = c.applicationFqdn ?? c.fqdn;
    this.transport = new SipTlsTransport({
      identity: o.identity,
      listen: { host, port },
      trusted: (names) => peerTrusted(names, c.trustedPeers),
      hosts: new Map(Object.entries(c.hosts)),
      limits: { maxHeaderBytes: 16 * 1024, maxHeaders: 100, maxBodyBytes: c.maxMessageBytes },
      maxConnections: c.maxConnections,
      keepAliveMs: c.keepAliveSeconds * 1000,
      idleMs: c.idleConnectionSeconds * 1000,
    });
    this.transport.on('log', (level, message, meta) => o.log.log(level, message, { sfb: true, ...meta }));
  }

  async start(): Promise<void> {
    await this.transport.start();
    const ep = new SipEndpoint({
      transport: this.transport,
      host: this.o.config.fqdn,
      port: this.transport.port,
      outboundProxy: { host: this.o.config.pool.fqdn, port: this.o.config.pool.port },
      userAgent: this.o.userAgent,
    });
    ep.onRequest = (i) => void this.onRequest(i);
    this.endpoint = ep;
    this.o.log.info('SfB trusted application listening', { port: this.transport.port, fqdn: this.o.config.fqdn, pool: this.o.config.pool.fqdn });
  }

  get port(): number {
    return this.transport.port;
  }

  async stop(): Promise<void> {
    await this.transport.stop();
  }

  private ep(): SipEndpoint {
    if (!this.endpoint) throw new Error('the SfB trusted application is not started');
    return this.endpoint;
  }

  contact(jid: string): string {
    return `<sip:${encodeURIComponent(jid)}@${this.appFqdn}:${this.transport.port};transport=tls>`;
  }

  // ---- requests from SfB -------------------------------------------------------------------------------------

  private async onRequest(i: IncomingRequest): Promise<void> {
    const req = i.request;
    const correlationId = randomUUID();
    const log = this.o.log.child({ correlationId });
    if (req.method === 'OPTIONS' && !tagOf(header(req, 'To'))) {
      i.respond(200, { toTag: newTag(), headers: [{ name: 'Allow', value: ALLOW }, { name: 'Accept', value: `application/sdp, text/plain, text/html, multipart/alternative, application/im-iscomposing+xml, ${CATEGORIES_TYPE}` }] });
      return;
    }
    if (req.method === 'SUBSCRIBE' && isBatchSubscribe(req)) return this.answerBatch(i, log);
    let key: SfbPairKey;
    try {
      const from = aorOf(header(req, 'From') ?? '');
      const to = aorOf(header(req, 'To') ?? '');
      const jid = tryParseJid(jidOfSip(to));
      if (!this.o.directory.acceptsFrom(from)) return this.refuse(i, 403, 'the sender is not an SfB user of this deployment', log);
      if (!jid || jid.resource || !jid.local) return this.refuse(i, 404, 'not an XMPP address', log);
      if (!this.o.allowed(from, jid.domain)) return this.refuse(i, 403, 'federation with this XMPP domain is not enabled for this user', log);
      key = { sfbUri: from, remoteJid: `${jid.local}@${jid.domain}` };
    } catch (err) {
      return this.refuse(i, 400, `bad From or To: ${errorMessage(err)}`, log);
    }
    let answer: WireAnswer | undefined;
    try {
      answer = await this.o.deliver(key, toWire(req), correlationId);
    } catch (err) {
      log.warn('SfB request not handled', { method: req.method, error: errorMessage(err), errorName: err instanceof Error ? err.name : typeof err });
      if (req.method !== 'BENOTIFY' && !i.answered) i.respond(503, { toTag: newTag(), headers: [{ name: 'Retry-After', value: '5' }] });
      return;
    }
    if (!answer || req.method === 'BENOTIFY' || i.answered) return;
    const headers: SipHeader[] = [...(answer.headers ?? [])];
    const creates = (req.method === 'INVITE' || req.method === 'SUBSCRIBE') && answer.status >= 200 && answer.status < 300;
    if (creates) {
      // RFC 3261 §12.1.1: Record-Route copied verbatim, in order; Contact with an FQDN.
      headers.unshift(...headerValues(req, 'Record-Route').map((value) => ({ name: 'Record-Route', value })));
      headers.push({ name: 'Contact', value: this.contact(key.remoteJid) });
    }
    i.respond(answer.status, { reason: answer.reason, toTag: answer.toTag, headers, body: answer.body ? Buffer.from(answer.body, 'base64') : undefined });
  }

  /**
   * A batch SUBSCRIBE (protocol/batch.ts): answered at once, statelessly, with the RLMI list piggy-backed in the 200
   * and the list subscription terminated; each XMPP user it names is then subscribed to singly (the pair's actor).
   */
  private answerBatch(i: IncomingRequest, log: Logger): void {
    const req = i.request;
    let from: string;
    try {
      from = aorOf(header(req, 'From') ?? '');
    } catch (err) {
      return this.refuse(i, 400, `bad From: ${errorMessage(err)}`, log);
    }
    if (!this.o.directory.acceptsFrom(from)) return this.refuse(i, 403, 'the sender is not an SfB user of this deployment', log);
    if ((header(req, 'Event') ?? '').split(';')[0]?.trim().toLowerCase() !== 'presence') {
      i.respond(489, { toTag: newTag(), headers: [{ name: 'Allow-Events', value: 'presence' }] });
      return;
    }
    if (!headerValues(req, 'Supported').some((v) => v.split(',').some((t) => t.trim().toLowerCase() === 'ms-piggyback-first-notify'))) {
      // The answer can only ride in the 200 (no list subscription is kept to NOTIFY on): without piggy-back, the
      // extension is refused (RFC 3261 §8.2.2.3) and the client subscribes singly.
      i.respond(420, { toTag: newTag(), headers: [{ name: 'Unsupported', value: 'adhoclist' }] });
      return;
    }
    const type = (header(req, 'Content-Type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== BATCH_TYPE && type !== ADRL_TYPE) {
      i.respond(415, { toTag: newTag(), headers: [{ name: 'Accept', value: `${BATCH_TYPE}, ${ADRL_TYPE}` }] });
      return;
    }
    let uris: string[];
    try {
      uris = readBatchResources(req.body.toString('utf8'));
    } catch (err) {
      return this.refuse(i, 400, err instanceof SfbXmlError ? err.message : `unreadable batch: ${errorMessage(err)}`, log);
    }
    const answers = uris.map((uri): ResourceAnswer => {
      let jid;
      try {
        const aor = aorOf(`<${uri}>`);
        jid = this.o.directory.isSfbAddress(aor) ? undefined : tryParseJid(jidOfSip(aor));
      } catch {
        jid = undefined;
      }
      if (!jid || jid.resource || !jid.local) return { uri, reason: 'noresource' };
      return { uri, reason: this.o.allowed(from, jid.domain) ? 'deactivated' : 'rejected' };
    });
    const { contentType, body } = batchAnswer(from, answers);
    log.info('SfB batch subscription answered: subscribe singly', { resources: answers.length, served: answers.filter((a) => a.reason === 'deactivated').length });
    i.respond(200, {
      toTag: newTag(),
      headers: [
        { name: 'Expires', value: '0' },
        { name: 'Event', value: 'presence' },
        { name: 'Require', value: 'eventlist' },
        { name: 'subscription-state', value: 'terminated;reason=deactivated' },
        { name: 'Content-Type', value: contentType },
      ],
      body: Buffer.from(body),
    });
  }

  private refuse(i: IncomingRequest, status: number, why: string, log: Logger): void {
    log.info('SfB request refused', { method: i.request.method, status, reason: why });
    if (i.request.method === 'BENOTIFY') return;
    i.respond(status, { toTag: newTag(), headers: [{ name: 'Warning', value: `399 ${this.o.config.fqdn} "${why}"` }] });
  }

  // ---- requests to SfB (SfbPort) ------------------------------------------------------------------------------

  private outcome(res: SipResponse, dialog: DialogState | undefined): DialogOutcome {
    return { status: res.status, warning: header(res, 'Warning'), diagnostics: header(res, 'ms-diagnostics'), publicDiagnostics: header(res, 'ms-diagnostics-public'), headers: res.headers, body: res.body, dialog };
  }

  private fresh(method: string, fromJid: string, toUri: string, extra: SipHeader[], body: Buffer): SipRequest {
    return {
      kind: 'request',
      method,
      uri: toUri,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<${sipOfJid(fromJid)}>;tag=${newTag()}` },
        { name: 'To', value: `<${toUri}>` },
        { name: 'Call-ID', value: newCallId() },
        { name: 'CSeq', value: `1 ${method}` },
        { name: 'Contact', value: this.contact(fromJid) },
        ...extra,
      ],
      body,
    };
  }

  async invite(fromJid: string, toUri: string, firstMessage: string | undefined): Promise<DialogOutcome> {
    const req = this.fresh(
      'INVITE',
      fromJid,
      toUri,
      [
        { name: 'Supported', value: 'ms-text-format' },
        ...(firstMessage !== undefined ? [{ name: 'ms-text-format', value: msTextFormatHeader(firstMessage) }] : []),
        { name: 'Content-Type', value: 'application/sdp' },
      ],
      Buffer.from(imSdp(this.o.config.fqdn)),
    );
    const res = await this.ep().request(req);
    return this.outcome(res, res.status >= 200 && res.status < 300 ? uacDialog(req, res) : undefined);
  }

  async inDialog(dialog: DialogState, method: string, headers: readonly SipHeader[], body?: Buffer): Promise<DialogOutcome> {
    const { sent, dialog: next } = this.ep().sendInDialog(dialog, method, { headers: [...headers], ...(body ? { body } : {}) });
    return this.outcome(await sent, next);
  }

  async unanswered(dialog: DialogState, method: string, headers: readonly SipHeader[], body: Buffer): Promise<DialogState> {
    const { request, dialog: next } = inDialogRequest(dialog, method, { headers: [...headers], body });
    await this.ep().sendUnanswered(request);
    return next;
  }

  async subscribe(fromJid: string, toUri: string, expires: number): Promise<DialogOutcome> {
    const req = this.fresh(
      'SUBSCRIBE',
      fromJid,
      toUri,
      [
        { name: 'Event', value: 'presence' },
        { name: 'Accept', value: CATEGORIES_TYPE },
        { name: 'Supported', value: 'ms-benotify, ms-piggyback-first-notify' },
        { name: 'Expires', value: String(expires) },
      ],
      Buffer.alloc(0),
    );
    const res = await this.ep().request(req);
    return this.outcome(res, res.status >= 200 && res.status < 300 ? uacDialog(req, res) : undefined);
  }
}

/** host:port (an IPv6 host in brackets) of a listen setting. */
export function splitListen(listen: string): [string, number] {
  const colon = listen.lastIndexOf(':');
  return [listen.slice(0, colon).replace(/^\[|\]$/gu, ''), Number(listen.slice(colon + 1))];
}
