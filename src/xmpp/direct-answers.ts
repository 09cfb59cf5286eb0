/**
 * The answers the gateway gives itself, without a pair actor: to stanzas for the component's own address (disco,
 * ping, version, presence subscriptions to the gateway), to iqs for a Teams user (disco, ping, her vCard), and for
 * an address that names no Teams user. Each sends its answer, or throws the StanzaError the router replies with.
 */
import xml, { type Element } from '@xmpp/xml';
import { COMPONENT_INFO, CAPS_NODE, capsElement, capsVer, discoInfoQuery, userInfo } from '../protocol/disco.js';
import { bareJid } from '../protocol/jid.js';
import { NS } from '../protocol/namespaces.js';
import { iqResult, presence, type Inbound, type InboundIq } from '../protocol/stanza.js';
import { StanzaError } from '../protocol/stanza-error.js';
import { profileToVcard4, profileToVcardTemp, type CardField } from '../protocol/vcard.js';
import type { ProfileCache } from '../teams/profile-cache.js';
import { TeamsError, type TeamsUser } from '../teams/teams-port.js';

export interface DirectAnswersOptions {
  readonly componentDomain: string;
  readonly version: string;
  /** The tenant's Teams users' cards; undefined when it has SfB Server only (issue 17). */
  readonly cards: ProfileCache | undefined;
  readonly cardFields: ReadonlySet<CardField>;
  /** Sends an answer (a failure to send is the caller's to log, never an error here). */
  readonly send: (stanza: Element) => Promise<void>;
}

export class DirectAnswers {
  constructor(private readonly o: DirectAnswersOptions) {}

  /** RFC 6121 §8.5.1: no such user. */
  async toUnknownUser(stanza: Element, inbound: Inbound): Promise<void> {
    if (inbound.kind === 'message') {
      if (inbound.type === 'chat' || inbound.type === 'normal') throw new StanzaError('item-not-found', 'no such Teams user');
      return;
    }
    if (inbound.kind === 'iq') throw new StanzaError('service-unavailable');
    if (inbound.type === 'subscribe') throw new StanzaError('item-not-found', 'no such Teams user');
    if (inbound.type === 'probe') await this.o.send(presence({ from: stanza.attrs.to ?? '', to: bareJid(inbound.from), type: 'unsubscribed' }));
  }

  /** For the gateway's own address (its domain, no localpart). */
  async toComponent(stanza: Element, inbound: Inbound): Promise<void> {
    const me = this.o.componentDomain;
    if (inbound.kind === 'iq') {
      const payload = inbound.payload;
      if (inbound.type === 'get' && payload?.is('query', NS.discoInfo)) {
        await this.o.send(iqResult(stanza, discoInfoQuery(COMPONENT_INFO, payload.attrs.node)));
      } else if (inbound.type === 'get' && payload?.is('query', NS.discoItems)) {
        await this.o.send(iqResult(stanza, xml('query', { xmlns: NS.discoItems })));
      } else if (inbound.type === 'get' && payload?.is('ping', NS.ping)) {
        await this.o.send(iqResult(stanza));
      } else if (inbound.type === 'get' && payload?.is('query', NS.version)) {
        await this.o.send(
          iqResult(stanza, xml('query', { xmlns: NS.version }, xml('name', {}, 'xmpp-teams-gateway'), xml('version', {}, this.o.version))),
        );
      } else {
        throw new StanzaError('service-unavailable');
      }
      return;
    }
    if (inbound.kind === 'message') {
      if (inbound.type === 'chat' || inbound.type === 'normal') {
        throw new StanzaError('service-unavailable', `this is the Microsoft Teams gateway; write to a Teams user as user@${me}`);
      }
      return;
    }
    const to = bareJid(inbound.from);
    if (inbound.type === 'subscribe') await this.o.send(presence({ from: me, to, type: 'subscribed' }));
    if (inbound.type === 'subscribe' || inbound.type === 'probe') {
      await this.o.send(presence({ from: me, to, extra: [capsElement(COMPONENT_INFO)] }));
    }
  }

  /** An iq for a Teams user's address. */
  async userIq(stanza: Element, iq: InboundIq, user: TeamsUser): Promise<void> {
    const payload = iq.payload;
    if (iq.type === 'get' && payload?.is('query', NS.discoInfo)) {
      const info = userInfo(user.displayName);
      const node = payload.attrs.node;
      // XEP-0115 §6.2: a query for the caps node#ver answers with the same info.
      if (node !== undefined && node !== `${CAPS_NODE}#${capsVer(info)}`) throw new StanzaError('item-not-found');
      await this.o.send(iqResult(stanza, discoInfoQuery(info, node)));
      return;
    }
    if (iq.type === 'get' && payload?.is('ping', NS.ping)) {
      await this.o.send(iqResult(stanza));
      return;
    }
    const vcard4 = payload?.is('vcard', NS.vcard4) === true;
    if (iq.type === 'get' && (payload?.is('vCard', NS.vcardTemp) || vcard4)) {
      // XEP-0054 §3.2 / XEP-0292: her card from her Graph profile, only the fields the configuration exposes.
      let card;
      try {
        // (A Teams user was found, so the tenant has Teams: its cards exist.)
        card = await (this.o.cards?.card(user.id) ?? Promise.reject(new StanzaError('item-not-found')));
      } catch (err) {
        if (err instanceof TeamsError) throw new StanzaError('remote-server-timeout', 'the Teams profile is not reachable; try again later');
        throw err;
      }
      const jid = stanza.attrs.to ?? '';
      const build = vcard4 ? profileToVcard4 : profileToVcardTemp;
      await this.o.send(iqResult(stanza, build(card.profile, jid, this.o.cardFields, card.photo)));
      return;
    }
    if (iq.type === 'set' && payload?.is('vCard', NS.vcardTemp)) throw new StanzaError('forbidden', 'a Teams user card is edited in Microsoft 365');
    throw new StanzaError('service-unavailable');
  }
}
