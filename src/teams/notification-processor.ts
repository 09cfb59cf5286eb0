/**
 * Works through the durable inbox of Graph change notifications (the webhook committed them before answering
 * Graph): a new chat message goes to the UserPairActor of (Teams user, XMPP user), a presence change to every
 * pair whose XMPP user is subscribed to that Teams user, a lifecycle event to the subscription manager. A row is
 * marked done only after its actor finished; failures are retried with backoff, then dead-lettered.
 * A notification with resource data (rich notification) was committed still encrypted; it is decrypted here
 * (rich-notifications.ts), so the message or presence reaches the actor without a Graph read. One that cannot be
 * decrypted (a certificate no longer configured, a bad signature) is read from Graph instead, as are notifications
 * without resource data.
 */
import { inSpan, TENANT_ATTRIBUTE } from '../observability/tracing.js';
import { randomUUID } from 'node:crypto';
import { parseResource, type EncryptedContent } from '../protocol/graph-notification.js';
import type { ActorRouter } from '../cluster/actor-router.js';
import type { Outcome } from '../actors/user-pair-actor.js';
import { readResend } from '../actors/user-pair/resend-schedule.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { DueInboxRow, InboundNotification, PairKey, Store } from '../store/store.js';
import { toChatMessage, toTeamsPresence, type GraphChatMessage, type GraphPresence } from './graph-teams-adapter.js';
import type { DecryptResult, NotificationCertificate } from './rich-notifications.js';
import { DecryptAhead } from './decrypt-ahead.js';
import { SubscriptionCache } from './subscription-cache.js';
import { sharedResourceDecrypter, type ResourceDecrypter } from './resource-decrypter.js';
import type { SubscriptionManager } from './subscription-manager.js';
import { TeamsError, type TeamsChatMessage, type TeamsPort } from './teams-port.js';
import type { TeamsPresence } from '../protocol/presence-map.js';

export interface NotificationProcessorOptions {
  /** The tenant whose notifications these are, on their spans (issue 16). */
  readonly tenant?: string;
  readonly store: Store;
  readonly teams: TeamsPort;
  readonly router: ActorRouter;
  readonly subscriptions: SubscriptionManager;
  /** Notifications about a puppet's chats may have been missed since `since`: its pairs catch up. */
  readonly catchUp: (puppetUserId: string, since: number) => Promise<void>;
  /** The gateway's encryption certificates by id (rich notifications); empty without them. */
  readonly certificates?: ReadonlyMap<string, NotificationCertificate> | undefined;
  /** The id of the current one: a notification encrypted to another makes its subscription move. */
  readonly currentCertificateId?: string | undefined;
  /** Where resource data is decrypted (default: the process's decrypting thread, resource-decrypter.ts). */
  readonly decrypter?: ResourceDecrypter;
  /** A Teams user's profile or photo changed: drop her cached card. */
  readonly profileChanged: (userId: string) => void;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly maxAttempts: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly pollIntervalMs: number;
  readonly now?: () => number;
  /** In a cluster only the node holding the duties lease processes the inbox (one processor, in order). */
  readonly active?: () => boolean;
  /**
   * Whether this node posted that Teams message itself (own-posts.ts): its "created" notification (which reached
   * the webhook before the post's answer) is finished without decrypting it.
   */
  readonly postedHere?: ((chatId: string, messageId: string) => boolean) | undefined;
  /**
   * In a cluster: which of a chat's Teams messages were relayed already. Graph notifies a post before the posting
   * node has its answer, and the notification may reach another node's webhook, which records it before the post's
   * relayed id commits (bench/relay.bench.ts, 3 nodes: about one XMPP -> Teams message in eight). By the time the
   * inbox gets to it the id is usually there: the row is finished without decrypting it (an RSA operation) or asking
   * its pair. Unset on a lone node, where postedHere knows its every post.
   */
  readonly relayedAmong?: ((chatId: string, messageIds: readonly string[]) => Promise<ReadonlySet<string>>) | undefined;
}

const DONE: Outcome = { status: 'done' };
const NO_CERTIFICATES: ReadonlyMap<string, NotificationCertificate> = new Map();

/** New messages of one chat that go to its pair in one actor message at most. */
const MAX_RUN = 64;

/** A new-message notification of a run (newMessagesFrom), with the chat and message it names. */
interface RunItem {
  readonly row: DueInboxRow;
  readonly chatId: string;
  readonly messageId: string;
}

