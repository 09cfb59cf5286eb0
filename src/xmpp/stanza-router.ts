/**
 * Everything that arrives on the component link goes through here: parsed (with a stanza error for anything
 * malformed), admitted by the sender's RemoteDomainActor, then answered directly (direct-answers.ts: disco, ping,
 * version, vCard) or routed to the UserPairActor of (Teams user, XMPP user). Nothing here blocks the link: each
 * stanza is handled on its own promise, and order per pair is kept by the actor's mailbox.
 *
 * Admission order (DESIGN.md decision 9, issue 12): what a sender can cost is bounded before it is spent.
 * 1. Strangers and spoofed senders: one JID parse and a whitelist check, then a fixed answer (admitSender); no
 *    actor, no lookup, no log line of their own.
 * 2. A stanza the parser cut short (too deep, too many elements, too large): <policy-violation/>.
 * 3. The directory lookup: paid from the sender's and the domain's lookup budget (Directory).
 * 4. Presence and subscriptions: the same rate limits as messages, then only existing pairs (admitPresence); the
 *    first message of a new pair: its rate limits before the pair exists (admitMessage).
 * 5. A new Teams account: only for a message or a subscription, within the domain's cap (admitAccount).
 */
import { inSpan, TENANT_ATTRIBUTE, traceCarrier } from '../observability/tracing.js';
import { randomUUID } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { bareJid, tryParseJid } from '../protocol/jid.js';
import { mayReplyWithError, parseInbound, presence, type Inbound, type InboundMessage, type InboundPresence } from '../protocol/stanza.js';
import { StanzaError, errorReply, isTransientBounce, readStanzaError } from '../protocol/stanza-error.js';
import type { ActorRouter } from '../cluster/actor-router.js';
import { pairKey } from '../actors/actor-keys.js';
import type { Outcome, PairMessage } from '../actors/user-pair-actor.js';
import type { Envelope } from '../actors/actor.js';
import { KeyedQueue } from '../supervisors/keyed-queue.js';
import { AcceptedHandOver } from './accepted-handover.js';
import type { Committed, MessageAcceptor } from './accept.js';
import { ANY_ORDER, type ArrivalTicket } from './arrival-order.js';
import { LookupRefusedError, type Directory } from '../teams/directory.js';
import type { ProfileCache } from '../teams/profile-cache.js';
import type { CardField } from '../protocol/vcard.js';
import { TeamsError, type TeamsUser } from '../teams/teams-port.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { LogBudget } from '../observability/log-budget.js';
import { pairAdmission, type Admission, type AdmissionResult, type Direction } from '../policy/throttle.js';
import type { PairKey, PairRecord, PuppetRecord } from '../store/store.js';
import { stanzaOverLimit } from './bounded-parser.js';
import type { XmppPort } from './component-link.js';
import type { SfbStanzaHandler } from '../sfb/stanza-handler.js'; // issue 17
import { DirectAnswers } from './direct-answers.js';

type FederationVerdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/** The whitelist (and a tenant's walls) as the router needs it. */
export interface FederationPolicy {
  /** The remote domain may federate at all (checked first, for every stanza). */
  domainAllowed(domain: string): boolean;
  /** remoteJid: the sender's bare JID (walls may name users, issue 16). */
  verdict(user: TeamsUser, remoteDomain: string, remoteJid?: string): FederationVerdict | Promise<FederationVerdict>;
}

