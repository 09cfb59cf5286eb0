/**
 * Every statement the SQL Server store sends (apart from the migrations' scripts), and its typed parameters.
 * test/store/tsql-parse.test.ts parses each one with a T-SQL parser.
 */
import sql from 'mssql';
import type { ISqlType } from 'mssql';

/** Splits a script into batches at lines holding only GO, as sqlcmd does (no `GO n`; GO inside a comment counts). */
export function splitBatches(script: string): string[] {
  return script
    .split(/^[ \t]*GO[ \t]*$/imu)
    .filter((b) => b.replace(/--.*$/gmu, '').trim() !== '');
}

export const OUTBOX_COLUMNS = `id, teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, state, attempts,
       next_attempt_at, last_error, teams_message_id, sending_since, reply_to_teams_id, origin, created_at`;
/** The same columns of the table aliased `o`. */
const OUTBOX_COLUMNS_OF_O = OUTBOX_COLUMNS.split(',').map((c) => `o.${c.trim()}`).join(', ');
const PAIR_COLUMNS = 'teams_user_id, remote_jid, chat_id, sub_from, sub_to, sub_to_pending';
/** The domain part of a bare JID column (everything after the '@'). */
const JID_DOMAIN = "SUBSTRING(remote_jid, CHARINDEX(N'@', remote_jid) + 1, 3071)";
const INBOX_COLUMNS = 'id, dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at';
const SUBSCRIPTION_COLUMNS = 'id, purpose, resource, change_type, owner_user_id, client_state, expires_at';
/** An inbox row whose detail is encrypted resource data (as the SQLite store's ENCRYPTED). */
const ENCRYPTED = "(kind IN (N'chatMessage', N'presence', N'user') AND LEFT(detail, 1) = N'{')";
const FINISHED = `(state = N'delivered' AND done_at < @delivered) OR (state = N'dead' AND done_at < @dead)`;

/** Prune deletes in batches below the 5,000 locks at which SQL Server escalates to a table lock. */
export const PRUNE_BATCH = 1000;

/** The migration lock's name: sp_getapplock resources are compared in binary, so the case matters. */
export const MIGRATION_LOCK = 'xmpp-teams-gateway-migrations';

/** Every statement the store sends, apart from the migrations' own scripts. Parameters are @snake_case. */
export const MSSQL_STATEMENTS = {
  ping: 'SELECT 1 AS ok',

  // Taken inside the migration transaction; released at commit or rollback. Several nodes starting at once wait
  // here in turn, and the later ones find nothing left to apply
  // (https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-getapplock-transact-sql).
  acquireMigrationLock: `DECLARE @result INT;
EXEC @result = sp_getapplock @Resource = N'${MIGRATION_LOCK}', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @lock_timeout_ms;
SELECT @result AS result;`,
  createMigrationsTable: `IF OBJECT_ID(N'schema_migrations', N'U') IS NULL
  CREATE TABLE schema_migrations (
    version     INT NOT NULL CONSTRAINT schema_migrations_pk PRIMARY KEY,
    name        NVARCHAR(256) NOT NULL,
    applied_at  BIGINT NOT NULL
  );`,
  appliedMigrations: 'SELECT version FROM schema_migrations',
  recordMigration: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @applied_at)',
  schemaVersion: 'SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations',
  // The first claim wins; the locks make two starting nodes agree on it.
  claimTenant: `INSERT INTO store_tenant (id, tenant) SELECT 1, @tenant WHERE NOT EXISTS (SELECT 1 FROM store_tenant WITH (UPDLOCK, HOLDLOCK) WHERE id = 1);
    SELECT tenant FROM store_tenant WHERE id = 1`,

  getPuppet: 'SELECT remote_jid, user_id, upn FROM puppets WHERE remote_jid = @remote_jid',
  getPuppetByUserId: 'SELECT remote_jid, user_id, upn FROM puppets WHERE user_id = @user_id',
  putPuppet: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE puppets WITH (UPDLOCK, SERIALIZABLE) SET user_id = @user_id, upn = @upn WHERE remote_jid = @remote_jid;
