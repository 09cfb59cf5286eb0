/**
 * Which items of a POSTed notification collection the gateway accepts, and the inbox records it commits for them.
 * The webhook is public (DESIGN.md decision 9), so an item counts only when it authenticates:
 * - its tenantId is the gateway's tenant (Graph always sends it; a notification from another tenant is not ours);
 * - its subscription is one the gateway made, looked up once per request however many items name it;
 * - its clientState is the secret the gateway gave that subscription
 *   (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#processing-the-change-notification);
 * - when it carries resource data, the collection's validation tokens are Graph's, issued to this app
 *   (https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data#validating-the-authenticity-of-notifications).
 * Nothing here decrypts: resource data is committed still encrypted and decrypted when it is processed, so the
 * answer to Graph costs no RSA operation per item.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ParsedCollection, ParsedNotification } from '../protocol/graph-notification.js';
import type { GraphSubscriptionRecord, InboundNotification } from '../store/store.js';

/**
 * Default window within which a lifecycle notice repeated (same event, subscription and expiry) is a duplicate
 * (teams.webhook.lifecycleReplaySeconds). A notice carries nothing that tells a replay from a genuine repeat, so a
 * replay costs at most one inbox row and one reauthorization per window and subscription. Graph repeats
 * reauthorizationRequired "from once every few minutes" for a subscription
 * (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events#additional-information), so a
 * genuine repeat is not dropped.
 */
export const DEFAULT_LIFECYCLE_REPLAY_MS = 60_000;

export interface IntakeSummary {
  items: number;
  accepted: number;
  duplicates: number;
  unknownSubscription: number;
  badClientState: number;
  wrongTenant: number;
  badValidationToken: number;
  /** Why the validation tokens were refused, when they were. */
  tokenProblem?: string;
}