export interface StanzaRouterOptions {
  /** The tenant this router serves, on its spans (issue 16). */
  readonly tenant?: string;
  readonly componentDomain: string;
  readonly maxBodyBytes: number;
  readonly version: string;
  readonly xmpp: XmppPort;
  readonly router: ActorRouter;
  /** The tenant's Teams users and their cards; undefined when it has SfB Server only (issue 17): no Teams user exists. */
  readonly teams: { readonly directory: Directory; readonly cards: ProfileCache } | undefined;
  readonly policy: FederationPolicy;
  readonly cardFields: ReadonlySet<CardField>;
  /** Issue 17: users homed on Skype for Business are handed to the SfB side. */
  readonly sfb?: SfbStanzaHandler | undefined;
  /** Commits chat messages to the outbox on arrival (DESIGN.md decision 4). */
  readonly acceptor: MessageAcceptor;
  /** The rate limits presence and subscriptions pass, as messages do. */
  readonly throttle: { admit(direction: Direction, a: Admission, mode: 'refuse' | 'queue', maxWaitMs?: number): Promise<AdmissionResult> };
  /** Over a rate limit: refuse at once, or wait in a bounded queue for at most maxThrottleDelayMs. */
  readonly onRateExceeded: 'refuse' | 'queue';
  /** Lines about refused stanzas, within a budget: a flood costs a constant number of lines. */
  readonly refusalLog: LogBudget;
  readonly maxThrottleDelayMs: number;
  /** Pairs and accounts, read to decide whether a presence may reach a pair and a sender needs an account. */
  readonly store: { getPair(key: PairKey): Promise<PairRecord | undefined>; getPuppet(remoteJid: string): Promise<PuppetRecord | undefined> };
  readonly log: Logger;
  readonly metrics: Metrics;
}

/** Pairs and accounts known to exist, remembered per node (a bounded set: the oldest is forgotten first). */
const KNOWN_MAX = 50_000;

function remember(set: Set<string>, value: string): void {
  if (set.size >= KNOWN_MAX) set.delete(set.values().next().value as string);
  set.add(value);
}

export class StanzaRouter {
  private inFlight = 0;
  /** Per pair: what was handed to the actor, in arrival order (a message waits for its commit, not its delivery). */
  private readonly handover = new KeyedQueue();
  private readonly knownPairs = new Set<string>();
  private readonly knownAccounts = new Set<string>();

  private readonly answers: DirectAnswers;
  /** Rows committed on arrival, to their pair's actor (several stanzas' in one message while it is busy). */
  private readonly accepted: AcceptedHandOver;

  constructor(private readonly o: StanzaRouterOptions) {
    this.accepted = new AcceptedHandOver((key, message, envelope) => this.o.router.pair(key, message, envelope), o.log);
    this.answers = new DirectAnswers({
      componentDomain: o.componentDomain,
      version: o.version,
      cards: o.teams?.cards,
      cardFields: o.cardFields,
      send: (stanza) => this.send(stanza),
    });
  }

  /** Number of stanzas still being handled (for a graceful stop). */
  pending(): number {
    return this.inFlight + this.accepted.pending();
  }

  /**
   * Handles one stanza; never throws (failures become stanza errors and log lines). `order` keeps the stanzas
   * between the same two addresses in arrival order where it matters: the commit of a message and what the pair
   * actor is told (RFC 6120 §10.1); the checks before run at once.
   */
  async route(stanza: Element, order: ArrivalTicket = ANY_ORDER): Promise<void> {
    // When the stanza was read off the link: a message's relay latency counts from here, its throttle wait included.
    const receivedAt = Date.now();
    const correlationId = randomUUID();
    const log = this.o.log.child({ correlationId });
    this.inFlight++;
    try {
      if (!this.admitSender(stanza)) return;
      const overLimit = stanzaOverLimit(stanza);
      if (overLimit) {
        this.o.metrics.xmppRefused.inc({ reason: 'parser-limit' });
        throw new StanzaError('policy-violation', `stanza ${overLimit}`);
      }
      const inbound = parseInbound(stanza, { maxBodyBytes: this.o.maxBodyBytes });
      await inSpan(`xmpp ${stanza.name}`, { 'xmpp.stanza': stanza.name, 'xtg.correlation_id': correlationId, ...(this.o.tenant ? { [TENANT_ATTRIBUTE]: this.o.tenant } : {}) }, () => {
        log.debug('stanza received', { stanza: stanza.name, type: stanza.attrs.type });
        return this.dispatch(stanza, inbound, { correlationId, receivedAt }, order, log);
      });
    } catch (err) {
      if (err instanceof StanzaError) {
        this.o.refusalLog.info('stanza refused', { correlationId, stanza: stanza.name, condition: err.condition, reason: err.text, from: stanza.attrs.from });
        await this.replyError(stanza, err);
        return;
      }
      log.error('stanza handling failed', { stanza: stanza.name, errorName: err instanceof Error ? err.name : typeof err, error: errorMessage(err), from: stanza.attrs.from });
      await this.replyError(stanza, new StanzaError('internal-server-error', 'the gateway could not process this stanza; try again', 'wait'));
    } finally {
      order.done();
      this.inFlight--;
    }
  }

