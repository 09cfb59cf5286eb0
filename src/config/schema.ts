/**
 * The configuration schema: one YAML or JSON file, validated at start. Every key is described here; the README's
 * configuration table and config/schema.json are generated from this schema (`npm run docs:config`), and a test
 * keeps them in step.
 */
import { z } from 'zod';
import { Domain, HostPort, SecretRef } from './schema-primitives.js';
import { CardsSchema, PolicySchema, SfbSchema, TeamsSchema, ThrottleSchema } from './tenant-schema.js';
import { TenantsSchema, WallsSchema } from './tenants-schema.js';

export { SecretRef } from './schema-primitives.js';

/** One actor kind's restart policy (DESIGN.md decision 3: one-for-one, N restarts in T, exponential backoff). */
const RestartOverride = z
  .object({
    maxRestarts: z.number().int().min(0).optional(),
    restartWindowSeconds: z.number().int().min(1).optional(),
    backoffInitialMs: z.number().int().min(0).optional(),
    backoffMaxMs: z.number().int().min(0).optional(),
  })
  .strict();

export const ConfigSchema = z
  .object({
    xmpp: z
      .object({
        service: z
          .url({ protocol: /^xmpp$/u, error: 'expected xmpp://host:port of the XMPP server component listener' })
          .describe("the XMPP server's XEP-0114 component listener, e.g. xmpp://127.0.0.1:5347"),
        domain: Domain.optional().describe('the component domain the gateway serves, e.g. teams.xmpp.example (required without `tenants`; with it, each tenant has its own)'),
        password: SecretRef.optional().describe('the component secret shared with the XMPP server (required without `tenants`)'),
        maxBodyBytes: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(16_000)
          .describe('largest message body accepted from XMPP, in UTF-8 bytes; larger ones get <policy-violation/>'),
        maxStanzaBytes: z
          .number()
          .int()
          .min(16_384)
          .max(10_000_000)
          .default(262_144)
          .describe(
            'largest stanza read off the link (names, attributes and text, in UTF-8 bytes); a larger one, or one nested deeper than 32 elements or with more than 2,000, gets <policy-violation/> and is not kept',
          ),
        maxResourcesPerJid: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(16)
          .describe("resources (clients) of one XMPP user whose presence a pair keeps; presence from further resources is ignored until one goes offline"),
        reconnectDelayMs: z.number().int().min(100).default(1000).describe('delay before reconnecting a lost component link'),
        longMessages: z
          .enum(['refuse', 'split'])
          .default('refuse')
          .describe("a message too long for one Teams message (about 28 KB of HTML): refuse with <policy-violation/>, or split it into several"),
        links: z
          .enum(['one', 'every-node'])
          .default('one')
          .describe(
            "in a cluster: 'one' node holds the component link and the others send through it (Prosody accepts one connection per component); 'every-node' connects every node (ejabberd balances several)",
          ),
      })
      .strict()
      .refine((x) => x.maxBodyBytes < x.maxStanzaBytes, { message: 'must be smaller than xmpp.maxStanzaBytes', path: ['maxBodyBytes'] }),
    teams: TeamsSchema.optional().describe('the Microsoft 365 tenant (without `tenants`: required unless sfb is set, for a deployment with Skype for Business Server only; with `tenants`, each tenant has its own)'),
    store: z
      .object({
        driver: z.enum(['sqlite', 'mssql']).default('sqlite').describe('sqlite: an embedded file (one host); mssql: SQL Server 2022+ or Azure SQL'),
        sqlite: z
          .object({
            path: z.string().min(1).default('./data/gateway.sqlite').describe('the SQLite database file (created if missing)'),
            synchronous: z
              .enum(['full', 'normal'])
              .default('full')
              .describe('full: every commit reaches the disk (survives power loss); normal: faster, survives process crashes only'),
            busyTimeoutMs: z.number().int().min(0).default(5000).describe("how long to wait for another process's write lock"),
            groupCommit: z.boolean().default(true).describe('messages accepted in the same instant share one commit (see npm run bench)'),
          })
          .strict()
          .default({ path: './data/gateway.sqlite', synchronous: 'full', busyTimeoutMs: 5000, groupCommit: true }),
        mssql: z
          .object({
            server: z.string().min(1).describe('SQL Server host, Azure SQL server, or availability-group listener name'),
            port: z.number().int().min(1).max(65535).default(1433).describe('TCP port'),
            database: z.string().min(1).describe('database name (created by the DBA; the gateway creates its tables)'),
            authentication: z
              .enum(['sql', 'azure-active-directory-default', 'azure-active-directory-service-principal-secret'])
              .default('sql')
              .describe('sql: user/password; azure-active-directory-*: Entra ID (Azure SQL)'),
            user: z.string().min(1).optional().describe('SQL login, or the service principal client id'),
            password: SecretRef.optional().describe('SQL login password, or the service principal secret'),
            tenantId: z.string().min(1).optional().describe('tenant of the service principal (Entra authentication)'),
            encrypt: z.boolean().default(true).describe('TLS to the server (required by Azure SQL)'),
            trustServerCertificate: z.boolean().default(false).describe('accept a server certificate not signed by a trusted CA (test only)'),
            multiSubnetFailover: z.boolean().default(false).describe('set for an availability-group listener spanning subnets'),
            poolMax: z.number().int().min(1).default(10).describe('largest connection pool per node'),
            connectionTimeoutMs: z.number().int().min(1000).default(15000).describe('connect timeout'),
            requestTimeoutMs: z.number().int().min(1000).default(15000).describe('statement timeout'),
          })
          .strict()
          .refine((m) => m.authentication === 'azure-active-directory-default' || (m.user !== undefined && m.password !== undefined), {
            message: 'this authentication needs user and password',
            path: ['user'],
          })
          .optional()
          .describe('SQL Server connection (when driver is mssql)'),
        retention: z
          .object({
            deliveredDays: z.number().min(0).default(7).describe('delivered inbox/outbox rows are deleted after this many days'),
            deadDays: z.number().min(0).default(30).describe('dead-lettered rows are deleted after this many days'),
            relayedDays: z.number().min(0).default(30).describe('ids of relayed Teams messages (redelivery dedup) are kept this long'),
            keepBodies: z.boolean().default(false).describe('keep message bodies after delivery or dead-lettering (off: data minimisation)'),
            pruneIntervalMinutes: z.number().int().min(1).default(60).describe('how often the pruning runs'),
            unusedPairDays: z
              .number()
              .min(0)
              .default(180)
              .describe('a pair (Teams user, XMPP user) with no message nor subscription change for this many days is forgotten (its subscription ends); 0 keeps pairs for ever'),
          })
          .strict()
          .default({ deliveredDays: 7, deadDays: 30, relayedDays: 30, keepBodies: false, pruneIntervalMinutes: 60, unusedPairDays: 180 }),
      })
      .strict()
      .refine((st) => st.driver !== 'mssql' || st.mssql !== undefined, { message: 'store.driver is mssql but store.mssql is missing', path: ['mssql'] })
      .default({
        driver: 'sqlite',
        sqlite: { path: './data/gateway.sqlite', synchronous: 'full', busyTimeoutMs: 5000, groupCommit: true },
        retention: { deliveredDays: 7, deadDays: 30, relayedDays: 30, keepBodies: false, pruneIntervalMinutes: 60, unusedPairDays: 180 },
      }),
    policy: PolicySchema,
    throttle: ThrottleSchema,
    cards: CardsSchema,
    // ---- Skype for Business (issue 17): the gateway as an SfB trusted application (docs/sfb-setup.md) ----
    sfb: SfbSchema.optional().describe('Skype for Business Server: without it the gateway serves Teams only'),
    // ---- Several tenants in one cluster (issue 16): tenants-schema.ts ----
    tenants: TenantsSchema.optional().describe(
      'several tenants served by one cluster, each with its own Microsoft 365 tenant, component domains, whitelist, limits and admin token; without it, the top-level xmpp.domain, teams, policy, throttle, cards and sfb are the one tenant "default"',
    ),
    walls: WallsSchema.default({ remote: [], between: [] }).describe('what may cross between a tenant and remote domains, and between tenants'),
    cluster: z
      .object({
        redis: z
          .object({ url: z.string().regex(/^rediss?:\/\//u, 'expected redis:// or rediss://').describe('Redis: with it the node joins a cluster (membership, licence seats, placement, cluster-wide limits); without it the node runs alone') })
          .strict()
          .optional(),
        name: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]{0,39}$/u, 'expected lower-case letters, digits and dashes')
          .default('xtg')
          .describe('prefix of every Redis key of this cluster (several clusters may share one Redis)'),
        nodeId: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/u, 'expected letters, digits, dots, dashes, underscores')
          .optional()
          .describe('this node\'s id (default: host name and a random suffix); must be unique in the cluster'),
        listen: HostPort.default('127.0.0.1:9470').describe('where this node listens for actor messages from other nodes, host:port'),
        advertiseUrl: z
          .string()
          .regex(/^https?:\/\//u, 'expected an http:// or https:// URL')
          .optional()
          .describe('how other nodes reach cluster.listen: https:// with cluster.tls, http:// without (default: <scheme>://<listen>)'),
        secret: SecretRef.optional().describe('shared secret authenticating calls between nodes (never sent: each side proves it holds it); required with cluster.redis'),
        tls: z
          .object({
            certFile: z.string().min(1).describe("this node's PEM certificate, issued by the cluster CA, naming its advertise host"),
            keyFile: z.string().min(1).describe('PEM private key of that certificate'),
            caFile: z.string().min(1).describe('PEM certificate of the cluster CA: a node accepts only peers whose certificate it issued'),
          })
          .strict()
          .optional()
          .describe('mutual TLS between nodes (TLS 1.3): messages private and untampered on a shared network; off: plain TCP'),
        leaseSeconds: z
          .number()
          .int()
          .min(2)
          .max(120)
          .default(2)
          .describe('a node that misses heartbeats this long is dead: its actors, seat and leases are taken over (failover takes this plus about 0.5 s); raise it where a node can pause longer'),
        licence: z
          .object({
            file: z
              .string()
              .min(1)
              .optional()
              .describe("path of this node's licence file (see docs/licensing.md); a node alone without one runs in evaluation mode, a cluster node serves nothing"),
            publicKeys: z
              .array(z.string().min(1))
              .default([])
              .describe("optional: trust only these of the build's licence keys (PEM texts or paths of PEM files); a key the build does not have is an error"),
          })
          .strict()
          .default({ publicKeys: [] }),
      })
      .strict()
      .refine((cl) => cl.redis === undefined || cl.secret !== undefined, { message: 'cluster.redis is set but cluster.secret is missing', path: ['secret'] })
      .refine((cl) => cl.advertiseUrl === undefined || cl.advertiseUrl.startsWith('https://') === (cl.tls !== undefined), {
        message: 'cluster.advertiseUrl must be https:// with cluster.tls (the node listens with TLS) and http:// without it',
        path: ['advertiseUrl'],
      })
      .default({ name: 'xtg', listen: '127.0.0.1:9470', leaseSeconds: 2, licence: { publicKeys: [] } }),
    admin: z
      .object({
        listen: HostPort.default('127.0.0.1:9464').describe('where /metrics, /healthz, /readyz, /cluster, the /admin API and the operator console (/console/) are served, host:port'),
        token: SecretRef.optional().describe("the operator's bearer token for the /admin API (whitelist changes) and the console's token sign-in, over every tenant (each tenant may have its own, tenants[].admin.token); without any token both are off"),
      })
      .strict()
      .default({ listen: '127.0.0.1:9464' }),
    console: z
      .object({
        enabled: z.boolean().default(true).describe('serve the operator console at /console/ on admin.listen (sign-in needs admin.token or console.oidc)'),
        publicUrl: z
          .url({ protocol: /^https?$/u, error: 'expected the http(s):// origin browsers use to reach admin.listen' })
          .optional()
          .describe(
            'the origin browsers use to reach the console (e.g. https://gw.example.org, through a TLS proxy to admin.listen); needed for Entra ID sign-in; https makes the session cookie Secure; when set, requests for another host are refused',
          ),
        sessionMinutes: z.number().int().min(5).max(1440).default(480).describe('how long a console sign-in lasts'),
        sessionSecret: SecretRef.optional().describe(
          'key signing console session cookies (the same on every node); default: derived (HKDF) from cluster.secret, else teams.clientSecret, else teams.puppets.passwordSecret',
        ),
        maxLiveViewers: z.number().int().min(1).max(1000).default(20).describe('console pages with live updates (Server-Sent Events) open at once on one node'),
        signInAttemptsPerMinute: z
          .number()
          .int()
          .min(1)
          .default(10)
          .describe('failed token sign-ins allowed per client address and minute; more are refused without checking'),
        oidc: z
          .object({
            tenant: z.string().min(1).optional().describe('with `tenants`: the tenant whose Entra ID directory signs operators in (default: the first)'),
            clientId: z.string().min(1).optional().describe("the console's app registration (client) id; default teams.clientId"),
            clientSecret: SecretRef.optional().describe('its client secret (a web app redeems the code with it); default teams.clientSecret'),
            adminGroups: z
              .array(z.string().min(1))
              .min(1)
              .describe('Entra group ids whose (transitive) members may use the console: from the groups claim, else read from Graph'),
          })
          .strict()
          .optional()
          .describe("sign-in with Entra ID (OpenID Connect authorization code flow with PKCE) against teams.tenantId; redirect URI: <publicUrl>/console/auth/callback"),
      })
      .strict()
      .refine((c) => c.oidc === undefined || c.publicUrl !== undefined, { message: 'console.oidc needs console.publicUrl (its redirect URI)', path: ['publicUrl'] })
      .default({ enabled: true, sessionMinutes: 480, maxLiveViewers: 20, signInAttemptsPerMinute: 10 }),
    log: z
      .object({
        level: z.enum(['error', 'warn', 'info', 'debug']).default('info').describe('log level; message bodies appear only at debug'),
      })
      .strict()
      .default({ level: 'info' }),
    tracing: z
      .object({
        otlpEndpoint: z
          .string()
          .regex(/^https?:\/\//u, 'expected an http:// or https:// URL')
          .optional()
          .describe('OTLP/HTTP traces endpoint (e.g. http://otel-collector:4318/v1/traces); without it tracing is off'),
        headers: z.record(z.string(), z.string()).default({}).describe('extra HTTP headers for the OTLP exporter (e.g. an API key)'),
      })
      .strict()
      .default({ headers: {} }),
    actors: z
      .object({
        idleSeconds: z.number().int().min(1).default(600).describe('an actor idle this long is passivated (stopped; rebuilt on demand)'),
        maxRestarts: z.number().int().min(0).default(5).describe('restarts allowed per actor within restartWindowSeconds before it is stopped'),
        restartWindowSeconds: z.number().int().min(1).default(60).describe('window for maxRestarts'),
        backoffInitialMs: z.number().int().min(0).default(100).describe('delay before the first restart after a crash; doubles with each further restart in the window'),
        backoffMaxMs: z.number().int().min(0).default(5000).describe('longest delay between restarts'),
        userPair: RestartOverride.optional().describe('restart policy of user-pair actors, overriding the four keys above'),
        remoteDomain: RestartOverride.optional().describe('restart policy of remote-domain actors, overriding the four keys above'),
        sfbPair: RestartOverride.optional().describe('restart policy of SfB pair actors (issue 17), overriding the four keys above'),
      })
      .strict()
      .default({ idleSeconds: 600, maxRestarts: 5, restartWindowSeconds: 60, backoffInitialMs: 100, backoffMaxMs: 5000 }),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
