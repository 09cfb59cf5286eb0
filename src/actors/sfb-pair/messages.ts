/** What an SfB pair actor receives and answers (issue 17). Every value is plain JSON: it crosses the cluster. */
import type { InboundMessage, InboundPresence } from '../../protocol/stanza.js';
import type { WireAnswer, WireRequest } from '../../sfb/wire.js';

export type SfbPairMessage =
  | { readonly type: 'xmpp-chat'; readonly message: InboundMessage }
  | { readonly type: 'xmpp-presence'; readonly presence: InboundPresence }
  | { readonly type: 'xmpp-subscription'; readonly presence: InboundPresence }
  /** vcard-temp or vCard4 request for the SfB user's card. */
  | { readonly type: 'xmpp-vcard'; readonly iq: { readonly id: string; readonly from: string; readonly to: string }; readonly vcard4: boolean }
  /** A SIP request from SfB for this pair; the answer goes back in the reply. */
  | { readonly type: 'sip'; readonly request: WireRequest }
  | { readonly type: 'drain' }
  | { readonly type: 'resync' }
  | { readonly type: 'refresh-watch' }
  | { readonly type: 'session-idle' }
  | { readonly type: 'notify-watchers' };

export type SfbPairReply =
  | { readonly status: 'done' }
  | { readonly status: 'retry'; readonly reason: string; readonly retryAfterMs?: number | undefined }
  | { readonly status: 'failed'; readonly reason: string }
  | { readonly status: 'sip'; readonly answer: WireAnswer | undefined };

export const DONE: SfbPairReply = { status: 'done' };