  private async dispatch(stanza: Element, inbound: Inbound, arrival: { readonly correlationId: string; readonly receivedAt: number }, order: ArrivalTicket, log: Logger): Promise<void> {
    const { correlationId, receivedAt } = arrival;
    if (inbound.to.domain !== this.o.componentDomain) return; // the server routed something not for us
    const envelope = { correlationId };
    if (inbound.kind === 'message' && inbound.type === 'error') {
      const error = readStanzaError(stanza);
      await this.o.router.domain(inbound.from.domain, { type: 'bounced', condition: error.condition }, envelope);
      if (isTransientBounce(error)) await this.bounced(inbound, error.condition ?? 'undefined-condition', envelope, order);
      return;
    }
    if (inbound.kind === 'iq' && (inbound.type === 'result' || inbound.type === 'error')) return; // answers to our own iqs
    const admission = await this.o.router.domain(inbound.from.domain, { type: 'admit', stanza: inbound.kind }, envelope);
    if ('allowed' in admission && !admission.allowed) {
      this.o.metrics.policyRefusals.inc({ direction: 'xmpp_to_teams', reason: 'domain' });
      this.o.metrics.refusalsByDomain.add(inbound.from.domain, 'xmpp_to_teams', 'domain');
      throw admission.error;
    }

    if (!inbound.to.local) {
      await this.answers.toComponent(stanza, inbound);
      return;
    }
    // Issue 17: a user homed on SfB (by domain or by name) is the SfB side's; everyone else is on Teams.
    const sfbUri = await this.o.sfb?.homeOf(inbound.to.local, inbound.from);
    if (sfbUri && this.o.sfb) {
      // The SfB side handles a pair's stanzas one after another, in arrival order (RFC 6120 §10.1).
      await order.turn();
      return this.o.sfb.handle(stanza, inbound, sfbUri, correlationId, log);
    }
    const user = await this.lookup(inbound.to.local, inbound.from);
    if (!user) {
      await this.answers.toUnknownUser(stanza, inbound);
      return;
    }
    const verdict = await this.o.policy.verdict(user, inbound.from.domain, bareJid(inbound.from));
    if (!verdict.allowed) {
      // A Teams user who may not federate (with this domain) does not exist for the sender (issue: whitelisting).
      this.o.metrics.policyRefusals.inc({ direction: 'xmpp_to_teams', reason: verdict.reason });
      this.o.metrics.refusalsByDomain.add(inbound.from.domain, 'xmpp_to_teams', verdict.reason);
      this.o.refusalLog.info('stanza to a Teams user outside the whitelist answered as for no such user', { correlationId, reason: verdict.reason });
      await this.answers.toUnknownUser(stanza, inbound);
      return;
    }
    if (!inbound.from.local && inbound.kind !== 'iq') {
      // A server (a JID without localpart) is not a user: it gets no pair and no Teams account of its own.
      if (inbound.kind === 'message' && (inbound.type === 'chat' || inbound.type === 'normal')) throw new StanzaError('service-unavailable', 'only XMPP users can write to a Teams user');
      return;
    }
    const remoteJid = bareJid(inbound.from);
    const key = { teamsUserId: user.id, remoteJid };
    let outcome: Outcome | undefined;
    switch (inbound.kind) {
      case 'message':
        if (inbound.type === 'groupchat') throw new StanzaError('service-unavailable', 'a Teams user is not a chat room');
        if (inbound.type === 'headline') return;
        {
          const admission = await this.admitMessage(key, inbound, envelope);
          if (admission === 'drop') return;
          // Accept on arrival (issue 15): new content is committed to the outbox now; the actor is told once durable.
          const accepted = await this.o.acceptor.accept(inbound, key, bareJid(inbound.to), () => order.turn(), {
            log,
            admitted: admission === 'admitted',
            receivedAt,
            origin: { correlationId, traceparent: traceCarrier().traceparent },
          });
          if (accepted.kind === 'known') return;
          if (accepted.kind === 'committing') {
            // It is this stanza's turn (the acceptor waited for it before issuing the commit).
            this.handOverAccepted(stanza, key, accepted.committed, envelope, order, log);
            return;
          }
          if (accepted.kind === 'retransmitted') {
            outcome = await this.tellPair(key, { type: 'xmpp-retransmitted', ...accepted.retransmission }, envelope, order);
            break;
          }
          outcome = await this.tellPair(key, { type: 'xmpp-chat', message: inbound }, envelope, order);
        }
        break;
      case 'presence':
        if (inbound.type === 'error') return;
        if (!(await this.admitPresence(key, inbound, bareJid(inbound.to), envelope))) return;
        outcome = await this.tellPair(
          key,
          inbound.type === 'available' || inbound.type === 'unavailable'
            ? { type: 'xmpp-presence', presence: inbound }
            : { type: 'xmpp-subscription', presence: inbound },
          envelope,
          order,
        );
        break;
      case 'iq':
        await this.answers.userIq(stanza, inbound, user);
        return;
    }
    if (outcome.status !== 'done') log.warn('pair did not complete the stanza', { outcome: outcome.status, reason: outcome.reason });
  }

