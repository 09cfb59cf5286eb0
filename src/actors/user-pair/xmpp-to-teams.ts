/**
 * XMPP -> Teams for one pair: messages the XMPP user sent were committed to the outbox on arrival
 * (src/xmpp/accept.ts); this delivers them into the 1:1 chat in order, retried with backoff, and answers each
 * with an XEP-0184 receipt only once Graph has it (or a stanza error once it is durably dead-lettered).
 * Corrections, retractions, reactions and markers go to xmpp-changes.ts.
 *
 * Throughput: a backlog (after an outage, or a sender faster than Graph's round trip) goes as JSON batches of up to
 * BATCH_ROWS posts, chained so that Graph keeps their order (graph-batch.ts): one round trip per batch, not per
 * message. The outcome of one post or batch is committed while the next one runs (group commit). Before posting,
 * every pending row of the pair is marked as "sending" in one write. So after a crash at most ROWS_IN_DOUBT rows of
 * a pair can have reached Graph without their outcome being recorded: the first marked pending rows, which the
 * next activation looks for in the chat before posting them again (never twice in Teams).
 */
import { textToTeamsHtml, teamsHtmlToText } from '../../protocol/message-body.js';
import type { InboundMessage } from '../../protocol/stanza.js';
import { errorMessage, type Logger } from '../../observability/logger.js';
import { inTraceOf } from '../../observability/tracing.js';
import type { OutboxRow } from '../../store/store.js';
import { TeamsError, type PostOutcome, type Puppet } from '../../teams/teams-port.js';
import { DONE, type Outcome } from './messages.js';
import { classify, stanzaErrorForTeams, type PairContext } from './pair-context.js';
import { XmppChanges } from './xmpp-changes.js';

/**
 * Posts of a pair sent as one JSON batch at most: Graph's own limit ("Batch size limitations",
 * https://learn.microsoft.com/en-us/graph/json-batching). Each batch costs a round trip, a pass of the Graph client
 * and a pacing draw, whatever its size: batches of 20 instead of 10 took a node's CPU per XMPP -> Teams message from
 * 0.61-0.78 ms to 0.47-0.53 ms (bench/relay.bench.ts, 16,000 messages, alternated runs).
 */
export const BATCH_ROWS = 20;

/**
 * Rows of a pair whose outcome may not be durable yet: a post may start while the outcomes of earlier ones are being
 * committed, as long as no more than this many are; so a full batch waits for the previous one's. After a crash,
 * this many marked pending rows of a pair (the first ones) are in doubt, and each is looked for among the chat's last
 * 50 messages (one page of Graph's list) before it is posted again: 20 leaves room for 30 that the Teams user wrote
 * meanwhile.
 */
export const ROWS_IN_DOUBT = BATCH_ROWS;

/** How far apart two nodes' clocks may be when a row's acceptance is compared with an activation's load. */
const CLOCK_SKEW_MS = 5_000;

/** Rows one actor message delivers at most before the pair yields its turn to its other messages. */
const ROWS_PER_TURN = 32;

/**
 * Receipts and errors the XMPP link could not take (down, or moving to another node after one died) are sent
 * again every RESEND_MS for up to KEEP_MS: a sender must hear about a message the gateway accepted. At most
 * MAX_KEPT per pair.
 */
const RESEND_MS = 1_000;
const KEEP_MS = 60_000;
const MAX_KEPT = 200;

/** A row is logged under the stanza that brought it, whoever drains it (an activation, a retry, another node). */
function logOf(row: OutboxRow, log: Logger): Logger {
  return row.origin ? log.child({ correlationId: row.origin.correlationId }) : log;
}

