/**
 * The cluster's pub/sub channels a node listens to for its tenants (issue 16): each tenant's inbox (a notification
 * was committed), presence reconciliation and XMPP link iq answers, on one Redis subscriber connection. Tenants
 * added or removed at run time start or stop listening.
 */
import type { Redis } from 'ioredis';
import { SharedXmppLink } from '../cluster/shared-xmpp-link.js';
import type { TenantRuntime } from './tenant-runtime.js';

export class TenantChannels {
  private readonly handlers = new Map<string, (text: string) => void>();
  private subscriber: Redis | undefined;

  /** Opens the subscriber connection and listens to each tenant's channels. */
  async open(redis: Redis, tenants: readonly TenantRuntime[]): Promise<void> {
    this.subscriber = redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (channel: string, text: string) => this.handlers.get(channel)?.(text));
    for (const t of tenants) await this.listen(t);
  }

  /** Listens to a tenant's channels (or, `on` false, stops). Before open(): remembered, subscribed at open. */
  async listen(t: TenantRuntime, on = true): Promise<void> {
    const handlers: [string | undefined, (text: string) => void][] = [
      [t.channel('inbox'), () => t.teamsSide?.processor.kick()],
      [t.channel('presence'), () => void t.chores.presenceSyncRequested()],
      [t.channel('iq'), (text) => t.link instanceof SharedXmppLink && t.link.foreignAnswer(text)],
    ];
    const names: string[] = [];
    for (const [name, handle] of handlers) {
      if (name === undefined) continue;
      names.push(name);
      if (on) this.handlers.set(name, handle);
      else this.handlers.delete(name);
    }
    if (!this.subscriber || names.length === 0) return;
    await (on ? this.subscriber.subscribe(...names) : this.subscriber.unsubscribe(...names));
  }

  async close(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }
}