  /**
   * A message the gateway relayed from Teams came back with a transient error: its pair sends it again later.
   * Only for a pair that exists, a Teams user the domain may reach, and within the pair's rate limit: a forged
   * bounce costs no more than a message (issue 12), and creates nothing.
   */
  private async bounced(inbound: InboundMessage, condition: string, envelope: Envelope, order: ArrivalTicket): Promise<void> {
    if (!inbound.id || !inbound.from.local || !inbound.to.local || (await this.o.sfb?.homeOf(inbound.to.local))) return;
    const user = await this.lookup(inbound.to.local, inbound.from).catch(() => undefined);
    if (!user || !(await this.o.policy.verdict(user, inbound.from.domain, bareJid(inbound.from))).allowed) return;
    const key = { teamsUserId: user.id, remoteJid: bareJid(inbound.from) };
    if (!(await this.o.throttle.admit('xmpp_to_teams', pairAdmission(key, 0), 'refuse')).ok) return;
    if (!(await this.o.store.getPair(key))) return;
    await this.tellPair(key, { type: 'xmpp-bounced', id: inbound.id, condition }, envelope, order);
  }

  /**
   * Tells the pair actor `message` after whatever was handed over before for the pair, so that the actor sees a
   * pair's stanzas in arrival order (RFC 6120 §10.1). The order is kept until the actor is told, not until it
   * answers: a message committed on arrival does not wait for the post before it.
   */
  private async tellPair(key: PairKey, message: PairMessage, envelope: Envelope, order: ArrivalTicket = ANY_ORDER): Promise<Outcome> {
    await order.turn();
    return this.handOver(key, message, envelope, order);
  }

  /**
   * In the stanza's turn: queues what the pair actor is to be told at once (no await before, so no later stanza
   * can queue first), then lets the next stanza of the pair go.
   */
  private handOver(key: PairKey, message: PairMessage, envelope: Envelope, order: ArrivalTicket): Promise<Outcome> {
    let outcome: Promise<Outcome> = Promise.resolve({ status: 'done' });
    const told = this.handover.run(pairKey(key), async () => {
      // Accepted rows waiting for the pair go before this message (accepted-handover.ts).
      this.accepted.flush(key);
      outcome = this.o.router.pair(key, message, envelope);
    });
    order.done();
    return told.then(() => outcome);
  }

