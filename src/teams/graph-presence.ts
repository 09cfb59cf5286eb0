/**
 * Presence: read a Teams user's (application, Presence.Read.All) and show an XMPP user's on their account (as the
 * account itself, delegated Presence.ReadWrite: it can change only its own presence):
 * https://learn.microsoft.com/en-us/graph/api/presence-setpresence,
 * https://learn.microsoft.com/en-us/graph/api/presence-clearpresence,
 * https://learn.microsoft.com/en-us/graph/api/presence-setuserpreferredpresence,
 * https://learn.microsoft.com/en-us/graph/api/presence-setstatusmessage
 */
import type { TeamsPresence, TeamsPresenceIntent } from '../protocol/presence-map.js';
import type { GraphContext } from './graph-context.js';
import { TeamsError, type Puppet } from './teams-port.js';

export interface GraphPresence {
  readonly id: string;
  readonly availability: string;
  readonly activity: string;
  readonly statusMessage?: { message?: { content?: string } | null } | null;
}

/** A presence resource as Graph returns it (GET, or decrypted from a rich notification). */
export function toTeamsPresence(p: GraphPresence): TeamsPresence {
  return { availability: p.availability, activity: p.activity, statusMessage: p.statusMessage?.message?.content ?? undefined };
}

export class GraphPresenceApi {
  constructor(
    private readonly g: GraphContext,
    /** The app's client id: Graph requires it as the sessionId of setPresence and clearPresence. */
    private readonly clientId: string,
  ) {}

  async getPresence(userId: string): Promise<TeamsPresence> {
    const p = (await this.g.call('read a Teams user presence', () => this.g.clients.app().api(`/users/${encodeURIComponent(userId)}/presence`).get())) as GraphPresence;
    return toTeamsPresence(p);
  }

  private api(puppet: Puppet, action: string) {
    return this.g.as(puppet).api(`/users/${encodeURIComponent(puppet.userId)}/presence/${action}`);
  }

  /**
   * The whole presence of the XMPP user's account: the app's session (or none), the preferred presence (dnd), the
   * status text. Each step is made even when an earlier one failed, so that one refusal never leaves the others
   * stale; the first failure is thrown afterwards. clearPresence answers 404 when the app has no session ("If the
   * presence session doesn't exist, this method returns a 404 NotFound response code"): already cleared.
   */
  async setPuppetPresence(puppet: Puppet, intent: TeamsPresenceIntent, sessionMinutes: number): Promise<void> {
    const sessionId = this.clientId;
    const duration = `PT${sessionMinutes}M`;
    const steps: [string, () => Promise<unknown>][] = [
      intent.session
        ? ['set the XMPP user presence in Teams', () => this.api(puppet, 'setPresence').post({ sessionId, ...intent.session, expirationDuration: duration })]
        : [
            'clear the XMPP user presence in Teams',
            async () => {
              try {
                await this.g.call('clear the XMPP user presence in Teams', () => this.api(puppet, 'clearPresence').post({ sessionId }));
              } catch (err) {
                if (!(err instanceof TeamsError && err.status === 404)) throw err;
              }
            },
          ],
      intent.preferred
        ? ['set the XMPP user preferred presence in Teams', () => this.api(puppet, 'setUserPreferredPresence').post({ ...intent.preferred, expirationDuration: duration })]
        : ['clear the XMPP user preferred presence in Teams', () => this.api(puppet, 'clearUserPreferredPresence').post({})],
      [
        'set the XMPP user status message in Teams',
        () => this.api(puppet, 'setStatusMessage').post({ statusMessage: { message: { content: intent.statusMessage ?? '', contentType: 'text' } } }),
      ],
    ];
    let first: unknown;
    for (const [what, step] of steps) {
      try {
        await this.g.forPuppet(puppet, what, step);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  /**
   * Keeps the app's presence session alive: setPresence again with the same state, before the session times out
   * (an Available session fades to AvailableInactive after 5 minutes without a call, then Away) or expires.
   */
  async keepPresenceAlive(puppet: Puppet, session: NonNullable<TeamsPresenceIntent['session']>, sessionMinutes: number): Promise<void> {
    await this.g.forPuppet(puppet, 'keep the XMPP user presence alive in Teams', () =>
      this.api(puppet, 'setPresence').post({ sessionId: this.clientId, ...session, expirationDuration: `PT${sessionMinutes}M` }),
    );
  }
}
