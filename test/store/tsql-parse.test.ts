/**
 * SQL Server cannot run here, so the T-SQL is checked statically: every migration batch and every statement of the
 * SQL Server store must parse with a T-SQL parser.
 *
 * The parser is @guanmingchiu/sqlparser-ts (Apache DataFusion's sqlparser-rs compiled to WebAssembly, MsSqlDialect).
 * node-sql-parser (TransactSQL) was evaluated and rejected: it fails on valid T-SQL we use (named column
 * constraints, OUTPUT, IF, EXEC) and accepts broken statements (`SELEC x FROM t` and `UPDATE t SET WHERE ...` parse
 * as variable assignments). What sqlparser-rs does not check, and so this test does not either: names (tables,
 * columns, collations, table hints such as UPDLOCK), types and their sizes (NVARCHAR(5000), unknown type names),
 * semantic rules (column counts, the one-statement-per-batch rules, a filtered index's allowed predicates), and the
 * keyword NONCLUSTERED in a PRIMARY KEY (read as an index name). The contract suite against a real server
 * (mssql-store.test.ts with MSSQL_URL) covers those; the checks below add two cheap guards: index key sizes
 * computed from the parsed DDL, and SQLite-only syntax leaking into T-SQL.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { init, parse } from '@guanmingchiu/sqlparser-ts';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { MSSQL_STATEMENTS, splitBatches, type MssqlStatementName } from '../../src/store/mssql-store.js';

const DIALECT = 'mssql';

/**
 * Statements the parser cannot read, with the reason. Each is checked with only the unsupported construct
 * rewritten away, and must still fail as written: when the parser learns the construct, this test says so and the
 * entry goes.
 */
const KNOWN_EXCEPTIONS: Partial<Record<MssqlStatementName, { readonly reason: string; readonly rewrite: (sql: string) => string }>> = {
  acquireMigrationLock: {
    reason: 'sqlparser-rs 0.62 does not parse a procedure return status assignment (EXEC @result = sp_getapplock ...)',
    rewrite: (s) => s.replace('EXEC @result = sp_getapplock', 'EXEC sp_getapplock'),
  },
  pruneOutbox: {
    reason: 'sqlparser-rs 0.62 does not parse DELETE TOP (n)',
    rewrite: (s) => s.replace('DELETE TOP (@batch) FROM', 'DELETE FROM'),
  },
  pruneInbox: {
    reason: 'sqlparser-rs 0.62 does not parse DELETE TOP (n)',
    rewrite: (s) => s.replace('DELETE TOP (@batch) FROM', 'DELETE FROM'),
  },
  pruneRelayed: {
    reason: 'sqlparser-rs 0.62 does not parse DELETE TOP (n)',
    rewrite: (s) => s.replace('DELETE TOP (@batch) FROM', 'DELETE FROM'),
  },
};

/**
 * Migration constructs the parser cannot read, rewritten to a form it can, with the same check as above: the
 * original must still fail (so the entry goes when the parser learns it) and the rewrite must parse.
 */
const MIGRATION_REWRITES: readonly { readonly match: RegExp; readonly reason: string; readonly rewrite: (sql: string) => string }[] = [
  {
    match: /ALTER COLUMN (\w+) (NVARCHAR\(\d+\)) COLLATE \w+ (?:NOT )?NULL/u,
    reason: 'sqlparser-rs 0.62 reads only the ANSI form ALTER COLUMN c SET DATA TYPE t, not T-SQL\'s ALTER COLUMN c t',
    rewrite: (s) => s.replace(/ALTER COLUMN (\w+) (NVARCHAR\(\d+\)) COLLATE \w+ (?:NOT )?NULL/u, 'ALTER COLUMN $1 SET DATA TYPE $2'),
  },
];

type Ast = unknown;

function parseTsql(sql: string): Ast[] {
  return parse(sql, DIALECT) as unknown as Ast[];
}