  /**
   * The stanza's rows are in the store's group commit: the link reads on meanwhile. In the stanza's turn, once they
   * are durable, they go to the pair's actor, with those of the stanzas after it while the actor is busy
   * (accepted-handover.ts); nothing of the stanza is held after that. A failed commit is answered with an error (the
   * sender may resend); a retransmission the commit found goes to the actor as a message of its own, in its turn.
   */
  private handOverAccepted(stanza: Element, key: PairKey, committed: Promise<Committed>, envelope: Envelope, order: ArrivalTicket, log: Logger): void {
    this.inFlight++;
    this.handover
      .run(pairKey(key), async () => {
        let c: Committed;
        try {
          c = await committed;
        } catch (err) {
          log.error('could not commit an incoming message', { error: errorMessage(err) });
          void this.replyError(stanza, new StanzaError('internal-server-error', 'the gateway could not accept this message; try again', 'wait'));
          return;
        }
        if (!('retransmission' in c)) {
          this.accepted.add(key, c.rows, envelope);
          return;
        }
        this.accepted.flush(key);
        this.o.router.pair(key, { type: 'xmpp-retransmitted', ...c.retransmission }, envelope).then(
          (outcome) => {
            if (outcome.status !== 'done') log.warn('pair did not complete the stanza', { outcome: outcome.status, reason: outcome.reason });
          },
          (err: unknown) => log.warn('the pair actor was not told of a retransmitted message', { error: errorMessage(err) }),
        );
      })
      .catch((err: unknown) => log.error('could not hand an accepted message over', { error: errorMessage(err) }))
      .finally(() => {
        this.inFlight--;
      });
    order.done();
  }

  /**
   * Admission step 1: a stanza from outside the whitelist, or claiming to come from the gateway's own domain, is
   * answered (or dropped) here at a constant cost: no actor, no lookup, no log line of its own. True when the
   * sender may go on. An unparsable sender goes on, for parseInbound to answer with <jid-malformed/>.
   */
  private admitSender(stanza: Element): boolean {
    const from = tryParseJid(stanza.attrs.from);
    if (!from) return true;
    const me = this.o.componentDomain;
    if (from.domain === me || from.domain.endsWith(`.${me}`)) {
      // Only a spoofing peer sends "from" the gateway's own addresses; an answer would come back here.
      this.o.metrics.xmppRefused.inc({ reason: 'spoofed-from' });
      return false;
    }
    if (this.o.policy.domainAllowed(from.domain)) return true;
    this.o.metrics.xmppRefused.inc({ reason: 'stranger' });
    this.o.metrics.policyRefusals.inc({ direction: 'xmpp_to_teams', reason: 'domain' });
    // The console's refusals by domain: a bounded tally (observability/domain-tally.ts), so a flood costs a counter.
    this.o.metrics.refusalsByDomain.add(from.domain, 'xmpp_to_teams', 'domain');
    // RFC 6120 §8.3.3.19: <service-unavailable/> without text, the same for every address, so a stranger learns
    // nothing about which Teams users exist. Never an answer to an error or an iq result (§8.3.1).
    if (mayReplyWithError(stanza) && tryParseJid(stanza.attrs.to)?.domain === me) void this.send(errorReply(stanza, new StanzaError('service-unavailable')));
    return false;
  }

  /** Admission step 3: the lookup, paid by the sender from their lookup budget when it reaches Graph. */
  private async lookup(localpart: string, sender: Inbound['from']): Promise<TeamsUser | undefined> {
    const directory = this.o.teams?.directory;
    if (!directory) return undefined;
    try {
      return await directory.byLocalpart(localpart, { sender: bareJid(sender), domain: sender.domain });
    } catch (err) {
      if (err instanceof TeamsError) throw new StanzaError('remote-server-timeout', 'the Teams directory is not reachable; try again later');
      if (err instanceof LookupRefusedError) {
        // RFC 6120 §8.3.3.18: the sender may try again later.
        throw new StanzaError('resource-constraint', 'too many lookups of unknown addresses; slow down and retry later', 'wait');
      }
      throw err;
    }
  }

