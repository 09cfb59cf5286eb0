/** What the shared end-to-end scenarios need from a federation, and the small helpers they share. */
import type { Element } from '@xmpp/xml';
import type { EmulatedChat, EmulatedChatMember, GraphEmulator } from '../../emulators/graph/types.js';
import { COMPONENT } from '../federation.js';
import type { GatewayProcess } from '../gateway-process.js';
import type { TestXmppClient } from '../xmpp-client.js';

/** A running federation: one server (test/support/federation.ts) or two over S2S (test/support/s2s-federation.ts). */
export interface ScenarioFederation {
  readonly emulator: GraphEmulator;
  readonly gateway: GatewayProcess;
  restartGateway(how?: 'stop' | 'kill'): Promise<void>;
}

export interface Scenario {
  readonly f: ScenarioFederation;
  /** The XMPP user, logged in, roster fetched (RFC 6121 §2.2: an interested resource) and available. */
  readonly xmpp: TestXmppClient;
}

export const ALICE_UPN = 'alice.smith@contoso.example';
export const ALICE = `alice.smith@${COMPONENT}`;

export const NS = {
  disco: 'http://jabber.org/protocol/disco#info',
  receipts: 'urn:xmpp:receipts',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  vcard: 'vcard-temp',
  vcard4: 'urn:ietf:params:xml:ns:vcard-4.0',
  reactions: 'urn:xmpp:reactions:0',
  correction: 'urn:xmpp:message-correct:0',
  retract: 'urn:xmpp:message-retract:1',
  reply: 'urn:xmpp:reply:0',
} as const;

export function errorCondition(el: Element): string | undefined {
  return el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas)?.name;
}

export function isChatFrom(from: string, body?: string) {
  return (el: Element) => el.name === 'message' && el.attrs.type === 'chat' && el.attrs.from?.split('/')[0] === from && (body === undefined || el.getChildText('body') === body);
}

/** The Teams account standing for an XMPP user: named by its JID (and a suffix), or "Full Name (jid)" once its card is read. */
export function isPuppetOf(bareJid: string) {
  return (m: EmulatedChatMember) => m.displayName.startsWith(bareJid) || m.displayName.endsWith(`(${bareJid})`);
}

/** Alice's one-to-one chats with this XMPP user's account. */
export function chatsWith(f: ScenarioFederation, bareJid: string, teamsUpn = ALICE_UPN): EmulatedChat[] {
  return f.emulator.chatsOf(teamsUpn).filter((c) => c.chatType === 'oneOnOne' && c.members.some(isPuppetOf(bareJid)));
}
