/**
 * A Teams message to send again to XMPP later (the XMPP side returned it with a transient error: teams-to-xmpp.ts),
 * kept as an inbox row that is not due before its time: it survives a restart or the death of the pair's node, and
 * the notification processor hands it back to the pair when it is due. Pure encoding, both ways.
 */
import { parseResource } from '../../protocol/graph-notification.js';
import type { InboundNotification, InboxRow, PairKey } from '../../store/store.js';

export interface Resend {
  readonly key: PairKey;
  readonly chatId: string;
  readonly messageId: string;
  /** How many times the XMPP side has returned it so far. */
  readonly bounces: number;
}

export function resendNotification(r: Resend, now: number): InboundNotification {
  return {
    // One row per bounce: the time keeps a later bounce of the same message from being taken for a duplicate.
    dedupKey: `resend:${r.chatId}/${r.messageId}:${r.bounces}:${now}`,
    kind: 'resend',
    subscriptionId: '',
    resource: `chats('${r.chatId}')/messages('${r.messageId}')`,
    changeType: 'created',
    detail: JSON.stringify({ teamsUserId: r.key.teamsUserId, remoteJid: r.key.remoteJid, bounces: r.bounces }),
  };
}

/** The resend an inbox row of kind 'resend' holds; undefined when it is not one (or damaged). */
export function readResend(row: Pick<InboxRow, 'kind' | 'resource' | 'detail'>): Resend | undefined {
  if (row.kind !== 'resend' || !row.detail) return undefined;
  const target = parseResource(row.resource);
  if (target.kind !== 'chatMessage') return undefined;
  let d: unknown;
  try {
    d = JSON.parse(row.detail);
  } catch {
    return undefined;
  }
  if (typeof d !== 'object' || d === null) return undefined;
  const { teamsUserId, remoteJid, bounces } = d as Record<string, unknown>;
  if (typeof teamsUserId !== 'string' || typeof remoteJid !== 'string' || typeof bounces !== 'number') return undefined;
  return { key: { teamsUserId, remoteJid }, chatId: target.chatId, messageId: target.messageId, bounces };
}
