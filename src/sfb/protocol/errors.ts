/**
 * SIP final responses of an IM session or MESSAGE to XMPP stanza errors (RFC 6120 §8.3.3), and XMPP stanza errors
 * to SIP responses (RFC 3261 §21) for what SfB users send to XMPP. A documented `ms-diagnostics` ErrorId refines
 * the status (diagnostics.ts); its text is never shown to the XMPP user (it may name internal servers), the logs
 * keep it. The reason of `ms-diagnostics-public`, which SfB writes for users outside the enterprise ([MS-OCER]
 * §2.2.1.2), is added to the error text.
 */
import { StanzaError } from '../../protocol/stanza-error.js';
import { diagnosticEffect, parseDiagnostics } from './diagnostics.js';

/** What SfB answered: the status, and the headers that qualify it. */
export interface SipFailure {
  readonly status: number;
  readonly warning?: string | undefined;
  readonly diagnostics?: string | undefined;
  readonly publicDiagnostics?: string | undefined;
}

/** The stanza error for a refusal; a documented ms-diagnostics ErrorId wins over the status alone. */
export function sipToStanzaError(f: SipFailure): StanzaError {
  const base = errorOf(f);
  const shown = parseDiagnostics(f.publicDiagnostics)?.reason?.replace(/[\u0000-\u001f]/gu, ' ').slice(0, 200);
  return shown ? new StanzaError(base.condition, `${base.text ?? ''} (Skype for Business: ${shown})`.trim(), base.type) : base;
}

function errorOf(f: SipFailure): StanzaError {
  switch (diagnosticEffect(f.diagnostics)) {
    case 'policy':
      return new StanzaError('policy-violation', 'Skype for Business policy does not allow this conversation');
    case 'no-such-user':
      return new StanzaError('item-not-found', 'no such Skype for Business user');
    case 'retry':
      return new StanzaError('remote-server-timeout', 'Skype for Business cannot route the message now');
    default:
      return statusError(f.status, f.warning);
  }
}

/** 606 with a Warning naming a policy ([MS-SIPRE]: federation or IM policy refused) vs. other 606s. */
function statusError(status: number, warning: string | undefined): StanzaError {
  switch (status) {
    case 404:
    case 604:
      return new StanzaError('item-not-found', 'no such Skype for Business user');
    case 403:
      return new StanzaError('forbidden', 'Skype for Business refused the message');
    case 408:
    case 504:
      return new StanzaError('remote-server-timeout', 'Skype for Business did not answer in time');
    case 415:
    case 488:
      return new StanzaError('not-acceptable', 'the Skype for Business user cannot receive this kind of message');
    case 480:
      return new StanzaError('recipient-unavailable', 'the Skype for Business user is not signed in');
    case 486:
    case 600:
      return new StanzaError('recipient-unavailable', 'the Skype for Business user is busy (do not disturb)', 'wait');
    case 603:
      return new StanzaError('service-unavailable', 'the Skype for Business user declined the conversation');
    case 606:
      return /polic/iu.test(warning ?? '')
        ? new StanzaError('policy-violation', 'Skype for Business policy does not allow this conversation')
        : new StanzaError('not-acceptable', 'Skype for Business cannot accept this conversation');
    case 503:
      return new StanzaError('service-unavailable', 'Skype for Business is not reachable now', 'wait');
    default:
      if (status >= 500) return new StanzaError('remote-server-timeout', `Skype for Business failed (SIP ${status})`);
      return new StanzaError('undefined-condition', `Skype for Business refused the message (SIP ${status})`);
  }
}

/** Whether a failure may succeed later, so the outbox retries it (a documented ErrorId may say so, or say final). */
export function sipFailureIsTransient(f: SipFailure): boolean {
  const effect = diagnosticEffect(f.diagnostics);
  if (effect === 'retry') return true;
  if (effect === 'policy' || effect === 'no-such-user') return false;
  return f.status === 408 || f.status === 503 || f.status === 504 || f.status === 500;
}

/** XMPP stanza error condition (a bounce of what an SfB user sent) -> SIP status for the SfB side. */
export function stanzaConditionToSip(condition: string | undefined): number {
  switch (condition) {
    case 'item-not-found':
    case 'remote-server-not-found':
      return 404;
    case 'forbidden':
    case 'not-allowed':
    case 'not-authorized':
      return 403;
    case 'policy-violation':
      return 606;
    case 'not-acceptable':
      return 488;
    case 'recipient-unavailable':
    case 'service-unavailable':
      return 480;
    case 'resource-constraint':
      return 503;
    case 'remote-server-timeout':
      return 408;
    default:
      return 500;
  }
}
