/**
 * The state one UserPairActor activation shares between its concerns (XMPP -> Teams, Teams -> XMPP, presence,
 * cards), and the small steps they all take: find or create the XMPP user's account and chat, send a stanza
 * best effort, tell a sender about an error, classify a Graph failure.
 */
import { randomUUID } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { textToTeamsHtml } from '../../protocol/message-body.js';
import { receipt } from '../../protocol/stanza.js';
import { StanzaError, messageError } from '../../protocol/stanza-error.js';
import type { Logger } from '../../observability/logger.js';
import type { Admission } from '../../policy/throttle.js';
import type { PairKey, PairRecord } from '../../store/store.js';
import { TeamsError, type Puppet, type TeamsUser } from '../../teams/teams-port.js';
import { XmppLinkDownError } from '../../xmpp/component-link.js';
import { pairKey } from '../actor-keys.js';
import type { Outcome, PairDeps, PairMessage } from './messages.js';

/** A Graph (or link) failure, classified: transient ones are retried, the rest fail the message. */
export interface Failure {
  readonly transient: boolean;
  readonly reason: string;
  readonly retryAfterMs?: number | undefined;
  readonly status: number;
}

/** Graph failures that the next attempt may not repeat; anything else is a bug, rethrown for the supervisor. */
export function classify(err: unknown): Failure {
  if (err instanceof TeamsError) return { transient: err.transient, reason: err.message, retryAfterMs: err.retryAfterMs, status: err.status };
  if (err instanceof XmppLinkDownError) return { transient: true, reason: err.message, status: 0 };
  throw err; // anything else is a bug: let the supervisor restart the actor
}

/** The outcome of a message whose Graph call failed: retried later when transient, failed otherwise. */
export function outcomeOf(err: unknown): Outcome {
  const c = classify(err);
  return c.transient ? { status: 'retry', reason: c.reason, retryAfterMs: c.retryAfterMs } : { status: 'failed', reason: c.reason };
}

/** The stanza error an XMPP sender gets when Teams refused a message for good. */
export function stanzaErrorForTeams(status: number, reason: string): StanzaError {
  if (status === 404) return new StanzaError('item-not-found', 'the Teams user or chat no longer exists');
  if (status === 413) return new StanzaError('policy-violation', 'the message is too large for Teams');
  if (status === 400) return new StanzaError('not-acceptable', `Teams rejected the message: ${reason}`);
  if (status === 401 || status === 403) return new StanzaError('service-unavailable', 'the gateway is not allowed to post to Teams; an administrator must check its permissions');
  if (status === 0 || status === 429 || status >= 500) return new StanzaError('remote-server-timeout', 'Teams did not accept the message in time');
  return new StanzaError('undefined-condition', `Teams refused the message (HTTP ${status})`);
}

/** The rate-limit buckets one message of the pair draws from: its remote domain, both users, and the pair. */
export function admissionFor(key: PairKey, body: string): Admission {
  return {
    scopes: [
      { scope: 'domain', key: key.remoteJid.slice(key.remoteJid.indexOf('@') + 1) },
      { scope: 'user', key: `teams:${key.teamsUserId}` },
      { scope: 'user', key: `xmpp:${key.remoteJid}` },
      { scope: 'pair', key: pairKey(key) },
    ],
    bytes: Buffer.byteLength(body, 'utf8'),
  };
}

export class PairContext {
  /** The durable pair row (chat id, subscription states), kept in step with the store. */
  pair!: PairRecord;
  teamsUser!: TeamsUser;
  /** The Teams user's JID on the component domain. */
  teamsJid!: string;
  /** The XMPP user's Entra account, once it is known to exist. */
  puppet: Puppet | undefined;

  constructor(
    readonly key: PairKey,
    readonly d: PairDeps,
    readonly log: Logger,
    /** Sends the actor a message later (retry timers) through its supervisor's mailbox. */
    readonly self: (message: PairMessage) => void,
  ) {}

  remoteDomain(): string {
    return this.key.remoteJid.slice(this.key.remoteJid.indexOf('@') + 1);
  }

  /** The buckets one message draws from: its remote domain, both users, and the pair. */
  admission(body: string): Admission {
    return admissionFor(this.key, body);
  }

  async ensurePuppet(): Promise<Puppet> {
    if (this.puppet) return this.puppet;
    const puppet = await this.d.teams.ensurePuppet(this.key.remoteJid);
    await this.d.store.putPuppet(puppet);
    await this.d.subscriptions.puppetReady(puppet);
    this.puppet = puppet;
    return puppet;
  }

  async ensureChat(puppet: Puppet): Promise<string> {
    if (this.pair.chatId) return this.pair.chatId;
    const chatId = await this.d.teams.ensureChat(puppet, this.key.teamsUserId);
    this.pair = await this.d.store.updatePair(this.key, { chatId });
    return chatId;
  }

  /** Tells the Teams user, in the chat, why her message did not reach XMPP (as the XMPP user's account). */
  async noticeToTeams(chatId: string, text: string, log: Logger): Promise<void> {
    try {
      const puppet = await this.ensurePuppet();
      const id = await this.d.teams.sendMessage(puppet, chatId, `<p><em>${textToTeamsHtml(`[XMPP gateway] ${text}`)}</em></p>`);
      await this.d.store.recordRelayed({ chatId, teamsMessageId: id, direction: 'xmpp_to_teams', xmppId: undefined }, this.d.now());
    } catch (err) {
      log.warn('could not post a notice to Teams', { reason: classify(err).reason });
    }
  }

  /** False when the link is down (see {@link trySend}). */
  sendReceipt(to: string, forId: string): Promise<boolean> {
    return this.trySend(receipt({ from: this.teamsJid, to, forId, id: randomUUID() }));
  }

  /** False when the link is down (see {@link trySend}). */
  sendError(to: string, id: string | undefined, err: StanzaError): Promise<boolean> {
    this.d.metrics.stanzaErrors.inc({ condition: err.condition });
    return this.trySend(messageError({ from: this.teamsJid, to, id }, err));
  }

  /** Receipts, errors and presence are best effort: the link being down must not fail the message. */
  async trySend(stanza: Element): Promise<boolean> {
    try {
      await this.d.xmpp.send(stanza);
      return true;
    } catch (err) {
      if (err instanceof XmppLinkDownError) return false;
      throw err;
    }
  }
}