IF @@ROWCOUNT = 0
  INSERT INTO puppets (remote_jid, user_id, upn, created_at) VALUES (@remote_jid, @user_id, @upn, @now);
COMMIT TRANSACTION;`,
  puppets: 'SELECT remote_jid, user_id, upn FROM puppets ORDER BY remote_jid',

  getPair: `SELECT ${PAIR_COLUMNS} FROM pairs WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid`,
  // A NULL parameter leaves the column as it is (as COALESCE does in the SQLite store).
  updatePair: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE pairs WITH (UPDLOCK, SERIALIZABLE)
   SET chat_id = COALESCE(@chat_id, chat_id),
       sub_from = COALESCE(@sub_from, sub_from),
       sub_to = COALESCE(@sub_to, sub_to),
       sub_to_pending = COALESCE(@sub_to_pending, sub_to_pending),
       updated_at = @now
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid;
IF @@ROWCOUNT = 0
  INSERT INTO pairs (teams_user_id, remote_jid, chat_id, sub_from, sub_to, sub_to_pending, updated_at)
  VALUES (@teams_user_id, @remote_jid, @chat_id, COALESCE(@sub_from, CAST(0 AS BIT)), COALESCE(@sub_to, CAST(0 AS BIT)),
          COALESCE(@sub_to_pending, CAST(0 AS BIT)), @now);
SELECT ${PAIR_COLUMNS} FROM pairs WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid;
COMMIT TRANSACTION;`,
  findPairByChat: `SELECT TOP (1) ${PAIR_COLUMNS} FROM pairs WHERE chat_id = @chat_id`,
  pairsOfTeamsUser: `SELECT ${PAIR_COLUMNS} FROM pairs WHERE teams_user_id = @teams_user_id`,
  pairsOfRemote: `SELECT ${PAIR_COLUMNS} FROM pairs WHERE remote_jid = @remote_jid`,
  watchedTeamsUsers: 'SELECT DISTINCT teams_user_id FROM pairs WHERE sub_from = 1',
  pairsWithSubTo: `SELECT ${PAIR_COLUMNS} FROM pairs WHERE sub_to = 1`,

  // Race-free across nodes: the key-range lock taken by NOT EXISTS on the filtered unique index is held until the
  // statement ends, so a second node with the same dedup key waits, then finds the row. OUTPUT returns the new row
  // in the same round trip (the outbox has no triggers, which OUTPUT without INTO would forbid).
  enqueueOutbound: `INSERT INTO outbox (teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, state,
                    attempts, next_attempt_at, created_at, reply_to_teams_id, origin)
OUTPUT INSERTED.*
SELECT @teams_user_id, @remote_jid, @dedup_key, @sender, @stanza_id, @receipt_requested, @body, N'pending', 0, @now, @now, @reply_to_teams_id, @origin
 WHERE @dedup_key IS NULL
    OR NOT EXISTS (SELECT 1 FROM outbox WITH (UPDLOCK, HOLDLOCK) WHERE dedup_key = @dedup_key)`,
  outboxByDedupKey: `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE dedup_key = @dedup_key`,
  pendingOutbound: `SELECT ${OUTBOX_COLUMNS} FROM outbox
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid AND state = N'pending' ORDER BY id`,
  pendingOutboundAfter: `SELECT TOP (@limit) ${OUTBOX_COLUMNS} FROM outbox
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid AND state = N'pending' AND id > @after_id ORDER BY id`,
  pairsWithDueOutbound: `SELECT DISTINCT TOP (@limit) teams_user_id, remote_jid FROM outbox WHERE state = N'pending' AND next_attempt_at <= @now`,
  // Every pending row of the pair not marked yet, up to the highest one now (the key-range lock keeps a row of the
  // pair from being inserted below it meanwhile); the first mark's time is kept: a post is in doubt from then on.
  markOutboundSending: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @max BIGINT;
SELECT @max = MAX(id) FROM outbox WITH (UPDLOCK, HOLDLOCK)
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid AND state = N'pending';
UPDATE outbox SET sending_since = @now
 WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid AND state = N'pending' AND sending_since IS NULL AND id <= @max;
