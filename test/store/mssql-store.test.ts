/**
 * The SQL Server store. Without a server: MSSQL_URL parsing, the driver configuration, batch splitting, and how
 * open() reports a server it cannot reach. With MSSQL_URL set (a SQL Server 2022+ whose login may CREATE DATABASE,
 * e.g. a local container as sa): the shared contract suite and the cluster-specific behaviour, each in a fresh
 * database named xtg_test_* that is dropped afterwards.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import sql from 'mssql';
import { MssqlStore, mssqlOptionsFromUrl, splitBatches, toMssqlConfig, type MssqlOptions } from '../../src/store/mssql-store.js';
import { StoreError } from '../../src/store/store.js';
import { defineStoreContract } from './store-contract.js';

describe('mssqlOptionsFromUrl', () => {
  it('reads server, port, database, credentials and flags', () => {
    const o = mssqlOptionsFromUrl('mssql://gw:s3cret@db.example:14330/gateway?encrypt=true&trustServerCertificate=true');
    assert.deepEqual(o, {
      server: 'db.example',
      port: 14330,
      database: 'gateway',
      authentication: { type: 'sql', user: 'gw', password: 's3cret' },
      encrypt: true,
      trustServerCertificate: true,
      multiSubnetFailover: false,
      pool: { max: 10, min: 0, idleTimeoutMs: 30_000 },
      connectionTimeoutMs: 15_000,
      requestTimeoutMs: 15_000,
    });
  });

  it('defaults to port 1433, encryption on and the certificate checked', () => {
    const o = mssqlOptionsFromUrl('mssql://gw:pw@db.example/gateway');
    assert.deepEqual([o.port, o.encrypt, o.trustServerCertificate], [1433, true, false]);
  });

  it('percent-decodes user, password and database', () => {
    const o = mssqlOptionsFromUrl('mssql://gw%40corp:p%40ss%3Aw%2Frd%25@db.example/my%20db');
    assert.deepEqual(o.authentication, { type: 'sql', user: 'gw@corp', password: 'p@ss:w/rd%' });
    assert.equal(o.database, 'my db');
  });

  it('reads the availability-group, pool and timeout parameters', () => {
    const o = mssqlOptionsFromUrl(
      'mssql://gw:pw@ag-listener.example/gateway?multiSubnetFailover=true&applicationIntent=ReadWrite&poolMax=20&poolMin=2&poolIdleTimeoutMs=60000&connectionTimeoutMs=5000&requestTimeoutMs=30000',
    );
    assert.deepEqual(
      [o.multiSubnetFailover, o.applicationIntent, o.pool, o.connectionTimeoutMs, o.requestTimeoutMs],
      [true, 'ReadWrite', { max: 20, min: 2, idleTimeoutMs: 60_000 }, 5000, 30_000],
    );
  });

  it('accepts an IPv6 host', () => {
    assert.equal(mssqlOptionsFromUrl('mssql://gw:pw@[::1]:1433/gateway').server, '::1');
  });

  it('reads the Entra ID authentications', () => {
    assert.deepEqual(mssqlOptionsFromUrl('mssql://db.example/gateway?authentication=azure-active-directory-default').authentication, {
      type: 'azure-active-directory-default',
    });
    assert.deepEqual(
      mssqlOptionsFromUrl('mssql://app-id:app-secret@db.example/gateway?authentication=azure-active-directory-service-principal-secret&tenantId=t-1').authentication,
      { type: 'azure-active-directory-service-principal-secret', clientId: 'app-id', clientSecret: 'app-secret', tenantId: 't-1' },
    );
  });

  it('rejects what it cannot use, naming the problem and never the password', () => {
    const cases: [string, RegExp][] = [
      ['not a url', /not a URL/u],
      ['postgres://gw:hunter22@db.example/gateway', /scheme must be mssql:/u],
      ['mssql://gw:hunter22@db.example', /one database name/u],
      ['mssql://gw:hunter22@db.example/a/b', /one database name/u],
      ['mssql://db.example/gateway', /no user/u],
      ['mssql://gw:hunter22@db.example/gateway?encrypt=maybe', /encrypt must be true or false/u],
      ['mssql://gw:hunter22@db.example/gateway?encrpyt=true', /unknown parameter encrpyt/u],
      ['mssql://gw:hunter22@db.example/gateway?poolMax=ten', /poolMax must be a whole number/u],
      ['mssql://gw:hunter22@db.example/gateway?applicationIntent=ReadOnly', /applicationIntent must be ReadWrite/u],
      ['mssql://gw:hunter22@db.example/gateway?authentication=ntlm', /authentication must be/u],
      ['mssql://gw:hunter22@db.example/gateway?authentication=azure-active-directory-default', /takes no user or password/u],
      ['mssql://gw:hunter22@db.example/gateway?authentication=azure-active-directory-service-principal-secret', /needs clientId:clientSecret@ and tenantId=/u],
      ['mssql://gw:hunter22@db.example/gateway?tenantId=t', /tenantId is only/u],
    ];
    for (const [url, pattern] of cases) {
      assert.throws(
        () => mssqlOptionsFromUrl(url),
        (err: unknown) => err instanceof StoreError && pattern.test(err.message) && !err.message.includes('hunter22'),
        url,
      );
    }
  });
});

describe('toMssqlConfig', () => {
  it('maps the options to the mssql/tedious names', () => {
    const c = toMssqlConfig(mssqlOptionsFromUrl('mssql://gw:pw@ag.example:1444/gateway?multiSubnetFailover=true&requestTimeoutMs=2000&connectionTimeoutMs=1000&poolMax=5'));
    assert.equal(c.server, 'ag.example');
    assert.equal(c.port, 1444);
    assert.equal(c.database, 'gateway');
    assert.equal(c.connectionTimeout, 1000);
    assert.equal(c.requestTimeout, 2000);
    assert.deepEqual(c.pool, { max: 5, min: 0, idleTimeoutMillis: 30_000 });
    assert.deepEqual(c.authentication, { type: 'default', options: { userName: 'gw', password: 'pw' } });
    assert.equal(c.options?.encrypt, true);
    assert.equal(c.options?.trustServerCertificate, false);
    assert.equal(c.options?.multiSubnetFailover, true);
    assert.equal(c.options?.readOnlyIntent, false);
  });

  it('maps the Entra ID authentications', () => {
    const sp = toMssqlConfig(
      mssqlOptionsFromUrl('mssql://app:secret@db.example/gateway?authentication=azure-active-directory-service-principal-secret&tenantId=t-1'),
    );
    assert.deepEqual(sp.authentication, { type: 'azure-active-directory-service-principal-secret', options: { clientId: 'app', clientSecret: 'secret', tenantId: 't-1' } });
    const dflt = toMssqlConfig(mssqlOptionsFromUrl('mssql://db.example/gateway?authentication=azure-active-directory-default'));
    assert.deepEqual(dflt.authentication, { type: 'azure-active-directory-default', options: {} });
  });
});

describe('splitBatches', () => {
  it('splits at lines holding only GO, in any case, and drops empty batches', () => {
    assert.deepEqual(
      splitBatches('CREATE TABLE a (x INT);\nGO\n  go  \n-- only a comment\nGO\nALTER TABLE a ADD y INT;\nGOTO_NOT_A_SEPARATOR;\n').map((b) => b.trim()),
      ['CREATE TABLE a (x INT);', 'ALTER TABLE a ADD y INT;\nGOTO_NOT_A_SEPARATOR;'],
    );
  });
});

// ---- open() against servers that are not there ----

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

function offlineOptions(port: number): MssqlOptions {
  return {
    ...mssqlOptionsFromUrl(`mssql://gw:Secret-Pa55word@127.0.0.1:${port}/gateway?encrypt=false`),
    connectionTimeoutMs: 500,
    requestTimeoutMs: 500,
  };
}

describe('MssqlStore.open without a server', () => {
  it('reports a refused connection with server and database, without the password', async () => {
    const probe = createServer();
    const port = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await assert.rejects(MssqlStore.open(offlineOptions(port)), (err: unknown) => {
      assert.ok(err instanceof StoreError, String(err));
      assert.match(err.message, new RegExp(`^cannot open SQL Server store 127\\.0\\.0\\.1:${port}/gateway: cannot connect: `, 'u'));
      assert.doesNotMatch(err.message, /Secret-Pa55word/u);
      assert.ok(err.cause !== undefined);
      return true;
    });
  });

  it('reports a server that accepts but never answers as a connection timeout', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    const port = await listen(silent);
    try {
      await assert.rejects(MssqlStore.open(offlineOptions(port)), (err: unknown) => {
        assert.ok(err instanceof StoreError, String(err));
        assert.match(err.message, new RegExp(`^cannot open SQL Server store 127\\.0\\.0\\.1:${port}/gateway: cannot connect within 500 ms: `, 'u'));
        assert.doesNotMatch(err.message, /Secret-Pa55word/u);
        return true;
      });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

// ---- against a real server ----

const url = process.env.MSSQL_URL;

if (url === undefined || url === '') {
  it('SQL Server store contract', { skip: 'MSSQL_URL not set: SQL Server contract tests skipped' }, () => undefined);
} else {
  const base = mssqlOptionsFromUrl(url);
  const run = `xtg_test_${Date.now().toString(36)}_${process.pid}`;
  const created: string[] = [];
  const opened: MssqlStore[] = [];
  let admin: sql.ConnectionPool | undefined;

  const adminPool = async (): Promise<sql.ConnectionPool> => {
    admin ??= await new sql.ConnectionPool(toMssqlConfig(base)).connect();
    return admin;
  };

  /** A new empty database; the name is made here from [a-z0-9_] only, so it can be spliced into the DDL. */
  const freshDatabase = async (): Promise<string> => {
    const name = `${run}_${created.length + 1}`;
    assert.match(name, /^[a-z0-9_]+$/u);
    await (await adminPool()).request().batch(`CREATE DATABASE [${name}]`);
    created.push(name);
    return name;
  };

  const openFresh = async (over: Partial<MssqlOptions> = {}, keepBodies = false): Promise<MssqlStore> => {
    const s = await MssqlStore.open({ ...base, database: await freshDatabase(), ...over }, { keepBodies });
    opened.push(s);
    return s;
  };

  after(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
    if (admin) {
      for (const name of created) {
        await admin.request().batch(`ALTER DATABASE [${name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [${name}];`);
      }
      await admin.close();
    }
  });

  defineStoreContract('SQL Server', () => openFresh());

  describe('SQL Server store specifics', () => {
    it('migrates once when several nodes open a new database at the same time', async () => {
      const database = await freshDatabase();
      const stores = await Promise.all(Array.from({ length: 4 }, () => MssqlStore.open({ ...base, database })));
      opened.push(...stores);
      for (const s of stores) assert.equal(await s.schemaVersion(), 2);
      const pool = await new sql.ConnectionPool(toMssqlConfig({ ...base, database })).connect();
      try {
        const r = await pool.request().query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(r.recordset.map((x) => x.version), [1, 2]);
      } finally {
        await pool.close();
      }
    });

    it('enqueues a dedup key once when two nodes race', async () => {
      const a = await openFresh();
      const b = await MssqlStore.open({ ...base, database: created.at(-1) ?? '' });
      opened.push(b);
      const m = { teamsUserId: 'u', remoteJid: 'j@x', sender: 'j@x/r', stanzaId: 's', receiptRequested: false, body: 'hi' };
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).enqueueOutbound({ ...m, dedupKey: `k${i % 4}` }, 1)),
      );
      assert.equal(results.filter((r) => r.inserted).length, 4);
      for (let k = 0; k < 4; k++) assert.equal(new Set(results.filter((_, i) => i % 4 === k).map((r) => r.row.id)).size, 1);
    });

    it('keeps bodies when opened to', async () => {
      const s = await openFresh({}, true);
      const key = { teamsUserId: 'u', remoteJid: 'j@x' };
      const { row } = await s.enqueueOutbound({ ...key, dedupKey: 'k', sender: 'j@x/r', stanzaId: 's', receiptRequested: false, body: 'kept' }, 1);
      await s.markOutboundDelivered(row.id, 'tm', 2);
      assert.equal((await s.enqueueOutbound({ ...key, dedupKey: 'k', sender: 'j@x/r', stanzaId: 's', receiptRequested: false, body: 'kept' }, 3)).row.body, 'kept');
    });

    it('compares keys case-sensitively, as SQLite does', async () => {
      const s = await openFresh();
      await s.putPuppet({ remoteJid: 'juliet@x', userId: 'p-1', upn: 'a@p' });
      await s.putPuppet({ remoteJid: 'Juliet@x', userId: 'p-2', upn: 'b@p' });
      assert.equal((await s.puppets()).length, 2);
    });

    it('fails loudly on a key longer than its column', async () => {
      const s = await openFresh();
      await assert.rejects(s.putPuppet({ remoteJid: `${'x'.repeat(451)}@x`, userId: 'p', upn: 'u@p' }), StoreError);
    });

    it('reports a wrong password as a failed login, without the password', async () => {
      if (base.authentication.type !== 'sql') return;
      const wrong = 'Not-The-Password-123';
      await assert.rejects(MssqlStore.open({ ...base, authentication: { ...base.authentication, password: wrong } }), (err: unknown) => {
        assert.ok(err instanceof StoreError, String(err));
        assert.match(err.message, /: login failed: /u);
        assert.doesNotMatch(err.message, new RegExp(wrong, 'u'));
        return true;
      });
    });
  });
}