export class XmppToTeams {
  private drainTimer: NodeJS.Timeout | undefined;
  /** Pending rows this activation delivers, in id (arrival) order; the head may be waiting for a retry. */
  private readonly queue: OutboxRow[] = [];
  /** The highest row id this activation has taken in: a later hint about a row up to it is stale. */
  private known = 0;
  /** Pending rows up to this id are marked as sending in the store. */
  private markedThrough = 0;
  /** Rows whose earlier post may have reached Graph: looked for in the chat before posting. */
  private readonly inDoubt = new Set<number>();
  /** Outcomes being committed (delivered or dead), oldest first, with how many rows each settles. */
  private commits: { readonly done: Promise<void>; readonly rows: number }[] = [];
  /** When load() ran (0: never, an activation that did not load). */
  private loadedAt = 0;
  private commitFailure: unknown;
  /** Answers to senders waiting for the link (see RESEND_MS). */
  private readonly kept: { readonly send: () => Promise<boolean>; readonly until: number }[] = [];
  private drainAt = 0;
  /** False once Graph refused a batch of this pair: this activation posts one by one. */
  private batches = true;

  private readonly changes: XmppChanges;

  constructor(private readonly c: PairContext) {
    this.changes = new XmppChanges(c, () => this.settle());
  }

  /** At activation: the pair's pending rows (accepted before a restart, a move, or while it was passive). */
  async load(): Promise<number> {
    this.loadedAt = this.c.d.now();
    const rows = await this.c.d.store.pendingOutbound(this.c.key);
    this.take(rows);
    // Marked rows were handed to a Graph post by an earlier activation; only the first ones can have reached it.
    for (const row of this.queue.slice(0, ROWS_IN_DOUBT)) if (row.sendingSince !== undefined) this.inDoubt.add(row.id);
    return rows.length;
  }

  /**
   * What the XMPP user sent that is not new content (a correction, retraction, reaction or marker): applied by
   * xmpp-changes.ts once the outcomes being committed have landed where it needs them.
   */
  change(msg: InboundMessage, log: Logger): Promise<Outcome> {
    return this.changes.apply(msg, log);
  }

  /** Lets the outcomes being committed land (their receipts go out), then stops the retry timer. */
  async stop(): Promise<void> {
    clearTimeout(this.drainTimer);
    await Promise.all(this.commits.map((c) => c.done));
  }

  /**
   * Rows committed on arrival: delivered in order behind those already queued. Under load most hand-overs bring rows
   * an earlier turn already read ahead: nothing changed since that turn ended (its retry timer or next turn is set),
   * so the pair does not read the outbox again for them.
   */
  async accepted(rows: readonly OutboxRow[], log: Logger): Promise<Outcome> {
    if ((this.fromBefore(rows) ? await this.takeFromStore(rows) : this.take(rows)) === 0) return DONE;
    return this.pump(log);
  }

  /**
   * Whether a hand-over carries rows accepted before this activation loaded: one sent to the pair's previous
   * activation (on a node it moved from, or one that crashed) and routed here, whose rows that activation may have
   * delivered since, while their copies in the message still say pending. Those are checked against the outbox, or
   * such a row would be posted twice (seen in a SIGTERM's hand-off under load, test/e2e/cluster.test.ts). A row
   * accepted after the load can only be this activation's to deliver. The accepting node's clock may be another's:
   * CLOCK_SKEW_MS of margin.
   */
  private fromBefore(rows: readonly OutboxRow[]): boolean {
    return this.loadedAt > 0 && rows.some((r) => r.createdAt < this.loadedAt + CLOCK_SKEW_MS);
  }

  /** The hand-over's rows as the outbox has them now: only those still pending are taken (with any before them). */
  private async takeFromStore(rows: readonly OutboxRow[]): Promise<number> {
    if (!rows.some((r) => r.id > this.known)) return 0;
    const before = this.queue.length;
    await this.readAhead(Math.max(BATCH_ROWS, rows.length));
    return this.queue.length - before;
  }