COMMIT TRANSACTION;
SELECT COALESCE(@max, 0) AS id;`,
  markOutboundDelivered: `UPDATE outbox
   SET state = N'delivered', teams_message_id = @teams_message_id, body = CASE WHEN @keep_bodies = 1 THEN body END,
       attempts = attempts + 1, done_at = @now, last_error = NULL, sending_since = NULL
 WHERE id = @id`,
  // sending_since stays: a retry after a post whose outcome is unknown must look for it first.
  markOutboundRetry: 'UPDATE outbox SET attempts = attempts + 1, last_error = @error, next_attempt_at = @next_attempt_at WHERE id = @id',
  markOutboundDead: `UPDATE outbox
   SET state = N'dead', body = CASE WHEN @keep_bodies = 1 THEN body END, attempts = attempts + 1, last_error = @error,
       done_at = @now, sending_since = NULL
 WHERE id = @id`,

  recordNotification: `INSERT INTO inbox (dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at, received_at)
SELECT @dedup_key, @kind, @subscription_id, @resource, @change_type, @detail, N'pending', 0, @now, @now
 WHERE NOT EXISTS (SELECT 1 FROM inbox WITH (UPDLOCK, HOLDLOCK) WHERE dedup_key = @dedup_key)`,
  scheduleNotification: `INSERT INTO inbox (dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at, received_at)
SELECT @dedup_key, @kind, @subscription_id, @resource, @change_type, @detail, N'pending', 0, @due_at, @now
 WHERE NOT EXISTS (SELECT 1 FROM inbox WITH (UPDLOCK, HOLDLOCK) WHERE dedup_key = @dedup_key)`,
  dueNotifications: `SELECT TOP (@limit) ${INBOX_COLUMNS} FROM inbox WHERE state = N'pending' AND next_attempt_at <= @now AND id > @after_id ORDER BY id`,
  dueInboxRows: `SELECT TOP (@limit) id, dedup_key, kind, subscription_id, resource, change_type, state, attempts, next_attempt_at,
       CASE WHEN ${ENCRYPTED} THEN 1 ELSE 0 END AS encrypted, CASE WHEN ${ENCRYPTED} THEN NULL ELSE detail END AS detail
  FROM inbox WHERE state = N'pending' AND next_attempt_at <= @now AND id > @after_id ORDER BY id`,
  // @ids is a JSON array of inbox ids (OPENJSON, as relayedAmong).
  notificationDetails: `SELECT i.id, i.detail FROM inbox AS i JOIN OPENJSON(@ids) WITH (id BIGINT '$') AS j ON i.id = j.id WHERE i.detail IS NOT NULL`,
  markNotificationDone: `UPDATE inbox SET state = N'delivered', attempts = attempts + 1, done_at = @now, last_error = NULL, detail = NULL WHERE id = @id`,
  markNotificationRetry: 'UPDATE inbox SET attempts = attempts + 1, last_error = @error, next_attempt_at = @next_attempt_at WHERE id = @id',
  markNotificationDead: `UPDATE inbox SET state = N'dead', attempts = attempts + 1, last_error = @error, done_at = @now WHERE id = @id`,

  recordRelayed: `INSERT INTO relayed (chat_id, teams_message_id, direction, xmpp_id, created_at)
