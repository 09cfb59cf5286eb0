/**
 * Versioned schema migrations. Each migration holds the SQL of every dialect side by side, so a reviewer
 * compares them in one place; the store runs those its dialect needs, in order, once each.
 */

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  /** T-SQL for SQL Server 2022+ / Azure SQL; batches separated by lines holding only GO. */
  readonly mssql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sqlite: `
      -- Identity mappings, pair subscriptions, outbox, inbox, relayed ids and Graph subscriptions.
      CREATE TABLE puppets (
        remote_jid   TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL UNIQUE,
        upn          TEXT NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL
      );

      CREATE TABLE pairs (
        teams_user_id  TEXT NOT NULL,
        remote_jid     TEXT NOT NULL,
        chat_id        TEXT,
        sub_from       INTEGER NOT NULL DEFAULT 0,
        sub_to         INTEGER NOT NULL DEFAULT 0,
        sub_to_pending INTEGER NOT NULL DEFAULT 0,
        updated_at     INTEGER NOT NULL,
        PRIMARY KEY (teams_user_id, remote_jid)
      );
      CREATE INDEX pairs_by_chat ON pairs (chat_id);
      CREATE INDEX pairs_by_remote ON pairs (remote_jid);

      CREATE TABLE outbox (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        teams_user_id     TEXT NOT NULL,
        remote_jid        TEXT NOT NULL,
        dedup_key         TEXT UNIQUE,
        sender            TEXT NOT NULL,
        stanza_id         TEXT,
        receipt_requested INTEGER NOT NULL,
        body              TEXT,
        state             TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts          INTEGER NOT NULL DEFAULT 0,
        next_attempt_at   INTEGER NOT NULL,
        last_error        TEXT,
        teams_message_id  TEXT,
        created_at        INTEGER NOT NULL,
        done_at           INTEGER
      );
      CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
      CREATE INDEX outbox_by_pair ON outbox (teams_user_id, remote_jid, state, id);

      CREATE TABLE inbox (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        dedup_key        TEXT NOT NULL UNIQUE,
        kind             TEXT NOT NULL,
        subscription_id  TEXT NOT NULL,
        resource         TEXT NOT NULL,
        change_type      TEXT NOT NULL,
        detail           TEXT,
        state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        last_error       TEXT,
        received_at      INTEGER NOT NULL,
        done_at          INTEGER
      );
      CREATE INDEX inbox_due ON inbox (state, next_attempt_at);

      CREATE TABLE relayed (
        chat_id           TEXT NOT NULL,
        teams_message_id  TEXT NOT NULL,
        direction         TEXT NOT NULL,
        xmpp_id           TEXT,
        created_at        INTEGER NOT NULL,
        PRIMARY KEY (chat_id, teams_message_id)
      );

      CREATE TABLE graph_subscriptions (
        id             TEXT PRIMARY KEY,
        purpose        TEXT NOT NULL UNIQUE,
        resource       TEXT NOT NULL,
        change_type    TEXT NOT NULL,
        owner_user_id  TEXT,
        client_state   TEXT NOT NULL,
        expires_at     INTEGER NOT NULL
      );
`,
    mssql: `
      -- SQL Server 2022+ / Azure SQL. Text keys use a binary collation so that comparisons are
      -- case- and accent-sensitive like SQLite's (the server default is usually case-insensitive).
      -- Key sizes: a clustered index key holds at most 900 bytes, a nonclustered one 1,700 bytes
      -- (https://learn.microsoft.com/sql/sql-server/maximum-capacity-specifications-for-sql-server);
      -- NVARCHAR(n) takes 2n bytes, so an indexed JID is NVARCHAR(450) (JIDs may be up to 3071
      -- bytes, RFC 7622, but such a key could not be indexed). Entra object ids are GUIDs: NVARCHAR(128).
      CREATE TABLE puppets (
        remote_jid   NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT puppets_pk PRIMARY KEY,
        user_id      NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT puppets_user_id_uq UNIQUE,
        upn          NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT puppets_upn_uq UNIQUE,
        created_at   BIGINT NOT NULL
      );

      -- 128 + 450 characters = 1,156 bytes: too long for a clustered key, so the primary key is
      -- nonclustered and the (small) table a heap.
      CREATE TABLE pairs (
        teams_user_id  NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
        remote_jid     NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL,
        chat_id        NVARCHAR(256) COLLATE Latin1_General_100_BIN2 NULL,
        sub_from       BIT NOT NULL CONSTRAINT pairs_sub_from_df DEFAULT 0,
        sub_to         BIT NOT NULL CONSTRAINT pairs_sub_to_df DEFAULT 0,
        sub_to_pending BIT NOT NULL CONSTRAINT pairs_sub_to_pending_df DEFAULT 0,
        updated_at     BIGINT NOT NULL,
        CONSTRAINT pairs_pk PRIMARY KEY NONCLUSTERED (teams_user_id, remote_jid)
      );
      CREATE INDEX pairs_by_chat ON pairs (chat_id);
      CREATE INDEX pairs_by_remote ON pairs (remote_jid);

      CREATE TABLE outbox (
        id                BIGINT IDENTITY(1,1) NOT NULL CONSTRAINT outbox_pk PRIMARY KEY,
        teams_user_id     NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
        remote_jid        NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL,
        dedup_key         NVARCHAR(850) COLLATE Latin1_General_100_BIN2 NULL,
        sender            NVARCHAR(3071) COLLATE Latin1_General_100_BIN2 NOT NULL,
        stanza_id         NVARCHAR(MAX) COLLATE Latin1_General_100_BIN2 NULL,
        receipt_requested BIT NOT NULL,
        body              NVARCHAR(MAX) NULL,
        state             NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL
                          CONSTRAINT outbox_state_ck CHECK (state IN (N'pending', N'delivered', N'dead')),
        attempts          INT NOT NULL CONSTRAINT outbox_attempts_df DEFAULT 0,
        next_attempt_at   BIGINT NOT NULL,
        last_error        NVARCHAR(MAX) NULL,
        teams_message_id  NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NULL,
        created_at        BIGINT NOT NULL,
        done_at           BIGINT NULL
      );
      -- SQLite's UNIQUE allows many NULLs; a SQL Server UNIQUE constraint treats NULLs as equal
      -- and would allow only one message without a dedup key. A filtered unique index keeps
      -- SQLite's meaning (https://learn.microsoft.com/sql/relational-databases/indexes/create-filtered-indexes).
      -- 850 characters = 1,700 bytes, the nonclustered key limit.
      CREATE UNIQUE INDEX outbox_dedup_key ON outbox (dedup_key) WHERE dedup_key IS NOT NULL;
      CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
      CREATE INDEX outbox_by_pair ON outbox (teams_user_id, remote_jid, state, id);

      CREATE TABLE inbox (
        id               BIGINT IDENTITY(1,1) NOT NULL CONSTRAINT inbox_pk PRIMARY KEY,
        dedup_key        NVARCHAR(850) COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT inbox_dedup_key_uq UNIQUE,
        kind             NVARCHAR(32) COLLATE Latin1_General_100_BIN2 NOT NULL,
        subscription_id  NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
        resource         NVARCHAR(2048) COLLATE Latin1_General_100_BIN2 NOT NULL,
        change_type      NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
        detail           NVARCHAR(MAX) NULL,
        state            NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL
                         CONSTRAINT inbox_state_ck CHECK (state IN (N'pending', N'delivered', N'dead')),
        attempts         INT NOT NULL CONSTRAINT inbox_attempts_df DEFAULT 0,
        next_attempt_at  BIGINT NOT NULL,
        last_error       NVARCHAR(MAX) NULL,
        received_at      BIGINT NOT NULL,
        done_at          BIGINT NULL
      );
      CREATE INDEX inbox_due ON inbox (state, next_attempt_at);

      -- 256 + 128 characters = 768 bytes: fits a clustered key.
      CREATE TABLE relayed (
        chat_id           NVARCHAR(256) COLLATE Latin1_General_100_BIN2 NOT NULL,
        teams_message_id  NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
        direction         NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL,
        xmpp_id           NVARCHAR(MAX) COLLATE Latin1_General_100_BIN2 NULL,
        created_at        BIGINT NOT NULL,
        CONSTRAINT relayed_pk PRIMARY KEY (chat_id, teams_message_id)
      );

      CREATE TABLE graph_subscriptions (
        id             NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT graph_subscriptions_pk PRIMARY KEY,
        purpose        NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT graph_subscriptions_purpose_uq UNIQUE,
        resource       NVARCHAR(2048) COLLATE Latin1_General_100_BIN2 NOT NULL,
        change_type    NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
        owner_user_id  NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NULL,
        client_state   NVARCHAR(256) COLLATE Latin1_General_100_BIN2 NOT NULL,
        expires_at     BIGINT NOT NULL
      );
`,
  },
  {
    version: 2,
    name: 'in-doubt sends, whitelist, audit log, licence seats',
    sqlite: `
      -- A post whose outcome is unknown is reconciled before it is retried (never posted twice).
      ALTER TABLE outbox ADD COLUMN sending_since INTEGER;
      CREATE INDEX outbox_done ON outbox (state, done_at);
      CREATE INDEX inbox_done ON inbox (state, done_at);
      CREATE INDEX relayed_age ON relayed (created_at);

      CREATE TABLE whitelist (
        kind      TEXT NOT NULL CHECK (kind IN ('domain', 'user', 'group')),
        value     TEXT NOT NULL,
        added_at  INTEGER NOT NULL,
        added_by  TEXT NOT NULL,
        PRIMARY KEY (kind, value)
      );

      CREATE TABLE audit_log (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       INTEGER NOT NULL,
        actor    TEXT NOT NULL,
        action   TEXT NOT NULL,
        subject  TEXT NOT NULL,
        detail   TEXT
      );
      CREATE INDEX audit_log_at ON audit_log (at);

      CREATE TABLE licence_seats (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        node_id     TEXT NOT NULL,
        licence_id  TEXT NOT NULL,
        event       TEXT NOT NULL CHECK (event IN ('claimed', 'renewed', 'released', 'expired'))
      );
      CREATE INDEX licence_seats_at ON licence_seats (at);
`,
    mssql: `
      -- A statement that uses a column added earlier in the same batch can fail to compile
      -- (error 207), hence GO after ALTER TABLE.
      ALTER TABLE outbox ADD sending_since BIGINT NULL;
      GO
      CREATE INDEX outbox_done ON outbox (state, done_at);
      CREATE INDEX inbox_done ON inbox (state, done_at);
      CREATE INDEX relayed_age ON relayed (created_at);

      -- value: a domain rule (at most 253 characters plus "*."), a UPN, or an Entra id; 400
      -- characters keeps the clustered key (16 + 400 characters) under 900 bytes.
      CREATE TABLE whitelist (
        kind      NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL
                  CONSTRAINT whitelist_kind_ck CHECK (kind IN (N'domain', N'user', N'group')),
        value     NVARCHAR(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
        added_at  BIGINT NOT NULL,
        added_by  NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL,
        CONSTRAINT whitelist_pk PRIMARY KEY (kind, value)
      );

      CREATE TABLE audit_log (
        id       BIGINT IDENTITY(1,1) NOT NULL CONSTRAINT audit_log_pk PRIMARY KEY,
        at       BIGINT NOT NULL,
        actor    NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL,
        action   NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
        subject  NVARCHAR(3071) COLLATE Latin1_General_100_BIN2 NOT NULL,
        detail   NVARCHAR(MAX) NULL
      );
      CREATE INDEX audit_log_at ON audit_log (at);

      CREATE TABLE licence_seats (
        id          BIGINT IDENTITY(1,1) NOT NULL CONSTRAINT licence_seats_pk PRIMARY KEY,
        at          BIGINT NOT NULL,
        node_id     NVARCHAR(256) COLLATE Latin1_General_100_BIN2 NOT NULL,
        licence_id  NVARCHAR(256) COLLATE Latin1_General_100_BIN2 NOT NULL,
        event       NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL
                    CONSTRAINT licence_seats_event_ck CHECK (event IN (N'claimed', N'renewed', N'released', N'expired'))
      );
      CREATE INDEX licence_seats_at ON licence_seats (at);
`,
  },
  {
    version: 3,
    name: 'find relayed messages by their XMPP id (corrections, retractions, reactions)',
    sqlite: `
      CREATE INDEX relayed_by_xmpp_id ON relayed (chat_id, xmpp_id);
`,
    // NVARCHAR(MAX) cannot be an index key: XMPP ids are bounded to 400 characters (key: 512 + 800 bytes).
    mssql: `
      ALTER TABLE relayed ALTER COLUMN xmpp_id NVARCHAR(400) COLLATE Latin1_General_100_BIN2 NULL;
GO
      CREATE INDEX relayed_by_xmpp_id ON relayed (chat_id, xmpp_id);
`,
  },
  {
    version: 4,
    name: 'outbox replies (XEP-0461 -> Teams quote)',
    sqlite: `
      ALTER TABLE outbox ADD COLUMN reply_to_teams_id TEXT;
`,
    mssql: `
      ALTER TABLE outbox ADD reply_to_teams_id NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NULL;
`,
  },
  {
    version: 5,
    name: 'operator console: dead letters by id, refusals and throttling by domain per minute',
    sqlite: `
      CREATE INDEX outbox_dead ON outbox (state, id);
      CREATE INDEX inbox_dead ON inbox (state, id);

      -- Bounded tallies, not one row per refused stanza: a stranger's flood costs a counter in memory, and each
      -- node writes at most a few hundred rows a minute (src/observability/domain-tally.ts).
      CREATE TABLE refusal_counts (
        minute     INTEGER NOT NULL,
        domain     TEXT NOT NULL,
        direction  TEXT NOT NULL,
        reason     TEXT NOT NULL,
        count      INTEGER NOT NULL,
        PRIMARY KEY (minute, domain, direction, reason)
      );
`,
    // Key: 8 + 2 x (255 + 16 + 64) = 678 bytes, under the 900 of a clustered key.
    mssql: `
      CREATE INDEX outbox_dead ON outbox (state, id);
      CREATE INDEX inbox_dead ON inbox (state, id);

      CREATE TABLE refusal_counts (
        minute     BIGINT NOT NULL,
        domain     NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL,
        direction  NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL,
        reason     NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
        count      BIGINT NOT NULL,
        CONSTRAINT refusal_counts_pk PRIMARY KEY (minute, domain, direction, reason)
      );
`,
  },
  {
    version: 6,
    name: 'Skype for Business pairs (issue 17)',
    sqlite: `
      CREATE TABLE sfb_pairs (
        sfb_uri     TEXT NOT NULL,
        remote_jid  TEXT NOT NULL,
        state       TEXT NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (sfb_uri, remote_jid)
      );
`,
    // Key: 128 + 450 characters = 1,156 bytes, under the 1,700 of a nonclustered key.
    mssql: `
      CREATE TABLE sfb_pairs (
        sfb_uri     NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
        remote_jid  NVARCHAR(450) COLLATE Latin1_General_100_BIN2 NOT NULL,
        state       NVARCHAR(MAX) NOT NULL,
        updated_at  BIGINT NOT NULL,
        CONSTRAINT sfb_pairs_pk PRIMARY KEY NONCLUSTERED (sfb_uri, remote_jid)
      );
`,
  },
  {
    version: 7,
    name: 'the tenant a store belongs to (issue 16)',
    // Each tenant of a cluster has a store of its own; this row says whose, so that a store is never opened for
    // another tenant. A store written before tenants existed (it has rows) is the single-tenant layout's "default".
    sqlite: `
      CREATE TABLE store_tenant (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        tenant  TEXT NOT NULL
      );
      INSERT INTO store_tenant (id, tenant)
        SELECT 1, 'default' WHERE EXISTS (SELECT 1 FROM puppets) OR EXISTS (SELECT 1 FROM pairs) OR EXISTS (SELECT 1 FROM outbox);
`,
    mssql: `
      CREATE TABLE store_tenant (
        id      INT NOT NULL CONSTRAINT store_tenant_pk PRIMARY KEY CONSTRAINT store_tenant_one CHECK (id = 1),
        tenant  NVARCHAR(64) NOT NULL
      );
      INSERT INTO store_tenant (id, tenant)
        SELECT 1, N'default' WHERE EXISTS (SELECT 1 FROM puppets) OR EXISTS (SELECT 1 FROM pairs) OR EXISTS (SELECT 1 FROM outbox);
`,
  },
  {
    version: 8,
    name: 'the correlation id and trace a message was accepted under',
    // "<correlation id> <traceparent>" (W3C Trace Context §3.2: 55 characters), or the correlation id alone.
    sqlite: `
      ALTER TABLE outbox ADD COLUMN origin TEXT;
`,
    mssql: `
      ALTER TABLE outbox ADD origin NVARCHAR(128) COLLATE Latin1_General_100_BIN2 NULL;
`,
  },
  {
    version: 9,
    name: "the relayed ids' XMPP-id index without the rows whose XMPP id is their Teams id",
    // A message relayed to XMPP goes with its Teams id as stanza id (teams-to-xmpp.ts), so its row is found by the
    // table's key; in this index it only cost a page per chat in every commit (the standalone writer cycle: 19.9
    // against 25.4 KiB written a message, 0.128 against 0.138 ms of CPU). The lookup asks both (findRelayedByXmppId).
    sqlite: `
      DROP INDEX relayed_by_xmpp_id;
      CREATE INDEX relayed_by_xmpp_id ON relayed (chat_id, xmpp_id) WHERE xmpp_id <> teams_message_id;
`,
    // A filtered index cannot compare two columns (https://learn.microsoft.com/sql/t-sql/statements/create-index-transact-sql,
    // filter_predicate): SQL Server keeps the whole index, and its lookup as it was.
    mssql: `
      SELECT 1 AS unchanged;
`,
  },
  {
    version: 10,
    name: 'the queues indexed by state with partial indexes, one entry per row in the state it is about',
    // (state, x) indexes held every row, so a row going from pending to delivered moved in each of them (a delete and
    // an insert, a page of each written in every commit). Each index now holds only the rows its queries ask for, by
    // the literal state they name (https://sqlite.org/partialindex.html §2: the query's WHERE must imply the
    // index's): a message costs one entry when it is accepted and two b-tree changes when it is done.
    sqlite: `
      DROP INDEX inbox_due;
      DROP INDEX inbox_done;
      DROP INDEX inbox_dead;
      CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';
      CREATE INDEX inbox_delivered ON inbox (done_at) WHERE state = 'delivered';
      CREATE INDEX inbox_dead ON inbox (id) WHERE state = 'dead';
      DROP INDEX outbox_due;
      DROP INDEX outbox_done;
      DROP INDEX outbox_dead;
      DROP INDEX outbox_by_pair;
      CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
      CREATE INDEX outbox_by_pair ON outbox (teams_user_id, remote_jid, id) WHERE state = 'pending';
      CREATE INDEX outbox_delivered ON outbox (done_at) WHERE state = 'delivered';
      CREATE INDEX outbox_dead ON outbox (id) WHERE state = 'dead';
`,
    // SQL Server's filtered indexes could do the same; left as they are until they can be measured there.
    mssql: `
      SELECT 1 AS unchanged;
`,
  },
];