  /**
   * The sender sent again a message accepted earlier that was still on its way: once its outcome is committed, a
   * delivered message is confirmed again (XEP-0184); one still waiting gets its receipt when it is delivered.
   */
  async retransmitted(r: { dedupKey: string; sender: string; stanzaId: string | undefined; receiptRequested: boolean }, log: Logger): Promise<Outcome> {
    await this.settle();
    const row = await this.c.d.store.findOutbound(r.dedupKey);
    if (row?.state === 'delivered' && r.receiptRequested && r.stanzaId) this.answer(() => this.c.sendReceipt(r.sender, r.stanzaId ?? ''), log);
    return DONE;
  }

  /** A retry is due, a sweep found pending rows, or the pair was woken after a move: reads the outbox again. */
  async drain(log: Logger): Promise<Outcome> {
    await this.readAhead(ROWS_PER_TURN);
    return this.pump(log);
  }

  /**
   * Takes in up to `limit` pending rows above the highest one taken: only rows not seen yet are read (a backlog of
   * thousands is not read again at every turn); the rest come with the next turns.
   */
  private async readAhead(limit: number): Promise<void> {
    this.take(await this.c.d.store.pendingOutbound(this.c.key, { afterId: this.known, limit }));
  }

  /**
   * Dead letters of this pair were put back in the outbox: once the outcomes in flight are durable, every pending
   * row not queued is one of them (its id may be below `known`). It goes back in id order, and is marked as sending
   * again before its post, so that a crash during that post is looked for in the chat like any other.
   */
  async requeued(log: Logger): Promise<Outcome> {
    await this.settle();
    const queued = new Set(this.queue.map((r) => r.id));
    const back = (await this.c.d.store.pendingOutbound(this.c.key)).filter((r) => r.state === 'pending' && r.id <= this.known && !queued.has(r.id));
    const first = back[0];
    if (first) {
      this.queue.push(...back);
      this.queue.sort((a, b) => a.id - b.id);
      this.markedThrough = Math.min(this.markedThrough, first.id - 1);
      for (const r of back) this.inDoubt.delete(r.id);
      log.info('dead letters back in the outbox', { rows: back.length });
    }
    return this.drain(log);
  }

  /**
   * New rows join the queue (returns how many); rows this activation already took in (or finished) are ignored.
   * Rows of a pair are committed in arrival order, so their ids grow with it (on SQL Server two nodes accepting for
   * one pair at the same instant could commit out of id order: such a row waits for the pair's next activation).
   */
  private take(rows: readonly OutboxRow[]): number {
    let taken = 0;
    for (const row of rows) {
      if (row.id <= this.known || row.state !== 'pending') continue;
      this.queue.push(row);
      this.known = row.id;
      taken++;
    }
    return taken;
  }

  /** Delivers queued rows in order; stops at the first that must wait, and yields its turn after ROWS_PER_TURN. */
  private async pump(log: Logger): Promise<Outcome> {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (this.kept.length > 0) await this.resendKept(log);
    for (let n = 0; n < ROWS_PER_TURN; ) {
      // Rows committed on arrival whose hand-over still waits in the actor's mailbox are read ahead: a backlog goes
      // as full batches, not one post per message (their hand-overs then find them taken).
      if (this.queue.length < BATCH_ROWS) await this.readAhead(BATCH_ROWS - this.queue.length);
      const row = this.queue[0];
      if (!row) return DONE;
      const now = this.c.d.now();
      if (row.nextAttemptAt > now) {
        this.scheduleDrain(row.nextAttemptAt - now);
        return DONE;
      }
      const batch = this.batchable(now);
      n += Math.max(1, batch.length);
      if (batch.length > 1) {
        if (await inTraceOf(row.origin?.traceparent, () => this.deliverBatch(batch, log))) return DONE;
        continue;
      }
      if (await inTraceOf(row.origin?.traceparent, () => this.deliver(row, logOf(row, log)))) return DONE;
      this.queue.shift();
    }
    // More are queued: the rest go in a later turn, so that presence and other messages are not held up.
    if (this.queue.length > 0) this.c.self({ type: 'drain' });
    return DONE;
  }

