/**
 * The Teams messages this node posted itself (an XMPP user's message, relayed), remembered for a while in memory.
 * Graph sends a change notification for each of them too, as for any message of a subscribed chat. Such a
 * notification is answered as a duplicate at the webhook (no inbox row) or finished before its resource data is
 * decrypted (one RSA operation, the largest cost of a notification), so relaying a message to Teams does not also
 * cost a Teams -> XMPP message's work. The store's relayed ids say the same once their commit landed; Graph's
 * notification often arrives before it does (bench/relay.bench.ts, "per message: webhook accepted").
 *
 * Memory only, and safe to lose: a post of the puppet is never relayed to XMPP whoever processes its notification
 * (teams-to-xmpp.ts relays only what the Teams user wrote), so forgetting one (a restart, another node's webhook,
 * an evicted entry) costs only that work, never a message.
 */

/** Posts remembered: many seconds of the node's peak rate, far more than Graph takes to notify one. */
export const OWN_POSTS_REMEMBERED = 16_384;

export class OwnPosts {
  private readonly posts = new Set<string>();

  constructor(private readonly capacity = OWN_POSTS_REMEMBERED) {}

  /** A message this node just posted to the chat. */
  add(chatId: string, messageId: string): void {
    if (this.posts.size >= this.capacity) this.posts.delete(this.posts.values().next().value as string);
    this.posts.add(key(chatId, messageId));
  }

  has(chatId: string, messageId: string): boolean {
    return this.posts.has(key(chatId, messageId));
  }
}

function key(chatId: string, messageId: string): string {
  return `${chatId}/${messageId}`;
}
