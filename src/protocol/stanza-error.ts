/**
 * Stanza errors (RFC 6120 §8.3). A {@link StanzaError} is a typed value the router turns into an error reply;
 * the default error type of each condition follows the table of RFC 6120 §8.3.3.
 */
import xml, { type Element } from '@xmpp/xml';

export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

export type ErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

/** RFC 6120 §8.3.3 conditions with the error type each section gives. */
export const CONDITIONS = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  forbidden: 'auth',
  gone: 'cancel',
  'internal-server-error': 'cancel',
  'item-not-found': 'cancel',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  'policy-violation': 'modify',
  'recipient-unavailable': 'wait',
  redirect: 'modify',
  'registration-required': 'auth',
  'remote-server-not-found': 'cancel',
  'remote-server-timeout': 'wait',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'subscription-required': 'auth',
  'undefined-condition': 'cancel',
  'unexpected-request': 'wait',
} as const satisfies Record<string, ErrorType>;

export type Condition = keyof typeof CONDITIONS;

export class StanzaError extends Error {
  readonly type: ErrorType;
  constructor(
    readonly condition: Condition,
    /** Human-readable text for the sender (RFC 6120 §8.3.2 <text/>); never include secrets or message bodies. */
    readonly text?: string,
    type?: ErrorType,
  ) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = 'StanzaError';
    this.type = type ?? CONDITIONS[condition];
  }
}

/** The <error/> child of an error stanza (RFC 6120 §8.3.2); `by` names the entity that generated it. */
export function errorElement(err: StanzaError, by?: string): Element {
  return xml(
    'error',
    { type: err.type, by },
    xml(err.condition, { xmlns: NS_STANZAS }),
    err.text ? xml('text', { xmlns: NS_STANZAS, 'xml:lang': 'en' }, err.text) : null,
  );
}

/**
 * The error reply to a stanza (RFC 6120 §8.3.1): same name and id, from/to swapped, type="error". The original
 * payload is not echoed, so that a refused body is never reflected back through the server.
 */
export function errorReply(stanza: Element, err: StanzaError): Element {
  return xml(
    stanza.name,
    { type: 'error', id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from },
    errorElement(err),
  );
}

/** Reads the condition and text of an error stanza, as a client does (used by tests and the link). */
export function readStanzaError(stanza: Element): { type: string | undefined; condition: string | undefined; text: string | undefined } {
  const error = stanza.getChild('error');
  const condition = error?.getChildElements().find((c) => c.getNS() === NS_STANZAS && c.name !== 'text');
  return {
    type: error?.attrs.type,
    condition: condition?.name,
    text: error?.getChildText('text', NS_STANZAS) ?? undefined,
  };
}

/**
 * An error returned for a message the gateway sent that is worth sending again: the peer's server could not be
 * reached (RFC 6120 §8.3.3.15-16), or the error type says to wait and retry (§8.3.2).
 */
export function isTransientBounce(e: { type: string | undefined; condition: string | undefined }): boolean {
  return e.condition === 'remote-server-not-found' || e.condition === 'remote-server-timeout' || e.type === 'wait';
}

/** An error message about a message the gateway accepted earlier (e.g. dead-lettered after retries). */
export function messageError(m: { from: string; to: string; id: string | undefined }, err: StanzaError): Element {
  return xml('message', { type: 'error', id: m.id, from: m.from, to: m.to }, errorElement(err));
}