SELECT @chat_id, @teams_message_id, @direction, @xmpp_id, @now
 WHERE NOT EXISTS (SELECT 1 FROM relayed WITH (UPDLOCK, HOLDLOCK) WHERE chat_id = @chat_id AND teams_message_id = @teams_message_id)`,
  findRelayed: 'SELECT chat_id, teams_message_id, direction, xmpp_id FROM relayed WHERE chat_id = @chat_id AND teams_message_id = @teams_message_id',
  // @ids is a JSON array of message ids (OPENJSON, https://learn.microsoft.com/sql/t-sql/functions/openjson-transact-sql).
  relayedAmong: `SELECT r.teams_message_id FROM relayed AS r
  JOIN OPENJSON(@ids) WITH (id NVARCHAR(400) '$') AS j ON r.teams_message_id = j.id COLLATE Latin1_General_100_BIN2
 WHERE r.chat_id = @chat_id`,
  findRelayedByXmppId:
    'SELECT TOP (1) chat_id, teams_message_id, direction, xmpp_id FROM relayed WHERE chat_id = @chat_id AND xmpp_id = @xmpp_id ORDER BY created_at DESC',

  // One subscription per purpose: another id with the same purpose is replaced; the same id only gets its new
  // expiry and client state.
  saveSubscription: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DELETE FROM graph_subscriptions WHERE purpose = @purpose AND id <> @id;
UPDATE graph_subscriptions WITH (UPDLOCK, SERIALIZABLE) SET expires_at = @expires_at, client_state = @client_state WHERE id = @id;
IF @@ROWCOUNT = 0
  INSERT INTO graph_subscriptions (id, purpose, resource, change_type, owner_user_id, client_state, expires_at)
  VALUES (@id, @purpose, @resource, @change_type, @owner_user_id, @client_state, @expires_at);
COMMIT TRANSACTION;`,
  subscriptions: `SELECT ${SUBSCRIPTION_COLUMNS} FROM graph_subscriptions ORDER BY expires_at, id`,
  findSubscription: `SELECT ${SUBSCRIPTION_COLUMNS} FROM graph_subscriptions WHERE id = @id`,
  deleteSubscription: 'DELETE FROM graph_subscriptions WHERE id = @id',

  pruneOutbox: `DELETE TOP (@batch) FROM outbox WHERE ${FINISHED}`,
  pruneInbox: `DELETE TOP (@batch) FROM inbox WHERE ${FINISHED}`,
  pruneRelayed: 'DELETE TOP (@batch) FROM relayed WHERE created_at < @relayed',

  whitelist: 'SELECT kind, value, added_at, added_by FROM whitelist ORDER BY kind, value',
  // An entry already present keeps its first added_at/added_by (ON CONFLICT DO NOTHING in SQLite).
  putWhitelistEntry: `INSERT INTO whitelist (kind, value, added_at, added_by)
SELECT @kind, @value, @added_at, @added_by
 WHERE NOT EXISTS (SELECT 1 FROM whitelist WITH (UPDLOCK, HOLDLOCK) WHERE kind = @kind AND value = @value)`,
  deleteWhitelistEntry: 'DELETE FROM whitelist WHERE kind = @kind AND value = @value',

  appendAudit: 'INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (@at, @actor, @action, @subject, @detail)',
  auditLog: 'SELECT TOP (@limit) at, actor, action, subject, detail FROM audit_log ORDER BY id DESC',
  recordSeatEvent: 'INSERT INTO licence_seats (at, node_id, licence_id, event) VALUES (@at, @node_id, @licence_id, @event)',
  seatHistory: 'SELECT TOP (@limit) at, node_id, licence_id, event FROM licence_seats ORDER BY id DESC',

  // ---- group commit: the writes issued in the same instant, as one statement and one transaction each kind ----
  // @rows is a JSON array (OPENJSON, https://learn.microsoft.com/sql/t-sql/functions/openjson-transact-sql); "i" numbers
  // its items, which keep their order. Table variables repeat the columns' collations, so comparisons with the
  // tables' binary-collated keys do not conflict.

  // A row goes in unless its dedup key is stored already, or taken by an earlier item of the batch (as one enqueue
  // after the other would). Identity values follow the ORDER BY of INSERT ... SELECT
  // (https://learn.microsoft.com/sql/t-sql/queries/select-order-by-clause-transact-sql), so new rows keep the
  // batch's order and are paired with their items by rank. Each item gets its row back: the new one, or the one
  // its dedup key names.
  enqueueOutboundBatch: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @in TABLE (
  i                 INT NOT NULL PRIMARY KEY,
  teams_user_id     NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
  remote_jid        NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL,
  dedup_key         NVARCHAR(850) COLLATE Latin1_General_100_BIN2 NULL,
  sender            NVARCHAR(3071) COLLATE Latin1_General_100_BIN2 NOT NULL,
  stanza_id         NVARCHAR(MAX) COLLATE Latin1_General_100_BIN2 NULL,
  receipt_requested BIT NOT NULL,
  body              NVARCHAR(MAX) NOT NULL,
  ts                BIGINT NOT NULL,
  reply_to_teams_id NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NULL,
  origin            NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NULL,
  pick              BIT NOT NULL
);
INSERT INTO @in (i, teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, ts, reply_to_teams_id, origin, pick)
SELECT r.i, r.teams_user_id, r.remote_jid, r.dedup_key, r.sender, r.stanza_id, r.receipt_requested, r.body, r.ts, r.reply_to_teams_id, r.origin, 0
  FROM OPENJSON(@rows) WITH (
    i INT '$.i', teams_user_id NVARCHAR(128) '$.teams_user_id', remote_jid NVARCHAR(450) '$.remote_jid',
    dedup_key NVARCHAR(850) '$.dedup_key', sender NVARCHAR(3071) '$.sender', stanza_id NVARCHAR(MAX) '$.stanza_id',
    receipt_requested BIT '$.receipt_requested', body NVARCHAR(MAX) '$.body', ts BIGINT '$.ts',
    reply_to_teams_id NVARCHAR(128) '$.reply_to_teams_id', origin NVARCHAR(128) '$.origin') AS r;