  /**
   * The rows at the head of the queue that can go together as one batch: due, not in doubt (those are looked for in
   * the chat first, one by one), at most BATCH_ROWS.
   */
  private batchable(now: number): OutboxRow[] {
    const rows: OutboxRow[] = [];
    if (!this.batches) return rows;
    for (const row of this.queue) {
      if (rows.length >= BATCH_ROWS || row.nextAttemptAt > now || this.inDoubt.has(row.id)) break;
      rows.push(row);
    }
    return rows;
  }

  /** Returns true when the row must wait (retry scheduled), so later rows keep their order behind it. */
  private async deliver(row: OutboxRow, log: Logger): Promise<boolean> {
    let chatId: string;
    let teamsMessageId: string;
    try {
      const puppet = await this.c.ensurePuppet();
      chatId = await this.c.ensureChat(puppet);
      // (The outcomes being committed land first: one of them may have claimed the post this row finds.)
      const earlier = this.inDoubt.has(row.id) ? await this.settle().then(() => this.findEarlierPost(puppet, chatId, row, log)) : undefined;
      if (earlier) {
        teamsMessageId = earlier;
      } else {
        await this.readyToPost(row, 1);
        const html = textToTeamsHtml(row.body);
        teamsMessageId = row.replyToTeamsId
          ? await this.c.d.teams.replyWithQuote(puppet, chatId, row.replyToTeamsId, html)
          : await this.c.d.teams.sendMessage(puppet, chatId, html);
      }
    } catch (err) {
      // The post may have reached Graph (no answer, or a failure after it): look for it before posting again.
      return this.failed(row, err, true, log);
    }
    this.delivered(row, chatId, teamsMessageId, log);
    return false;
  }

  /**
   * Posts the rows (the head of the queue, in order) as one batch and takes each finished one (delivered or dead)
   * off the queue. Returns true when the first unfinished row must wait for a retry.
   */
  private async deliverBatch(rows: readonly OutboxRow[], log: Logger): Promise<boolean> {
    const head = rows[0] as OutboxRow;
    let chatId: string;
    let outcomes: PostOutcome[];
    let posting = false;
    try {
      const puppet = await this.c.ensurePuppet();
      chatId = await this.c.ensureChat(puppet);
      await this.readyToPost(rows[rows.length - 1] as OutboxRow, rows.length);
      posting = true;
      outcomes = await this.c.d.teams.postMessages(
        puppet,
        chatId,
        rows.map((r) => ({ html: textToTeamsHtml(r.body), replyToId: r.replyToTeamsId })),
      );
    } catch (err) {
      const c = classify(err);
      if (posting && !c.transient) {
        // Graph refused the batch itself (4xx), so it ran none of the posts: they go one by one from now on, where
        // a refusal is the post's own.
        this.batches = false;
        log.warn('Graph refused a batch of posts; posting one by one', { status: c.status, reason: c.reason });
        return false;
      }
      // No answer for the batch: any of its posts may have reached Graph; each is looked for before it goes again.
      if (posting) for (const r of rows) this.inDoubt.add(r.id);
      return this.failed(head, err, posting, logOf(head, log));
    }
    for (const [i, row] of rows.entries()) {
      const o = outcomes[i];
      if (o && 'id' in o) {
        this.delivered(row, chatId, o.id, logOf(row, log));
        this.queue.shift();
        continue;
      }
      const error = o?.error ?? new TeamsError('post the messages to Teams: no outcome', 0, undefined, true);
      // 424: not attempted, because an earlier post failed; it keeps its place (and its attempts) in the queue.
      if (error.status === 424) return false;
      // Only a post with no answer, or a server error, may have been created all the same.
      if (await this.failed(row, error, error.status === 0 || error.status >= 500, logOf(row, log))) return true;
      this.queue.shift();
    }
    return false;
  }

