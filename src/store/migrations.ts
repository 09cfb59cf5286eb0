/**
 * Versioned schema migrations. Each migration holds the SQL of every dialect side by side, so a reviewer
 * compares them in one place; the store runs those its dialect needs, in order, once each.
 */

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
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
  },
];
