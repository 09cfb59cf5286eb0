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
import { pairAdmission, type Admission } from '../../policy/throttle.js';
import type { PairKey, PairRecord } from '../../store/store.js';
import { TeamsError, type Puppet, type TeamsUser } from '../../teams/teams-port.js';
import { XmppLinkDownError, sendUnlessLinkDown } from '../../xmpp/component-link.js';
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
  if (status === 409) return new StanzaError('conflict', 'the Teams account for this address belongs to someone else; an administrator must check it');
  if (status === 413) return new StanzaError('policy-violation', 'the message is too large for Teams');
  if (status === 400) return new StanzaError('not-acceptable', `Teams rejected the message: ${reason}`);
  if (status === 401 || status === 403) return new StanzaError('service-unavailable', 'the gateway is not allowed to post to Teams; an administrator must check its permissions');
  if (status === 0 || status === 429 || status >= 500) return new StanzaError('remote-server-timeout', 'Teams did not accept the message in time');
  return new StanzaError('undefined-condition', `Teams refused the message (HTTP ${status})`);
}

const USE_WRITE_INTERVAL_MS = 3_600_000;

export class PairContext {
  /** The durable pair row (chat id, subscription states), kept in step with the store. */
  pair!: PairRecord;
  teamsUser!: TeamsUser;
  /** The Teams user's JID on the component domain. */
  teamsJid!: string;
  /** The XMPP user's Entra account, once it is known to exist. */
  puppet: Puppet | undefined;
  /** When this activation last recorded a use of the pair (0: not yet). */
  private lastUse = 0;

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
    return pairAdmission(this.key, Buffer.byteLength(body, 'utf8'));
  }

  /**
   * A message went either way: the pair is in use and is not forgotten (store.retention.unusedPairDays). Written
   * at most once an hour per activation, so that a busy pair costs no write per message.
   */
  async used(): Promise<void> {
    const now = this.d.now();
    if (now - this.lastUse < USE_WRITE_INTERVAL_MS) return;
    this.lastUse = now;
    await this.d.store.touchPair(this.key, now);
  }

  /** The XMPP user's account if it exists (made by this pair or another of theirs); never makes one. */
  async knownPuppet(): Promise<Puppet | undefined> {
    this.puppet ??= await this.d.store.getPuppet(this.key.remoteJid);
    return this.puppet;
  }

  async ensurePuppet(): Promise<Puppet> {
    if (this.puppet) return this.puppet;
    const puppet = await this.d.teams.ensurePuppet(this.key.remoteJid);
    // The store records which JID owns each account: an account that belongs to another JID is never taken over
    // (issue 12 finding 12; with 130 bits of hash in the name this cannot happen by chance).
    const owner = await this.d.store.getPuppetByUserId(puppet.userId);
    if (owner && owner.remoteJid !== this.key.remoteJid) {
      throw new TeamsError(`the Teams account ${puppet.upn} belongs to ${owner.remoteJid}, not to ${this.key.remoteJid}`, 409, 'AccountOwnedByAnotherJid', false);
    }
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
  trySend(stanza: Element): Promise<boolean> {
    return sendUnlessLinkDown(this.d.xmpp, stanza);
  }
}