UPDATE r SET pick = 1 FROM @in AS r
 WHERE r.dedup_key IS NULL
    OR (NOT EXISTS (SELECT 1 FROM outbox WITH (UPDLOCK, HOLDLOCK) WHERE outbox.dedup_key = r.dedup_key)
        AND NOT EXISTS (SELECT 1 FROM @in AS e WHERE e.dedup_key = r.dedup_key AND e.i < r.i));
DECLARE @ins TABLE (id BIGINT NOT NULL PRIMARY KEY);
INSERT INTO outbox (teams_user_id, remote_jid, dedup_key, sender, stanza_id, receipt_requested, body, state,
                    attempts, next_attempt_at, created_at, reply_to_teams_id, origin)
OUTPUT INSERTED.id INTO @ins
SELECT r.teams_user_id, r.remote_jid, r.dedup_key, r.sender, r.stanza_id, r.receipt_requested, r.body, N'pending', 0, r.ts, r.ts, r.reply_to_teams_id, r.origin
  FROM @in AS r WHERE r.pick = 1 ORDER BY r.i;
SELECT p.i, CAST(1 AS BIT) AS inserted, ${OUTBOX_COLUMNS_OF_O}
  FROM (SELECT i, ROW_NUMBER() OVER (ORDER BY i) AS k FROM @in WHERE pick = 1) AS p
  JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS k FROM @ins) AS n ON n.k = p.k
  JOIN outbox AS o ON o.id = n.id
UNION ALL
SELECT r.i, CAST(0 AS BIT) AS inserted, ${OUTBOX_COLUMNS_OF_O}
  FROM @in AS r JOIN outbox AS o ON o.dedup_key = r.dedup_key
 WHERE r.pick = 0;