/** A round of the inbox (dueRound). */
interface Round {
  /** Its rows by chat (or user), each chat's in inbox order. */
  readonly groups: ReadonlyMap<string, readonly DueInboxRow[]>;
  /** All of them, in inbox order. */
  readonly rows: readonly DueInboxRow[];
  /** Rows read and left for a later round (their chat had its share): they may start decrypting ahead. */
  readonly later: readonly DueInboxRow[];
}

/** Due inbox rows read at a time. */
const DUE_PAGE = 200;
/** Rows one round of processing takes at most, all chats together, and of one chat (see dueRound). */
const ROUND_ROWS = 512;
const ROUND_ROWS_PER_CHAT = 64;
/** Due rows one round reads at most to find its rows (those of a full or held chat are read and left). */
const ROUND_SCAN = 2048;

/** The encrypted content a row's detail holds (undefined when it is not JSON). */
function encryptedContentOf(detail: string): EncryptedContent | undefined {
  try {
    return JSON.parse(detail) as EncryptedContent;
  } catch {
    return undefined;
  }
}

/** Rows about the same chat (or the same user) keep their order. */
function groupKey(row: DueInboxRow): string {
  const t = parseResource(row.resource);
  if (t.kind === 'chatMessage') return `chat:${t.chatId}`;
  if (t.kind === 'presence' || t.kind === 'user') return `${t.kind}:${t.userId}`;
  return `row:${row.id}`;
}

export class NotificationProcessor {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => number;

  private readonly ahead: DecryptAhead;
  /** Decryptions the current round started for its rows (startDecrypting), by inbox id, until processing takes them. */
  private readonly decrypting = new Map<number, Promise<DecryptResult>>();
  /** The owner of a chat's subscription, asked for each run of new messages (subscription-cache.ts). */
  private readonly subscriptionRecords: SubscriptionCache;

