/** XML namespaces the gateway reads or writes, with the specification that defines each. */
export const NS = {
  discoInfo: 'http://jabber.org/protocol/disco#info', // XEP-0030
  discoItems: 'http://jabber.org/protocol/disco#items', // XEP-0030
  caps: 'http://jabber.org/protocol/caps', // XEP-0115
  ping: 'urn:xmpp:ping', // XEP-0199
  receipts: 'urn:xmpp:receipts', // XEP-0184
  version: 'jabber:iq:version', // XEP-0092
  sid: 'urn:xmpp:sid:0', // XEP-0359
  jidEscaping: 'jid\\20escaping', // XEP-0106 §6 (the feature string contains a literal "\20")
  delay: 'urn:xmpp:delay', // XEP-0203
  vcardTemp: 'vcard-temp', // XEP-0054
  vcard4: 'urn:ietf:params:xml:ns:vcard-4.0', // XEP-0292, RFC 6351
  vcardUpdate: 'vcard-temp:x:update', // XEP-0153
  chatStates: 'http://jabber.org/protocol/chatstates', // XEP-0085
  correction: 'urn:xmpp:message-correct:0', // XEP-0308
  retract: 'urn:xmpp:message-retract:1', // XEP-0424
  reactions: 'urn:xmpp:reactions:0', // XEP-0444
  fallback: 'urn:xmpp:fallback:0', // XEP-0428
  oob: 'jabber:x:oob', // XEP-0066
  reply: 'urn:xmpp:reply:0', // XEP-0461
  chatMarkers: 'urn:xmpp:chat-markers:0', // XEP-0333
} as const;