COMMIT TRANSACTION;`,
  markOutboundDeliveredBatch: `UPDATE o
   SET state = N'delivered', teams_message_id = r.teams_message_id, body = CASE WHEN @keep_bodies = 1 THEN o.body END,
       attempts = o.attempts + 1, done_at = r.ts, last_error = NULL, sending_since = NULL
  FROM outbox AS o
  JOIN OPENJSON(@rows) WITH (id BIGINT '$.id', teams_message_id NVARCHAR(128) '$.teams_message_id', ts BIGINT '$.ts') AS r ON o.id = r.id`,
  // Each item: inserted (1) or its key was there already, or earlier in the batch (0).
  recordRelayedBatch: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @in TABLE (
  i                INT NOT NULL PRIMARY KEY,
  chat_id          NVARCHAR(256) COLLATE Latin1_General_100_BIN2 NOT NULL,
  teams_message_id NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
  direction        NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL,
  xmpp_id          NVARCHAR(400) COLLATE Latin1_General_100_BIN2 NULL,
  ts               BIGINT NOT NULL,
  pick             BIT NOT NULL
);
INSERT INTO @in (i, chat_id, teams_message_id, direction, xmpp_id, ts, pick)
SELECT r.i, r.chat_id, r.teams_message_id, r.direction, r.xmpp_id, r.ts, 0
  FROM OPENJSON(@rows) WITH (
    i INT '$.i', chat_id NVARCHAR(256) '$.chat_id', teams_message_id NVARCHAR(128) '$.teams_message_id',
    direction NVARCHAR(16) '$.direction', xmpp_id NVARCHAR(400) '$.xmpp_id', ts BIGINT '$.ts') AS r;
UPDATE r SET pick = 1 FROM @in AS r
 WHERE NOT EXISTS (SELECT 1 FROM relayed WITH (UPDLOCK, HOLDLOCK) WHERE relayed.chat_id = r.chat_id AND relayed.teams_message_id = r.teams_message_id)
   AND NOT EXISTS (SELECT 1 FROM @in AS e WHERE e.chat_id = r.chat_id AND e.teams_message_id = r.teams_message_id AND e.i < r.i);
INSERT INTO relayed (chat_id, teams_message_id, direction, xmpp_id, created_at)
SELECT r.chat_id, r.teams_message_id, r.direction, r.xmpp_id, r.ts FROM @in AS r WHERE r.pick = 1;
SELECT i, pick AS inserted FROM @in ORDER BY i;
COMMIT TRANSACTION;`,
  recordNotificationBatch: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @in TABLE (
  i               INT NOT NULL PRIMARY KEY,
  dedup_key       NVARCHAR(850) COLLATE Latin1_General_100_BIN2 NOT NULL,
  kind            NVARCHAR(32) COLLATE Latin1_General_100_BIN2 NOT NULL,
  subscription_id NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
  resource        NVARCHAR(2048) COLLATE Latin1_General_100_BIN2 NOT NULL,
  change_type     NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
  detail          NVARCHAR(MAX) NULL,
  ts              BIGINT NOT NULL,
  pick            BIT NOT NULL
);
INSERT INTO @in (i, dedup_key, kind, subscription_id, resource, change_type, detail, ts, pick)
SELECT r.i, r.dedup_key, r.kind, r.subscription_id, r.resource, r.change_type, r.detail, r.ts, 0
  FROM OPENJSON(@rows) WITH (
    i INT '$.i', dedup_key NVARCHAR(850) '$.dedup_key', kind NVARCHAR(32) '$.kind', subscription_id NVARCHAR(128) '$.subscription_id',
    resource NVARCHAR(2048) '$.resource', change_type NVARCHAR(128) '$.change_type', detail NVARCHAR(MAX) '$.detail', ts BIGINT '$.ts') AS r;
UPDATE r SET pick = 1 FROM @in AS r
 WHERE NOT EXISTS (SELECT 1 FROM inbox WITH (UPDLOCK, HOLDLOCK) WHERE inbox.dedup_key = r.dedup_key)
   AND NOT EXISTS (SELECT 1 FROM @in AS e WHERE e.dedup_key = r.dedup_key AND e.i < r.i);
INSERT INTO inbox (dedup_key, kind, subscription_id, resource, change_type, detail, state, attempts, next_attempt_at, received_at)
SELECT r.dedup_key, r.kind, r.subscription_id, r.resource, r.change_type, r.detail, N'pending', 0, r.ts, r.ts
  FROM @in AS r WHERE r.pick = 1 ORDER BY r.i;
SELECT i, pick AS inserted FROM @in ORDER BY i;
COMMIT TRANSACTION;`,
  markNotificationDoneBatch: `UPDATE n
   SET state = N'delivered', attempts = n.attempts + 1, done_at = r.ts, last_error = NULL, detail = NULL
  FROM inbox AS n
  JOIN OPENJSON(@rows) WITH (id BIGINT '$.id', ts BIGINT '$.ts') AS r ON n.id = r.id`,

  // ---- Operator console (issue 18) ----
  deadOutbox: `SELECT TOP (@limit) id, teams_user_id, remote_jid, sender, stanza_id, body, attempts, last_error, done_at FROM outbox
 WHERE state = N'dead' AND id < @before_id ORDER BY id DESC`,
  deadInbox: `SELECT TOP (@limit) id, kind, resource, change_type, attempts, last_error, done_at FROM inbox
 WHERE state = N'dead' AND id < @before_id ORDER BY id DESC`,
  retryOutbox: `UPDATE outbox SET state = N'pending', attempts = 0, next_attempt_at = @now, done_at = NULL, sending_since = NULL
