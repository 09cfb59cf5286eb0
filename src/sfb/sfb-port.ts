/**
 * What SfB pair actors need from SIP, independent of the wire (as TeamsPort is for Graph). The trusted application
 * implements it on each node; dialogs are plain data, so any node can continue a dialog another node started.
 */
import type { DialogState } from './sip/dialog.js';
import type { SipHeader } from './sip/message.js';

export interface SipOutcome {
  readonly status: number;
  /** Warning header ([RFC 3261 §20.43]; SfB names policy refusals there). */
  readonly warning?: string | undefined;
  /** SfB's ms-diagnostics ([MS-OCER] §2.2.1.1: logged, never shown to XMPP users). */
  readonly diagnostics?: string | undefined;
  /** ms-diagnostics-public ([MS-OCER] §2.2.1.2: written for users outside the enterprise). */
  readonly publicDiagnostics?: string | undefined;
  readonly headers: readonly SipHeader[];
  readonly body: Buffer;
}

export interface DialogOutcome extends SipOutcome {
  /** The dialog after the request (CSeq advanced), or a new one for a 2xx to INVITE/SUBSCRIBE. */
  readonly dialog: DialogState | undefined;
}

export interface SfbPort {
  /** An IM session from an XMPP user to an SfB user, the first message in ms-text-format. */
  invite(fromJid: string, toUri: string, firstMessage: string | undefined): Promise<DialogOutcome>;
  /** A request within a dialog (MESSAGE, INFO, BYE, SUBSCRIBE refresh, NOTIFY). */
  inDialog(dialog: DialogState, method: string, headers: readonly SipHeader[], body?: Buffer): Promise<DialogOutcome>;
  /** BENOTIFY ([MS-SIP] ms-benotify): no answer comes. */
  unanswered(dialog: DialogState, method: string, headers: readonly SipHeader[], body: Buffer): Promise<DialogState>;
  /** A presence subscription of an XMPP user to an SfB user (Expires 0: a one-time query). */
  subscribe(fromJid: string, toUri: string, expires: number): Promise<DialogOutcome>;
  /** The Contact this side puts in its dialogs (an FQDN, never an IP). */
  contact(jid: string): string;
}