  /**
   * Before a post of `count` rows up to `last`: the pair's pending rows are marked as sending, and the outcomes
   * being committed leave room for these rows under ROWS_IN_DOUBT (the older outcomes land first).
   */
  private async readyToPost(last: OutboxRow, count: number): Promise<void> {
    if (last.id > this.markedThrough) this.markedThrough = await this.c.d.store.markOutboundSending(this.c.key, this.c.d.now());
    let pending = this.commits.reduce((n, c) => n + c.rows, 0);
    while (pending + count > ROWS_IN_DOUBT) {
      const oldest = this.commits.shift();
      if (!oldest) break;
      await oldest.done;
      pending -= oldest.rows;
    }
    this.throwCommitFailure();
  }

  /**
   * A post failed: a transient failure schedules a retry of the row (returns true: it must wait, and later rows
   * with it); a permanent one, or the last attempt, dead-letters it and tells the sender (returns false).
   */
  private async failed(row: OutboxRow, err: unknown, mayHavePosted: boolean, log: Logger): Promise<boolean> {
    const c = classify(err);
    const attempts = row.attempts + 1;
    if (mayHavePosted) this.inDoubt.add(row.id);
    if (c.transient && attempts < this.c.d.settings.outboxMaxAttempts) {
      const backoff = Math.min(this.c.d.settings.outboxBackoffMaxMs, this.c.d.settings.outboxBackoffInitialMs * 2 ** (attempts - 1));
      const delay = Math.max(backoff, c.retryAfterMs ?? 0);
      if (c.retryAfterMs) this.c.d.metrics.retryAfterWaits.inc({ queue: 'outbox' }, c.retryAfterMs / 1000);
      const nextAttemptAt = this.c.d.now() + delay;
      await this.c.d.store.markOutboundRetry(row.id, c.reason, nextAttemptAt);
      this.queue[0] = { ...row, attempts, nextAttemptAt, lastError: c.reason };
      log.warn('Teams did not accept the message yet; will retry', { outboxId: row.id, attempts, delayMs: delay, reason: c.reason });
      this.scheduleDrain(delay);
      return true;
    }
    this.inDoubt.delete(row.id);
    this.c.d.metrics.deadLetters.inc({ kind: 'user-pair', reason: c.transient ? 'retries_exhausted' : 'rejected_by_teams' });
    log.error('message dead-lettered; the sender is told', { outboxId: row.id, attempts, status: c.status, reason: c.reason });
    const error = stanzaErrorForTeams(c.transient ? 0 : c.status, c.reason);
    this.committing(this.c.d.store.markOutboundDead(row.id, c.reason, this.c.d.now()), 1, async () => this.answer(() => this.c.sendError(row.sender, row.stanzaId, error), log), log);
    return false;
  }

  /** Graph has the row's message: the receipt goes, and the outcome is committed. */
  private delivered(row: OutboxRow, chatId: string, teamsMessageId: string, log: Logger): void {
    this.inDoubt.delete(row.id);
    // XEP-0184: the receipt says Teams has the message, so it goes now, and only now. It does not wait for the
    // outcome's commit: a node dying before that commit finds the post in the chat when the row is retried (it is
    // in doubt), and answers again; a duplicate receipt is harmless, a missing one is not.
    if (row.receiptRequested && row.stanzaId) this.answer(() => this.c.sendReceipt(row.sender, row.stanzaId ?? ''), log);
    const now = this.c.d.now();
    const recorded = Promise.all([
      this.c.d.store.markOutboundDelivered(row.id, teamsMessageId, now),
      this.c.d.store.recordRelayed({ chatId, teamsMessageId, direction: 'xmpp_to_teams', xmppId: row.stanzaId }, now),
    ]);
    this.committing(recorded, 1, async () => {
      this.c.d.metrics.messagesRelayed.inc({ direction: 'xmpp_to_teams' });
      this.c.d.metrics.messageBytes.inc({ direction: 'xmpp_to_teams' }, Buffer.byteLength(row.body));
      this.c.d.metrics.relayLatency.observe({ direction: 'xmpp_to_teams' }, Math.max(0, this.c.d.now() - row.createdAt) / 1000);
      log.debug('message relayed to Teams', { outboxId: row.id, teamsMessageId });
    }, log);
  }