OUTPUT inserted.teams_user_id, inserted.remote_jid
 WHERE id = @id AND state = N'dead' AND body IS NOT NULL`,
  retryInbox: `UPDATE inbox SET state = N'pending', attempts = 0, next_attempt_at = @now, done_at = NULL WHERE id = @id AND state = N'dead'`,
  // Only read when a retry changed nothing, to say why.
  outboxRowState: 'SELECT state, CASE WHEN body IS NULL THEN 0 ELSE 1 END AS has_body FROM outbox WHERE id = @id',
  inboxRowState: 'SELECT state, 1 AS has_body FROM inbox WHERE id = @id',
  discardOutbox: `DELETE FROM outbox WHERE id = @id AND state = N'dead'`,
  discardInbox: `DELETE FROM inbox WHERE id = @id AND state = N'dead'`,
  // A NULL filter matches everything; @text is a lower-case LIKE pattern escaped with a backslash.
  searchAudit: `SELECT TOP (@limit) id, at, actor, action, subject, detail FROM audit_log
 WHERE (@text IS NULL OR LOWER(actor) LIKE @text ESCAPE N'\\' OR LOWER(action) LIKE @text ESCAPE N'\\'
        OR LOWER(subject) LIKE @text ESCAPE N'\\' OR LOWER(COALESCE(detail, N'')) LIKE @text ESCAPE N'\\')
   AND (@actor IS NULL OR actor = @actor)
   AND (@action IS NULL OR (@action_prefix = 0 AND action = @action) OR (@action_prefix = 1 AND LEFT(action, LEN(@action)) = @action))
   AND (@from IS NULL OR at >= @from) AND (@to IS NULL OR at < @to) AND (@before_id IS NULL OR id < @before_id)
 ORDER BY id DESC`,
  addRefusalCount: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE refusal_counts WITH (UPDLOCK, SERIALIZABLE) SET count = count + @count
 WHERE minute = @minute AND domain = @domain AND direction = @direction AND reason = @reason;
IF @@ROWCOUNT = 0
  INSERT INTO refusal_counts (minute, domain, direction, reason, count) VALUES (@minute, @domain, @direction, @reason, @count);
COMMIT TRANSACTION;`,
  pruneRefusalCounts: 'DELETE FROM refusal_counts WHERE minute < @keep_since',
  refusalTotals: `SELECT TOP (@limit) domain, direction, reason, SUM(count) AS count, MAX(minute) AS last_minute FROM refusal_counts
 WHERE minute >= @since GROUP BY domain, direction, reason ORDER BY SUM(count) DESC, domain`,
  remoteUsersOfDomain: `WITH per_user AS (
  SELECT remote_jid, COUNT(*) AS partners, SUM(CASE WHEN sub_from = 1 OR sub_to = 1 THEN 1 ELSE 0 END) AS subscribed, MAX(updated_at) AS pair_at
    FROM pairs WHERE RIGHT(remote_jid, LEN(@suffix)) = @suffix GROUP BY remote_jid)
SELECT TOP (@limit) u.remote_jid, u.partners, u.subscribed,
       CASE WHEN m.last_at > u.pair_at THEN m.last_at ELSE u.pair_at END AS last_activity_at
  FROM per_user u OUTER APPLY (SELECT MAX(o.created_at) AS last_at FROM outbox o WHERE o.remote_jid = u.remote_jid) m
 ORDER BY last_activity_at DESC, u.remote_jid`,
  // ---- Skype for Business pairs (issue 17) ----
  getSfbPairState: 'SELECT state FROM sfb_pairs WHERE sfb_uri = @sfb_uri AND remote_jid = @remote_jid',
  putSfbPairState: `SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE sfb_pairs WITH (UPDLOCK, SERIALIZABLE) SET state = @state, updated_at = @now WHERE sfb_uri = @sfb_uri AND remote_jid = @remote_jid;
IF @@ROWCOUNT = 0
  INSERT INTO sfb_pairs (sfb_uri, remote_jid, state, updated_at) VALUES (@sfb_uri, @remote_jid, @state, @now);
COMMIT TRANSACTION;`,
  sfbPairKeys: `SELECT TOP (@limit) sfb_uri, remote_jid FROM sfb_pairs
 WHERE @after_uri IS NULL OR sfb_uri > @after_uri OR (sfb_uri = @after_uri AND remote_jid > @after_jid)
 ORDER BY sfb_uri, remote_jid`,
  // ---- Webhook intake and presence watching (issue 13: webhook) ----
  presenceWatchers: `SELECT p.teams_user_id, u.user_id AS puppet_user_id FROM pairs p JOIN puppets u ON u.remote_jid = p.remote_jid
 WHERE p.sub_from = 1 ORDER BY p.teams_user_id, u.user_id`,
  // ---- hostile input (issue 12): accounts per remote domain, pairs nobody uses ----
  countPuppets: 'SELECT COUNT(*) AS n FROM puppets',
  countPuppetsOfDomain: `SELECT COUNT(*) AS n FROM puppets WHERE ${JID_DOMAIN} = @domain`,
  puppetsPerDomain: `SELECT ${JID_DOMAIN} AS domain, COUNT(*) AS n FROM puppets GROUP BY ${JID_DOMAIN} ORDER BY domain`,
  touchPair: 'UPDATE pairs SET updated_at = @now WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid',
  unusedPairs: `SELECT TOP (@limit) ${PAIR_COLUMNS} FROM pairs p WHERE updated_at < @before
   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.teams_user_id = p.teams_user_id AND o.remote_jid = p.remote_jid AND o.state = N'pending')
 ORDER BY updated_at`,
  deletePair: 'DELETE FROM pairs WHERE teams_user_id = @teams_user_id AND remote_jid = @remote_jid',
} as const;