function parseError(sql: string): string | undefined {
  try {
    parseTsql(sql);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function assertParses(sql: string, what: string): Ast[] {
  const error = parseError(sql);
  assert.equal(error, undefined, `${what} does not parse as T-SQL: ${error}\n${sql}`);
  const statements = parseTsql(sql);
  assert.ok(statements.length > 0, `${what}: no statement`);
  return statements;
}

const migrationBatches = (): { readonly what: string; readonly sql: string; readonly original: string }[] =>
  MIGRATIONS.flatMap((m) =>
    splitBatches(m.mssql).map((original, i) => {
      const rule = MIGRATION_REWRITES.find((r) => r.match.test(original));
      return { what: `migration ${m.version} batch ${i + 1}${rule ? ` (known exception: ${rule.reason})` : ''}`, sql: rule ? rule.rewrite(original) : original, original };
    }),
  );

const statementNames = Object.keys(MSSQL_STATEMENTS) as MssqlStatementName[];

describe('T-SQL of the SQL Server store parses', () => {
  before(async () => {
    await init();
  });

  it('every migration has T-SQL', () => {
    for (const m of MIGRATIONS) assert.ok(splitBatches(m.mssql).length > 0, `migration ${m.version} (${m.name}) has no mssql script`);
  });

  it('every migration batch parses', () => {
    for (const b of migrationBatches()) {
      if (b.sql !== b.original) assert.notEqual(parseError(b.original), undefined, `${b.what} now parses as written: remove its MIGRATION_REWRITES entry`);
      assertParses(b.sql, b.what);
    }
  });

  for (const name of statementNames) {
    const exception = KNOWN_EXCEPTIONS[name];
    if (exception) {
      it(`${name}: known exception (${exception.reason}); checked with that construct rewritten`, () => {
        const sql = MSSQL_STATEMENTS[name];
        const rewritten = exception.rewrite(sql);
        assert.notEqual(rewritten, sql, `${name}: the rewrite no longer matches the statement`);
        assert.notEqual(parseError(sql), undefined, `${name} now parses as written: remove it from KNOWN_EXCEPTIONS`);
        assertParses(rewritten, `${name} (rewritten)`);
      });
    } else {
      it(`${name} parses`, () => {
        assertParses(MSSQL_STATEMENTS[name], name);
      });
    }
  }

  it('rejects broken variants of our own statements (the check is not vacuous)', () => {
    const first = splitBatches(MIGRATIONS[0]?.mssql ?? '')[0] ?? '';
    const breakages: [string, string, string][] = [
      ['missing comma between column definitions', first, first.replace('CONSTRAINT puppets_pk PRIMARY KEY,', 'CONSTRAINT puppets_pk PRIMARY KEY')],
      ['unclosed table hint', MSSQL_STATEMENTS.enqueueOutbound, MSSQL_STATEMENTS.enqueueOutbound.replace('WITH (UPDLOCK, HOLDLOCK)', 'WITH (UPDLOCK, HOLDLOCK')],
      ['incomplete IF condition', MSSQL_STATEMENTS.updatePair, MSSQL_STATEMENTS.updatePair.replace('IF @@ROWCOUNT = 0', 'IF @@ROWCOUNT =')],
      ['misspelt keyword', MSSQL_STATEMENTS.saveSubscription, MSSQL_STATEMENTS.saveSubscription.replace('COMMIT TRANSACTION;', 'COMIT TRANSACTION;')],
      ['missing comma in VALUES', MSSQL_STATEMENTS.recordMigration, MSSQL_STATEMENTS.recordMigration.replace('@name, @applied_at', '@name @applied_at')],
      ['CASE without END', MSSQL_STATEMENTS.markOutboundDelivered, MSSQL_STATEMENTS.markOutboundDelivered.replace('THEN body END', 'THEN body')],
    ];
    for (const [what, original, broken] of breakages) {
      assert.notEqual(broken, original, `${what}: the mutation no longer applies`);
      assert.notEqual(parseError(broken), undefined, `${what}: the parser accepted\n${broken}`);
    }
  });
});

// ---- SQLite syntax in T-SQL ----

const SQLITE_ONLY: [RegExp, string][] = [
  [/\bAUTOINCREMENT\b/iu, 'AUTOINCREMENT (T-SQL: IDENTITY(1,1))'],
  [/\bADD\s+COLUMN\b/iu, 'ADD COLUMN (T-SQL: ALTER TABLE t ADD c type)'],
  [/\bON\s+CONFLICT\b/iu, 'ON CONFLICT (T-SQL: NOT EXISTS under UPDLOCK, HOLDLOCK)'],
  [/\bexcluded\./iu, 'excluded.column'],
  [/(?<!@)\bLIMIT\b/iu, 'LIMIT (T-SQL: TOP (n))'],
  [/\bRETURNING\b/iu, 'RETURNING (T-SQL: OUTPUT)'],
  [/\bIF\s+NOT\s+EXISTS\b/iu, 'CREATE ... IF NOT EXISTS'],
  [/(?<!@)\b(INTEGER|TEXT|REAL|BLOB)\b/u, 'a SQLite type name'],
  [/\?/u, 'a ? placeholder (the mssql package binds @name)'],
  [/\|\|/u, '|| concatenation'],
];

const withoutComments = (sql: string): string => sql.replace(/--.*$/gmu, '').replace(/\/\*[\s\S]*?\*\//gu, '');

describe('T-SQL holds no SQLite-only syntax', () => {
  it('in the migrations and the statements', () => {
    const texts = [...migrationBatches(), ...statementNames.map((n) => ({ what: n, sql: MSSQL_STATEMENTS[n] }))];
    for (const { what, sql } of texts) {
      const code = withoutComments(sql).replace(/N?'(?:[^']|'')*'/gu, "''");
      for (const [pattern, label] of SQLITE_ONLY) assert.doesNotMatch(code, pattern, `${what}: ${label}`);
    }
  });
});

// ---- index key sizes, from the parsed DDL ----

/** https://learn.microsoft.com/sql/sql-server/maximum-capacity-specifications-for-sql-server */
const CLUSTERED_KEY_LIMIT = 900;
const NONCLUSTERED_KEY_LIMIT = 1700;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const ident = (v: unknown): string => String(obj(v).value ?? obj(obj(v).Identifier).value ?? '');
const lastName = (name: unknown): string => ident(arr(name).at(-1)).toLowerCase();

/** Declared bytes of a column, read from the source text after its name (the AST drops some type details). */
function declaredBytes(batch: string, column: unknown): number {
  const start = obj(obj(obj(column).name).span).end;
  const line = Number(obj(start).line);
  const col = Number(obj(start).column);
  const offset = batch.split('\n').slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + col - 1;
  const type = /^\s*([A-Za-z]+)\s*(?:\(\s*(\d+|MAX)\s*(?:,\s*\d+\s*)?\))?/iu.exec(batch.slice(offset));
  const name = type?.[1]?.toUpperCase();
  const length = type?.[2]?.toUpperCase();
  if (name === 'NVARCHAR' || name === 'NCHAR') return length === 'MAX' ? Number.POSITIVE_INFINITY : 2 * Number(length ?? 1);
  if (name === 'VARCHAR' || name === 'CHAR') return length === 'MAX' ? Number.POSITIVE_INFINITY : Number(length ?? 1);
  const fixed: Record<string, number> = { BIGINT: 8, INT: 4, SMALLINT: 2, TINYINT: 1, BIT: 1, UNIQUEIDENTIFIER: 16, DATETIME2: 8 };
  const bytes = name === undefined ? undefined : fixed[name];
  assert.ok(bytes !== undefined, `unknown column type ${name ?? '?'} for ${ident(obj(column).name)}: add its size to the key-size check`);
  return bytes;
}

interface IndexKey {
  readonly what: string;
  readonly table: string;
  readonly columns: string[];
  readonly clustered: boolean;
}

const keyColumns = (cols: unknown): string[] => arr(cols).map((c) => ident(obj(obj(obj(c).column).expr)).toLowerCase());

describe('index keys fit SQL Server limits', () => {
  before(async () => {
    await init();
  });

  it(`clustered keys ≤ ${CLUSTERED_KEY_LIMIT} bytes, nonclustered ≤ ${NONCLUSTERED_KEY_LIMIT} bytes, no NVARCHAR(MAX) key`, () => {
    const columns = new Map<string, Map<string, number>>();
    const keys: IndexKey[] = [];
    for (const { what, sql } of migrationBatches()) {
      for (const statement of parseTsql(sql)) {
        const create = obj(obj(statement).CreateTable);
        const alter = obj(obj(statement).AlterTable);
        const index = obj(obj(statement).CreateIndex);
        if (Object.keys(create).length > 0) {
          const table = lastName(create.name);
          const cols = new Map<string, number>();
          columns.set(table, cols);
          for (const c of arr(create.columns)) {
            const name = ident(obj(c).name).toLowerCase();
            cols.set(name, declaredBytes(sql, c));
            for (const o of arr(obj(c).options)) {
              const option = obj(obj(o).option);
              if ('PrimaryKey' in option) keys.push({ what: `${what}: ${table} primary key`, table, columns: [name], clustered: true });
              if ('Unique' in option) keys.push({ what: `${what}: ${table}.${name} unique`, table, columns: [name], clustered: false });
            }
          }
          for (const k of arr(create.constraints)) {
            const pk = obj(obj(k).PrimaryKey);
            const uq = obj(obj(k).Unique);
            if (Object.keys(pk).length > 0) {
              // sqlparser-rs reads the NONCLUSTERED keyword as an index name.
              const clustered = ident(pk.index_name).toUpperCase() !== 'NONCLUSTERED';
              keys.push({ what: `${what}: ${table} primary key`, table, columns: keyColumns(pk.columns), clustered });
            }
            if (Object.keys(uq).length > 0) keys.push({ what: `${what}: ${table} unique`, table, columns: keyColumns(uq.columns), clustered: false });
          }
        } else if (Object.keys(alter).length > 0) {
          const table = lastName(alter.name);
          for (const op of arr(alter.operations)) {
            const add = obj(obj(op).AddColumn);
            if (Object.keys(add).length > 0) columns.get(table)?.set(ident(obj(add.column_def).name).toLowerCase(), declaredBytes(sql, add.column_def));
            const altered = obj(obj(op).AlterColumn);
            if (Object.keys(altered).length > 0) {
              const name = ident(altered.column_name).toLowerCase();
              const type = new RegExp(`ALTER COLUMN ${name} SET DATA TYPE NVARCHAR\\((\\d+)\\)`, 'iu').exec(sql);
              assert.ok(type, `${what}: cannot read the new type of ${name}`);
              columns.get(table)?.set(name, 2 * Number(type[1]));
            }
          }
        } else if (Object.keys(index).length > 0) {
          const table = lastName(index.table_name);
          keys.push({ what: `${what}: index ${lastName(index.name)}`, table, columns: keyColumns(index.columns), clustered: false });
        }
      }
    }
    assert.ok(keys.length >= 20, `only ${keys.length} index keys found: the AST walk is broken`);
    for (const k of keys) {
      const cols = columns.get(k.table);
      assert.ok(cols, `${k.what}: unknown table ${k.table}`);
      const bytes = k.columns.reduce((n, c) => {
        const b = cols.get(c);
        assert.ok(b !== undefined, `${k.what}: unknown column ${c}`);
        return n + b;
      }, 0);
      const max = k.clustered ? CLUSTERED_KEY_LIMIT : NONCLUSTERED_KEY_LIMIT;
      assert.ok(bytes <= max, `${k.what} (${k.columns.join(', ')}): ${bytes} bytes exceed the ${k.clustered ? 'clustered' : 'nonclustered'} limit of ${max}`);
    }
  });
});