export type TokenVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface IntakeOptions {
  /** The gateway's tenant; notifications of any other tenant are refused. */
  readonly tenantId: string | undefined;
  readonly findSubscription: (id: string) => Promise<GraphSubscriptionRecord | undefined>;
  /** Checks a collection's validation tokens; without it, items with resource data are refused. */
  readonly verifyValidationTokens?: ((tokens: readonly string[]) => Promise<TokenVerdict>) | undefined;
  /** A lifecycle notice repeated within this is a duplicate (default {@link DEFAULT_LIFECYCLE_REPLAY_MS}). */
  readonly lifecycleReplayMs?: number | undefined;
  /**
   * Which of a chat's Teams messages were already relayed (the gateway's own posts, which Graph notifies too, or
   * redeliveries): their "created" notifications need no commit (issue 15: one XMPP -> Teams message would
   * otherwise cost two). Asked once per chat and request, for the items that authenticated.
   */
  readonly alreadyRelayed?: ((chatId: string, messageIds: readonly string[]) => Promise<ReadonlySet<string>>) | undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The inbox dedup key. A "created" notification names one message once, so a redelivery has the same key; a
 * lifecycle notice is the same notice within the replay window; a notification with resource data
 * is the same when its encrypted data is (each is encrypted with a fresh key). Other notifications (presence
 * changes, edits) may legitimately repeat, and processing them twice is harmless.
 * A new message's key starts with its id, the time it was created in epoch milliseconds
 * (https://learn.microsoft.com/en-us/graph/api/resources/chatmessage, as Learn's examples show; pinned in
 * docs/graph-conformance.md): keys then go into the inbox's unique index at one place, its end, rather than at one
 * place per chat, and a commit rewrites one of its pages rather than one per chat (the standalone writer cycle:
 * 25.4 against 29.7 KiB written a message, 0.138 against 0.146 ms of CPU, 3 runs each). Any other id is as unique.
 */
export function dedupKeyOf(n: ParsedNotification, arrivalId: string, now: number, replayWindowMs = DEFAULT_LIFECYCLE_REPLAY_MS): string {
  if (n.target.kind === 'chatMessage' && n.changeType === 'created') return `created:${n.target.messageId}/${n.target.chatId}`;
  if (n.lifecycleEvent) {
    return `lifecycle:${n.lifecycleEvent}:${n.subscriptionId}:${n.subscriptionExpirationDateTime ?? ''}:${Math.floor(now / replayWindowMs)}`;
  }
  if (n.encryptedContent) return `${n.changeType}:${n.resource}:${createHash('sha256').update(n.encryptedContent.data).digest('base64url')}`;
  return `${n.changeType}:${n.resource}:${arrivalId}`;
}

export function emptySummary(items: number): IntakeSummary {
  return { items, accepted: 0, duplicates: 0, unknownSubscription: 0, badClientState: 0, wrongTenant: 0, badValidationToken: 0 };
}

export class NotificationIntake {
  private arrivals = 0;

  constructor(private readonly o: IntakeOptions) {}

  /** The records to commit for the items that authenticate, and what became of the others. */
  async admit(collection: ParsedCollection, now: number): Promise<{ records: InboundNotification[]; summary: IntakeSummary }> {
    const summary = emptySummary(collection.items.length);
    const subscriptions = new Map<string, Promise<GraphSubscriptionRecord | undefined>>();
    const lookup = (id: string) => {
      let p = subscriptions.get(id);
      if (!p) {
        p = this.o.findSubscription(id);
        subscriptions.set(id, p);
      }
      return p;
    };
    let tokens: Promise<TokenVerdict> | undefined;
    const tokensValid = () => {
      tokens ??= this.o.verifyValidationTokens && collection.validationTokens.length > 0
        ? this.o.verifyValidationTokens(collection.validationTokens)
        : Promise.resolve({ ok: false, reason: collection.validationTokens.length === 0 ? 'no validation tokens' : 'rich notifications are not configured' });
      return tokens;
    };
    // First the items that authenticate, then (one store read a chat) which of their new messages were relayed.
    const genuine: ParsedNotification[] = [];
    for (const n of collection.items) {
      const tenant = this.o.tenantId;
      if (tenant !== undefined && n.tenantId?.toLowerCase() !== tenant.toLowerCase()) {
        summary.wrongTenant++;
        continue;
      }
      const sub = await lookup(n.subscriptionId);
      if (!sub) {
        summary.unknownSubscription++;
        continue;
      }
      if (n.clientState === undefined || !sameSecret(n.clientState, sub.clientState)) {
        summary.badClientState++;
        continue;
      }
      genuine.push(n);
    }
    const relayed = await this.relayedAmong(genuine);
    const records: InboundNotification[] = [];
    for (const n of genuine) {
      if (n.changeType === 'created' && n.target.kind === 'chatMessage' && relayed.get(n.target.chatId)?.has(n.target.messageId)) {
        summary.duplicates++;
        continue;
      }
      if (n.encryptedContent) {
        const verdict = await tokensValid();
        if (!verdict.ok) {
          summary.badValidationToken++;
          summary.tokenProblem = verdict.reason;
          continue;
        }
      }
      records.push({
        dedupKey: dedupKeyOf(n, `${now}.${++this.arrivals}`, now, this.o.lifecycleReplayMs),
        kind: n.lifecycleEvent ? 'lifecycle' : n.target.kind === 'unknown' ? 'chatMessage' : n.target.kind,
        subscriptionId: n.subscriptionId,
        resource: n.resource,
        changeType: n.changeType,
        // Still encrypted: decrypted when processed (notification-processor.ts).
        detail: n.lifecycleEvent ?? (n.encryptedContent ? JSON.stringify(n.encryptedContent) : undefined),
      });
    }
    return { records, summary };
  }

  /** Chat id -> its messages among the items' new ones that were relayed already. */
  private async relayedAmong(items: readonly ParsedNotification[]): Promise<Map<string, ReadonlySet<string>>> {
    const relayed = new Map<string, ReadonlySet<string>>();
    const check = this.o.alreadyRelayed;
    if (!check) return relayed;
    const byChat = new Map<string, string[]>();
    for (const n of items) {
      if (n.changeType !== 'created' || n.target.kind !== 'chatMessage') continue;
      const ids = byChat.get(n.target.chatId);
      if (ids) ids.push(n.target.messageId);
      else byChat.set(n.target.chatId, [n.target.messageId]);
    }
    // One chat at a time, as the items were before: a collection over many chats does not flood the store's pool.
    for (const [chatId, ids] of byChat) relayed.set(chatId, await check(chatId, ids));
    return relayed;
  }
}