export type MssqlStatementName = keyof typeof MSSQL_STATEMENTS;

// ---- parameters: explicit types, so that plans are reused and nothing is inferred from a JS value ----

export interface Param {
  readonly type: ISqlType;
  readonly value: string | number | boolean | null;
}
export type Params = Readonly<Record<string, Param>>;

/**
 * A key or short text. Declared NVARCHAR(4000) whatever the value's length (one cached plan per statement, not one
 * per length); a longer value becomes NVARCHAR(MAX), which then fails to insert into a bounded column, loudly.
 */
export const nvarchar = (v: string | undefined): Param => ({ type: sql.NVarChar(v !== undefined && v.length > 4000 ? sql.MAX : 4000), value: v ?? null });
/** Bodies, errors and details: NVARCHAR(MAX) columns. */
export const nvarcharMax = (v: string | undefined): Param => ({ type: sql.NVarChar(sql.MAX), value: v ?? null });
export const bigint = (v: number | undefined): Param => ({ type: sql.BigInt(), value: v ?? null });
export const int = (v: number): Param => ({ type: sql.Int(), value: v });
export const bit = (v: boolean | undefined): Param => ({ type: sql.Bit(), value: v ?? null });
export const limit = (n: number): Param => int(Math.max(0, Math.min(2 ** 31 - 1, Math.floor(n))));

export function pairParams(key: { readonly teamsUserId: string; readonly remoteJid: string }): Params {
  return { teams_user_id: nvarchar(key.teamsUserId), remote_jid: nvarchar(key.remoteJid) };
}

/** An inbox row's columns (recorded now, or scheduled for later). */
export function notificationParams(n: { readonly dedupKey: string; readonly kind: string; readonly subscriptionId: string; readonly resource: string; readonly changeType: string; readonly detail?: string | undefined }): Params {
  return {
    dedup_key: nvarchar(n.dedupKey),
    kind: nvarchar(n.kind),
    subscription_id: nvarchar(n.subscriptionId),
    resource: nvarchar(n.resource),
    change_type: nvarchar(n.changeType),
    detail: nvarcharMax(n.detail),
  };
}

/** A batch's items as the one JSON parameter its statement reads with OPENJSON. */
export function json(items: readonly unknown[]): Params[string] {
  return nvarcharMax(JSON.stringify(items));
}