  /**
   * Admission step 4 (issue 12 finding 5): presence and subscriptions pass the same rate limits as messages, and
   * before any actor or account exists. A presence reaches only a pair that already exists (a message or a
   * subscription made it), so a bare presence creates nothing; a subscribe may make a pair, and an account within
   * the domain's cap. True when the stanza goes on to the pair; false when it was answered or dropped here.
   */
  private async admitPresence(key: PairKey, p: InboundPresence, teamsJid: string, envelope: { correlationId: string }): Promise<boolean> {
    const admitted = await this.o.throttle.admit('xmpp_to_teams', pairAdmission(key, 0), 'refuse');
    if (!admitted.ok) {
      // RFC 6120 §8.3.3.18; a plain presence over the limit is dropped (an error for each would be noise).
      if (p.type === 'subscribe') throw new StanzaError('resource-constraint', `rate limit exceeded (${admitted.scope}); slow down and retry later`, 'wait');
      return false;
    }
    if (p.type === 'subscribe') {
      await this.admitAccount(key.remoteJid, envelope);
      return true;
    }
    if (await this.pairExists(key)) return true;
    // RFC 6121 §4.3.2: a probe without a subscription is answered "unsubscribed"; any other presence about a pair
    // that does not exist changes nothing (§3.1.6, §3.2.3, §3.3.3: nothing was asked for).
    if (p.type === 'probe') await this.send(presence({ from: teamsJid, to: key.remoteJid, type: 'unsubscribed' }));
    return false;
  }

  /**
   * Admission steps 4 and 5 for a message. To a pair that exists, it goes on: the acceptor applies the rate limits
   * (a retransmission of an accepted message costs no tokens). The first message of a new pair takes its tokens
   * here, before the pair and its actor exist, and may make an account within the domain's cap; a message without a
   * body (chat state, marker, receipt) to a pair that does not exist changes nothing ('drop'). 'admitted': the
   * tokens were taken here, so the acceptor does not take them again.
   */
  private async admitMessage(key: PairKey, m: InboundMessage, envelope: { correlationId: string }): Promise<'drop' | 'admitted' | 'go'> {
    const wanted = m.body !== undefined && m.body.trim() !== '';
    if (await this.pairExists(key)) {
      if (wanted) await this.admitAccount(key.remoteJid, envelope);
      return 'go';
    }
    if (!wanted) return 'drop';
    const admitted = await this.o.throttle.admit('xmpp_to_teams', pairAdmission(key, Buffer.byteLength(m.body ?? '', 'utf8')), this.o.onRateExceeded, this.o.maxThrottleDelayMs);
    if (!admitted.ok) throw new StanzaError('resource-constraint', `rate limit exceeded (${admitted.scope}); slow down and retry later`, 'wait');
    await this.admitAccount(key.remoteJid, envelope);
    return 'admitted';
  }


  /** Pairs known to exist are remembered (bounded): most stanzas are for pairs that exist, and cost no read. */
  private async pairExists(key: PairKey): Promise<boolean> {
    const k = pairKey(key);
    if (this.knownPairs.has(k)) return true;
    if (!(await this.o.store.getPair(key))) return false;
    remember(this.knownPairs, k);
    return true;
  }

  /** Admission step 5: an account is made only within the sender's domain cap (its RemoteDomainActor decides). */
  private async admitAccount(remoteJid: string, envelope: { correlationId: string }): Promise<void> {
    if (this.knownAccounts.has(remoteJid)) return;
    if (!(await this.o.store.getPuppet(remoteJid))) {
      const domain = remoteJid.slice(remoteJid.indexOf('@') + 1);
      const verdict = await this.o.router.domain(domain, { type: 'account', remoteJid }, envelope);
      if ('allowed' in verdict && !verdict.allowed) throw verdict.error;
    }
    remember(this.knownAccounts, remoteJid);
  }

  private async replyError(stanza: Element, err: StanzaError): Promise<void> {
    if (!mayReplyWithError(stanza)) return;
    this.o.metrics.stanzaErrors.inc({ condition: err.condition });
    await this.send(errorReply(stanza, err));
  }

  private async send(stanza: Element): Promise<void> {
    try {
      await this.o.xmpp.send(stanza);
    } catch (err) {
      this.o.log.warn('could not send a reply stanza', { error: errorMessage(err) });
    }
  }
}

