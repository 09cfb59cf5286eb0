/**
 * XMPP stanzas for users homed on SfB (issue 17): the StanzaRouter hands them here once the sender's domain was
 * admitted. The whitelist is checked before anything else; a user outside it does not exist for the sender (as on
 * the Teams side). Messages and presence go to the pair's actor; disco and ping are answered here; vCard requests
 * go to the actor, which holds her contactCard.
 */
import type { Element } from '@xmpp/xml';
import { bareJid } from '../protocol/jid.js';
import { discoInfoQuery, userInfo, CAPS_NODE, capsVer } from '../protocol/disco.js';
import { NS } from '../protocol/namespaces.js';
import { iqResult, presence, type Inbound, type InboundIq } from '../protocol/stanza.js';
import { StanzaError } from '../protocol/stanza-error.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { XmppPort } from '../xmpp/component-link.js';
import type { SfbPairMessage, SfbPairReply } from '../actors/sfb-pair/messages.js';
import type { SfbPairKey } from '../store/store.js';
import { SfbDirectory } from './sfb-directory.js';
import { SfbLookupFailedError } from './homing-lookups.js';
import { LookupRefusedError } from '../teams/directory.js';

export interface SfbStanzaHandlerOptions {
  readonly directory: SfbDirectory;
  readonly allowed: (sfbAor: string, remoteDomain: string) => { readonly allowed: true } | { readonly allowed: false; readonly reason: string };
  readonly pair: (key: SfbPairKey, message: SfbPairMessage, correlationId: string) => Promise<SfbPairReply>;
  readonly xmpp: XmppPort;
  readonly metrics: Metrics;
}

export class SfbStanzaHandler {
  constructor(private readonly o: SfbStanzaHandlerOptions) {}

  /**
   * The SfB address a localpart names when that user is homed on SfB; undefined sends the stanza to Teams. In a
   * lookup domain (sfb.lookup.domains) the pool is asked, paid from `sender`'s lookup budget; without a sender only
   * what is already known counts. A spent budget is <resource-constraint/>, a pool that could not say is
   * <remote-server-timeout/>, both `wait` (RFC 6120 §8.3.3.18, §8.3.3.14): never item-not-found, never Teams.
   */
  async homeOf(localpart: string, sender?: Inbound['from']): Promise<string | undefined> {
    try {
      return await this.o.directory.homeOf(localpart, sender && { sender: bareJid(sender), domain: sender.domain });
    } catch (err) {
      if (err instanceof LookupRefusedError) throw new StanzaError('resource-constraint', 'too many lookups of unknown addresses; slow down and retry later', 'wait');
      if (err instanceof SfbLookupFailedError) throw new StanzaError('remote-server-timeout', 'the Skype for Business pool could not say where this user is homed; try again later', 'wait');
      throw err;
    }
  }

  async handle(stanza: Element, inbound: Inbound, sfbUri: string, correlationId: string, log: Logger): Promise<void> {
    const verdict = this.o.allowed(sfbUri, inbound.from.domain);
    if (!verdict.allowed) {
      this.o.metrics.policyRefusals.inc({ direction: 'xmpp_to_sfb', reason: verdict.reason });
      log.info('stanza to an SfB user outside the whitelist answered as for no such user', { reason: verdict.reason });
      return this.unknownUser(stanza, inbound);
    }
    const key: SfbPairKey = { sfbUri, remoteJid: bareJid(inbound.from) };
    let reply: SfbPairReply;
    switch (inbound.kind) {
      case 'message':
        if (inbound.type === 'groupchat') throw new StanzaError('service-unavailable', 'a Skype for Business user is not a chat room');
        if (inbound.type === 'headline' || inbound.type === 'error') return;
        reply = await this.o.pair(key, { type: 'xmpp-chat', message: inbound }, correlationId);
        break;
      case 'presence':
        if (inbound.type === 'error') return;
        reply = await this.o.pair(key, inbound.type === 'available' || inbound.type === 'unavailable' ? { type: 'xmpp-presence', presence: inbound } : { type: 'xmpp-subscription', presence: inbound }, correlationId);
        break;
      case 'iq':
        return this.iq(stanza, inbound, key, correlationId);
    }
    if (reply.status === 'retry' || reply.status === 'failed') log.warn('SfB pair did not complete the stanza', { outcome: reply.status, reason: reply.reason });
  }

  private async iq(stanza: Element, iq: InboundIq, key: SfbPairKey, correlationId: string): Promise<void> {
    const payload = iq.payload;
    if (iq.type === 'get' && payload?.is('query', NS.discoInfo)) {
      const info = userInfo(undefined);
      const node = payload.attrs.node;
      if (node !== undefined && node !== `${CAPS_NODE}#${capsVer(info)}`) throw new StanzaError('item-not-found');
      await this.o.xmpp.send(iqResult(stanza, discoInfoQuery(info, node)));
      return;
    }
    if (iq.type === 'get' && payload?.is('ping', NS.ping)) {
      await this.o.xmpp.send(iqResult(stanza));
      return;
    }
    const vcard4 = payload?.is('vcard', NS.vcard4) === true;
    if (iq.type === 'get' && (payload?.is('vCard', NS.vcardTemp) || vcard4)) {
      await this.o.pair(key, { type: 'xmpp-vcard', iq: { id: iq.id, from: stanza.attrs.from ?? '', to: stanza.attrs.to ?? '' }, vcard4 }, correlationId);
      return;
    }
    if (iq.type === 'set' && payload?.is('vCard', NS.vcardTemp)) throw new StanzaError('forbidden', 'a Skype for Business card is edited in Skype for Business');
    throw new StanzaError('service-unavailable');
  }

  /** RFC 6121 §8.5.1, as on the Teams side: nothing reveals whether the user exists. */
  private async unknownUser(stanza: Element, inbound: Inbound): Promise<void> {
    if (inbound.kind === 'message') {
      if (inbound.type === 'chat' || inbound.type === 'normal') throw new StanzaError('item-not-found', 'no such Skype for Business user');
      return;
    }
    if (inbound.kind === 'iq') throw new StanzaError('service-unavailable');
    if (inbound.type === 'subscribe') throw new StanzaError('item-not-found', 'no such Skype for Business user');
    if (inbound.type === 'probe') await this.o.xmpp.send(presence({ from: stanza.attrs.to ?? '', to: bareJid(inbound.from), type: 'unsubscribed' }));
  }
}