  constructor(private readonly o: NotificationProcessorOptions) {
    this.now = o.now ?? Date.now;
    this.subscriptionRecords = new SubscriptionCache((id) => o.store.findSubscription(id), this.now);
    this.ahead = new DecryptAhead({ decrypter: () => this.decrypter, certificates: o.certificates, now: this.now });
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.pollIntervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Processes what is due now; called by the webhook after a commit and by the poll timer for retries. */
  kick(): void {
    if (this.stopped || !(this.o.active?.() ?? true)) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err: unknown) => {
        this.o.log.error('inbox processing failed', { error: errorMessage(err) });
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * Starts decrypting the resource data of notifications just recorded, so that the decrypting threads work on them
   * while the event loop relays earlier ones (decrypt-ahead.ts). Only for a node that processes the inbox.
   */
  prefetch(recorded: readonly InboundNotification[]): void {
    this.ahead.start(recorded);
  }

  private get decrypter(): ResourceDecrypter {
    return this.o.decrypter ?? sharedResourceDecrypter(this.o.log);
  }

  /** Chats whose earliest row waits to retry, until when: their later rows wait too, keeping the chat's order. */
  private readonly holdUntil = new Map<string, number>();

  private async drain(): Promise<void> {
    for (;;) {
      const now = this.now();
      for (const [key, until] of this.holdUntil) if (until <= now) this.holdUntil.delete(key);
      const round = await this.dueRound(now);
      // Stopped, or the duties moved to another node: that node processes from here (one processor, in order).
      if (!round || round.rows.length === 0) return;
      // Messages relayed already are finished together (one commit): nothing of theirs reaches XMPP, so they need
      // not wait for their chat's order, nor be decrypted.
      const relayed = await this.relayedAmong(round.rows);
      await Promise.all(round.rows.filter((row) => relayed.has(row.id)).map((row) => this.finishRelayed(row)));
      if (!(await this.startDecrypting(round.rows.filter((row) => !relayed.has(row.id)), round.later))) return;
      // Different chats run concurrently; the rows of one chat one after another, in inbox order.
      await Promise.all(
        [...round.groups.entries()].map(async ([key, group]) => {
          for (let i = 0; i < group.length; ) {
            if (relayed.has((group[i] as DueInboxRow).id)) {
              i++;
              continue;
            }
            // New messages of the chat that came together go to its pair as one actor message.
            const run = this.newMessagesFrom(group, i, relayed);
            const r = run.length > 1 ? await this.processRun(run) : { retryAt: await this.processRow(group[i] as DueInboxRow), finished: 1 };
            if (r.retryAt !== undefined) {
              this.holdUntil.set(key, r.retryAt);
              return;
            }
            i += r.finished;
          }
        }),
      );
    }
  }

  /** The rows about a new message that was relayed already (one query a chat; none on a lone node). */
  private async relayedAmong(rows: readonly DueInboxRow[]): Promise<Set<number>> {
    const relayed = new Set<number>();
    const check = this.o.relayedAmong;
    if (!check) return relayed;
    const byChat = new Map<string, { id: number; messageId: string }[]>();
    for (const row of rows) {
      if (row.kind !== 'chatMessage' || row.changeType !== 'created') continue;
      const t = parseResource(row.resource);
      if (t.kind !== 'chatMessage') continue;
      let rows = byChat.get(t.chatId);
      if (!rows) byChat.set(t.chatId, (rows = []));
      rows.push({ id: row.id, messageId: t.messageId });
    }
    await Promise.all(
      [...byChat].map(async ([chatId, rows]) => {
        // A failed check costs only the work it would have saved: the pair checks each message again.
        const known = await check(chatId, rows.map((r) => r.messageId)).catch(() => new Set<string>());
        for (const r of rows) if (known.has(r.messageId)) relayed.add(r.id);
      }),
    );
    return relayed;
  }

  /** A new message relayed already (another node's post): done, and its decryption, if started, forgotten. */
  private async finishRelayed(row: DueInboxRow): Promise<void> {
    void this.ahead.take(row);
    await this.o.store.markNotificationDone(row.id, this.now());
  }

  /**
   * The rows from `start` that are new messages of the chat (the group's), from the same subscription, each with its
   * resource data, none posted by this node nor relayed already (at most MAX_RUN): those can go to the pair together.
   */
  private newMessagesFrom(group: readonly DueInboxRow[], start: number, relayed: ReadonlySet<number>): RunItem[] {
    const first = group[start];
    const run: RunItem[] = [];
    if (!first) return run;
    for (let i = start; i < group.length && run.length < MAX_RUN; i++) {
      const row = group[i] as DueInboxRow;
      if (row.kind !== 'chatMessage' || row.changeType !== 'created' || row.subscriptionId !== first.subscriptionId || !row.encrypted || relayed.has(row.id)) break;
      const t = parseResource(row.resource);
      // The gateway's own post is finished alone, without its pair (process).
      if (t.kind !== 'chatMessage' || this.o.postedHere?.(t.chatId, t.messageId)) break;
      run.push({ row, chatId: t.chatId, messageId: t.messageId });
    }
    return run;
  }

  /**
   * New messages of one chat (newMessagesFrom) relayed by their pair in one go ('teams-messages'); each row is
   * finished as processRow would, in order. Returns when the first unfinished row is tried again (the chat waits),
   * and how many rows are finished.
   */
  private async processRun(run: readonly RunItem[]): Promise<{ retryAt: number | undefined; finished: number }> {
    const correlationId = randomUUID();
    const rows = run.map((r) => r.row);
    const first = rows[0] as DueInboxRow;
    const log = this.o.log.child({ correlationId, inboxIds: `${first.id}-${(rows.at(-1) as DueInboxRow).id}`, subscriptionId: first.subscriptionId });
    let outcome: Outcome;
    try {
      outcome = await inSpan('graph notification change', { 'graph.change_type': 'created', 'xtg.correlation_id': correlationId, 'xtg.notifications': rows.length, ...(this.o.tenant ? { [TENANT_ATTRIBUTE]: this.o.tenant } : {}) }, () =>
        this.relayRun(run, correlationId, log),
      );
    } catch (err) {
      const transient = !(err instanceof TeamsError) || err.transient;
      outcome = transient ? { status: 'retry', reason: errorMessage(err) } : { status: 'failed', reason: errorMessage(err) };
    }
    const finished = Math.min(rows.length, outcome.status === 'done' ? rows.length : (outcome.finished ?? 0));
    const now = this.now();
    await Promise.all(rows.slice(0, finished).map((r) => this.o.store.markNotificationDone(r.id, now)));
    const next = rows[finished];
    if (!next) return { retryAt: undefined, finished };
    // The row the outcome is about: retried (the chat waits) or dead-lettered (the chat goes on after it).
    return { retryAt: await this.settle(next, outcome, log.child({ inboxId: next.id })), finished: finished + 1 };
  }

  /** The pair of the chat gets the messages the rows carry, decrypted. */
  private async relayRun(run: readonly RunItem[], correlationId: string, log: Logger): Promise<Outcome> {
    const { row: first, chatId } = run[0] as RunItem;
    // The run's notifications are decrypted together, off the event loop.
    const messages = await Promise.all(
      run.map(async ({ row, messageId }) => {
        const given = (await this.decrypted(row, log)) as GraphChatMessage | undefined;
        // The decrypted message must be the one the notification names; otherwise it is read from Graph.
        return { messageId, message: given && given.id === messageId ? toChatMessage(chatId, given) : undefined };
      }),
    );
    const key = await this.pairOfChat(first.subscriptionId, chatId, log);
    if (!key) return DONE;
    return this.o.router.pair(key, { type: 'teams-messages', chatId, messages }, { correlationId });
  }

  /**
   * The due rows of one round, by chat, each chat's rows the first of its due ones in inbox order; undefined when
   * this node is to stop processing. A subscription's notifications come in collections of their own (one XMPP
   * user's chats), so the inbox holds long runs of one chat under load: the round reads page after page until it
   * has the rows of many chats (at most ROUND_ROWS, many more than one page), which then run at once and share
   * their commits (one transaction, one WAL sync for many messages), instead of one chat's rows going one commit at
   * a time (bench/relay.bench.ts). A chat takes at most ROUND_ROWS_PER_CHAT rows, so that its backlog does not hold
   * up the next round, where another chat's new message is.
   */
  private async dueRound(now: number): Promise<Round | undefined> {
    const groups = new Map<string, DueInboxRow[]>();
    let taken = 0;
    let scanned = 0;
    let after = 0;
    // Rows read and left for a later round (their chat is full): some may start decrypting ahead (startDecrypting).
    const later: DueInboxRow[] = [];
    const rows: DueInboxRow[] = [];
    while (taken < ROUND_ROWS && scanned < ROUND_SCAN) {
      const page = await this.o.store.dueInboxRows(now, DUE_PAGE, after);
      if (this.stopped || !(this.o.active?.() ?? true)) return undefined;
      for (const row of page) {
        const key = groupKey(row);
        if (this.holdUntil.has(key)) continue;
        let group = groups.get(key);
        if (!group) groups.set(key, (group = []));
        // A full chat takes none of its later rows either: what runs of a chat is always its first due rows.
        if (group.length >= ROUND_ROWS_PER_CHAT) {
          later.push(row);
          continue;
        }
        group.push(row);
        rows.push(row);
        if (++taken >= ROUND_ROWS) break;
      }
      scanned += page.length;
      const last = page.at(-1);
      if (!last || page.length < DUE_PAGE) break;
      after = last.id;
    }
    return { groups, rows, later };
  }

  /**
   * Reads the encrypted content of the round's rows whose decryption did not start when they were recorded (the
   * decrypting threads were busy with DecryptAhead's maximum), and of as many rows left for a later round as can
   * start ahead, in one store read, and starts decrypting them. The content of the other rows is never read: under
   * load a round reads about four rows for each it takes (ROUND_SCAN), and their content was most of what the event
   * loop allocated and kept through its collections (bench/relay.bench.ts with the V8 sampling heap profiler).
   * False when this node is to stop processing.
   */
  private async startDecrypting(rows: readonly DueInboxRow[], later: readonly DueInboxRow[]): Promise<boolean> {
    this.decrypting.clear();
    const needed = rows.filter((r) => r.encrypted && !this.ahead.has(r));
    // Under load there is seldom room ahead: then the rows left for later are not even looked at.
    const ahead: DueInboxRow[] = [];
    const room = this.ahead.room();
    for (let i = 0; i < later.length && ahead.length < room; i++) {
      const r = later[i] as DueInboxRow;
      if (r.encrypted && !this.ahead.has(r)) ahead.push(r);
    }
    if (needed.length + ahead.length === 0) return true;
    const content = await this.o.store.notificationDetails([...needed, ...ahead].map((r) => r.id));
    if (this.stopped || !(this.o.active?.() ?? true)) return false;
    for (const r of needed) {
      const c = content.get(r.id);
      if (c !== undefined) this.decrypting.set(r.id, this.decrypt(c));
    }
    this.ahead.start(ahead.map((r) => ({ ...r, detail: content.get(r.id) })));
    return true;
  }

  private decrypt(content: string): Promise<DecryptResult> {
    return this.decrypter.decrypt(content, this.o.certificates ?? NO_CERTIFICATES);
  }

  /** Returns when the row will be tried again (it must wait), or undefined when it is finished. */
  private async processRow(row: DueInboxRow): Promise<number | undefined> {
    const correlationId = randomUUID();
    const log = this.o.log.child({ correlationId, inboxId: row.id, subscriptionId: row.subscriptionId });
    let outcome: Outcome;
    try {
      outcome = await inSpan(`graph notification ${row.kind}`, { 'graph.change_type': row.changeType, 'xtg.correlation_id': correlationId, ...(this.o.tenant ? { [TENANT_ATTRIBUTE]: this.o.tenant } : {}) }, () => this.process(row, correlationId, log));
    } catch (err) {
      const transient = !(err instanceof TeamsError) || err.transient;
      outcome = transient ? { status: 'retry', reason: errorMessage(err) } : { status: 'failed', reason: errorMessage(err) };
    }
    return this.settle(row, outcome, log);
  }

  /** Finishes the row as its outcome says; returns when it will be tried again, or undefined when it is finished. */
  private async settle(row: DueInboxRow, outcome: Outcome, log: Logger): Promise<number | undefined> {
    const attempts = row.attempts + 1;
    if (outcome.status === 'done') {
      await this.o.store.markNotificationDone(row.id, this.now());
      return undefined;
    } else if (outcome.status === 'retry' && attempts < this.o.maxAttempts) {
      const backoff = Math.min(this.o.backoffMaxMs, this.o.backoffInitialMs * 2 ** (attempts - 1));
      const delay = Math.max(backoff, outcome.retryAfterMs ?? 0);
      if (outcome.retryAfterMs) this.o.metrics.retryAfterWaits.inc({ queue: 'inbox' }, outcome.retryAfterMs / 1000);
      await this.o.store.markNotificationRetry(row.id, outcome.reason, this.now() + delay);
      log.warn('notification not processed yet; will retry', { attempts, delayMs: delay, reason: outcome.reason });
      return this.now() + delay;
    } else {
      await this.o.store.markNotificationDead(row.id, outcome.reason, this.now());
      this.o.metrics.deadLetters.inc({ kind: 'inbox', reason: outcome.status === 'failed' ? 'failed' : 'retries_exhausted' });
      log.error('notification dead-lettered', { attempts, reason: outcome.reason });
      return undefined;
    }
  }

  private async process(row: DueInboxRow, correlationId: string, log: Logger): Promise<Outcome> {
    const envelope = { correlationId };
    if (row.kind === 'lifecycle') {
      const outcome = await this.o.subscriptions.onLifecycle(row.subscriptionId, row.detail ?? '');
      log.info('lifecycle notification handled', { event: row.detail, missed: outcome.missed, since: outcome.missed ? new Date(outcome.since).toISOString() : undefined });
      if (outcome.missed) {
        if (outcome.ownerUserId) await this.o.catchUp(outcome.ownerUserId, outcome.since);
        if (outcome.presenceOf.length > 0) await this.refreshPresence(outcome.presenceOf, correlationId);
      }
      return DONE;
    }
    if (row.kind === 'resend') {
      const r = readResend(row);
      if (!r) {
        log.warn('damaged resend row ignored', { resource: row.resource });
        return DONE;
      }
      return this.o.router.pair(r.key, { type: 'resend-to-xmpp', chatId: r.chatId, messageId: r.messageId, bounces: r.bounces }, envelope);
    }
    const target = parseResource(row.resource);
    if (target.kind === 'chatMessage' && row.changeType === 'created' && this.o.postedHere?.(target.chatId, target.messageId)) return DONE;
    const resource = await this.decrypted(row, log);
    if (target.kind === 'presence') {
      const pairs = (await this.o.store.pairsOfTeamsUser(target.userId)).filter((p) => p.subFrom);
      if (pairs.length === 0) return DONE;
      const given = resource as (GraphPresence & { id?: string }) | undefined;
      const presence: TeamsPresence =
        given && given.id?.toLowerCase() === target.userId.toLowerCase() && typeof given.availability === 'string' ? toTeamsPresence(given) : await this.o.teams.getPresence(target.userId);
      const outcomes = await Promise.all(pairs.map((p) => this.o.router.pair(p, { type: 'teams-presence', presence }, envelope)));
      return outcomes.find((x) => x.status !== 'done') ?? DONE;
    }
    if (target.kind === 'user') {
      // Her card changed: forget it, and send her presence again so the new XEP-0153 avatar hash reaches XMPP.
      this.o.profileChanged(target.userId);
      const pairs = (await this.o.store.pairsOfTeamsUser(target.userId)).filter((p) => p.subFrom);
      await Promise.all(pairs.map((p) => this.o.router.pair(p, { type: 'resync' }, envelope)));
      return DONE;
    }
    if (target.kind !== 'chatMessage') {
      log.warn('notification for an unexpected resource ignored', { resource: row.resource });
      return DONE;
    }
    const key = await this.pairOfChat(row.subscriptionId, target.chatId, log);
    if (!key) return DONE;
    const changed = row.changeType === 'updated' || row.changeType === 'deleted';
    const given = resource as GraphChatMessage | undefined;
    // The decrypted message must be the one the notification names; otherwise it is read from Graph.
    const message: TeamsChatMessage | undefined = given && given.id === target.messageId ? toChatMessage(target.chatId, given) : undefined;
    return this.o.router.pair(key, { type: changed ? 'teams-message-changed' : 'teams-message', chatId: target.chatId, messageId: target.messageId, message }, envelope);
  }

  /**
   * The resource a rich notification carried, decrypted; undefined for a notification without resource data, or
   * one that cannot be decrypted (then the resource is read from Graph, which is trusted).
   */
  private async decrypted(row: DueInboxRow, log: Logger): Promise<unknown> {
    if (!row.encrypted) return undefined;
    const started = this.ahead.take(row) ?? this.decrypting.get(row.id);
    this.decrypting.delete(row.id);
    const outcome = await (started ?? this.decryptFromStore(row));
    if (!outcome.ok) {
      this.o.metrics.richNotifications.inc({ outcome: 'undecryptable' });
      const content = (await this.o.store.notificationDetails([row.id]).catch(() => undefined))?.get(row.id);
      log.warn('notification resource data not decrypted; reading it from Graph', { reason: outcome.reason, certificateId: content && encryptedContentOf(content)?.encryptionCertificateId });
      // Encrypted to a certificate no longer configured: the subscription moves to the current one.
      if (outcome.reason === 'unknown-certificate') void this.o.subscriptions.rotateCertificate(row.subscriptionId);
      return undefined;
    }
    if (this.o.currentCertificateId !== undefined && outcome.certificateId !== this.o.currentCertificateId) {
      this.o.metrics.richNotifications.inc({ outcome: 'old_certificate' });
      void this.o.subscriptions.rotateCertificate(row.subscriptionId);
    } else {
      this.o.metrics.richNotifications.inc({ outcome: 'decrypted' });
    }
    return outcome.resource;
  }

  /** Decrypts a row's content read from the store now (a row whose decryption was not started with its round's). */
  private async decryptFromStore(row: DueInboxRow): Promise<DecryptResult> {
    const content = (await this.o.store.notificationDetails([row.id])).get(row.id);
    return content === undefined ? { ok: false, reason: 'bad-data' } : this.decrypt(content);
  }

  /** Reads these Teams users' presence again and sends it to every pair watching them (after a gap). */
  async refreshPresence(teamsUserIds: readonly string[], correlationId: string = randomUUID()): Promise<void> {
    for (const userId of new Set(teamsUserIds)) {
      try {
        const pairs = (await this.o.store.pairsOfTeamsUser(userId)).filter((p) => p.subFrom);
        if (pairs.length === 0) continue;
        const presence = await this.o.teams.getPresence(userId);
        await Promise.all(pairs.map((p) => this.o.router.pair(p, { type: 'teams-presence', presence }, { correlationId })));
      } catch (err) {
        this.o.log.warn('presence not refreshed after a gap in its subscription', { teamsUserId: userId, error: errorMessage(err) });
      }
    }
  }

  /** The pair a chat belongs to: known from the store, or (a chat a Teams user started) from its members. */
  private async pairOfChat(subscriptionId: string, chatId: string, log: Logger): Promise<PairKey | undefined> {
    const sub = await this.subscriptionRecords.get(subscriptionId);
    const puppet = sub?.ownerUserId ? await this.o.store.getPuppetByUserId(sub.ownerUserId) : undefined;
    if (!puppet) {
      log.warn('message notification from a subscription without a known XMPP user', {});
      return undefined;
    }
    const known = await this.o.store.findPairByChat(chatId);
    if (known && known.remoteJid === puppet.remoteJid) return known;
    const chat = await this.o.teams.chatMemberIds(puppet, chatId);
    if (chat.chatType !== 'oneOnOne') {
      // Group chats with XMPP users are not federated (XMPP one-to-one chat has no room semantics).
      log.info('message in a group chat not relayed', { chatType: chat.chatType });
      return undefined;
    }
    const other = chat.memberIds.find((id) => id !== puppet.userId);
    return other ? { teamsUserId: other, remoteJid: puppet.remoteJid } : undefined;
  }
}