  /**
   * An outcome being committed: `then` (metrics, or the error stanza) follows once it is durable. A failed
   * commit crashes the actor at its next post, so that it restarts from the store (where the row is still pending
   * and in doubt, so it is looked for before being posted again).
   */
  private committing(commit: Promise<unknown>, rows: number, then: () => Promise<unknown>, log: Logger): void {
    this.commits.push({
      rows,
      done: commit.then(
        () =>
          then().then(
            () => undefined,
            (err: unknown) => {
              log.warn('could not answer the sender', { error: errorMessage(err) });
            },
          ),
        (err: unknown) => {
          this.commitFailure ??= err;
        },
      ),
    });
  }

  /** Sends an answer to the XMPP sender now, or keeps it for when the link is back. */
  private answer(send: () => Promise<boolean>, log: Logger): void {
    send().then(
      (sent) => {
        if (sent) return;
        if (this.kept.length >= MAX_KEPT) this.kept.shift();
        this.kept.push({ send, until: this.c.d.now() + KEEP_MS });
        this.scheduleDrain(RESEND_MS);
      },
      (err: unknown) => log.warn('could not answer the sender', { error: errorMessage(err) }),
    );
  }

  private async resendKept(log: Logger): Promise<void> {
    const now = this.c.d.now();
    const waiting = this.kept.splice(0);
    for (const k of waiting) {
      if (k.until < now) {
        log.warn('an answer to the sender was dropped: the XMPP link stayed down', { keptMs: KEEP_MS });
        continue;
      }
      if (!(await k.send().catch(() => false))) this.kept.push(k);
    }
    if (this.kept.length > 0) this.scheduleDrain(RESEND_MS);
  }

  private async settle(): Promise<void> {
    const all = this.commits;
    this.commits = [];
    await Promise.all(all.map((c) => c.done));
    this.throwCommitFailure();
  }

  private throwCommitFailure(): void {
    if (this.commitFailure === undefined) return;
    const err = this.commitFailure;
    this.commitFailure = undefined;
    throw err;
  }

  /**
   * An earlier attempt's outcome is unknown (crash or lost answer): Graph may already have the message. It is the
   * newest post of the puppet with the same text, made since that attempt and not yet claimed by another row.
   */
  private async findEarlierPost(puppet: Puppet, chatId: string, row: OutboxRow, log: Logger): Promise<string | undefined> {
    const text = row.body.replace(/\r\n?/gu, '\n');
    const since = (row.sendingSince ?? row.createdAt) - 60_000; // clock skew between the node and Graph
    for (const m of await this.c.d.teams.recentMessages(puppet, chatId)) {
      if (m.fromUserId !== puppet.userId || m.createdAt < since) continue;
      const posted = m.contentType === 'html' ? teamsHtmlToText(m.content) : m.content;
      if (posted !== teamsHtmlToText(textToTeamsHtml(text))) continue;
      if (await this.c.d.store.findRelayed(chatId, m.id)) continue;
      log.info('an earlier attempt had reached Teams; not posting again', { outboxId: row.id, teamsMessageId: m.id });
      return m.id;
    }
    return undefined;
  }

  /** A drain at most `delayMs` from now (an earlier one already scheduled stays). */
  private scheduleDrain(delayMs: number): void {
    const at = this.c.d.now() + delayMs;
    if (this.drainTimer && this.drainAt <= at) return;
    clearTimeout(this.drainTimer);
    this.drainAt = at;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.c.self({ type: 'drain' });
    }, delayMs);
    this.drainTimer.unref();
  }
}
